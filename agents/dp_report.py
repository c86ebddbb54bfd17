"""One line on what differential privacy guaranteed in a run (the CLI and the explorer)."""

from __future__ import annotations

from agents.run import RunResult


def dp_line(result: RunResult) -> str:
    """What differential privacy guaranteed in the run, in one line."""
    dp, summary = result.scenario.privacy.dp, result.summary
    rounds = result.rounds
    std = float(rounds["dp_noise_std"].iloc[1:].max()) if len(rounds) > 1 else 0.0
    where = (
        "by the clients before masking"
        if result.scenario.privacy.secure_aggregation
        else ("by the server (trusted curator)")
    )
    return (
        f"differential privacy: epsilon spent {summary['dp_epsilon']:.2f} at most, "
        f"{summary['dp_epsilon_mean']:.2f} on average (target {dp.epsilon:g}, budget covers "
        f"{dp.budget_covers}), delta {summary['dp_delta']:g}; updates clipped to L2 {dp.clip:g}, "
        f"noise shares of std {std:.3g} added {where}. DP covers the model and every score "
        "computed from noised sums; the screens and replica grouping read updates as the "
        "access mode says"
    )

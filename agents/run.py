"""Run a scenario: ``run(scenario) -> RunResult`` (pure and seeded)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents import checkpoint
from agents.notices import run_notices
from agents.scenario import Scenario, ScenarioError

if TYPE_CHECKING:  # imported where used: ``import agents`` stays light
    import pandas as pd

    from agents.model import MarketModel


@dataclass
class RunResult:
    """Tables of one run.

    Attributes:
        rounds: one row per round (round 0 is the initial model): accuracy, loss,
            participation, budget paid, scoring evaluations, secure-aggregation bytes and
            seconds, exposed clients, timings.
        participants: one row per round x participant identity: joined, strategy, samples,
            contribution, reward, cost, profit, reputation, exclusion, rejection reason.
        summary: fairness and incentive metrics (from ``market``) and headline numbers.
        scenario: what was run.
    """

    rounds: pd.DataFrame
    participants: pd.DataFrame
    summary: dict[str, float]
    scenario: Scenario
    graph: Any = None
    graphs: dict[int, Any] = field(default_factory=dict)
    """The neighbour graph of each secure round (``graph`` is the last one)."""

    def summary_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([self.summary])

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "rounds": self.rounds,
            "participants": self.participants,
            "summary": self.summary_frame(),
        }


def summarize(scenario: Scenario, rounds: pd.DataFrame, parts: pd.DataFrame) -> dict[str, float]:
    """Headline numbers and the ``market`` fairness metrics over the whole run."""
    import numpy as np

    import market
    from agents.economics import welfare_summary

    total_budget = scenario.market.round_budget * scenario.rounds
    per_id = parts.groupby("participant").agg(
        reward=("reward", "sum"),
        contribution=("contribution", lambda s: float(np.nansum(s))),
        cost=("cost", "sum"),
        strategy=("strategy", "first"),
        owner=("owner", "first"),
    )
    riders = (per_id["strategy"] == "free_rider").to_numpy()
    fairness = market.fairness_summary(
        per_id["reward"].to_numpy(),
        per_id["contribution"].to_numpy(),
        budget=total_budget,
        costs=per_id["cost"].to_numpy(),
        free_riders=riders,
        incurred=(per_id["cost"] > 0).to_numpy(),
    )
    summary: dict[str, float] = {f"fair_{k}": float(v) for k, v in fairness.items()}
    clean = (per_id["strategy"] == "honest") & (per_id["cost"] > 0)
    # share of clean honest identities paid at least their cost over the run
    summary["ir_rate_honest"] = market.ir_rate(
        per_id["reward"].to_numpy(), per_id["cost"].to_numpy(), contributing=clean.to_numpy()
    )
    joined = parts[parts["joined"]]
    summary.update(
        {
            "initial_test_accuracy": float(rounds["test_accuracy"].iloc[0]),
            "final_test_accuracy": float(rounds["test_accuracy"].iloc[-1]),
            "final_val_accuracy": float(rounds["val_accuracy"].iloc[-1]),
            "total_paid": float(rounds["budget_paid"].sum()),
            "budget_share_paid": float(rounds["budget_paid"].sum() / total_budget),
            "mean_participation": float(parts.groupby("round")["joined"].mean().mean()),
            "ir_violation_rate": float(
                ((joined["reward"] < joined["cost"]) & (joined["cost"] > 0)).mean()
            )
            if len(joined)
            else float("nan"),
            "rounds_aborted": float(rounds["aborted"].sum()),
            "exposed_clients_total": float(rounds["exposed_clients"].sum()),
            # distinct identities whose individual update the server saw in some round
            "exposed_clients_distinct": float(parts.groupby("participant")["exposed"].any().sum()),
            **_dp_summary(parts, scenario),
            # individual updates read per round (agents.update_store), summed over the rounds
            "server_reads_total": float(rounds["server_reads"].sum()),
            "evaluator_reads_total": float(rounds["evaluator_reads"].sum()),
            **_smallest_group(rounds),
            "scoring_evaluations_total": float(rounds["scoring_evaluations"].sum()),
            "train_seconds": float(rounds["train_seconds"].sum()),
            "scoring_seconds": float(rounds["scoring_seconds"].sum()),
            "secagg_seconds": float(rounds["secagg_seconds"].sum()),
            # the best replication attack's payoff gain in a round, averaged over the rounds
            # where the platform could replay it (nan: none), in budget units
            "sybil_gain_estimate": _mean_finite(rounds.get("sybil_gain_max")),
            "excluded_final": float(
                parts[parts["round"] == parts["round"].max()]["excluded"].sum()
            ),
        }
    )
    summary.update(welfare_summary(rounds, parts, scenario.economics))
    for strategy, frame in per_id.groupby("strategy"):
        summary[f"reward_share_{strategy}"] = float(frame["reward"].sum() / total_budget)
        owners = frame.groupby("owner")[["reward", "cost"]].sum()
        summary[f"mean_profit_{strategy}"] = float((owners["reward"] - owners["cost"]).mean())
    return summary


def _dp_summary(parts: pd.DataFrame, scenario: Scenario) -> dict[str, float]:
    """The run's differential privacy: the largest and mean epsilon spent, and delta."""
    on = scenario.privacy.dp.enabled and len(parts) > 0
    spent = parts.groupby("participant")["dp_epsilon"].max() if on else None
    return {
        "dp_epsilon": float(spent.max()) if spent is not None else 0.0,
        "dp_epsilon_mean": float(spent.mean()) if spent is not None else 0.0,
        "dp_delta": float(scenario.privacy.dp.delta) if on else 0.0,
    }


def _mean_finite(column: pd.Series | None) -> float:
    """Mean of the finite entries of a column (``nan`` when there are none or no column)."""
    if column is None:
        return float("nan")
    finite = column[column.notna()]
    return float(finite.mean()) if len(finite) else float("nan")


def _smallest_group(rounds: pd.DataFrame) -> dict[str, float]:
    """What the leak audit says about the whole run, over the rounds that included anyone.

    ``server_smallest_group``: the smallest computable group in any round (a group of that
    many clients whose summed update the server could compute; 1: some update was seen alone);
    ``server_smallest_group_at_least``: no computable group in any round is smaller (proven);
    ``server_smallest_group_exact``: 1.0 when the two meet (the run's minimum is certified),
    else 0.0. All NaN when no round included anyone.
    """
    scored = rounds.loc[rounds["included"] > 0]
    if not len(scored):
        nan = float("nan")
        return {
            "server_smallest_group": nan,
            "server_smallest_group_at_least": nan,
            "server_smallest_group_exact": nan,
        }
    witness = float(scored["smallest_group"].min())
    bound = float(scored["smallest_group_at_least"].min())  # each round's bound <= its witness
    return {
        "server_smallest_group": witness,
        "server_smallest_group_at_least": bound,
        "server_smallest_group_exact": float(bound == witness),
    }


def smallest_group_range(summary: Mapping[str, float]) -> str:
    """The leak audit's answer as a range: ``"3 (exact)"``, ``"between 2 and 5"`` (no
    computable group has fewer than 2 clients; a group of 5 is computable), or ``"no round
    included anyone"``."""
    witness = summary.get("server_smallest_group", float("nan"))
    bound = summary.get("server_smallest_group_at_least", float("nan"))
    if witness != witness:  # NaN: nothing scored
        return "no round included anyone"
    if bound == witness:  # the run's minimum is certified (server_smallest_group_exact)
        return f"{int(witness)} (exact)"
    low = int(bound) if bound == bound else 1  # NaN: no bound recorded; 1 always holds
    return f"between {low} and {int(witness)}"


def run(
    scenario: Scenario | None = None,
    *,
    progress: bool = False,
    on_round: Callable[[dict[str, Any]], None] | None = None,
    model: MarketModel | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> RunResult:
    """Run every round of ``scenario`` (default: the embedded MiniLM LoRA default).

    Args:
        scenario: what to run.
        progress: show a tqdm bar with per-round accuracy.
        on_round: called with each round's row as soon as it is computed (round 0 first),
            e.g. to draw live progress in a UI.
        model: an already built :class:`MarketModel` (e.g. sharing a loaded task).
        checkpoint_dir: write a checkpoint there after every round (atomically).
        resume: continue from the checkpoint in ``checkpoint_dir``; the final tables equal
            those of an uninterrupted run with the same scenario and seed.
        on_progress: called as ``on_progress(done, total, label)`` while the model is built
            (each batch of the frozen-embedding cache; a first run on an empty cache takes
            a while), e.g. for a UI progress bar. Not called when ``model`` is given.
    """
    from agents.model import MarketModel

    scenario = scenario or Scenario()
    if resume and checkpoint_dir is None:
        raise ScenarioError("resume", "needs a checkpoint directory (--checkpoint-dir)")
    state = checkpoint.load(checkpoint_dir, scenario) if resume and checkpoint_dir else None
    owns_model = model is None
    model = model or MarketModel(scenario, progress=progress, on_progress=on_progress)
    try:
        return _run_rounds(scenario, model, state, progress, on_round, checkpoint_dir)
    finally:
        if owns_model:  # stop Ray workers a run started; a caller's shared task keeps its own
            model.task.close_backend()


def _run_rounds(
    scenario: Scenario,
    model: MarketModel,
    state: dict[str, Any] | None,
    progress: bool,
    on_round: Callable[[dict[str, Any]], None] | None,
    checkpoint_dir: str | Path | None,
) -> RunResult:
    """The round loop of :func:`run` on a built model."""
    if state is not None:
        try:
            model.load_state_dict(state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            detail = (str(error).splitlines() or [""])[0][:200]
            raise checkpoint.CheckpointError(
                "checkpoint: its state does not fit this scenario's model "
                f"({type(error).__name__}: {detail}); rerun without --resume or use another "
                "--checkpoint-dir"
            ) from None
    if on_round is not None and model.steps == 0:
        on_round(dataclasses.asdict(model.record))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=scenario.rounds, desc=f"{scenario.name} seed {scenario.seed}", unit="round"
        )
        for notice in run_notices(scenario):
            bar.write(f"notice: {notice}")
        row = dataclasses.asdict(model.record)
        bar.write(
            f"round 0: val acc {row['val_accuracy']:.3f}, test acc {row['test_accuracy']:.3f}"
        )
    while model.running and model.steps < scenario.rounds:  # Mesa's step counter
        model.step()
        if checkpoint_dir is not None:
            checkpoint.save(model, checkpoint_dir)
        if on_round is not None:
            on_round(dataclasses.asdict(model.record))
        if bar is not None:
            row = dataclasses.asdict(model.record)
            bar.update(1)
            bar.set_postfix(acc=f"{row['test_accuracy']:.3f}", paid=f"{row['budget_paid']:.1f}")
            bar.write(
                f"round {row['round']}: val acc {row['val_accuracy']:.3f}, test acc "
                f"{row['test_accuracy']:.3f}, joined {row['joined']}, included "
                f"{row['included']}, paid {row['budget_paid']:.1f}"
            )
    if bar is not None:
        bar.close()
    rounds, participants = model.tables()
    summary = summarize(scenario, rounds, participants)
    summary["majority_test_rate"] = model.task.splits.majority_rate("test")
    return RunResult(
        rounds=rounds,
        participants=participants,
        summary=summary,
        scenario=scenario,
        graph=model.graph,
        graphs=dict(model.graphs),
    )


def compare(
    a: RunResult | Mapping[str, float],
    b: RunResult | Mapping[str, float],
    metrics: Sequence[str] | None = None,
    labels: tuple[str, str] = ("A", "B"),
) -> pd.DataFrame:
    """Side-by-side summary metrics of two runs (or their summaries) and ``B - A``.

    Typically two mechanisms or two access modes on the same scenario and seed. Columns:
    ``metric``, ``labels[0]``, ``labels[1]``, ``difference``.
    """
    import pandas as pd

    first = a.summary if isinstance(a, RunResult) else a
    second = b.summary if isinstance(b, RunResult) else b
    keys = list(metrics) if metrics is not None else [k for k in first if k in second]
    rows = [
        {
            "metric": key,
            labels[0]: float(first[key]),
            labels[1]: float(second[key]),
            "difference": float(second[key]) - float(first[key]),
        }
        for key in keys
        if key in first and key in second
    ]
    return pd.DataFrame(rows, columns=["metric", labels[0], labels[1], "difference"])


def seed_summary(summaries: Sequence[Mapping[str, float]], level: float = 0.95) -> pd.DataFrame:
    """Mean and two-sided Student-t confidence interval of each summary metric over seeds.

    Columns: ``metric``, ``mean``, ``ci_low``, ``ci_high``, ``std`` and ``seeds`` (how many
    runs had a finite value). With one seed the interval is ``NaN`` (no spread to estimate).
    """
    import numpy as np
    import pandas as pd
    from scipy import stats

    keys = [k for k in summaries[0] if all(k in s for s in summaries)] if summaries else []
    rows = []
    for key in keys:
        values = np.array([float(s[key]) for s in summaries], dtype=float)
        values = values[np.isfinite(values)]
        k = len(values)
        mean = float(values.mean()) if k else float("nan")
        std = float(values.std(ddof=1)) if k > 1 else float("nan")
        half = float(stats.t.ppf(0.5 + level / 2, k - 1) * std / np.sqrt(k)) if k > 1 else np.nan
        rows.append(
            {
                "metric": key,
                "mean": mean,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "std": std,
                "seeds": k,
            }
        )
    return pd.DataFrame(rows, columns=["metric", "mean", "ci_low", "ci_high", "std", "seeds"])


def run_seeds(
    scenario: Scenario,
    seeds: Sequence[int],
    *,
    on_run: Callable[[int, RunResult], None] | None = None,
    progress: bool = False,
) -> tuple[list[RunResult], pd.DataFrame]:
    """Run ``scenario`` once per seed; the results and :func:`seed_summary` over them.

    Args:
        scenario: what to run (its own seed is replaced by each of ``seeds``).
        seeds: distinct seeds, at least one.
        on_run: called with each seed and its result as it finishes (e.g. a progress bar).
        progress: show each run's tqdm bar.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ScenarioError("seeds", "give at least one seed")
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ScenarioError("seeds", f"{seeds} must be distinct non-negative integers")
    results = []
    for seed in seeds:
        result = run(scenario.replace("seed", seed), progress=progress)
        results.append(result)
        if on_run is not None:
            on_run(seed, result)
    return results, seed_summary([r.summary for r in results])

"""What the ``fedmarket`` commands print: rich tables of runs, seeds and sweeps.

Kept apart from :mod:`agents.cli` (which parses, validates and dispatches) so that each stays
small; everything here reads finished results and never imports torch itself.
"""

from __future__ import annotations

import sys

import typer

from agents import columns

KEY_METRICS: dict[str, str] = {
    "final_test_accuracy": "test acc",
    "total_paid": "paid",
    "fair_pearson": "pearson",
    "fair_free_rider_share": "rider share",
    "fair_gini": "gini",
    "ir_violation_rate": "IR viol.",
    "exposed_clients_distinct": "exposed",
}
METRIC_NOTE = "; ".join(
    f"{short}: {columns.label(key, 'summary')} ({columns.unit(key, 'summary')})"
    for key, short in KEY_METRICS.items()
)
"""What each short column name stands for, from the data dictionary (:mod:`agents.columns`)."""


#: Decimals per key metric (counts and budget units need fewer than shares).
DECIMALS = {"total_paid": 1, "exposed_clients_distinct": 1}


def make_console() -> object:
    """A rich console; 200 columns when the output is not a terminal (files, pipes)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)


def print_seeds(name: str, seeds: list[int], spread: object) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    assert isinstance(spread, pd.DataFrame)
    table = Table(
        title=f"{name}: mean and 95% interval over {len(seeds)} seeds ({seeds[0]}..{seeds[-1]})"
    )
    for column in ("metric", "mean", "95% interval", "seeds"):
        table.add_column(column, justify="right")
    rows = spread.set_index("metric")
    shown = [k for k in (*KEY_METRICS, "fair_jain", "fair_spearman", "budget_share_paid")]
    shown += sorted(k for k in rows.index if k.startswith(("mean_profit_", "reward_share_")))
    for key in shown:
        if key not in rows.index:
            continue
        row = rows.loc[key]
        table.add_row(
            KEY_METRICS.get(key, key),
            f"{row['mean']:.3f}",
            f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]",
            str(int(row["seeds"])),
        )
    console = make_console()
    assert isinstance(console, Console)
    console.print(table)
    console.print(f"({METRIC_NOTE}; every metric is in seed_summary.csv)")


def print_sweep(frame: object, parameters: list[str]) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from agents.run import seed_summary

    assert isinstance(frame, pd.DataFrame)
    metrics = [k for k in KEY_METRICS if k in frame]
    seeds = frame["seed"].nunique() if "seed" in frame else 1
    title = f"sweep: {len(frame)} runs, mean over {seeds} seed(s)"
    if seeds > 1:
        title += " with a 95% interval"
    table = Table(title=title)
    for path in parameters:
        table.add_column(path.rsplit(".", 1)[-1], justify="right", no_wrap=True)
    for metric in metrics:
        table.add_column(KEY_METRICS[metric], justify="right", no_wrap=True)
    for values, group in frame.groupby(parameters, sort=False, dropna=False):
        combo = values if isinstance(values, tuple) else (values,)
        spread = seed_summary(group[metrics].to_dict("records")).set_index("metric")
        cells = []
        for metric in metrics:
            mean, low, high = spread.loc[metric, ["mean", "ci_low", "ci_high"]]
            digits = DECIMALS.get(metric, 3)
            cell = f"{mean:.{digits}f}"
            if seeds > 1 and pd.notna(low):
                cell += f" ±{(high - low) / 2:.{digits}f}"
            cells.append(cell)
        table.add_row(*(str(v) for v in combo), *cells)
    console = make_console()
    assert isinstance(console, Console)
    console.print(table)
    console.print(f"({METRIC_NOTE})")


def print_run(result: object, rounds_table: bool = True) -> None:
    """The run's round table, payoff by strategy, fairness, accuracy and privacy line."""
    from rich.console import Console
    from rich.table import Table

    from agents.run import RunResult

    assert isinstance(result, RunResult)
    console = Console()
    if rounds_table:
        print_round_table(console, result)
    parts = result.participants
    by_strategy = parts.groupby("strategy").agg(
        reward=("reward", "sum"), cost=("cost", "sum"), joined=("joined", "mean")
    )
    table = Table(title="payoff by strategy (budget units)")
    for column in ("strategy", "total reward", "total cost", "profit", "participation"):
        table.add_column(column, justify="right")
    for strategy, row in by_strategy.iterrows():
        table.add_row(
            str(strategy),
            f"{row.reward:.1f}",
            f"{row.cost:.1f}",
            f"{row.reward - row.cost:.1f}",
            f"{row.joined:.0%}",
        )
    console.print(table)
    summary = result.summary
    keys = (
        "fair_pearson",
        "fair_spearman",
        "fair_jain",
        "fair_gini",
        "fair_free_rider_share",
        "ir_violation_rate",
        "budget_share_paid",
    )
    console.print(
        "fairness: " + ", ".join(f"{k.removeprefix('fair_')} {summary[k]:.3f}" for k in keys)
    )
    console.print(
        "(evals: distinct coalitions scored; exposed: clients whose update the server "
        "can read under the privacy access mode)"
    )
    initial = result.rounds["test_accuracy"].iloc[0]
    final, majority = summary["final_test_accuracy"], summary["majority_test_rate"]
    console.print(
        f"test accuracy: round 0 {initial:.3f} -> final {final:.3f}; majority-class rate "
        f"{majority:.3f} ({100 * (final - majority):+.1f} points)"
    )
    print_privacy(result)


def print_privacy(result: object) -> None:
    """One line on what the server could learn in this run (issue: privacy by default)."""
    from agents.dp_report import dp_line
    from agents.run import RunResult, smallest_group_range

    assert isinstance(result, RunResult)
    privacy, summary = result.scenario.privacy, result.summary
    exposed = int(summary["exposed_clients_distinct"])
    if privacy.dp.enabled:
        typer.echo(dp_line(result))
    if not privacy.secure_aggregation:
        typer.echo("privacy: no secure aggregation; the server saw every update in the clear")
        return
    line = (
        f"privacy: secure aggregation on ({privacy.threat_model} server; scoring access "
        f"{privacy.access}); smallest group the server could compute: "
        f"{smallest_group_range(summary)}; exposed clients: {exposed}"
    )
    if privacy.access == "trusted_evaluator":
        reads = int(summary["evaluator_reads_total"])
        line += (
            f" (a trusted evaluator read {reads} updates to screen and score them: a trust "
            "assumption)"
        )
    elif privacy.access == "secure_coalitions":
        line += " (free-rider screen and replica grouping off: they read individual updates)"
    typer.echo(line)


def print_round_table(console: object, result: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from agents.run import RunResult

    assert isinstance(console, Console) and isinstance(result, RunResult)
    table = Table(title=f"{result.scenario.name}: rounds (round 0 = initial model)")
    columns = ("round", "val acc", "test acc", "joined", "included", "paid", "evals", "exposed")
    for column in columns:
        table.add_column(column, justify="right")
    for row in result.rounds.itertuples():
        table.add_row(
            str(row.round),
            f"{row.val_accuracy:.3f}",
            f"{row.test_accuracy:.3f}",
            str(row.joined),
            str(row.included),
            f"{row.budget_paid:.1f}",
            str(row.scoring_evaluations),
            str(row.exposed_clients),
        )
    console.print(table)


def print_rounds(frame: object) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    assert isinstance(frame, pd.DataFrame)
    table = Table(title="FedAvg rounds (round 0 = initial model)")
    for column in ("round", "val_accuracy", "test_accuracy", "val_loss", "updates"):
        table.add_column(column, justify="right")
    for row in frame.itertuples():
        table.add_row(
            str(row.round),
            f"{row.val_accuracy:.3f}",
            f"{row.test_accuracy:.3f}",
            f"{row.val_loss:.4f}",
            str(row.updates),
        )
    Console().print(table)
    majority = float(frame["majority_rate"].iloc[0])
    final = float(frame["test_accuracy"].iloc[-1])
    Console().print(
        f"final test accuracy {final:.3f} vs majority-class rate {majority:.3f} "
        f"({100 * (final - majority):+.1f} points)"
    )


def print_fields(rows: list[dict[str, str]]) -> None:
    """``fedmarket fields``: a row per field (:func:`agents.scenario.catalog.describe`)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    columns = ("field", "type", "default", "allowed", "help")
    table = Table(title=escape("scenario fields (participants.*: each [participants.NAME])"))
    for column in columns:
        table.add_column(column, no_wrap=column == "field", overflow="fold")
    for row in rows:
        table.add_row(*(escape(row[c]) for c in columns))
    console = make_console()
    assert isinstance(console, Console)
    console.print(table)

"""The ``fedmarket`` command line.

Every user error (a bad file, field or value) ends with exit status 2 and one line on
stderr naming the field and the fix; no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="fedmarket: an incentive and trust marketplace simulator for federated fine-tuning.",
)


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def fedavg(
    out: Annotated[Path, typer.Option(help="Folder for the Parquet/CSV tables.")] = Path(
        "results/fedavg"
    ),
    clients: Annotated[int, typer.Option(help="Number of clients.")] = 6,
    rounds: Annotated[int, typer.Option(help="Number of rounds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    mode: Annotated[str, typer.Option(help="lora or head.")] = "lora",
    backbone: Annotated[str, typer.Option(help="minilm or tiny.")] = "minilm",
    init: Annotated[str, typer.Option(help="pretrained or random.")] = "pretrained",
    partition: Annotated[str, typer.Option(help="iid, dirichlet or quantity.")] = "iid",
    alpha: Annotated[float, typer.Option(help="Dirichlet concentration.")] = 0.5,
    lr: Annotated[float, typer.Option(help="Local AdamW learning rate.")] = 5e-3,
    data: Annotated[
        Path | None, typer.Option(help="Your own CSV/JSONL file instead of the reviews.")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Text column of --data.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column of --data.")] = "label",
    positive_label: Annotated[
        str | None, typer.Option(help="Label value of class 1 in --data.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Plain federated fine-tuning (FedAvg), no market: per-round val/test accuracy."""
    from fl_core import DataConfig, FedAvgConfig, ModelConfig, TrainConfig, run_fedavg
    from fl_core.data import DataError

    try:
        data_cfg = (
            DataConfig()
            if data is None
            else DataConfig(
                dataset="file",
                path=str(data),
                text_column=text_column,
                label_column=label_column,
                positive_label=positive_label,
            )
        )
        cfg = FedAvgConfig(
            data=data_cfg,
            model=ModelConfig(backbone=backbone, init=init, mode=mode),
            train=TrainConfig(lr=lr),
            n_clients=clients,
            rounds=rounds,
            seed=seed,
            partition=partition,
            alpha=alpha,
        )
        result = run_fedavg(cfg, progress=not quiet)
    except (ValueError, DataError) as error:
        fail(str(error).splitlines()[0])
    from agents.results_io import write_tables

    written = write_tables(out, {"rounds": result.rounds, "clients": result.clients})
    _print_rounds(result.rounds)
    typer.echo(f"tables written to {out} ({len(written)} files)")


@app.command()
def run(
    out: Annotated[Path, typer.Option(help="Folder for the Parquet/CSV tables.")] = Path(
        "results/run"
    ),
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Run the embedded default: MiniLM LoRA on the Amazon reviews, 6 clients x 5 rounds."""
    fedavg(out=out, seed=seed, quiet=quiet)


def _print_rounds(frame: object) -> None:
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

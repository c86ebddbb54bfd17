"""The ``fedmarket`` command line.

Every user error (a bad file, field or value) ends with exit status 2 and one line on
stderr naming the field and the fix; no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from agents import cli_output as printing
from agents.cli_audit import membership_audit_command
from agents.cli_datasets import datasets_command
from agents.cli_errors import fail, user_errors

os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="fedmarket: an incentive and trust marketplace simulator for federated fine-tuning.",
)
Quiet = Annotated[bool, typer.Option(help="No progress bar.")]
Backend = Annotated[
    str | None,
    typer.Option(
        help="auto (serial up to 8 runs, else process), process, ray or serial "
        "(overrides the file)."
    ),
]
Workers = Annotated[int | None, typer.Option(help="Worker processes.")]
Address = Annotated[str | None, typer.Option(help="Ray cluster address.")]


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"fedmarket {version('fedmarket')}")
        except PackageNotFoundError:
            typer.echo("fedmarket (not installed)")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """fedmarket: an incentive and trust marketplace simulator for federated fine-tuning."""


@app.command()
def fedavg(
    out: Annotated[Path, typer.Option(help="Folder for the Parquet/CSV tables.")] = Path(
        "results/fedavg"
    ),
    clients: Annotated[int, typer.Option(help="Number of clients.")] = 6,
    rounds: Annotated[int, typer.Option(help="Number of rounds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    mode: Annotated[str, typer.Option(help="lora or head.")] = "lora",
    backbone: Annotated[str, typer.Option(help="minilm, smollm2, tiny or tiny_causal.")] = "minilm",
    init: Annotated[str, typer.Option(help="pretrained or random.")] = "pretrained",
    partition: Annotated[
        str, typer.Option(help="iid, dirichlet, quantity or natural (a task with owners).")
    ] = "iid",
    alpha: Annotated[float, typer.Option(help="Dirichlet concentration.")] = 0.5,
    lr: Annotated[float, typer.Option(help="Local AdamW learning rate.")] = 5e-3,
    dataset: Annotated[
        str, typer.Option(help="A built-in task (`fedmarket datasets` lists them).")
    ] = "amazon_reviews",
    data: Annotated[
        Path | None, typer.Option(help="Your own CSV/JSONL file instead of a built-in task.")
    ] = None,
    val_size: Annotated[
        int | None, typer.Option(help="Server validation examples (default: the task's).")
    ] = None,
    owner_column: Annotated[
        str | None, typer.Option(help="Owner column of --data (for --partition natural).")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Text column of --data.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column of --data.")] = "label",
    positive_label: Annotated[
        str | None, typer.Option(help="Label value of class 1 in --data.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Plain federated fine-tuning (FedAvg), no market: per-round val/test accuracy."""
    from fl_core import DataConfig, FedAvgConfig, ModelConfig, TrainConfig, run_fedavg

    with user_errors():
        data_cfg = (
            DataConfig(dataset=dataset, val_size=val_size)
            if data is None
            else DataConfig(
                dataset="file",
                path=str(data),
                text_column=text_column,
                label_column=label_column,
                positive_label=positive_label,
                owner_column=owner_column,
                val_size=val_size,
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
    from agents.results_io import write_tables

    written = write_tables(out, {"rounds": result.rounds, "clients": result.clients})
    printing.print_rounds(result.rounds)
    typer.echo(f"tables written to {out} ({len(written)} files)")


@app.command()
def run(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario TOML or example name (default: MiniLM LoRA on the reviews); "
            "`fedmarket fields` lists what a file may set."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the Parquet/CSV tables.")] = Path(
        "results/run"
    ),
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    rounds: Annotated[int | None, typer.Option(help="Override the number of rounds.")] = None,
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Write a checkpoint here after every round.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue from the checkpoint in --checkpoint-dir.")
    ] = False,
    seeds: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run K seeds (the scenario's seed and the K - 1 after it) and print the mean "
            "and 95% interval of each summary metric.",
        ),
    ] = 1,
    quiet: Quiet = False,
) -> None:
    """Run a marketplace scenario: real federated fine-tuning, scoring, payments."""
    from agents.scenario import load_scenario

    with user_errors():  # the scenario is validated before torch is imported: fails at once
        loaded = load_scenario(scenario)
        if seed is not None:
            loaded = loaded.replace("seed", seed)
        if rounds is not None:
            loaded = loaded.replace("rounds", rounds)
    if seeds > 1 and (checkpoint_dir is not None or resume):
        fail("seeds: --seeds runs several scenarios; use --checkpoint-dir with one seed")
    if quiet:  # (the progress bar prints them otherwise)
        from agents.notices import run_notices

        for notice in run_notices(loaded):
            typer.echo(f"notice: {notice}", err=True)
    from agents.results_io import write_tables
    from agents.run import run as run_scenario
    from agents.run import run_seeds

    if seeds > 1:
        seed_list = [loaded.seed + k for k in range(seeds)]
        with user_errors():
            results, spread = run_seeds(loaded, seed_list, progress=not quiet)
        written = 0
        for one in results:
            written += len(write_tables(out / f"seed_{one.scenario.seed}", one.tables()))
        written += len(write_tables(out, {"seed_summary": spread}))
        printing.print_seeds(loaded.name, seed_list, spread)
        typer.echo(f"tables written to {out} ({written} files; one folder per seed)")
        return
    with user_errors():
        result = run_scenario(
            loaded, progress=not quiet, checkpoint_dir=checkpoint_dir, resume=resume
        )
    written_files = write_tables(out, result.tables())
    printing.print_run(result, rounds_table=quiet)  # the progress bar already printed each round
    typer.echo(f"tables written to {out} ({len(written_files)} files)")


@app.command()
def sweep(
    spec: Annotated[
        Path, typer.Argument(help="Sweep TOML (base, seeds, backend, a grid table) or name.")
    ],
    out: Annotated[Path, typer.Option(help="Folder for sweep.parquet/csv.")] = Path(
        "results/sweep"
    ),
    backend: Backend = None,
    address: Address = None,
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Run a parameter sweep (grid x seeds) and write one row per run."""
    from agents.scenario.limits import check_runs
    from agents.sweep import expand, load_sweep

    with user_errors():  # the sweep and every scenario in it are validated before torch is
        plan = load_sweep(spec)
        check_runs(plan.grid, plan.seeds, "sweep.grid")  # before the product is expanded
        expand(plan.base, plan.grid, plan.seeds)
    from agents.results_io import write_tables
    from agents.sweep import sweep as run_sweep

    with user_errors():
        frame = run_sweep(
            plan.base,
            plan.grid,
            seeds=plan.seeds,
            backend=backend or plan.backend,
            workers=workers or plan.workers,
            address=address or plan.address,
            progress=not quiet,
        )
    write_tables(out, {"sweep": frame})
    printing.print_sweep(frame, list(plan.grid))
    typer.echo(f"sweep table written to {out} ({len(frame)} runs, every column)")


@app.command(name="study")
def study_command(
    spec: Annotated[
        Path,
        typer.Argument(help="Study TOML (base, mechanisms, [settings.NAME] tables, seeds)."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the tables, figures and report.md.")] = Path(
        "results/study"
    ),
    backend: Backend = None,
    workers: Workers = None,
    address: Address = None,
    seeds: Annotated[
        str | None,
        typer.Option(help="Override the file's seeds: a count (5: seeds 0-4) or a list (0,1,7)."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Compare mechanisms across heterogeneity settings and seeds; write a report."""
    from agents.study import load_study, parse_seeds

    with user_errors():  # the study and every scenario in it are validated before torch is
        plan = load_study(spec)
        options = {"backend": backend, "workers": workers, "address": address}
        changes: dict[str, object] = {k: v for k, v in options.items() if v is not None}
        if seeds is not None:
            changes["seeds"] = parse_seeds(seeds)
        plan = plan.replace(**changes) if changes else plan
    from agents.study import study as run_study

    with user_errors():
        result = run_study(plan, progress=not quiet)
        report = result.write(out)
    typer.echo(f"study {plan.name}: {len(result.runs)} runs; tables and figures in {out}")
    typer.echo(f"report: {report}")


@app.command(name="app")
def app_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8501,
) -> None:
    """Open the Streamlit scenario explorer on 127.0.0.1.

    Streamlit runs as a child process bound to loopback only; SIGTERM, SIGINT and SIGHUP sent
    to this command are passed on to it and the command waits until it has exited, so the
    port is free when ``fedmarket app`` returns (:mod:`app.launch`).
    """
    try:
        from app.launch import launch
    except ImportError:
        fail("app: the explorer (the app package) is not installed; run from a source checkout")
    raise typer.Exit(launch(port))


@app.command(name="fields")
def fields_command(
    prefix: Annotated[
        str, typer.Argument(help="Only fields whose path starts with this (market, participants).")
    ] = "",
) -> None:
    """List every scenario field: its type, default, allowed values and what it does."""
    from agents.scenario.catalog import describe

    rows = describe(prefix)
    if not rows:
        fail(f"fields: no field starts with {prefix!r}; give a section (market) or a path")
    printing.print_fields(rows)


@app.command(name="attack-matrix")
def attack_matrix_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML or example name (the market).")],
    out: Annotated[
        Path, typer.Option(help="Folder for attack_matrix.csv/.parquet/.png/.svg.")
    ] = Path("results/attack_matrix"),
    mechanism: Annotated[
        list[str] | None, typer.Option(help="Mechanism to attack (repeat; default: all).")
    ] = None,
    attack: Annotated[
        list[str] | None, typer.Option(help="Attack to play (repeat; default: all).")
    ] = None,
    seed: Annotated[list[int] | None, typer.Option(help="Seed (repeat; default 0 and 1).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
) -> None:
    """Play every attack against every mechanism: the attacker's gain over honest play."""
    from agents.attacks import games
    from agents.scenario import ScenarioError, load_scenario

    try:  # names and scenarios are validated before torch is imported
        base = load_scenario(scenario)
        import market

        mechanisms = list(mechanism) if mechanism else list(market.MECHANISMS)
        from agents.attacks import ATTACKS

        attacks = list(attack) if attack else list(ATTACKS)
        seeds = list(seed) if seed else [0, 1]
        games(base, mechanisms, attacks, seeds)
    except ScenarioError as error:
        fail(str(error))
    except (OSError, ValueError) as error:
        fail(f"{scenario}: {str(error).splitlines()[0]}")
    from agents.attacks import attack_matrix, plot_matrix

    def report(done: int, total: int, label: str) -> None:
        if not quiet:
            typer.echo(f"[{done}/{total}] {label}", err=True)

    with user_errors():
        table = attack_matrix(
            base, mechanisms=mechanisms, attacks=attacks, seeds=seeds, progress=report
        )
    from agents.results_io import write_tables

    write_tables(out, {"attack_matrix": table})
    plot_matrix(table, out / "attack_matrix.png")
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="n/a"))
    if len(seeds) < 2:
        typer.echo("(one seed: no spread or interval; give --seed twice or more)")
    typer.echo(f"attack matrix written to {out}")


app.command(name="membership-audit")(membership_audit_command)
app.command(name="datasets")(datasets_command)


def main() -> None:
    """The ``fedmarket`` entry point: a bad option or argument is one line with exit 2 too."""
    import click

    from agents.scenario.limits import printable_line

    try:
        code = app(standalone_mode=False, prog_name="fedmarket")
    except KeyboardInterrupt:
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as error:  # bare `fedmarket`: the help text
        error.show()
        sys.exit(error.exit_code)
    except click.ClickException as error:  # usage errors: one line, never Rich's box
        context = getattr(error, "ctx", None)  # a UsageError names its command
        command = f"{context.command_path}: " if context is not None else ""
        print(f"error: {printable_line(command + error.format_message())}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

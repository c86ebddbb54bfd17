"""``fedmarket membership-audit``: run a scenario, then attack its final model.

What differential privacy buys, measured: the loss-threshold attack (Yeom et al. 2018) and
LiRA (Carlini et al. 2022) try to tell the participants' training examples from examples
never trained on (:func:`agents.membership_audit.audit_run`). An AUC near 0.5 and a TPR
near the FPR mean the attacks learn nothing; run the same scenario with and without
``[privacy.dp]`` to compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agents.cli_errors import fail, user_errors


def membership_audit_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML or example name.")],
    out: Annotated[
        Path, typer.Option(help="Folder for membership_audit.csv/.parquet and the run's tables.")
    ] = Path("results/membership_audit"),
    shadows: Annotated[
        int, typer.Option(help="LiRA shadow models (0: the loss-threshold attack only).", min=0)
    ] = 16,
    seed: Annotated[int, typer.Option(help="Seed of the audit's draws (not the run's).")] = 0,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Run a scenario, then audit its final model against membership inference."""
    import numpy as np

    from agents.scenario import ScenarioError, load_scenario

    try:
        base = load_scenario(scenario)
    except ScenarioError as error:
        fail(str(error))
    except (OSError, ValueError) as error:
        fail(f"{scenario}: {str(error).splitlines()[0]}")
    if shadows > 0 and base.model.mode != "head":
        fail("shadows: LiRA's shadow models need model.mode = 'head'; give --shadows 0")
    from agents import MarketModel, run
    from agents.membership_audit import audit_run
    from agents.results_io import write_tables

    with user_errors():
        model = MarketModel(base, progress=not quiet)
        result = run(base, model=model, progress=not quiet)
        table = audit_run(model, rng=np.random.default_rng(seed), shadows=shadows)
    write_tables(out, {"membership_audit": table, "rounds": result.rounds})
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    dp = base.privacy.dp
    guarantee = (
        f"epsilon {result.summary['dp_epsilon']:.2f} at delta {dp.delta:g}"
        if dp.enabled
        else "no differential privacy"
    )
    typer.echo(
        f"final test accuracy {result.summary['final_test_accuracy']:.3f}; {guarantee}; "
        "an AUC near 0.5 and a TPR near its FPR mean the attacks learn nothing"
    )
    typer.echo(f"audit written to {out}")

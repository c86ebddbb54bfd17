"""``fedmarket datasets``: the built-in offline tasks ``data.dataset`` names (issue 30).

One name a line by default, so scripts can loop over them; ``--details`` adds each task's
classes, natural owner, default validation size, source package (and whether it is
installed here), licence and citation (:mod:`fl_core.datasets`).
"""

from __future__ import annotations

from typing import Annotated

import typer


def datasets_command(
    details: Annotated[
        bool, typer.Option("--details", help="Classes, sizes, source and licence of each.")
    ] = False,
) -> None:
    """List the built-in offline tasks for data.dataset, one name a line."""
    from fl_core.datasets import TASKS, available

    for info in TASKS.values():
        if not details:
            typer.echo(info.name)
            continue
        state = "installed" if available(info.name) else f"not installed: {info.install}"
        typer.echo(f"{info.name}: {info.title}")
        typer.echo(f"  classes: {', '.join(info.class_names)}")
        owner = info.owner_column or "none"
        typer.echo(f"  natural owner: {owner}; default val_size: {info.default_val_size}")
        typer.echo(f"  source: {info.source} ({state})")
        typer.echo(f"  licence: {info.licence}")
        typer.echo(f"  cite: {info.citation}")

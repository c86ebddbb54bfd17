"""Attack table of every reward mechanism on FL-like saturating games (exact values).

Prints, per mechanism: the attacker's relative payoff gain from splitting its data over 3
identities and from replicating its update over 3 identities (trained once, each replica
declaring the cost, detected replicas covered once), the share of the budget paid to two
free riders, and the share of honest positive contributors paid at least their cost.
``--write`` replaces the table in ``market/mechanisms/__init__.py``'s docstring.

    python -m bench.mechanism_table [--write]
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import textwrap
from functools import partial
from typing import Any

import numpy as np

import market
from bench.machine import cpu_name
from market.games import SaturatingGame, fl_game

N, K, SEEDS, BUDGET, NOISE = 8, 3, 10, 1.0, 0.003
START, END = ".. mechanism-table-start", ".. mechanism-table-end"


def instance(seed: int) -> tuple[SaturatingGame, np.ndarray, np.ndarray]:
    """A game whose last two players are free riders, with costs summing to half the budget."""
    game = fl_game(N, np.random.default_rng(seed), noise=NOISE, null_player=False)
    qualities = game.qualities.copy()
    qualities[-2:] = 0.0
    game = dataclasses.replace(game, qualities=qualities)
    honest = qualities > 0
    costs = np.where(honest, game.sizes, 0.0)
    return game, costs * (0.5 * BUDGET / costs.sum()), honest


def row(name: str) -> tuple[float, float, float, float]:
    """Mean split gain, replication gain, free-rider share, IR rate over the seeds."""
    mechanism = market.make_mechanism(name)
    split, repl, riders, ir = [], [], [], []
    for seed in range(SEEDS):
        game, costs, honest = instance(seed)
        c0, s0 = costs[0], game.sizes[0]
        effort = np.where(honest, game.sizes, 0.0)  # metered: the free riders train nothing
        # the round's terms: budget, bids, declared sizes, metered effort
        terms: dict[str, Any] = {
            "budget": BUDGET,
            "costs": costs,
            "data_sizes": game.sizes,
            "effort": effort,
        }
        gain = partial(market.sybil_gain, game, N, 0, K, mechanism, **terms)
        split.append(
            gain(
                cloned_utility=game.split_player(0, K),
                clone_costs=np.full(K, c0 / K),
                clone_sizes=np.full(K, s0 / K),
            )
        )
        repl.append(gain(group_clones=True, clones_true_cost=float(c0)))
        values = market.values_for(mechanism, game, N)
        margins = market.grand_marginals(game, N) if mechanism.uses_marginals else None
        pay = mechanism.run_round(values, marginals=margins, **terms)
        riders.append(market.free_rider_share(pay.payments, ~honest, BUDGET))
        ir.append(market.ir_rate(pay.payments, costs, contributing=honest & (values > 0)))
    return ratio_of_means(split), ratio_of_means(repl), float(np.mean(riders)), float(np.mean(ir))


def ratio_of_means(results: list[market.SybilResult]) -> float:
    """Mean payoff gain over the seeds / mean honest payoff (not a mean of per-seed ratios,
    which a seed with a near-zero honest payoff dominates)."""
    gain = float(np.mean([r.gain for r in results]))
    base = float(np.mean([r.payoff_original for r in results]))
    return gain / abs(base) if abs(base) > 1e-12 else float("nan")


def table() -> str:
    """The reStructuredText table, one line per mechanism."""
    rule = "=" * 14 + "  " + "=" * 9 + "  " + "  ".join(["=" * 11] * 3) + "  " + "=" * 5
    lines = [
        rule,
        f"{'mechanism':14}  {'valuation':9}  {'split x3':11}  "
        f"{'replicas x3':11}  {'free riders':11}  {'IR':5}",
        rule,
    ]
    for name in market.MECHANISMS:
        s, r, f, i = row(name)
        held = market.MECHANISMS[name].valuation  # type: ignore[attr-defined]
        valuation = held.index if held is not None else "shapley"
        valuation = "-" if name == "flat" else valuation  # flat ignores contributions
        lines.append(f"{name:14}  {valuation:9}  {s:+11.3f}  {r:+11.3f}  {f:11.4f}  {i:5.2f}")
    lines.append(rule)
    return "\n".join(line.rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update the mechanisms docstring")
    args = parser.parse_args()
    text = table()
    note = (
        f"Computed on {cpu_name()}; one round with no reputation history (so the cover is on "
        "the round's values alone), exact values: the numbers do not depend on the CPU."
    )
    text += "\n\n" + textwrap.fill(note, width=92)
    print(text)
    if args.write:
        path = pathlib.Path(__file__).parents[1] / "market" / "mechanisms" / "__init__.py"
        source = path.read_text()
        head, rest = source.split(START, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{START}\n\n{text}\n\n{END}{tail}")


if __name__ == "__main__":
    main()

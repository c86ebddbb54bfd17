"""Record exact coalition-utility tables from real MiniLM LoRA rounds (for bench.shapley).

Run: ``python -m bench.record_minilm_utilities [--rounds 2] [--subset 64]`` (about 5-10
minutes on 2 cores; run once, the file is kept in ``bench/data/``).

Ten participants fine-tune all-MiniLM-L6-v2 with LoRA (the default model) on the Amazon
reviews: three honest with 200 reviews, three honest with 60, two with strongly skewed labels
(Dirichlet ``class_alpha = 0.2``), one whose labels are 40% wrong, and one free rider that
sends a zero update. After each of ``--rounds`` real rounds, the utility (negative validation
loss, the simulator's default metric) of *every* one of the ``2**10`` coalitions of that
round's updates is evaluated exactly (the round-start model plus the FedAvg of the
coalition's updates) on a fixed stratified subset of ``--subset`` validation examples, with
the batched evaluator of ``fl_core.batched_eval``.

Writes ``bench/data/minilm_round_utilities.npz``: ``utilities_0``, ``utilities_1``, ...
(float64, length ``2**n``, index = bitmask, bit ``i`` = player ``i``), ``n_players``,
``players`` (each player's group), ``metric`` and ``examples``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from agents.model import MarketModel
from agents.scenario import DataSection, MarketSection, ParticipantGroup, Scenario
from bench.eval_paths import coalitions_of, included_updates
from fl_core import CoalitionUtility

OUT = Path(__file__).resolve().parent / "data" / "minilm_round_utilities.npz"


def scenario_for(rounds: int, subset: int) -> Scenario:
    groups = (
        ParticipantGroup(name="honest_large", count=3, data_size=200, cost=0.0),
        ParticipantGroup(name="honest_small", count=3, data_size=60, cost=0.0),
        ParticipantGroup(name="skewed", count=2, data_size=150, class_alpha=0.2, cost=0.0),
        ParticipantGroup(name="noisy_labels", count=1, data_size=150, label_noise=0.4, cost=0.0),
        ParticipantGroup(name="free_rider", count=1, data_size=150, strategy="free_rider"),
    )
    return Scenario(
        name="minilm_utilities",
        rounds=rounds,
        seed=11,
        data=DataSection(utility_subset=subset),
        market=MarketSection(scoring="cgsv", exploration=0.0),  # no utility calls in the run
        participants=groups,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--subset", type=int, default=64, help="validation examples")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    scenario = scenario_for(args.rounds, args.subset)
    started = time.perf_counter()
    model = MarketModel(scenario)
    print(f"build {time.perf_counter() - started:.0f} s", flush=True)
    tables: dict[str, np.ndarray] = {}
    players: list[str] = []
    examples = 0
    for r in range(args.rounds):
        base = model.global_vector.copy()
        t0 = time.perf_counter()
        model.step()
        included, deltas, weights = included_updates(model)
        n = len(included)
        if n != scenario.n_identities:
            raise RuntimeError(f"round {r + 1}: only {n} participants included; rerun")
        players = [p.group for p in included]
        evaluator = model.task.coalition_evaluator("val", model.utility_indices)
        assert evaluator is not None
        examples = evaluator.n_examples
        utility = CoalitionUtility(
            evaluator.evaluate,
            base,
            deltas,
            weights,
            metric=scenario.market.utility_metric,
            evaluate_many=evaluator.evaluate_many,
        )
        t1 = time.perf_counter()
        table = np.array(utility.values_many(coalitions_of(n)), dtype=np.float64)
        tables[f"utilities_{r}"] = table
        print(
            f"round {r + 1}: trained in {t1 - t0:.0f} s; {len(table)} coalition utilities in "
            f"{time.perf_counter() - t1:.0f} s; u(empty) {table[0]:.4f}, u(N) {table[-1]:.4f}",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        args.out,
        n_players=np.int64(len(players)),
        players=np.array(players),
        metric=np.array(scenario.market.utility_metric),
        examples=np.int64(examples),
        **tables,
    )
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

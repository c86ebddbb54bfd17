"""One default round, split into training, scoring, secure aggregation, evaluation, overhead.

Run: ``python -m bench.round [--rounds R] [--threads N] [--quick]`` (about 5 minutes on 2
cores: the default round itself trains for over a minute).

The scenario is the embedded default (``agents.Scenario()``: six honest participants, 300
reviews each, real LoRA fine-tuning of all-MiniLM-L6-v2, GTG-Shapley scoring on the
128-example stratified utility subset), once as is and once with secure aggregation on
(``privacy.access = "trusted_evaluator"``: utilities are computed inside the trusted boundary,
which costs what plaintext scoring costs), and once with every coalition aggregate a real
secure-aggregation run (``secure_coalitions``: that cost is inside the scoring column). The
frozen-prefix cache is built once and shared
by both runs (``MarketModel(scenario, task=task)``). Columns come from ``RunResult.rounds``:
``train_seconds``, ``scoring_seconds``, ``secagg_seconds``, ``overhead_seconds``;
evaluation is the rest of ``round_seconds`` (validation and test accuracy of the new model).

Target (issue 7): scoring + secure aggregation + simulator overhead <= 50% of local training,
with GTG and secure aggregation.

Then, on the last round's real updates, the same GTG scoring (same budget, same seed) is
replayed with the old per-coalition path (``FederatedTask.evaluate``, cached prefix) and the
new one (``fl_core.evaluators``), alternately; and one coalition is timed on the plain peft
path, the cached path and the batched path (the speed-up of issue 2's ``bench/round.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from typing import Any

import numpy as np

import market
from agents import Scenario
from agents.model import MarketModel
from bench.eval_paths import EvalPath, batched, coalition_vectors, included_updates, plain_peft
from bench.timing import timed_round_robin
from bench.torch_setup import closing_line, opening_line, parse_with_threads
from fl_core import CoalitionUtility


def split_row(name: str, row: dict[str, Any]) -> dict[str, Any]:
    parts = {
        "train": float(row["train_seconds"]),
        "scoring": float(row["scoring_seconds"]),
        "secagg": float(row["secagg_seconds"]),
        "overhead": float(row["overhead_seconds"]),
    }
    parts["evaluation"] = float(row["round_seconds"]) - sum(parts.values())
    parts["total"] = float(row["round_seconds"])
    side = parts["scoring"] + parts["secagg"] + parts["overhead"]
    return {
        "config": name,
        "round": int(row["round"]),
        **parts,
        "side_share": side / parts["train"],
        "evaluations": int(row["scoring_evaluations"]),
    }


def replay_gtg(
    evaluate_fn: EvalPath,
    base: np.ndarray,
    deltas: list[np.ndarray],
    weights: list[float],
    scenario: Scenario,
) -> tuple[float, int]:
    """Seconds and evaluations of the round's GTG scoring with a given evaluation path."""
    started = time.perf_counter()
    utility = CoalitionUtility(
        evaluate_fn, base, deltas, weights, metric=scenario.market.utility_metric
    )
    m = len(deltas)
    budget = max(scenario.market.scoring_budget, m + 1)
    result = market.estimate(utility, m, "gtg", budget=budget, rng=np.random.default_rng(7))
    return time.perf_counter() - started, result.evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds per configuration")
    parser.add_argument("--quick", action="store_true", help="only the secure-aggregation run")
    args = parse_with_threads(parser)
    load = os.getloadavg()[0]
    plain_scenario = Scenario()
    secure = plain_scenario.replace("privacy.secure_aggregation", True).replace(
        "privacy.access", "trusted_evaluator"
    )
    coalitions = secure.replace("privacy.access", "secure_coalitions")
    configs = [("GTG + SecAgg (trusted_evaluator)", secure)]
    if not args.quick:
        configs = [
            ("GTG, plaintext", plain_scenario),
            *configs,
            ("GTG + SecAgg (secure_coalitions)", coalitions),
        ]
    started = time.perf_counter()
    first = MarketModel(configs[0][1])
    build = time.perf_counter() - started
    task = first.task
    rows = []
    last: dict[str, Any] = {}
    for i, (name, scenario) in enumerate(configs):
        model = first if i == 0 else MarketModel(scenario, task=task)
        evaluator = task.coalition_evaluator("val", model.utility_indices)
        evaluator.clear_memo()  # runs share the task: time each one's scoring afresh
        for _ in range(args.rounds):
            base = model.global_vector.copy()
            model.step()
            rows.append(split_row(name, dataclasses.asdict(model.record)))
        _, deltas, weights = included_updates(model)
        last = {
            "base": base,
            "deltas": deltas,
            "weights": weights,
            "indices": model.utility_indices,
            "scenario": scenario,
        }

    out = [
        "## A default round (bench/round.py)",
        "",
        f"{opening_line(load)} Scenario: the default "
        f"(6 x 300 reviews, MiniLM LoRA top 2 layers, GTG budget "
        f"{plain_scenario.market.scoring_budget}, utility subset "
        f"{plain_scenario.data.utility_subset}). Task build (data, model, frozen-prefix cache "
        f"of val, test and the shards): {build:.0f} s, once.",
        "",
        "| config | round | train s | scoring s | secagg s | overhead s | evaluation s | "
        "round s | (scoring+secagg+overhead)/train | GTG evaluations |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['config']} | {r['round']} | {r['train']:.1f} | {r['scoring']:.2f} | "
            f"{r['secagg']:.2f} | {r['overhead']:.3f} | {r['evaluation']:.1f} | "
            f"{r['total']:.1f} | **{100 * r['side_share']:.1f}%** | {r['evaluations']} |"
        )
    target = [r for r in rows if "trusted_evaluator" in r["config"]]
    worst = max(r["side_share"] for r in target)
    out += [
        "",
        f"Target (GTG + secure aggregation, trusted_evaluator): <= 50% of local training; measured "
        f"{100 * worst:.1f}% -> {'met' if worst <= 0.5 else 'NOT met'}.",
        "",
    ]

    # the same scoring replayed: old cached path vs the batched evaluator (fresh, no memo)
    idx = last["indices"]
    args_replay = (last["base"], last["deltas"], last["weights"], last["scenario"])
    fast = batched(task, idx)
    old_times, new_times = [], []
    evaluations = 0
    for _ in range(2):
        seconds, evaluations = replay_gtg(lambda v: task.evaluate(v, "val", idx), *args_replay)
        old_times.append(seconds)
        new_times.append(replay_gtg(fast.evaluate, *args_replay)[0])
    # GTG discards a walk cut by the budget: the smallest budget giving the same values
    shared = CoalitionUtility(
        fast.evaluate, last["base"], last["deltas"], last["weights"],
        metric=last["scenario"].market.utility_metric,
    )  # fmt: skip
    m = len(last["deltas"])
    budget = max(last["scenario"].market.scoring_budget, m + 1)

    def gtg(b: int) -> tuple[np.ndarray, int]:
        result = market.estimate(shared, m, "gtg", budget=b, rng=np.random.default_rng(7))
        return np.asarray(result.values), int(result.evaluations)

    reference, spent = gtg(budget)
    smallest = min(b for b in range(m + 1, budget + 1) if np.array_equal(gtg(b)[0], reference))
    wasted = spent - gtg(smallest)[1]
    # one coalition (the grand one) on each path, alternately
    grand = coalition_vectors(last["base"], last["deltas"], last["weights"], [frozenset(range(m))])
    one: dict[str, EvalPath] = {
        "plain peft": plain_peft(task, idx),
        "cached prefix": lambda v: task.evaluate(v, "val", idx),
        "batched": fast.evaluate,
    }
    best, results = timed_round_robin(one, grand, 2)
    losses = {name: out[0].loss for name, out in results.items()}
    out += [
        f"GTG scoring of the last round replayed ({evaluations} evaluations, same seed), "
        "best of 2, alternately:",
        "",
        "| evaluation path | scoring s | speed-up |",
        "|---|---|---|",
        f"| cached prefix (`FederatedTask.evaluate`, before issue 7) | {min(old_times):.2f} | "
        "1.00x |",
        f"| batched evaluator (`fl_core.evaluators`, now) | {min(new_times):.2f} | "
        f"{min(old_times) / min(new_times):.2f}x |",
        "",
        (
            f"GTG-Shapley's budget {budget}: {spent} evaluations spent; budget {smallest} "
            f"already gives the very same values (same seed), so {wasted} of the spent "
            f"evaluations bought nothing. A permutation walk that cannot finish within the "
            f"budget is not started (market/scoring/_walk.py), so the "
            f"{budget - spent} left over are not spent."
        ),
        "",
        "One coalition (the grand coalition of that round), best of 2, alternately:",
        "",
        "| path | seconds | speed-up vs plain peft | loss diff vs plain |",
        "|---|---|---|---|",
    ]
    for name, sec in best.items():
        out.append(
            f"| {name} | {sec:.3f} | {best['plain peft'] / sec:.2f}x | "
            f"{abs(losses[name] - losses['plain peft']):.1e} |"
        )
    out += ["", closing_line(started)]
    print("\n".join(out))


if __name__ == "__main__":
    main()

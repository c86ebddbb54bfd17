"""The default scenario (``make demo``) timed phase by phase, wall and CPU, old vs new defaults.

Run: ``python -m bench.demo [--rounds R] [--threads N] [--set KEY=VALUE ...]`` times one run
of the default scenario (six participants x 5 rounds of LoRA on all-MiniLM-L6-v2, secure
aggregation, exact Shapley scoring); ``--compare`` times the defaults before issue 16 and
the current ones, each in a fresh process, one after the other, and prints their ratio;
``--out FILE`` also writes the markdown there (e.g. ``bench/results/demo.md``). Target:
<= 180 s end to end on a 2-core AVX2 machine with final test accuracy >= 0.80.

Per phase it reports wall seconds (the rounds table's ``train_seconds``,
``scoring_seconds``, ``secagg_seconds``, ``overhead_seconds``; evaluation is the rest of
``round_seconds``) and process CPU seconds (``time.process_time`` around the task's
training, coalition evaluation and val/test evaluation calls). On a shared machine wall time
grows with the load of others while CPU time measures the work done (with two torch threads
it also counts their spin-waits), so both are printed with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.machine import model_name, simd_short

ROOT = Path(__file__).resolve().parents[1]

BEFORE_ISSUE_16: dict[str, Any] = {
    "model.adapted_layers": 2,
    "data.max_length": 128,
    "data.utility_subset": 128,
}
"""The defaults the demo had before issue 16 (7.5 min wall on a 2-core AMD EPYC, AVX2)."""

PHASES = ("build", "train", "scoring", "secagg", "evaluation", "overhead")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _timed(fn: Callable[..., Any], cpu: dict[str, float], phase: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu[phase] += time.process_time() - started

    return wrapper


def measure(overrides: dict[str, Any], rounds: int, threads: int) -> dict[str, Any]:
    """One run of the default scenario with ``overrides``: phases, totals, accuracy."""
    import torch

    from agents import Scenario
    from agents.model import MarketModel
    from fl_core.task import FederatedTask

    if threads > 0:
        torch.set_num_threads(threads)
    scenario = Scenario()
    for key, value in overrides.items():
        scenario = scenario.replace(key, value)
    if rounds > 0:
        scenario = scenario.replace("rounds", rounds)
    load_start = os.getloadavg()[0]
    cpu = dict.fromkeys(PHASES, 0.0)
    wall = dict.fromkeys(PHASES, 0.0)
    # count CPU seconds per phase: wrap the task's entry points (the computation is unchanged)
    original_init = FederatedTask.__init__

    def init(task: FederatedTask, *args: Any, **kwargs: Any) -> None:
        original_init(task, *args, **kwargs)
        task.train_clients = _timed(task.train_clients, cpu, "train")  # type: ignore[method-assign]
        task.evaluate = _timed(task.evaluate, cpu, "evaluation")  # type: ignore[method-assign]
        make = task.coalition_evaluator

        def coalition_evaluator(*a: Any, **k: Any) -> Any:
            evaluator = make(*a, **k)
            # the utility subset's evaluator is scoring's (task.evaluate uses the whole splits')
            if k.get("indices", a[1] if len(a) > 1 else None) is not None:
                if not getattr(evaluator, "_bench_timed", False):
                    evaluator.evaluate_many = _timed(evaluator.evaluate_many, cpu, "scoring")
                    evaluator._bench_timed = True
            return evaluator

        task.coalition_evaluator = coalition_evaluator  # type: ignore[method-assign]

    FederatedTask.__init__ = init  # type: ignore[method-assign]
    started, cpu_started = time.perf_counter(), time.process_time()
    model = MarketModel(scenario)
    wall["build"] = time.perf_counter() - started
    cpu["build"] = time.process_time() - cpu_started
    cpu["evaluation"] = 0.0  # round 0's evaluation is part of the build, as its wall time
    rows = []
    while model.running:
        cpu_round = time.process_time()
        model.step()
        r = model.record
        evaluation = r.round_seconds - (
            r.train_seconds + r.scoring_seconds + r.secagg_seconds + r.overhead_seconds
        )
        rows.append(
            {
                "round": r.round,
                "train": r.train_seconds,
                "scoring": r.scoring_seconds,
                "secagg": r.secagg_seconds,
                "evaluation": evaluation,
                "overhead": r.overhead_seconds,
                "wall": r.round_seconds,
                "cpu": time.process_time() - cpu_round,
                "test_accuracy": float(r.test_accuracy),
            }
        )
        for phase in ("train", "scoring", "secagg", "evaluation", "overhead"):
            wall[phase] += rows[-1][phase]
    total_wall = time.perf_counter() - started
    total_cpu = time.process_time() - cpu_started
    cpu["secagg"] = 0.0  # not separated (inside the rest)
    cpu["overhead"] = total_cpu - sum(cpu[p] for p in ("build", "train", "scoring", "evaluation"))
    return {
        "overrides": overrides,
        "scenario": (
            f"{len(scenario.participants)} group(s), {scenario.n_identities} identities, "
            f"{scenario.rounds} rounds, {scenario.model.mode} on {scenario.model.backbone} "
            f"(adapted layers {scenario.model.adapted_layers}, max_length "
            f"{scenario.data.resolved_max_length(scenario.model.mode)}, utility subset "
            f"{scenario.data.utility_subset}), "
            f"scoring `{scenario.market.scoring}`, mechanism `{scenario.market.mechanism}`"
        ),
        "threads": torch.get_num_threads(),
        "rows": rows,
        "wall": wall,
        "cpu": cpu,
        "total_wall": total_wall,
        "total_cpu": total_cpu,
        "accuracy": rows[-1]["test_accuracy"] if rows else float("nan"),
        "load": (load_start, os.getloadavg()[0]),
    }


def rounds_table(result: dict[str, Any]) -> str:
    lines = [
        "| round | train s | scoring s | secagg s | evaluation s | overhead s | round s "
        "| round CPU s | test acc |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['round']} | {r['train']:.1f} | {r['scoring']:.1f} | {r['secagg']:.1f} | "
            f"{r['evaluation']:.1f} | {r['overhead']:.2f} | {r['wall']:.1f} | {r['cpu']:.1f} "
            f"| {r['test_accuracy']:.3f} |"
        )
    return "\n".join(lines)


def phase_table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    head = "| phase | " + " | ".join(f"{n} wall s | {n} CPU s" for n in names)
    if len(names) == 2:
        head += " | wall ratio | CPU ratio"
    lines = [head + " |", "|---" * (1 + 2 * len(names) + (2 if len(names) == 2 else 0)) + "|"]

    def row(label: str, walls: list[float], cpus: list[float]) -> str:
        cells = " | ".join(f"{w:.1f} | {c:.1f}" for w, c in zip(walls, cpus, strict=True))
        if len(names) == 2:
            cells += (
                f" | {walls[0] / max(walls[1], 1e-9):.2f}x | {cpus[0] / max(cpus[1], 1e-9):.2f}x"
            )
        return f"| {label} | {cells} |"

    for phase in PHASES:
        if phase == "secagg":
            walls = [results[n]["wall"][phase] for n in names]
            lines.append(row("secagg (CPU in overhead)", walls, [0.0] * len(names)))
            continue
        lines.append(
            row(
                phase,
                [results[n]["wall"][phase] for n in names],
                [results[n]["cpu"][phase] for n in names],
            )
        )
    lines.append(
        row(
            "**total**",
            [results[n]["total_wall"] for n in names],
            [results[n]["total_cpu"] for n in names],
        )
    )
    accuracy = " | ".join(f"{results[n]['accuracy']:.3f} | " for n in names)
    lines.append(f"| final test accuracy | {accuracy}" + (" | |" if len(names) == 2 else ""))
    return "\n".join(lines)


def report(results: dict[str, dict[str, Any]]) -> str:
    out = [
        "## Demo (bench/demo.py)\n",
        f"CPU {model_name()}, {simd_short()}, {os.cpu_count()} cores; "
        f"torch threads {next(iter(results.values()))['threads']}. "
        "Wall seconds per phase from the rounds table; CPU seconds = process CPU time "
        "(`time.process_time`) in that phase (build includes round 0's evaluation). "
        "Runs one after the other in fresh processes.\n",
    ]
    for name, result in results.items():
        load = result["load"]
        out.append(
            f"### {name}\n\n{result['scenario']}; overrides {result['overrides'] or 'none'}; "
            f"load average {load[0]:.1f} at start, {load[1]:.1f} at end.\n"
        )
        out.append(rounds_table(result) + "\n")
    out.append("### Phases\n")
    out.append(phase_table(results) + "\n")
    for name, result in results.items():
        total, accuracy = result["total_wall"], result["accuracy"]
        out.append(
            f"- {name}: total **{total:.0f} s** wall, {result['total_cpu']:.0f} s CPU "
            f"(target <= 180 s: {'met' if total <= 180 else 'NOT met'}); final test accuracy "
            f"{accuracy:.3f} (target >= 0.80: {'met' if accuracy >= 0.80 else 'NOT met'})."
        )
    return "\n".join(out) + "\n"


def _child(overrides: dict[str, Any], rounds: int, threads: int) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter (no warm caches or thread settings shared)."""
    command = [
        sys.executable,
        "-m",
        "bench.demo",
        "--json",
        "--rounds",
        str(rounds),
        "--threads",
        str(threads),
    ]
    for key, value in overrides.items():
        command += ["--set", f"{key}={json.dumps(value)}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"bench.demo: child run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=0, help="0: the scenario's")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a scenario override, e.g. model.adapted_layers=2",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="the defaults before issue 16 vs now, in fresh processes",
    )
    parser.add_argument("--out", default="", help="also write the markdown to this file")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = _parse_value(value)
    if args.json:
        print(json.dumps(measure(overrides, args.rounds, args.threads)))
        return
    if args.compare:
        results = {
            "before": _child({**BEFORE_ISSUE_16, **overrides}, args.rounds, args.threads),
            "now": _child(overrides, args.rounds, args.threads),
        }
    else:
        results = {"now": measure(overrides, args.rounds, args.threads)}
    text = report(results)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()

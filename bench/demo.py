"""The default scenario (``make demo``) timed phase by phase: train, scoring, secagg, overhead.

Run: ``python bench/demo.py [--rounds R] [--threads N] [--backbone tiny]`` (the default
scenario is six participants x 5 rounds of LoRA on all-MiniLM-L6-v2; target <= 180 s on a
2-core AVX2 machine with final test accuracy >= 0.80). Prints one row per round from the
rounds table (``train_seconds``, ``scoring_seconds``, ``secagg_seconds``,
``overhead_seconds``; evaluation is the rest of ``round_seconds``), the build time, the
total, the CPU and the load average at start and end (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from agents import Scenario  # noqa: E402
from agents.model import MarketModel  # noqa: E402


def cpu_name() -> str:
    with open("/proc/cpuinfo") as f:
        text = f.read()
    names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln]
    simd = "AVX-512" if "avx512f" in text else "AVX2" if "avx2" in text else "no AVX2"
    return f"{names[0] if names else platform.processor()}, {simd}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=0, help="0: the scenario's")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--backbone", default="", help="e.g. tiny for a smoke run")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    scenario = Scenario()
    if args.rounds > 0:
        scenario = scenario.replace("rounds", args.rounds)
    if args.backbone:
        scenario = scenario.replace("model.backbone", args.backbone)
    print(
        f"## Demo (bench/demo.py)\n\nThe default scenario ({len(scenario.participants)} "
        f"groups, {scenario.rounds} rounds, {scenario.model.mode} on "
        f"{scenario.model.backbone}, scoring `{scenario.market.scoring}`); CPU {cpu_name()}; "
        f"torch {torch.get_num_threads()} threads; load average at start "
        f"{os.getloadavg()[0]:.1f}.\n",
        flush=True,
    )
    started = time.perf_counter()
    model = MarketModel(scenario)
    build = time.perf_counter() - started
    print(f"Build (data, model, frozen-prefix cache, round 0): {build:.1f} s.\n")
    print("| round | train s | scoring s | secagg s | overhead s | evaluation s | round s |")
    print("|---|---|---|---|---|---|---|")
    while model.running:
        model.step()
        r = model.record
        evaluation = r.round_seconds - (
            r.train_seconds + r.scoring_seconds + r.secagg_seconds + r.overhead_seconds
        )
        print(
            f"| {r.round} | {r.train_seconds:.1f} | {r.scoring_seconds:.1f} | "
            f"{r.secagg_seconds:.1f} | {r.overhead_seconds:.2f} | {evaluation:.1f} | "
            f"{r.round_seconds:.1f} |",
            flush=True,
        )
    total = time.perf_counter() - started
    accuracy = float(model.record.test_accuracy)
    print(
        f"\nTotal **{total:.0f} s** (target <= 180 s: {'met' if total <= 180 else 'NOT met'}); "
        f"final test accuracy {accuracy:.3f} (target >= 0.80: "
        f"{'met' if accuracy >= 0.80 else 'NOT met'}); load average at end "
        f"{os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()

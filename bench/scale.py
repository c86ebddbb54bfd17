"""Scale: 10,000 head-mode participants x 5 rounds (and 100,000 x 3) with SecAgg+ and TMC.

Run: ``python -m bench.scale [--participants N] [--rounds R] [--method M] [--cold]``.
Issue 16's figures: ``--participants 10000 --rounds 5`` (target <= 75 s with a warm cache,
simulator overhead <= 25% of each round) and ``--participants 100000 --rounds 3`` (target
<= 10 minutes, <= 8 GiB); per-round cost flat over rounds.

Head mode: frozen all-MiniLM-L6-v2 sentence embeddings (mean pooling, cached on disk under
``$FEDMARKET_CACHE``) and a federated linear head. Each participant holds 32 reviews sampled
with replacement from the training pool (``data.replace = true``) and costs 5 per round, above
its even share of the round budget, so only the explorers join: availability 0.95 times
exploration 0.2, about 1,900 of 10,000 a round. Secure aggregation is SecAgg+ over a Harary
graph of degree 12 (raised by ``privacy.secaggplus_parameters`` when the dropout bound asks
for it). Scoring is TMC-Shapley (``--method``) with the default budget, inside the trusted
evaluator (``privacy.access = "trusted_evaluator"``); the default mechanism
(``banzhaf_cover``) adds its own Banzhaf valuation. The selected head-mode clients train as one
batch (``fl_core.head_training``).

With ``--cold`` (what ``make bench`` runs) the embeddings are first computed in a child
process into an empty cache folder, timed apart; the run then finds them on disk, so its
peak memory is the simulation's, not the encoder's. The resident set size is printed after
every round; the simulator's per-round result tables (one row per participant per round, by
design) are the only thing meant to grow.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch

from agents.model import MarketModel
from agents.scenario import MarketSection, ParticipantGroup, PrivacySection, Scenario
from bench.crowd import SHARD, head_crowd
from bench.machine import model_name, simd_short
from bench.torch_setup import parse_with_threads

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
GROUP_LIMIT = 10_000
"""The scenario's largest participant group (``participants.<group>.count``)."""


def scenario_for(n: int, rounds: int, method: str, neighbors: int = 12) -> Scenario:
    """The issue-16 scale scenario: about 19% of ``n`` join a round (availability 0.95,
    exploration 0.2, cost 5 above the even share of the budget), SecAgg+ over ``neighbors``."""
    # a group holds at most GROUP_LIMIT identities: larger crowds are identical groups
    groups = [
        ParticipantGroup(
            name="crowd" if n <= GROUP_LIMIT else f"crowd{k}",
            count=min(GROUP_LIMIT, n - start),
            data_size=SHARD,
            availability=0.95,
        )
        for k, start in enumerate(range(0, n, GROUP_LIMIT))
    ]
    privacy = PrivacySection(
        secure_aggregation=True, access="trusted_evaluator", neighbors=neighbors
    )
    market = MarketSection(scoring=method, exploration=0.2)
    return head_crowd("scale", rounds, groups, privacy=privacy, market=market)


def rss() -> float:
    return float(psutil.Process().memory_info().rss) / MIB


def peak_rss() -> float:
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--method", default="tmc", help="a sampled market.METHODS name")
    parser.add_argument("--cold", action="store_true", help="compute embeddings afresh")
    parser.add_argument("--embed-only", action="store_true", help=argparse.SUPPRESS)
    args = parse_with_threads(parser)
    if args.cold and not args.embed_only:
        cold_dir = tempfile.mkdtemp(prefix="fedmarket-cold-")
        os.environ["FEDMARKET_CACHE"] = cold_dir
        atexit.register(shutil.rmtree, cold_dir, ignore_errors=True)
    scenario = scenario_for(args.participants, args.rounds, args.method)
    load = os.getloadavg()[0]
    if args.embed_only:  # the --cold child: build once (computing the embeddings) and exit
        MarketModel(scenario)
        return
    print(
        f"## Scale (bench/scale.py)\n\n{args.participants} head-mode participants x "
        f"{args.rounds} rounds on {model_name()}, {simd_short()}, SecAgg+ degree "
        f"{scenario.privacy.neighbors}, scoring "
        f"`{args.method}` with budget {scenario.market.scoring_budget}; torch "
        f"{torch.get_num_threads()} threads, {platform.machine()}, load average at start "
        f"{load:.1f}.\n",
        flush=True,
    )
    # 1. embeddings: with --cold a child process computes them into a fresh cache folder
    # (timed apart, and its memory is not this process's); the run then finds them on disk
    embed_note = "from the disk cache (run with --cold to time their first computation)"
    if args.cold:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bench.scale", "--embed-only", *sys.argv[1:]],
            check=True,
            env=os.environ.copy(),
            cwd=ROOT,
        )
        seconds = time.perf_counter() - started
        embed_note = (
            f"computed afresh in a child process (cold cache): **{seconds:.0f} s** for every "
            "review the run uses (training pool, validation, test) through MiniLM, model "
            "loading included"
        )
        print(f"Embeddings: {embed_note}.\n", flush=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    model = MarketModel(scenario)
    build = time.perf_counter() - started
    build_cpu = time.process_time() - cpu_started
    if not args.cold:
        print(f"Embeddings: {embed_note}.\n", flush=True)
    print(
        f"Model build (agents, data, embeddings from disk, round 0): {build:.1f} s wall, "
        f"{build_cpu:.1f} s process CPU.\n"
    )
    started = time.perf_counter()
    print(
        "| round | joined | included | round s | CPU s | train s | secagg s | scoring s | "
        "evaluations | overhead s | overhead share | RSS MiB | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    shares = []
    memory = [rss()]
    round_cpu = []
    for _ in range(scenario.rounds):
        cpu_before = time.process_time()
        model.step()
        round_cpu.append(time.process_time() - cpu_before)
        row = dataclasses.asdict(model.record)
        memory.append(rss())
        shares.append(row["overhead_seconds"] / max(row["round_seconds"], 1e-9))
        print(
            f"| {row['round']} | {row['joined']} | {row['included']} | "
            f"{row['round_seconds']:.2f} | {round_cpu[-1]:.2f} | {row['train_seconds']:.2f} | "
            f"{row['secagg_seconds']:.2f} | {row['scoring_seconds']:.2f} | "
            f"{row['scoring_evaluations']} | {row['overhead_seconds']:.2f} | "
            f"{shares[-1]:.0%} | {memory[-1]:.0f} | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )
    total = time.perf_counter() - started + build
    rounds = model.rounds_table()
    parts = model.participants_table()
    table_mib = (rounds.memory_usage(deep=True).sum() + parts.memory_usage(deep=True).sum()) / MIB
    half = np.array(memory[1 + len(memory) // 2 :])
    slope = float(np.polyfit(np.arange(len(half)), half, 1)[0]) if len(half) > 2 else 0.0
    limit = {5: 75.0, 3: 600.0}.get(scenario.rounds, 300.0)
    sums = rounds.iloc[1:][["train_seconds", "secagg_seconds", "scoring_seconds"]].sum()
    other = total - build - float(sums.sum())
    print(
        f"\nRun ({scenario.rounds} rounds + the warm build): **{total:.0f} s** wall, "
        f"{build_cpu + sum(round_cpu):.0f} s process CPU (target <= "
        f"{limit:.0f} s: {'met' if total <= limit else 'NOT met'}): training "
        f"{sums['train_seconds']:.0f} s, secure aggregation {sums['secagg_seconds']:.0f} s, "
        f"scoring {sums['scoring_seconds']:.0f} s, the rest (selection, screening, payment, "
        f"leak audit, evaluation, tables) {other:.0f} s. Embeddings apart (see above).\n\n"
        f"Memory: peak RSS **{peak_rss():.0f} MiB**; RSS {memory[1]:.0f} MiB after round 1, "
        f"{memory[-1]:.0f} MiB after round {scenario.rounds}; over the second half of the "
        f"rounds it moved {half.min() if len(half) else 0:.0f}-{half.max() if len(half) else 0:.0f}"
        f" MiB (fitted slope {slope:+.2f} MiB/round). The per-round result tables "
        f"({len(parts):,} participant rows) hold {table_mib:.1f} MiB "
        f"({table_mib / scenario.rounds:.2f} MiB/round, growing by design).\n\n"
        f"Simulator overhead: at most {max(shares):.0%} of a round (target <= 25%: "
        f"{'met' if max(shares) <= 0.25 else 'NOT met'}); peak RSS target <= 8 GiB: "
        f"{'met' if peak_rss() <= 8192 else 'NOT met'}.\n\n"
        f"Final test accuracy {rounds['test_accuracy'].iloc[-1]:.3f} (round 0: "
        f"{rounds['test_accuracy'].iloc[0]:.3f}); load average at end {os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()

"""Scale: 1,000 head-mode participants x 20 rounds with SecAgg+ and a sampled scoring method.

Run: ``python bench/scale.py [--participants N] [--rounds R] [--method M] [--cold]``
(target: at most 5 minutes on 2 cores, peak memory stated, memory flat in the rounds).

Head mode: frozen all-MiniLM-L6-v2 sentence embeddings (mean pooling, cached on disk under
``$FEDMARKET_CACHE``) and a federated linear head. Each participant holds 32 reviews sampled
with replacement from the 3,500-review pool (``data.replace = true``: 1,000 x 32 exceeds it)
and costs nothing, so all join every round. Secure aggregation is SecAgg+ over a Harary graph
of degree ``privacy.graph.secaggplus_degree(n)`` (about log2 n; threshold half of it).
Scoring is permutation-sampling Shapley (``--method``, default ``tmc``) with a budget of
``2 n + 2`` distinct coalition utilities per round, computed inside the trusted evaluator
(``privacy.access = "secure_evaluator"``) by ``fl_core.batched_eval`` on the 128-example
validation subset.

The embeddings' computation is timed apart: the model is built twice, first from the disk
cache as it is (``--cold``: from an empty cache folder, so every embedding is computed), then
again with everything on disk; the difference is the embedding time, and the run uses the
second build. The resident set size is printed after every round; the simulator's per-round
result tables (one row per participant per round, by design) are the only thing meant to
grow. ``--cold`` raises the peak: the encoder's activations stay in the allocator.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402 (the repository root is put on sys.path first)
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402

from agents.model import MarketModel  # noqa: E402
from agents.scenario import (  # noqa: E402
    DataSection,
    MarketSection,
    ModelSection,
    ParticipantGroup,
    PrivacySection,
    Scenario,
)
from privacy.graph import secaggplus_degree  # noqa: E402

MIB = 2**20


def scenario_for(n: int, rounds: int, method: str) -> Scenario:
    return Scenario(
        name="scale",
        rounds=rounds,
        model=ModelSection(mode="head"),
        data=DataSection(replace=True),
        privacy=PrivacySection(
            secure_aggregation=True,
            access="secure_evaluator",
            neighbors=secaggplus_degree(n),
        ),
        market=MarketSection(scoring=method, scoring_budget=2 * n + 2),
        participants=(ParticipantGroup(name="crowd", count=n, data_size=32, cost=0.0),),
    )


def rss() -> float:
    return float(psutil.Process().memory_info().rss) / MIB


def peak_rss() -> float:
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--method", default="tmc", help="a sampled market.METHODS name")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--cold", action="store_true", help="compute embeddings afresh")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.cold:
        os.environ["FEDMARKET_CACHE"] = tempfile.mkdtemp(prefix="fedmarket-cold-")
    scenario = scenario_for(args.participants, args.rounds, args.method)
    load = os.getloadavg()[0]
    print(
        f"## Scale (bench/scale.py)\n\n{args.participants} head-mode participants x "
        f"{args.rounds} rounds, SecAgg+ degree {scenario.privacy.neighbors}, scoring "
        f"`{args.method}` with budget {scenario.market.scoring_budget}; torch "
        f"{torch.get_num_threads()} threads, {platform.machine()}, load average at start "
        f"{load:.1f}.\n",
        flush=True,
    )
    # 1. the model is built twice: the first build computes any embeddings missing from the
    # disk cache (all of them with --cold), the second finds them all there
    started = time.perf_counter()
    model = MarketModel(scenario)
    first_build = time.perf_counter() - started
    del model
    gc.collect()
    started = time.perf_counter()
    model = MarketModel(scenario)
    build = time.perf_counter() - started
    embed_seconds = first_build - build
    source = "a cold cache (--cold)" if args.cold else "the disk cache as it was"
    print(
        f"Model build from {source}: {first_build:.1f} s; again, with every embedding on "
        f"disk: {build:.1f} s; so computing the missing embeddings took about "
        f"{embed_seconds:.1f} s (with --cold: all 5,000 reviews through MiniLM).\n",
        flush=True,
    )
    started = time.perf_counter()
    print(
        "| round | joined | included | round s | train s | secagg s | scoring s | "
        "evaluations | overhead s | RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    memory = [rss()]
    for _ in range(scenario.rounds):
        model.step()
        row = model.round_rows[-1]
        memory.append(rss())
        print(
            f"| {row['round']} | {row['joined']} | {row['included']} | "
            f"{row['round_seconds']:.2f} | {row['train_seconds']:.2f} | "
            f"{row['secagg_seconds']:.2f} | {row['scoring_seconds']:.2f} | "
            f"{row['scoring_evaluations']} | {row['overhead_seconds']:.2f} | {memory[-1]:.0f} |",
            flush=True,
        )
    total = time.perf_counter() - started + build
    rounds = pd.DataFrame(model.round_rows)
    parts = pd.DataFrame(model.participant_rows)
    table_mib = (rounds.memory_usage(deep=True).sum() + parts.memory_usage(deep=True).sum()) / MIB
    half = np.array(memory[1 + len(memory) // 2 :])
    slope = float(np.polyfit(np.arange(len(half)), half, 1)[0]) if len(half) > 2 else 0.0
    limit = 300.0
    sums = rounds.iloc[1:][["train_seconds", "secagg_seconds", "scoring_seconds"]].sum()
    other = total - build - float(sums.sum())
    print(
        f"\nRun ({scenario.rounds} rounds + the warm build): **{total:.0f} s** (target <= "
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
        f"Final test accuracy {rounds['test_accuracy'].iloc[-1]:.3f} (round 0: "
        f"{rounds['test_accuracy'].iloc[0]:.3f}); load average at end {os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()

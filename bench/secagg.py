"""Secure-aggregation benchmark: mask PRG throughput and whole SecAgg+ rounds.

Run: python -m bench.secagg [--quick] [--markdown PATH]

1. Mask PRG (AES-256-CTR keystream, `privacy.prg.expand`) against Flower's
   `pseudo_rand_gen` (numpy RandomState seeded with the 32-byte seed folded to 32 bits) on the
   same vector length. If flwr is not installed (it is in the `bench` extra), the same
   RandomState generator is timed directly, and the table says so.
2. Whole rounds for n clients x 74,498 float32 parameters (MiniLM LoRA r=8 on query/value),
   SecAgg+ with k = ceil(log2 n) neighbours and t = max(2, ceil((k + 1) / 2)), 10% of the
   clients dropping at the masked_input stage (a round that aborts, its survivors not
   connected or some client's secrets held by fewer than t survivors, is redrawn),
   against a plain numpy sum of the same vectors; plus the complete
   graph (SecAgg) at 100 clients. The degree `privacy.secaggplus_parameters` would pick for
   a 1e-6 abort bound at 10% dropouts is printed next to it.
3. Leak audit: `privacy.leak_report` on 200 random coalitions of 1,000 clients (plus the
   grand coalition), and on the lone grand coalition. All ratios are measured in this run.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.machine import model_name
from bench.timing import alternately, best_of
from privacy import (
    DisconnectedSurvivors,
    TooFewSurvivors,
    leak_report,
    secaggplus_parameters,
    secure_aggregate,
)
from privacy.graph import secaggplus_degree
from privacy.prg import expand

LENGTH = 74_498


def flower_generator() -> tuple[str, Callable[[bytes, int], object]]:
    """Flower's mask generator, or the same RandomState construction if flwr is missing."""
    try:
        from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
    except ImportError:

        def fallback(seed: bytes, length: int) -> object:
            seed32 = 0
            for i in range(0, len(seed), 4):
                seed32 ^= int.from_bytes(seed[i : i + 4], "little")
            return np.random.RandomState(seed32).randint(0, (1 << 32) - 1, (length,), np.int64)

        return "RandomState (flwr not installed)", fallback

    def flower(seed: bytes, length: int) -> object:
        return pseudo_rand_gen(seed, 1 << 32, [(length,)])

    return "flwr pseudo_rand_gen", flower


def prg_rows(repeats: int) -> list[list[str]]:
    name, flower = flower_generator()
    rows = []
    for length in (LENGTH, 1_000_000):
        keys = [os.urandom(32) for _ in range(20 if length == LENGTH else 3)]

        def ours(length: int = length, keys: list[bytes] = keys) -> None:
            for key in keys:
                expand(key, length, bits=32)

        def theirs(length: int = length, keys: list[bytes] = keys) -> None:
            for key in keys:
                flower(key, length)

        t_ours, t_theirs = alternately(ours, theirs, repeats)
        t_ours, t_theirs = t_ours / len(keys), t_theirs / len(keys)
        rows.append(
            [
                f"PRG {length:,} uint32",
                f"{length / t_ours:.3g} el/s",
                f"{name}: {length / t_theirs:.3g} el/s",
                f"{t_theirs / t_ours:.1f}x faster",
            ]
        )
    return rows


def round_row(n: int, neighbors: int | None, repeats: int) -> list[str]:
    rng = np.random.default_rng(n)
    updates = {u: (0.01 * rng.standard_normal(LENGTH)).astype(np.float32) for u in range(n)}
    k = neighbors
    threshold = max(2, math.ceil((k + 1) / 2)) if k is not None else n // 2 + 1
    dropped = rng.choice(n, size=n // 10, replace=False).tolist()
    result = None
    graph_seed = 0

    def protocol() -> None:
        nonlocal result, graph_seed
        while True:
            try:
                result = secure_aggregate(
                    updates,
                    threshold=threshold,
                    neighbors=k,
                    dropouts={"masked_input": dropped},
                    rng=np.random.default_rng(graph_seed),
                )
                return
            except (DisconnectedSurvivors, TooFewSurvivors):  # an aborted round is redrawn
                graph_seed += 1

    t_secure = best_of(protocol, repeats)
    assert result is not None
    included = sorted(result.included)
    stacked = np.stack([updates[u] for u in included]).astype(np.float64)
    t_plain = best_of(lambda: stacked.sum(axis=0), max(repeats, 5))
    error = float(np.abs(result.aggregate - stacked.sum(axis=0)).max())
    sent = np.mean([sum(result.bytes_sent[s][u] for s in result.bytes_sent) for u in included])
    picked = secaggplus_parameters(n, dropout_rate=0.1).neighbors
    graph = (
        f"SecAgg+ k={k}, t={threshold}; Bell et al. k for 1e-6: {picked or 'complete'}"
        if k is not None
        else f"SecAgg complete, t={threshold}"
    )
    return [
        f"round n={n:,} ({graph}, {len(dropped)} drop)",
        f"{t_secure:.3f} s",
        f"plain numpy sum: {t_plain * 1e3:.2f} ms",
        f"{t_secure / t_plain:.0f}x slower; bytes/client "
        f"{sent / result.plain_bytes_per_client:.3f}x plain; "
        f"max err {error:.1e} (bound {result.max_error:.1e})",
    ]


def audit_rows() -> list[list[str]]:
    """leak_report at n = 1,000: 200 random coalitions, and the lone grand coalition."""
    rng = np.random.default_rng(0)
    n = 1000
    grand = frozenset(range(n))
    coalitions = [frozenset(np.flatnonzero(rng.random(n) < 0.5).tolist()) for _ in range(200)]
    report = None

    def audit() -> None:
        nonlocal report
        report = leak_report([*coalitions, grand], n)

    t_audit = best_of(audit, 3)
    t_grand = best_of(lambda: leak_report([grand], n), 3)
    assert report is not None
    return [
        [
            "leak audit n=1,000, 200 coalitions",
            f"{t_audit:.3f} s",
            f"lone grand coalition: {t_grand * 1e3:.2f} ms",
            f"exposed {len(report.exposed)}; smallest determined group "
            f"{report.smallest_group_at_least}..{len(report.smallest_group)} clients",
        ]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1,000-client round")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    rows = audit_rows()
    rows += prg_rows(repeats=9)
    rows.append(round_row(100, secaggplus_degree(100), repeats=3))
    rows.append(round_row(100, None, repeats=1))
    if not args.quick:
        rows.append(round_row(1000, secaggplus_degree(1000), repeats=1))
    header = ["case", "fedmarket privacy", "baseline (same run)", "ratio"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    table = "\n".join(lines)
    cpu = os.cpu_count()
    model = model_name(default="unknown CPU")
    print(f"# secure aggregation bench ({model}, {cpu} CPUs, vector length {LENGTH:,})\n")
    print(table)
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()

"""Do surrogate Shapley estimates depend on the CPU? The same estimates under two BLAS kernels.

Run: ``python -m bench.surrogate_reproducibility [--games 18]`` (3.5 minutes on 2 cores; 7 for
``--games 36``, the table in ``bench/results/surrogate_reproducibility.md``).

Each of ``--games`` games (FL-like with exponential or power link, weighted voting; n 7-10) is
estimated by the surrogate with each sampler (focused at 12%, strata at 30%, walks at 15%,
imputation at 25% of 2^n), in two processes at once: one on this machine's default OpenBLAS
kernel, one on the older AVX kernel (``OPENBLAS_CORETYPE=Sandybridge``, which rounds like a
different CPU would). Prints, per sampler, how many estimates agree to 1e-6 relative (to the
largest value of the estimate) and the largest difference. Machines differ in the same way,
only more (AVX-512 kernels, other thread counts).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from bench.machine import cpu_summary

WORKER = r"""
import json, sys
import numpy as np
from market.games import WeightedVotingGame, fl_game
from market.scoring.surrogate import SurrogateShapley

SAMPLERS = (("focused", 0.12, {}), ("strata", 0.3, {}), ("walks", 0.15, {"sampler": "walks"}),
            ("impute", 0.25, {"control_variate": False}))
out = {}
for seed in range(int(sys.argv[1])):
    rng = np.random.default_rng(500 + seed)
    n = int(rng.choice([7, 8, 9, 10]))
    kind = ("fl-exp", "fl-power", "voting")[seed % 3]
    if kind == "voting":
        w = rng.integers(0, 6, n)
        table = WeightedVotingGame(tuple(int(v) for v in w), int(w.sum() // 2 + 1)).table()
    else:
        link = {"fl-exp": {}, "fl-power": {"link": "power"}}[kind]
        table = fl_game(n, np.random.default_rng(seed + 2000), noise=0.01, **link).table()
    for label, share, options in SAMPLERS:
        budget = max(int(share * 2**n), 2 * n + 4)
        result = SurrogateShapley(**options).estimate(
            table, n, budget=budget, rng=np.random.default_rng(seed))
        out[f"{label}|{kind}|{seed}"] = result.values.tolist()
print(json.dumps(out))
"""


def run(games: int, kernel: str | None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if kernel is not None:
        env["OPENBLAS_CORETYPE"] = kernel
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(games)], env=env, stdout=subprocess.PIPE, text=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=18)
    args = parser.parse_args()
    if "OPENBLAS_CORETYPE" in os.environ:
        sys.exit("OPENBLAS_CORETYPE is set by this environment: run where it is not")
    jobs = [run(args.games, None), run(args.games, "Sandybridge")]
    first, second = (json.loads(job.communicate()[0]) for job in jobs)
    print(f"# Surrogate estimates under two OpenBLAS kernels ({cpu_summary()})\n")
    print("| sampler | estimates | agree to 1e-6 | largest relative difference |")
    print("|---|---|---|---|")
    for sampler in ("focused", "strata", "walks", "impute"):
        keys = [k for k in first if k.startswith(sampler + "|")]
        gaps = [
            float(
                np.abs(np.subtract(first[k], second[k])).max() / max(np.abs(first[k]).max(), 1e-12)
            )
            for k in keys
        ]
        agree = sum(g <= 1e-6 for g in gaps)
        worst = max(gaps)
        where = keys[int(np.argmax(gaps))].split("|")[1]
        print(f"| {sampler} | {len(keys)} | {agree} | {worst:.1e} ({where}) |")


if __name__ == "__main__":
    main()

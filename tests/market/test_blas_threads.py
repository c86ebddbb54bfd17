"""Scoring is reproducible from a process's first estimate on.

:func:`market.scoring._blas.single_blas_thread` limits BLAS to one thread during an
estimate. scipy loads its own OpenBLAS on its first ``scipy.linalg`` import; when that came
after the limit was set, a fresh process's first surrogate estimate ran two BLAS threads and
differed (in the last bits, 2e-15 here, 1.6e-6 relative on a larger game) from every later,
identical call. Broken variant: the limit without the ``scipy.linalg`` import first fails this
test (checked by hand on the 2-core AMD EPYC, AVX2).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import numpy as np
from market.scoring import estimate
n = 8
w = np.random.default_rng(5).uniform(0.2, 1.0, n)
bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
table = 1 - np.exp(-(bits @ w) / 2)
runs = [estimate(table, n, "surrogate", budget=76, rng=np.random.default_rng(1)).values
        for _ in range(2)]
print(repr(float(np.max(np.abs(runs[0] - runs[1])))))
"""


def test_first_estimate_in_a_fresh_process_equals_the_second() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert float(out.stdout.strip().splitlines()[-1]) == 0.0

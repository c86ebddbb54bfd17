"""Run the surrogate estimator on fixed games and print the estimates as JSON (one process).

``tests/market/test_surrogate_reproducible.py`` runs this file under two BLAS configurations
and compares the outputs; ``python tests/market/surrogate_cases.py`` prints them by hand.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from market.games import WeightedVotingGame, fl_game
from market.scoring.surrogate import SurrogateShapley


def cases() -> dict[str, tuple[np.ndarray, int, int, dict[str, object], int]]:
    """(table, n, budget, options, rng seed): focused below 20% of 2**n, strata from it, the
    walks, imputation; FL-like (exponential and power links) and weighted voting games. The
    ``bench_*`` cases are games of ``bench/surrogate_reproducibility.py`` whose estimates
    differed between two OpenBLAS kernels before the fixes of issue 24 (by 1.0, 4.8e-4,
    2.8e-4 and 1.9e-3 relative): a tie between two partners of the same weight in the null
    checks, mirror-image ``wmean2`` optima of symmetric players, a GP hyperparameter fit
    ending in two local optima, near-collinear stacking weights and unconverged ``link``
    fits."""
    vote7 = WeightedVotingGame((4, 3, 3, 2, 1, 4, 0), 10).table()
    vote9 = WeightedVotingGame((6, 5, 4, 3, 3, 2, 1, 1, 0), 13).table()
    fl = fl_game(8, np.random.default_rng(1001), noise=0.01).table()
    power = fl_game(8, np.random.default_rng(1002), noise=0.01, link="power").table()
    impute = fl_game(8, np.random.default_rng(1003), noise=0.01).table()
    bench_vote7 = WeightedVotingGame((0, 2, 2, 5, 4, 3, 2), 10).table()
    bench_vote10 = WeightedVotingGame((5, 4, 2, 1, 1, 3, 5, 2, 3, 0), 14).table()
    bench_exp7 = fl_game(7, np.random.default_rng(2015), noise=0.01).table()
    bench_power9 = fl_game(9, np.random.default_rng(2007), noise=0.01, link="power").table()
    return {
        "fl8_walks": (fl, 8, 38, {"sampler": "walks"}, 7),
        "fl8_strata": (power, 8, 77, {}, 7),
        "vote9_walks": (vote9, 9, 76, {"sampler": "walks"}, 7),
        "fl8_focused": (fl, 8, 38, {}, 7),
        "vote9_focused": (vote9, 9, 76, {}, 7),
        "vote7_strata": (vote7, 7, 40, {}, 7),
        "fl8_impute": (impute, 8, 60, {"control_variate": False}, 7),
        "bench_vote7_strata": (bench_vote7, 7, 38, {}, 2),
        "bench_vote10_focused": (bench_vote10, 10, 122, {}, 11),
        "bench_exp7_impute": (bench_exp7, 7, 32, {"control_variate": False}, 15),
        "bench_power9_walks": (bench_power9, 9, 76, {"sampler": "walks"}, 7),
    }


def estimates() -> dict[str, list[float]]:
    """Every case's estimate."""
    out = {}
    for name, (table, n, budget, options, seed) in cases().items():
        estimator = SurrogateShapley(**options)  # type: ignore[arg-type]
        result = estimator.estimate(table, n, budget=budget, rng=np.random.default_rng(seed))
        out[name] = [float(v) for v in result.values]
    return out


def blas_fingerprint() -> str:
    """A digest of BLAS and LAPACK results whose last bits depend on the kernel and the thread
    count (to see that two configurations really differ)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 300)), rng.normal(size=(300, 300))
    parts = (a @ b, a @ b[:, 0], np.linalg.solve(a, b[:, :5]))
    return hashlib.sha1(b"".join(part.tobytes() for part in parts)).hexdigest()


if __name__ == "__main__":
    print(json.dumps({"estimates": estimates(), "fingerprint": blas_fingerprint()}))

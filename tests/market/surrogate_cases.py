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


def cases() -> dict[str, tuple[np.ndarray, int, int, dict[str, object]]]:
    """(table, n, budget, options): focused below 20% of 2**n, strata from it, the walks,
    imputation; FL-like (exponential and power links) and weighted voting games."""
    vote7 = WeightedVotingGame((4, 3, 3, 2, 1, 4, 0), 10).table()
    vote9 = WeightedVotingGame((6, 5, 4, 3, 3, 2, 1, 1, 0), 13).table()
    fl = fl_game(8, np.random.default_rng(1001), noise=0.01).table()
    power = fl_game(8, np.random.default_rng(1002), noise=0.01, link="power").table()
    impute = fl_game(8, np.random.default_rng(1003), noise=0.01).table()
    return {
        "fl8_walks": (fl, 8, 38, {"sampler": "walks"}),
        "fl8_strata": (power, 8, 77, {}),
        "vote9_walks": (vote9, 9, 76, {"sampler": "walks"}),
        "fl8_focused": (fl, 8, 38, {}),
        "vote9_focused": (vote9, 9, 76, {}),
        "vote7_strata": (vote7, 7, 40, {}),
        "fl8_impute": (impute, 8, 60, {"control_variate": False}),
    }


def estimates() -> dict[str, list[float]]:
    """Every case's estimate (rng seed 7)."""
    out = {}
    for name, (table, n, budget, options) in cases().items():
        estimator = SurrogateShapley(**options)  # type: ignore[arg-type]
        result = estimator.estimate(table, n, budget=budget, rng=np.random.default_rng(7))
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

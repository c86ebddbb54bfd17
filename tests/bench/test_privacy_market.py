"""bench.privacy_market's per-run metrics and verdicts, on hand-made tables."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))  # bench is not an installed package
    import bench.privacy_market

    return bench.privacy_market


def _parts() -> pd.DataFrame:
    # two identities over two rounds: identity 0 joins both, identity 1 only round 1
    return pd.DataFrame(
        {
            "joined": [True, True, True, False],
            "included": [True, True, True, False],
            "reward": [10.0, 2.0, 5.0, 0.0],
            "cost": [8.0, 9.0, 5.0, 0.0],
            "privacy_cost": [3.0, 4.0, 0.0, 0.0],
            "dp_clip_factor": [1.0, 0.5, 1.0, 1.0],
        }
    )


def test_metrics_count_the_privacy_cost_covered_by_pay_beyond_other_costs(
    bench: ModuleType,
) -> None:
    summary = {"dp_epsilon_mean": 2.0, "final_test_accuracy": 0.7, "total_paid": 17.0}
    out = bench.metrics(_parts(), summary)
    assert out["participation"] == pytest.approx(0.75)
    assert out["pay_per_joined"] == pytest.approx(17.0 / 3)
    assert out["privacy_cost_per_joined"] == pytest.approx(7.0 / 3)
    # round 1: other costs 5, pay 10 -> 5 beyond, covers all 3; round 2: pay 2 < 5 -> 0
    assert out["privacy_covered"] == pytest.approx(3.0 / 7.0)
    assert out["clip_factor"] == pytest.approx(2.5 / 3)
    free = _parts().assign(privacy_cost=0.0)
    assert math.isnan(bench.metrics(free, summary)["privacy_covered"])


def test_overlapping_intervals_are_reported_as_no_difference(bench: ModuleType) -> None:
    rows = []
    for seed, (a, b) in enumerate([(0.5, 0.4), (0.4, 0.5), (0.6, 0.6)]):
        for arm, value in (("auction", a), ("pooled_value", b)):
            for price in (0.0, 1.0):
                rows.append(
                    {
                        "arm": arm,
                        "privacy_price": price,
                        "seed": seed,
                        "metric": "participation",
                        "value": value if price == 0 else value - 0.3,
                    }
                )
    frame = pd.DataFrame(rows)
    lines = [x for x in bench.findings(frame) if "joined" in x]
    assert any("auction minus pooled_value" in x and "(no difference)" in x for x in lines)
    assert any(x.startswith("- auction: joined") and "(significant)" in x for x in lines)
    assert "| auction | 1 |" in bench.table(frame)

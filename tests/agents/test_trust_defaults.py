"""Issue 12's trust targets under the DEFAULT market (no ``[market]`` section), MiniLM head mode.

Real runs (``slow``: frozen all-MiniLM-L6-v2 embeddings, a federated head that learns with
the head-mode defaults, lr 0.05 and 4 local epochs). Each property is also played against a
deliberately broken variant that must FAIL it, in the same test:

* free riders (zero, stale, disguised) get <= 2% of payments; broken: the platform's
  free-rider screen switched off (``market.free_rider_reasons`` returns no reason);
* each poisoner (sign-flipped, boosted x3) earns less than every clean honest participant;
  broken: the ``flat`` mechanism (pays per head);
* Sybil splitting over 3 identities and replication over 3 identities gain <= 5% over one
  identity, as the mean gain over seeds relative to the mean honest payoff (a per-seed
  ratio explodes when one seed's honest payoff is near 0); broken: ``flat`` (+205% for
  both), and for splitting also the default paying identities instead of metered work
  (every identity one unit of effort). The gym over 20 seeds
  (``bench/results/attack_matrix.md``): the default's split gain is -15% (95% interval -29%
  to -3%); the previous default, ``banzhaf_cover``, measured -8% (-34% to +34%);
* >= 80% of clean honest participants are paid at least their cost over a run
  (``summary["ir_rate_honest"]``, from ``market.ir_rate``); broken: the screen made
  paranoid (every update flagged), which pays nobody.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import agents.model
import agents.platform
import market
from agents import MarketModel, ParticipantGroup, RunResult, Scenario, run
from agents.attacks import attack_matrix
from fl_core import FederatedTask

pytestmark = pytest.mark.slow

ROUNDS = 3


def default_head(*groups: ParticipantGroup, seed: int = 0) -> Scenario:
    """The default scenario (every market default) in head mode, shortened."""
    base = Scenario(name="trust", rounds=ROUNDS, seed=seed).replace("model.mode", "head")
    return base if not groups else dataclasses.replace(base, participants=groups)


HONEST = ParticipantGroup("honest", count=6, data_size=300)
ADVERSARIES = (
    HONEST,
    ParticipantGroup("zero", data_size=300, strategy="free_rider"),
    ParticipantGroup("stale", data_size=300, strategy="free_rider", free_ride="stale"),
    ParticipantGroup("disguised", data_size=300, strategy="free_rider", free_ride="disguised"),
    ParticipantGroup("sign_flip", data_size=300, strategy="poisoner", poison_scale=-1.0),
    ParticipantGroup("boost", data_size=300, strategy="poisoner", poison_scale=3.0),
)


@pytest.fixture(scope="module")
def task() -> FederatedTask:
    return MarketModel(default_head()).task


def _run(s: Scenario, task: FederatedTask) -> RunResult:
    return run(s, model=MarketModel(s, task=task))


def _free_rider_share(result: RunResult) -> float:
    parts = result.participants
    paid = parts["reward"].sum()
    return float(parts[parts["strategy"] == "free_rider"]["reward"].sum() / paid)


def _poisoners_below_every_honest(result: RunResult) -> bool:
    per_id = result.participants.groupby(["participant", "group"])["reward"].sum()
    per_id = per_id.reset_index()
    honest = per_id[per_id["group"] == "honest"]["reward"]
    poisoners = per_id[per_id["group"].isin(["sign_flip", "boost"])]["reward"]
    return bool(poisoners.max() < honest.min())


def test_defaults_are_the_market_defaults() -> None:
    s = default_head()
    assert (s.market.mechanism, s.market.scoring) == (
        market.DEFAULT_MECHANISM,
        market.DEFAULT_METHOD,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_free_riders_and_poisoners_under_defaults(
    task: FederatedTask, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(default_head(*ADVERSARIES, seed=seed), task)
    share = _free_rider_share(result)
    print(f"\nseed {seed}: free-rider share {share:.4f}, IR {result.summary['ir_rate_honest']}")
    assert share <= 0.02
    assert _poisoners_below_every_honest(result)
    assert result.summary["ir_rate_honest"] >= 0.8
    # broken variant 1: no free-rider screen and aggregation weights trusting declared sizes
    # (so an update without metered training passes) -> the free riders are paid (> 2%) on
    # seed 0; on seed 1 the marginal surplus alone kept them at 0.0 (measured), no claim there
    monkeypatch.setattr(market, "free_rider_reasons", lambda u, *a, **k: [""] * len(u))
    monkeypatch.setattr(agents.platform, "metered_weight", lambda p: p.declared_size)
    if seed == 0:
        assert _free_rider_share(_run(default_head(*ADVERSARIES, seed=seed), task)) > 0.02
    # broken variant 2: a screen that flags everyone -> no honest participant is covered
    monkeypatch.setattr(market, "free_rider_reasons", lambda u, *a, **k: ["x"] * len(u))
    assert _run(default_head(*ADVERSARIES, seed=seed), task).summary["ir_rate_honest"] < 0.8


def test_poisoners_out_earn_honest_under_flat(task: FederatedTask) -> None:
    s = default_head(*ADVERSARIES).replace("market.mechanism", "flat")
    assert not _poisoners_below_every_honest(_run(s, task))


def _gains(task: FederatedTask, attack: str, mechanisms: list[str]) -> pd.Series:
    """Mean gain over seeds 0-1 relative to the mean honest payoff, per mechanism."""
    table = attack_matrix(
        default_head(), mechanisms=mechanisms, attacks=[attack], seeds=[0, 1], task=task
    ).set_index("mechanism")
    print("\n", table[["gain", "gain_std", "honest_payoff", "relative_gain"]])
    assert (table["honest_payoff"] > 0).all()
    return table["gain"] / table["honest_payoff"]


@pytest.mark.parametrize("attack", ["sybil_split", "sybil_replicate"])
def test_sybil_gain_at_most_5_percent(
    task: FederatedTask, attack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gains = _gains(task, attack, [market.DEFAULT_MECHANISM])
    assert gains[market.DEFAULT_MECHANISM] <= 0.05
    # broken variant: a per-head rule rewards the extra identities (measured +205%), once
    # replicas pass the data registry and the training meter (both off here)
    monkeypatch.setattr(agents.model.MarketModel, "_register", lambda self: {})
    monkeypatch.setattr(agents.platform, "metered_weight", lambda p: p.declared_size)
    assert _gains(task, attack, ["flat"])["flat"] > 0.05
    if attack == "sybil_split":  # broken variant: the default paying identities, not metered
        # work (every identity one unit of effort): the split's three pieces draw three shares
        monkeypatch.setattr(
            market.mechanisms.PooledValue,
            "_effort",
            lambda self, round_: np.where(round_.participants, 1.0, 0.0),
        )
        assert _gains(task, attack, [market.DEFAULT_MECHANISM])[market.DEFAULT_MECHANISM] > 0.05

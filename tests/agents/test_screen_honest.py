"""The free-rider screen against honest clients at the ends of the scenario's knobs, MiniLM
head mode (``slow``: frozen all-MiniLM-L6-v2 embeddings, cached; about 10 s a run).

Each run plays honest groups at the ends of what a scenario allows beside the three free
riders (zero, stale, disguised: Fraboni et al. 2021), with the real screen deciding the
trajectory, and asserts no honest update is ever flagged and every free rider's is:

* ``fast``: enough compute for the epoch cap (4 epochs, 75 local steps), whose update
  continues the last global step;
* ``slow``: two local steps (``speed = 2 * min_samples / deadline_s``);
* ``small``: 4 reviews, the least that is not a straggler (4 epochs x 4 = ``min_samples``);
* ``skew``: Dirichlet ``class_alpha = 0.05`` (most shards are one class).

Broken variant, in the same test: the previous rule (a cosine with the last step at least
``max(0.6, median + 0.25)``, ``_median_margin_rule`` in ``tests/market``) on the same rounds'
inputs flags an honest client or misses a rider (measured here: the 75-step ``fast``
clients flagged as replays from round 2 on). Over recorded rounds of three mixes x seeds
0-2 x 5 rounds (an oracle screen keeping the trajectory, ``/tmp`` probes, see the commit)
the previous rule flagged 18 honest updates in 234 and missed 29 riders in 224, this one 13
and 1, the 13 in the limit pinned below.

Limit (``test_limit_where_honest_clients_are_flagged``): a round where every honest client
is strongly skewed (``class_alpha = 0.05``): a one-class shard saturates, and a client with
one or two local steps then sends mostly its carried AdamW momentum, the class-prior push
the last global step also was (cosine 0.92-0.99 with it, its remainder noise-like). It was
flagged as a replay on seed 0 while FedAvg weighted by declared sizes; with metered weights
(distinct examples trained on, so the two-step client weighs 32, not its 300 reviews) it is
not on seed 0, and the test now pins only that no rider passes in that mix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import market
from agents import MarketModel, ParticipantGroup, Scenario
from tests.market.test_free_rider_screen import _median_margin_rule

pytestmark = pytest.mark.slow

ROUNDS = 4
DEADLINE_S, MIN_SAMPLES = 60.0, 16  # the train defaults
RIDERS = (
    ParticipantGroup("zero", data_size=300, strategy="free_rider"),
    ParticipantGroup("stale", data_size=300, strategy="free_rider", free_ride="stale"),
    ParticipantGroup("disguised", data_size=300, strategy="free_rider", free_ride="disguised"),
)
RIDER_GROUPS = {g.name for g in RIDERS}


def _slow(steps: int) -> float:
    return steps * MIN_SAMPLES / DEADLINE_S + 1e-3


MIXES = {
    "mixed": (
        ParticipantGroup("fast", count=3, data_size=300, speed=20.0),  # 75 steps
        ParticipantGroup("default", count=2, data_size=300),  # 12 steps
        ParticipantGroup("slow", count=2, data_size=300, speed=_slow(2)),
        ParticipantGroup("small", count=2, data_size=4),
        ParticipantGroup("skew", count=2, data_size=300, class_alpha=0.05),
    ),
    "skewed": (  # every honest client strongly skewed: the pinned limit
        ParticipantGroup("skew", count=6, data_size=300, class_alpha=0.05, speed=20.0),
        ParticipantGroup("slow", count=1, data_size=300, speed=_slow(1), class_alpha=0.05),
        ParticipantGroup("small", count=1, data_size=4, class_alpha=0.05),
    ),
}


def _play(groups: tuple[ParticipantGroup, ...], seed: int, monkeypatch: Any) -> list[Round]:
    """Run the scenario; per round, each screened update's group, its reason, and the inputs."""
    from agents.platform import PlatformAgent

    base = Scenario(name="screen", rounds=ROUNDS, seed=seed).replace("model.mode", "head")
    model = MarketModel(dataclasses.replace(base, participants=groups))
    real_rule, real_screen = market.free_rider_reasons, PlatformAgent.screen
    sent: list[tuple[str, np.ndarray]] = []
    rounds: list[Round] = []

    def screen(self: PlatformAgent, trained: list[Any], size: int, store: Any) -> list[Any]:
        sent[:] = [(p.group, np.array(p.update)) for p in trained if p.update is not None]
        return real_screen(self, trained, size, store)

    def rule(updates: np.ndarray, last: np.ndarray | None, **kw: Any) -> list[str]:
        reasons = real_rule(updates, last, **kw)
        who = [next(g for g, u in sent if np.array_equal(u, row)) for row in updates]
        rounds.append(Round(who, reasons, np.array(updates), last, kw.get("own_shares")))
        return reasons

    monkeypatch.setattr(PlatformAgent, "screen", screen)
    monkeypatch.setattr(market, "free_rider_reasons", rule)
    for _ in range(ROUNDS):
        model.step()
    return rounds


@dataclasses.dataclass
class Round:
    groups: list[str]
    reasons: list[str]
    updates: np.ndarray
    last: np.ndarray | None
    shares: list[np.ndarray | None] | None


def _wrong(rounds: list[Round], rule: Any = None) -> list[str]:
    """Honest updates flagged and riders let through, under ``rule`` (default: as played)."""
    out = []
    for r, rec in enumerate(rounds):
        reasons = rec.reasons if rule is None else rule(rec)
        for group, reason in zip(rec.groups, reasons, strict=True):
            if (group in RIDER_GROUPS) != bool(reason):
                out.append(f"round {r + 1} {group}: {reason or 'not flagged'}")
    return out


def _previous_rule(rec: Round) -> list[str]:
    """The median-margin rule with the platform's own-share correction."""
    if rec.last is None:
        return _median_margin_rule(rec.updates, np.zeros(rec.updates.shape[1]))
    shares = rec.shares or [None] * len(rec.updates)
    out = []
    for i, share in enumerate(shares):  # each row against the step less its own share
        step = rec.last - (0 if share is None else share)
        out.append(_median_margin_rule(rec.updates, step)[i])
    return out


@pytest.mark.parametrize("seed", [0, 2])  # on seed 1 the fast group lost every auction
def test_honest_extremes_kept_every_free_rider_flagged(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds = _play(MIXES["mixed"] + RIDERS, seed, monkeypatch)
    played = {g for rec in rounds for g in rec.groups}
    assert RIDER_GROUPS | {"fast", "slow", "small", "skew"} <= played
    assert _wrong(rounds) == []
    # broken variant: the previous rule on the same inputs
    broken = _wrong(rounds, _previous_rule)
    print(f"\nseed {seed}, previous rule: {broken}")
    assert broken


def test_limit_where_honest_clients_are_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every honest client skewed to one class, one of them with a single local step: every
    rider is flagged (an honest client may be, see the module docstring)."""
    wrong = _wrong(_play(MIXES["skewed"] + RIDERS, 0, monkeypatch))
    print("\n", wrong)
    assert not any(g in w for w in wrong for g in RIDER_GROUPS), wrong

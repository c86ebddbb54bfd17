"""``pooled_value``: verified effort at the pool's rate, a small share of one's own deviation,
harm held, a pot tied to the validated gain; each property shown to fail on a broken variant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import market
from market.mechanisms import PaymentLedger, PooledValue
from market.mechanisms.base import Round
from market.mechanisms.pooled_value import pool_of
from market.types import BoolArray, FloatArray

BUDGET = 100.0
COST = 5.0


@dataclass(frozen=True)
class PaysEveryone(PooledValue):
    """Mutation: harm is paid like help: every member at the pool's rate (no clip to its own
    interval), no round judged harmful, nothing ever held."""

    name: ClassVar[str] = "mutant_no_hold"

    def credit(self, round_: Round) -> FloatArray:
        pool = pool_of(round_.contributions, self._effort(round_), round_.participants)
        rate = pool.rate if pool.exists else 0.0
        out: FloatArray = np.where(round_.participants, self._effort(round_) * rate, 0.0)
        return out

    def harmful(self, round_: Round) -> BoolArray:
        return np.zeros(round_.participants.size, dtype=bool)

    def settle(self, round_: Round) -> tuple[FloatArray, FloatArray]:
        ledger = round_.ledger if round_.ledger is not None else PaymentLedger.initial(1)
        assert ledger.held is not None
        due = ledger.held + np.where(round_.participants, self.allocated(round_), 0.0)
        return due, np.zeros_like(due)


@dataclass(frozen=True)
class PerHead(PooledValue):
    """Mutation: every identity counts as one unit of effort (identities, not work, paid)."""

    name: ClassVar[str] = "mutant_per_head"

    def _effort(self, round_: Round) -> FloatArray:
        return np.where(round_.participants, 1.0, 0.0)


@dataclass(frozen=True)
class PaysTheBudget(PooledValue):
    """Mutation: every round may pay its whole budget, whatever its gain."""

    name: ClassVar[str] = "mutant_whole_budget"

    def pot(self, round_: Round) -> float:
        return round_.budget


def one_round(
    mechanism: PooledValue,
    values: FloatArray,
    effort: FloatArray,
    *,
    ledger: PaymentLedger | None = None,
    examples: FloatArray | None = None,
    gain: tuple[float, float] = (1.0, 0.0),
) -> market.Allocation:
    n = values.size
    return mechanism.allocate(
        values,
        budget=BUDGET,
        costs=np.where(effort > 0, COST * effort / max(effort.max(), 1e-12), 0.0),
        effort=effort,
        gain=gain,
        ledger=PaymentLedger.initial(n) if ledger is None else ledger,
        example_values=examples,
    )


def per_example(mean: float, spread: float, rng: np.random.Generator) -> FloatArray:
    """128 per-example values with exactly the given mean and spread."""
    draws = rng.standard_normal(128)
    out: FloatArray = mean + spread * (draws - draws.mean()) / draws.std(ddof=1)
    return out


def owners(means: FloatArray, rng: np.random.Generator, spread: float = 0.18) -> FloatArray:
    """``(n, 128)`` per-example values: owner ``i`` has mean ``means[i]``; ``spread`` 0.18 is
    the spread of an honest owner's round-1 value over the validation examples in the
    head-mode market (measured: 0.10-0.41 over 10 seeds)."""
    return np.stack([per_example(float(m), spread, rng) for m in means])


def identical_owners_cv(mechanism: PooledValue, seeds: int = 200) -> tuple[float, float]:
    """Mean coefficient of variation of one round's pay among six identical owners whose
    values are luck (mean 0.02, sd 0.016 between owners: the head-mode market's round 1),
    and the mean Pearson correlation of pay with value."""
    cvs, correlations = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        table = owners(0.02 + 0.016 * rng.standard_normal(6), rng)
        values = table.mean(axis=1)
        pay = one_round(mechanism, values, np.full(6, 192.0), examples=table).payments
        if pay.sum() > 0:  # (a round with fewer than 3 positive values may pay no one)
            cvs.append(pay.std() / pay.mean())
        if pay.std() > 0:
            correlations.append(np.corrcoef(pay, values)[0, 1])
    return float(np.mean(cvs)), float(np.mean(correlations))


def test_identical_owners_are_paid_alike_yet_pay_still_follows_value() -> None:
    # one round (the issue's <= 0.15 is for a run's pay, which sums rounds: bench/value_pay.py
    # measures it on the market itself); realised value spreads with a coefficient of 0.8
    cv, correlation = identical_owners_cv(PooledValue())
    assert cv <= 0.2
    assert correlation > 0.8
    # broken variant: pay realised value (incentive power 1): the luck is paid
    assert identical_owners_cv(PooledValue(incentive_power=1.0))[0] > 0.4


def split_gain(mechanism: PooledValue, seeds: int = 300) -> float:
    """Relative pay gain (a ratio of means) of an owner (effort 192) showing its work as 3
    identities of 64 (each piece at the same rate, with its own luck), among five honest
    owners."""
    honest, split = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        luck = 0.016 * rng.standard_normal(9)
        whole = owners(0.02 + luck[:6], rng)
        pieces = owners((0.02 + luck[6:]) / 3, rng, spread=0.18 / 3)  # a third of the weight
        whole_effort = np.full(6, 192.0)
        split_effort = np.concatenate([whole_effort[:5], np.full(3, 64.0)])
        split_table = np.concatenate([whole[:5], pieces])
        honest.append(
            one_round(mechanism, whole.mean(axis=1), whole_effort, examples=whole).payments[5]
        )
        split.append(
            one_round(mechanism, split_table.mean(axis=1), split_effort, examples=split_table)
            .payments[5:]
            .sum()
        )
    return float(np.mean(split) / np.mean(honest) - 1.0)


def test_splitting_ones_work_over_identities_gains_nothing() -> None:
    assert split_gain(PooledValue()) <= 0.05
    assert split_gain(PerHead()) > 0.5  # broken variant: identities, not work, are paid


def test_replicas_and_copies_backed_by_no_effort_are_paid_nothing() -> None:
    values = np.array([0.02, 0.025, 0.018, 0.022, 0.02])
    effort = np.array([192.0, 192.0, 192.0, 192.0, 0.0])  # the last one did not train
    assert one_round(PooledValue(), values, effort).payments[4] == 0.0


def run_pay(mechanism: PooledValue, rounds: list[FloatArray]) -> FloatArray:
    """Total pay per identity over rounds of ``(n, 128)`` per-example values."""
    n = rounds[0].shape[0]
    ledger, total = PaymentLedger.initial(n), np.zeros(n)
    for table in rounds:
        allocation = one_round(
            mechanism, table.mean(axis=1), np.full(n, 192.0), ledger=ledger, examples=table
        )
        assert allocation.ledger is not None
        ledger, total = allocation.ledger, total + allocation.payments
    return total


def test_consistent_harm_is_never_paid_but_an_unlucky_round_is() -> None:
    rng = np.random.default_rng(0)
    rounds = []
    for r in range(3):
        means = 0.02 + 0.016 * rng.standard_normal(6)
        means[1] = -0.004 if r == 0 else means[1]  # one unlucky round: a small, noisy harm
        table = owners(means, rng)
        table[5] = per_example(-0.01, 0.06, rng)  # a subtle poisoner: a consistent harm
        rounds.append(table)
    pay = run_pay(PooledValue(), rounds)
    assert pay[5] == 0.0
    assert pay[1] > 0.8 * pay[[0, 2, 3, 4]].min()
    assert run_pay(PaysEveryone(), rounds)[5] > 0.0  # broken variant: harm paid


def test_a_harmful_round_is_forfeited_and_a_later_allocation_held_until_evidence() -> None:
    rng = np.random.default_rng(1)
    means = np.array([0.005, 0.045, 0.02, 0.035, 0.0])  # a pool with the spread of luck
    tables = [owners(means, rng) for _ in range(3)]
    tables[0][4] = per_example(-0.06, 0.05, rng)  # a significant harm: paid nothing
    tables[1][4] = per_example(0.015, 0.05, rng)  # some help, but the run value is still < 0
    tables[2][4] = per_example(0.08, 0.05, rng)  # clear help: the run value turns positive
    ledger, paid, held = PaymentLedger.initial(5), [], []
    for table in tables:
        allocation = one_round(
            PooledValue(), table.mean(axis=1), np.full(5, 192.0), ledger=ledger, examples=table
        )
        assert allocation.ledger is not None and allocation.ledger.held is not None
        ledger = allocation.ledger
        paid.append(float(allocation.payments[4]))
        held.append(float(allocation.ledger.held[4]))
    assert paid[0] == 0.0 and held[0] == 0.0  # forfeited, not held
    assert paid[1] == 0.0 and held[1] > 0.0  # held
    assert held[2] == 0.0 and paid[2] > held[1]  # released with this round's share


def test_a_participant_significantly_below_the_pool_is_paid_on_its_own_value() -> None:
    rng = np.random.default_rng(2)
    rounds = []
    for _ in range(5):
        means = 0.02 + 0.004 * rng.standard_normal(6)
        means[5] = 0.0  # a null contribution (useless data, say), every round
        rounds.append(owners(means, rng))
    pooled = run_pay(PooledValue(), rounds)
    assert pooled[5] < 0.5 * pooled[:5].min()
    lenient = run_pay(PooledValue(standing_confidence=0.999999), rounds)
    assert lenient[5] > 0.8 * lenient[:5].min()  # broken variant: the standing test never fires


def test_a_round_without_a_significant_gain_pays_only_the_costs_it_asked_for() -> None:
    rng = np.random.default_rng(4)
    table = owners(np.array([0.001, 0.002, 0.0015, 0.001]), rng)
    values, effort = table.mean(axis=1), np.full(4, 192.0)
    covers = 4 * COST  # every owner's metered cost
    flat = one_round(PooledValue(), values, effort, gain=(0.004, 0.01), examples=table)
    assert flat.total == pytest.approx(covers)  # no surplus: no profit for anyone
    big = one_round(PooledValue(), values, effort, gain=(0.2, 0.01), examples=table)
    assert big.total == pytest.approx(BUDGET)
    broken = one_round(PaysTheBudget(), values, effort, gain=(0.004, 0.01), examples=table)
    assert broken.total > covers + 0.1 * BUDGET  # broken variant: the budget, whatever the gain


def test_without_a_pool_each_is_paid_on_its_own_verified_value() -> None:
    rng = np.random.default_rng(3)
    table = np.stack(
        [
            per_example(0.03, 0.01, rng),  # verified help
            per_example(0.001, 0.05, rng),  # nothing verified: its cost only
            per_example(-0.02, 0.05, rng),  # significant harm: nothing
        ]
    )
    allocation = one_round(PooledValue(), table.mean(axis=1), np.full(3, 192.0), examples=table)
    assert allocation.payments[0] > COST
    assert allocation.payments[1] == pytest.approx(COST)
    assert allocation.payments[2] == 0.0


def test_padding_effort_earns_no_more_than_its_own_value_allows() -> None:
    """Review finding: effort x the pool's rate paid a 4x padded shard whose value was null
    2.4x an honest owner; the credit is now clipped to the participant's own interval."""
    rng = np.random.default_rng(5)
    table = owners(0.02 + 0.016 * rng.standard_normal(7), rng)
    table[6] = per_example(0.0, 0.05, rng)  # a null update...
    effort = np.array([192.0] * 6 + [768.0])  # ...backed by 4x the effort
    pay = one_round(PooledValue(), table.mean(axis=1), effort, examples=table).payments
    assert pay[6] < pay[:6].mean()
    broken = one_round(PaysEveryone(), table.mean(axis=1), effort, examples=table).payments
    assert broken[6] > 2 * broken[:6].mean()  # broken variant: effort at the pool's rate


@pytest.mark.parametrize(
    ("field", "value"),
    [("incentive_power", 1.5), ("confidence", 1.0), ("standing_confidence", 0.2)],
)
def test_bad_settings_are_refused_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        PooledValue(**{field: value})


def test_the_pool_predicts_each_member_from_the_others_only() -> None:
    """The leave-one-out prediction (computed from sums, for 100,000-identity rounds) equals a
    direct computation over the other reference members, so a member cannot pull its own
    prediction towards itself."""
    rng = np.random.default_rng(6)
    for _ in range(50):
        n = int(rng.integers(4, 12))
        values, effort = rng.normal(0.02, 0.03, n), rng.choice([64.0, 100.0, 192.0], n)
        inside = np.ones(n, dtype=bool)
        pool = pool_of(values, effort, inside)
        if not pool.exists:
            continue
        scaled = effort / effort.max()
        rates = values / scaled
        reference = values > 0
        for i in range(n):
            others = reference.copy()
            others[i] = False
            k = int(others.sum())
            expected_rate = np.average(rates[others], weights=scaled[others])
            expected_spread = np.std(rates[others], ddof=1) * np.sqrt(1 + 1 / k)
            assert pool.others_rate[i] == pytest.approx(expected_rate, rel=1e-9)
            assert pool.others_spread[i] == pytest.approx(expected_spread, rel=1e-6)
            assert pool.others_df[i] == k - 1

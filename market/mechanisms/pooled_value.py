"""Pooled value: pay verified effort at the pool's verified rate, plus a small share of one's
own deviation; pay a participant on its own verified value only once the evidence says it
differs from the pool.

Why pooling. One round's Banzhaf value of an update is mostly luck: six statistically
identical owners of 300 reviews (head mode, 20 seeds) have a run-level coefficient of
variation of 0.82 in their summed values, unchanged with a 4x validation set (the luck is in
training, not in the validation sample). Pay that follows realised value pays that luck, and
pay that ignores value pays shirkers and poisoners. This rule is the linear contract of
Holmstrom & Milgrom (1987, "Aggregation and linearity in the provision of intertemporal
incentives", Econometrica): a fixed rate on a verified input (metered effort) plus a share
``beta`` (the contract's *incentive power*) of the noisy output measure. The noisier the
measure, the lower the optimal power; ``beta = 0.2`` keeps the pay of identical owners within
a coefficient of variation of about 0.1, while pay still rises with realised value.

Each round, over the included participants ``i`` with Banzhaf value ``phi_i`` (Wang & Jia
2023, the semivalue most robust to utility noise; :mod:`market.valuation`) and metered effort
``w_i`` (distinct examples trained on, as the platform meters them; never a declared size):

1. *Pot* (issue 25's budget tied to value): at most ``budget x LCB(gain) / full_budget_gain``
   (the gain ``u(N) - u(empty)`` at its one-sided lower confidence bound), capped at the
   budget plus any carried reserve. A round without a significant gain pays no surplus:
   only the metered costs of the work the platform asked for (a cost-plus contract: whether
   to run another round is the platform's call, not a risk the participants carry), so
   entering late, once the model has saturated, earns no profit.
2. *Pool rate*: ``m``, the effort-weighted median of the rates ``phi_i / w_i`` over the
   participants whose value is positive. With fewer than :data:`MIN_POOL` such participants
   there is no pool, and everyone is paid on its own verified value.
3. *Standing*: what the *other* pool members predict of a participant, ``w_i r_-i`` (their
   effort-weighted mean rate), with the spread of a new member about that mean (their
   sample standard deviation times ``sqrt(1 + 1/k)``, a Student-t prediction interval);
   its cumulative deviation ``D_i = sum_r (phi_ir - w_ir r_-i,r)`` over its rounds against
   the summed spread. It is *in the pool* unless ``D_i`` is significantly negative (one-sided
   t at 99.9%, this round's ``k - 1`` degrees of freedom), so chance dips of honest owners
   rarely push one out, while a poisoner or a mostly useless update does within a few
   rounds (at once when the pool is large enough).
4. *Credit*: in the pool, the pool's prediction clipped to the participant's own confidence
   interval over the validation examples, ``b_i = clip(w_i m, phi_i - z se_i, phi_i + z
   se_i)`` (a limited-translation estimator, Efron & Morris 1972: pooling never credits a
   value its own evidence rules out, so padding effort or a null update earns at most what
   its own value could be), plus ``beta`` of its deviation, ``max(b_i + beta (phi_i - b_i),
   0)``; out of the pool, the lower confidence bound of its own value, ``max(phi_i - z se_i,
   0)``: nothing for null or harmful contributions. A participant whose value this round is
   significantly negative (``phi_i + z se_i < 0``) is paid nothing for the round.
5. *Allocation*: the metered cost of every participant with positive credit (in a round
   without a pool, of every participant that is not significantly harmful) is covered
   (replica groups once; from the budget even where the pot is smaller, scaled down together
   only when the budget is short), then what the pot holds beyond the covers is split in
   proportion to credit.
6. *Evidence of harm*: an allocation is held, not paid, while the participant's run value
   (its summed Banzhaf values, this round included) is significantly negative over the
   validation examples (its upper confidence bound is below 0); it is released with the
   first round that lifts the bound above 0, and never paid otherwise. An honest owner's
   unlucky round is a small, inconsistent harm (its bound straddles 0: paid); a poisoner's
   harm is consistent across the examples (held).

Strategic properties (played in ``tests/market/test_market_pooled_value.py`` and by the gym,
``bench/attack_matrix.py``):

* *Splitting or replicating identities*: the pooled credit is linear in metered effort, and a
  split divides the owner's data and compute (its metered effort adds up to the whole's), so
  only the ``beta`` share of Banzhaf deviations and a shift of the median can move with the
  number of identities; replicas and copies are backed by no metered effort (0 credit, and
  rejected upstream). Pieces that only help together (a split by class) leave the pool when
  they harm, and the helpful piece is paid the pool's rate on its own effort, not the value
  of correcting its siblings.
* *Inflating data size or cost*: neither is read; effort and costs are metered.
* *Timing*: the pot follows the round's validated gain, so entering once the model has
  saturated earns little.
* *Shirking* (training on fewer examples): credit falls with metered effort.

Limits: the pool rate is a median over identities, so a majority of colluding low-value
identities could lower everyone's rate (at their own expense); an honest participant whose
data are genuinely better than the pool's is paid only ``beta`` of its excess (a premium on a
positive deviation would pay the luck the pool removes); the standing test takes its spread
from the round's cross-section (a mean and a standard deviation, not robust: one outlying
member widens everyone's interval), and with 4-5 members its 99% threshold is lenient (a
weak participant stays in the pool for a round or two, where the clip to its own interval
limits what it is credited); a small harm within the validation noise is still covered;
filler data under new indices (synthetic duplicates) counts as metered effort, but its
credit is clipped to its own value's interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Round, group_costs, proportional_split
from market.mechanisms.gain_pot import GainPot, ledger_of, run_value
from market.scoring.base import Estimator
from market.scoring.example_banzhaf import ExampleBanzhaf
from market.types import BoolArray, FloatArray

DEFAULT_INCENTIVE_POWER = 0.2
"""``beta``: the share of a participant's own deviation from the pool that is credited
(``bench/value_pay.py`` measured 0.1, 0.15 and 0.2: the coefficient of variation of identical
owners' pay rises from 0.07 to 0.10, the correlation of pay with value from 0.56 to 0.65)."""
DEFAULT_STANDING_CONFIDENCE = 0.999
"""A cumulative deviation significantly negative at this one-sided level leaves the pool.
At 0.99 an honest owner's unlucky round (a 4-sigma dip is not rare: the luck of training is
heavy-tailed) pushed it out on 2 of 20 seeds of the default market (coefficient of variation
of identical owners' pay 0.10 vs 0.07); the clip of every credit to its own interval limits
what a weak participant earns while it stays in."""
MIN_POOL = 3
"""Fewest positive-valued participants from which a pool rate and spread are taken."""


def weighted_median(values: FloatArray, weights: FloatArray) -> float:
    """The smallest value whose cumulative weight reaches half the total (ties: the lower)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))
    return float(values[order][min(index, len(order) - 1)])


@dataclass(frozen=True, eq=False)
class Pool:
    """One round's pool.

    Attributes:
        rate: the effort-weighted median rate (value per unit of effort, effort taken
            relative to the round's largest) of the reference participants, those whose
            value and effort are positive (``nan``: no pool).
        others_rate: per participant, the effort-weighted mean rate of the *other*
            reference participants (what the pool predicts of it per unit of effort).
        others_spread: per participant, the standard deviation of the other reference
            participants' rates times ``sqrt(1 + 1 / k)`` (``k`` of them): the spread of a new
            member's rate about their mean (a prediction interval; Student, 1908).
        others_df: per participant, ``k - 1``, the degrees of freedom of that spread.
    """

    rate: float
    others_rate: FloatArray
    others_spread: FloatArray
    others_df: FloatArray

    @property
    def exists(self) -> bool:
        return bool(np.isfinite(self.rate))


def pool_of(values: FloatArray, effort: FloatArray, inside: BoolArray) -> Pool:
    """The pool of the participants ``inside`` (see :class:`Pool`); ``effort`` is taken
    relative to the round's largest (every quantity the rule uses is invariant to its
    scale, and huge efforts would overflow the squared spreads)."""
    n = values.size
    top = float(np.max(effort, initial=0.0))
    effort = effort / top if top > 0 else effort
    reference = inside & (values > 0) & (effort > 0)
    if int(reference.sum()) < MIN_POOL:
        nan = np.full(n, np.nan)
        return Pool(float("nan"), nan, nan, nan)
    rates = np.divide(values, effort, out=np.zeros(n), where=effort > 0)
    rate = weighted_median(rates[reference], effort[reference])
    # leave-one-out sums (O(n), not a loop over the others: 100,000-identity rounds)
    own = np.where(reference, 1.0, 0.0)
    k = float(reference.sum()) - own
    weight = float(effort[reference].sum()) - own * effort
    weighted = float((effort * rates)[reference].sum()) - own * effort * rates
    total = float(rates[reference].sum()) - own * rates
    squares = float((rates**2)[reference].sum()) - own * rates**2
    mean = total / k
    variance = np.clip((squares - k * mean**2) / (k - 1.0), 0.0, None)
    floor = max(1e-12 * abs(rate), 1e-300)
    others_rate = np.where(inside, weighted / weight, np.nan)
    others_spread = np.where(
        inside, np.maximum(np.sqrt(variance), floor) * np.sqrt(1.0 + 1.0 / k), np.nan
    )
    others_df = np.where(inside, k - 1.0, np.nan)
    return Pool(rate, others_rate, others_spread, others_df)


@dataclass(frozen=True)
class PooledValue(GainPot):
    """Verified effort paid at the pool's verified rate plus ``incentive_power`` of one's own
    deviation, within a pot that follows the validated gain (see the module docstring).

    Attributes:
        full_budget_gain: the lower-bound utility gain at which a round may pay its whole
            budget.
        confidence: the one-sided confidence level of the gain's lower bound and of a value
            outside the pool, in (0.5, 1).
        incentive_power: ``beta`` in [0, 1]: the share of its deviation from the pool a
            participant in the pool is credited (0: pure pooling, no reward for realised
            value; 1: pay realised value).
        standing_confidence: a cumulative deviation significantly negative at this
            one-sided level (Student t) leaves the pool.
    """

    name: ClassVar[str] = "pooled_value"
    valuation: ClassVar[Estimator | None] = ExampleBanzhaf()
    guarantees: ClassVar[frozenset[str]] = frozenset(
        {"budget", "ir", "free_rider", "poisoner", "sybil"}
    )
    incentive_power: float = DEFAULT_INCENTIVE_POWER
    standing_confidence: float = DEFAULT_STANDING_CONFIDENCE

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.incentive_power, float | int) and 0 <= self.incentive_power <= 1):
            raise ValueError(f"incentive_power must be in [0, 1], got {self.incentive_power!r}")
        if not (0.5 < self.standing_confidence < 1):
            raise ValueError(
                f"standing_confidence must be in (0.5, 1), got {self.standing_confidence!r}"
            )

    def _effort(self, round_: Round) -> FloatArray:
        """Metered effort relative to the round's largest (1 each without a meter)."""
        ones = np.where(round_.participants, 1.0, 0.0)
        if round_.effort is None:
            return ones
        top = float(np.max(round_.effort, initial=0.0))
        out: FloatArray = round_.effort / top if top > 0 else round_.effort
        return out

    def expectation(self, round_: Round) -> tuple[Pool, FloatArray, FloatArray]:
        """The round's pool, what the other pool members predict of each participant
        (``w_i x`` their mean rate; its own value where there is no pool) and that
        prediction's variance (0 where there is no pool)."""
        values, inside, effort = round_.contributions, round_.participants, self._effort(round_)
        pool = pool_of(values, effort, inside)
        if not pool.exists:
            return pool, np.where(inside, values, 0.0), np.zeros(values.size)
        expected = np.where(inside, effort * np.nan_to_num(pool.others_rate), 0.0)
        spread = np.where(inside, (effort * np.nan_to_num(pool.others_spread)) ** 2, 0.0)
        return pool, expected, spread

    def in_pool(self, round_: Round) -> BoolArray:
        """Participants in the pool this round: their cumulative deviation from what the
        other members predicted of them, this round included, is not significantly negative
        (one-sided Student t at :attr:`standing_confidence`, with this round's degrees of
        freedom: conservative once earlier rounds add evidence)."""
        from scipy import stats

        pool, expected, spread = self.expectation(round_)
        inside = round_.participants
        if not pool.exists or pool.rate <= 0:
            return np.zeros(inside.size, dtype=bool)
        ledger = ledger_of(round_)
        assert ledger.expected is not None and ledger.spread is not None
        deviation = ledger.value - ledger.expected + round_.contributions - expected
        variance = ledger.spread + spread
        t = np.divide(deviation, np.sqrt(variance), out=np.zeros(inside.size), where=variance > 0)
        df = np.where(inside, np.nan_to_num(pool.others_df, nan=1.0), 1.0)
        critical = stats.t.ppf(self.standing_confidence, np.maximum(df, 1.0))
        out: BoolArray = inside & (t > -critical)
        return out

    def credit(self, round_: Round) -> FloatArray:
        """Each participant's credited value this round (see the module docstring, step 4)."""
        values, inside, effort = round_.contributions, round_.participants, self._effort(round_)
        pool = pool_of(values, effort, inside)
        pooled = self.in_pool(round_)
        beta = float(self.incentive_power)
        at_rate = effort * (pool.rate if pool.exists else 0.0)  # one rate for every member
        margin = self.z * _stderr(round_)
        base = np.clip(at_rate, values - margin, values + margin)  # within its own interval
        in_credit = base + beta * (values - base)
        credit = np.where(pooled, in_credit, values - margin)
        worked = inside & (self._effort(round_) > 0)  # no metered effort: a copy, unpaid
        out: FloatArray = np.where(worked, np.clip(credit, 0.0, None), 0.0)
        return out

    def allocated(self, round_: Round) -> FloatArray:
        """This round's allocation: the metered cost of every participant with positive
        credit is covered (replica groups once; from the budget even where the pot is
        smaller, scaled down together only when the budget is short), and what the pot
        holds beyond the covers is split in proportion to credit."""
        pot = self.pot(round_)
        credit = self.credit(round_)
        worked = round_.participants & (self._effort(round_) > 0) & ~self.harmful(round_)
        no_pool = not pool_of(round_.contributions, self._effort(round_), worked).exists
        covered = worked & ((credit > 0) | no_pool)
        costs = np.where(covered, group_costs(round_), 0.0)
        total = float(costs.sum())
        limit = min(max(pot, total), round_.budget + round_.reserve)  # covers beyond the pot
        cover = costs * (limit / total) if total > limit else costs
        rest = max(pot - float(cover.sum()), 0.0)  # the surplus comes from the pot alone
        out: FloatArray = cover + proportional_split(credit, rest)
        return out

    def settle(self, round_: Round) -> tuple[FloatArray, FloatArray]:
        """This round's payments and what stays held afterwards: a participant whose run
        value, this round included, is significantly negative over the validation examples
        (upper confidence bound below 0) has its allocation held; it is released, with
        everything held before, in the first round the bound is above 0, and never paid
        otherwise (nothing for a contribution that stays harmful)."""
        ledger = ledger_of(round_)
        assert ledger.held is not None  # filled on creation
        inside = round_.participants
        now = np.where(inside & ~self.harmful(round_), self.allocated(round_), 0.0)
        due = ledger.held + now
        value, stderr = run_value(round_, ledger)
        evidence = inside & (value + self.z * stderr > 0)
        return np.where(evidence, due, 0.0), np.where(evidence, 0.0, due)

    def harmful(self, round_: Round) -> BoolArray:
        """Participants whose value this round is significantly negative over the validation
        examples (upper confidence bound below 0): the round pays them nothing, whatever
        their record (a good first round does not cover later harm)."""
        out: BoolArray = round_.participants & (round_.contributions + self.z * _stderr(round_) < 0)
        return out

    def _pay(self, round_: Round) -> FloatArray:
        return self.settle(round_)[0]

    def _held_after(self, round_: Round) -> FloatArray:
        return self.settle(round_)[1]

    def _ledger_increments(self, round_: Round) -> dict[str, FloatArray]:
        _, expected, spread = self.expectation(round_)
        return {"expected": expected, "spread": spread}


def _stderr(round_: Round) -> FloatArray:
    """Each value's standard error: its spread over the validation examples plus the
    sampling error (``stderr``), where given."""
    n = round_.contributions.size
    variance = np.zeros(n) if round_.stderr is None else round_.stderr**2
    if round_.example_values is not None and round_.example_values.shape[1] > 1:
        count = round_.example_values.shape[1]
        variance = variance + round_.example_values.var(axis=1, ddof=1) / count
    out: FloatArray = np.sqrt(variance)
    return out

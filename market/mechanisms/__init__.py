"""Reward mechanisms: a selection before training, payments within a round budget after.

Every mechanism is a frozen dataclass with ``select(candidates, *, budget, bids, data_sizes,
state, rng) -> Selection`` and ``allocate(contributions, *, budget, costs, participants, state,
groups, selection, marginals) -> Allocation``; ``Allocation.payments.sum() <= budget`` always.
Each class lists the properties it guarantees in ``guarantees`` (tested in
``tests/market/test_market_properties.py``, each against a broken variant that must fail).

Attacks on FL-like saturating games (table written by ``python -m bench.mechanism_table``;
8 players, exact values, 10 seeds; gains are the attacker's payoff, payment minus cost, over
playing as one identity, as a ratio of means over the seeds; ``free riders`` is the share
of the budget paid to two zero contributors; ``IR`` the share of honest positive
contributors paid at least their cost):

.. mechanism-table-start

==============  =========  ===========  ===========  ===========  =====
mechanism       valuation  split x3     replicas x3  free riders  IR
==============  =========  ===========  ===========  ===========  =====
banzhaf_cover   banzhaf         -0.090       -1.000       0.0050   1.00
proportional    shapley         +0.062       +0.635       0.0016   0.88
shapley_fair    shapley         +0.030       +0.307       0.0008   1.00
reputation      shapley         +0.030       +0.307       0.0008   1.00
auction         shapley         -0.000       -0.639       0.0065   1.00
flat            -               +4.586       +4.586       0.2500   0.83
verified_value  banzhaf         +0.013       -0.066       0.0003   1.00
pooled_value    banzhaf         +0.012       -1.173       0.0000   1.00
==============  =========  ===========  ===========  ===========  =====

Computed on AMD EPYC (avx2); one round with no reputation history (so the cover is on the
round's values alone), exact values: the numbers do not depend on the CPU.

.. mechanism-table-end

* ``flat`` pays per identity: never Sybil-resistant, pays free riders a full share.
* ``proportional``, ``shapley_fair`` and ``reputation`` inherit the Shapley value's
  rewards for splitting and replicating data (Han et al. 2022).
* ``pooled_value`` (the default, issue 25) is a linear contract (Holmstrom & Milgrom 1987):
  metered effort is paid at the pool's verified rate (the median value per example of the
  participants that help) plus a fifth of one's own Banzhaf deviation, from a pot that
  follows the round's validated gain (costs of the work asked for are covered even when the
  pot is smaller: no surplus, no profit). A participant whose cumulative deviation is
  significantly negative (leave-one-out Student t, 99.9%) leaves the pool and is paid the lower
  bound of its own value; an allocation is held while the run value's upper bound is below
  0. Identical owners are paid alike (the luck of training is pooled), identities and
  declared sizes buy nothing (work is metered), and on the default market every attack of
  the gym loses (``python -m bench.value_pay``, ``python -m bench.attack_matrix``, 20 seeds).
* ``banzhaf_cover`` (the default before ``pooled_value``) covers costs on the Banzhaf value
  (or, over rounds, a positive track record) and splits the surplus by grand-coalition marginals
  ``u(N) - u(N - i)`` (Qi & Zhu 2024): split pieces substitute for one another, and replicas
  have marginal 0, so replicating earns the cover once and no surplus (payoff 0, gain -1);
  its free riders' share is noise (a zero-quality player's marginal on a noisy game). On
  the default market it pays realised luck (identical owners: coefficient of variation
  0.67) and an owner split by class +58% over honest play.
* ``verified_value`` (opt-in) allocates a pot that follows the round's
  validated gain (``budget x LCB(gain) / full_budget_gain``: a round without a significant
  gain allocates nothing) as metered-cost covers plus shares of the round's positive
  Banzhaf values, and pays an identity only once the lower confidence bound of its
  cumulative Banzhaf value is positive (until then its allocations are held; what is
  still held at the end is never paid); honest owners barely cover their costs.
* ``auction`` pays at most the escrow of its selection, released against the run's
  cumulative delivered value (full once a quarter of the declared share is delivered;
  replica groups released once): split pieces are escrowed what the whole is, and an
  inflated Shapley share buys nothing beyond the escrow.
"""

from __future__ import annotations

from market.mechanisms.auction import Auction, proportional_share_auction
from market.mechanisms.banzhaf_cover import BanzhafCover
from market.mechanisms.base import (
    PROPERTIES,
    Allocation,
    Mechanism,
    Offers,
    Round,
    Selection,
    cover_then_share,
    grand_marginals,
    proportional_split,
)
from market.mechanisms.flat import Flat
from market.mechanisms.ledger import PaymentLedger
from market.mechanisms.pooled_value import PooledValue
from market.mechanisms.proportional import Proportional
from market.mechanisms.reputation import Reputation
from market.mechanisms.shapley_fair import ShapleyFair
from market.mechanisms.verified_value import VerifiedValue
from market.registry import Registry
from market.reputation import ReputationPolicy, ReputationState

MECHANISMS: Registry[Mechanism] = Registry(
    "mechanism",
    {
        "banzhaf_cover": BanzhafCover,
        "proportional": Proportional,
        "shapley_fair": ShapleyFair,
        "reputation": Reputation,
        "auction": Auction,
        "flat": Flat,
        "verified_value": VerifiedValue,
        "pooled_value": PooledValue,
    },
    base=Mechanism,
)
"""Reward mechanisms by name."""

DEFAULT_MECHANISM: str = "pooled_value"
"""The marketplace's default mechanism: it guarantees every property in :data:`PROPERTIES`
(with its valuation, ``MECHANISMS[DEFAULT_MECHANISM].valuation``) without a selection phase,
pays statistically identical owners alike, and loses every attack of the gym
(``python -m bench.value_pay``, ``python -m bench.attack_matrix``)."""


def make_mechanism(name: str, **options: object) -> Mechanism:
    """Build the mechanism registered as ``name`` with ``options``."""
    return MECHANISMS.make(name, **options)


def register_mechanism(name: str, cls: type[Mechanism], *, replace: bool = False) -> None:
    """Make ``cls`` (a :class:`Mechanism` subclass) a reward mechanism named ``name``:
    ``market.mechanism = "<name>"`` in a scenario then builds it (see ``examples/plugins``)."""
    MECHANISMS.register(name, cls, replace=replace)


__all__ = [
    "DEFAULT_MECHANISM",
    "MECHANISMS",
    "PROPERTIES",
    "Allocation",
    "Auction",
    "BanzhafCover",
    "Flat",
    "Mechanism",
    "Offers",
    "PaymentLedger",
    "PooledValue",
    "Proportional",
    "Reputation",
    "ReputationPolicy",
    "ReputationState",
    "Round",
    "Selection",
    "ShapleyFair",
    "VerifiedValue",
    "cover_then_share",
    "grand_marginals",
    "make_mechanism",
    "register_mechanism",
    "proportional_share_auction",
    "proportional_split",
]

"""Reward mechanisms: contributions (and bids, reputation) to payments within a round budget.

Every mechanism is a frozen dataclass with ``allocate(contributions, *, budget, costs=None,
participants=None, state=None) -> Allocation``; ``Allocation.payments.sum() <= budget`` always.

Sybil resistance (one participant acting as ``k`` identities; measured with
``market.metrics.sybil_gain`` in ``tests/market/test_market_sybil.py``). On the noise-free
FL-like game there (6 players, player 0 as 3 identities, budget 1), the gain in payment is:

===============  ===================  ================  =============================
mechanism        Shapley, replicas    Shapley, split    leave-one-out, replicas
===============  ===================  ================  =============================
flat             +0.208               +0.208            +0.208
shapley_fair     +0.145               +0.059            -0.186
proportional     +0.129               +0.021            -0.285
auction          +0.129               +0.021            -0.285
reputation       +0.079               -0.052            -0.304
===============  ===================  ================  =============================

* ``flat`` and the floor of ``shapley_fair`` pay per identity: never Sybil-resistant.
* The contribution-based rules inherit the score's behaviour. The exact Shapley value is not
  replication-robust when data are substitutes, as pooled FL data are (Han et al. 2022,
  "Replication robust payoff allocation in submodular cooperative games"): identities gain.
  Leave-one-out scores make replicas worthless (each scores 0), so replication loses, at the
  price of also zeroing honest duplicates.
* ``auction`` pays a common price per unit of value, so with a slack budget it pays like
  ``proportional`` and inherits its gain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from market.mechanisms.auction import Auction, proportional_share_auction
from market.mechanisms.base import Allocation, Mechanism, ReputationState
from market.mechanisms.flat import Flat
from market.mechanisms.proportional import Proportional
from market.mechanisms.reputation import Reputation
from market.mechanisms.shapley_fair import ShapleyFair

MECHANISMS: Mapping[str, Callable[..., Mechanism]] = MappingProxyType(
    {
        "proportional": Proportional,
        "shapley_fair": ShapleyFair,
        "reputation": Reputation,
        "auction": Auction,
        "flat": Flat,
    }
)
"""Reward mechanisms by name."""


def make_mechanism(name: str, **options: object) -> Mechanism:
    """Build the mechanism registered as ``name`` with ``options``."""
    factory = MECHANISMS.get(name)
    if factory is None:
        raise ValueError(f"unknown mechanism {name!r}; choose one of {sorted(MECHANISMS)}")
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for mechanism {name!r}: {exc}") from exc


__all__ = [
    "MECHANISMS",
    "Allocation",
    "Auction",
    "Flat",
    "Mechanism",
    "Proportional",
    "Reputation",
    "ReputationState",
    "ShapleyFair",
    "make_mechanism",
    "proportional_share_auction",
]

"""Reward mechanisms: contributions (and bids, reputation) to payments within a round budget.

Every mechanism is a frozen dataclass with ``allocate(contributions, *, budget, costs=None,
participants=None, state=None) -> Allocation``; ``Allocation.payments.sum() <= budget`` always.

Sybil resistance (splitting one participant into ``k`` identities; measured by
``market.metrics.sybil_gain`` and ``tests/market/test_market_sybil.py``):

* ``flat`` is not resistant: ``k`` identities collect ``k`` equal shares.
* ``shapley_fair`` is not resistant: each identity collects the participation floor.
* ``proportional`` and ``reputation`` inherit the resistance of the contribution score: with
  exact Shapley values, replicating a participant whose data are substitutes for others'
  (the usual FL case) *raises* the clones' total (positive gain), while with leave-one-out
  scores replicas are redundant and score 0, so replication loses.
* ``auction`` pays per unit of value at a common price; identities that split a value
  cannot raise the price, so its gain stays at most what the score gives them.
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

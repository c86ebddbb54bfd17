"""Shapley-fair payment: cover the costs of positive contributors, share the surplus.

Two stages, in the spirit of the fair profit sharing of Song, Tong & Wei 2019 ("Profit
allocation for federated learning", IEEE Big Data), with the participation floor replaced by
a cost cover that pays nothing for nothing:

1. every participant with a positive contribution is paid its (metered) cost; replicas of
   one update are covered once (see :func:`market.mechanisms.payments.cover_then_share`);
   if the budget cannot cover everyone, covers are scaled down together;
2. the rest of the budget is split in proportion to ``max(phi_i, 0)``.

A null or harmful participant gets exactly 0; a positive contributor is individually
rational whenever the budget covers the positive contributors' costs. With Shapley scores the
surplus still rewards splitting data (Shapley is not split-proof on substitutes); for that use
``banzhaf_cover``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from market.mechanisms.base import Mechanism, Round, cover_then_share
from market.types import FloatArray


@dataclass(frozen=True)
class ShapleyFair(Mechanism):
    """Cost cover for positive contributors plus a contribution-proportional surplus."""

    name: ClassVar[str] = "shapley_fair"
    guarantees: ClassVar[frozenset[str]] = frozenset({"budget", "ir", "free_rider", "poisoner"})

    def _pay(self, round_: Round) -> FloatArray:
        return cover_then_share(round_, round_.positive)

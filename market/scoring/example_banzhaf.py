"""Banzhaf values with standard errors over the validation examples: the valuation a
value-paying mechanism holds (:mod:`market.valuation`; Data Banzhaf, Wang & Jia 2023, AISTATS).

The utility must return per-example values (:class:`market.types.ExampleUtility`, e.g.
``fl_core.CoalitionUtility``). The round is valued exactly from its ``2**n`` per-example
table when the budget covers it (``n <= MAX_EXACT_PLAYERS``), else by maximum sample reuse on
``budget - 2`` uniformly drawn coalitions plus the grand and the empty one, whose standard
errors add the sampling error (:func:`market.valuation.banzhaf_msr`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game, check_n_players
from market.scoring.base import Estimator, ScoringData
from market.types import ExampleUtility, FloatArray
from market.valuation import (
    MAX_EXACT_PLAYERS,
    RoundValuation,
    banzhaf_msr,
    banzhaf_valuation,
    sample_coalitions,
)


@dataclass(frozen=True)
class ExampleBanzhaf(Estimator):
    """Per-example Banzhaf valuation of one round (:meth:`value_round`).

    Minimum budget: ``2n + 2`` (every player in and out of at least two sampled coalitions
    in expectation, plus the grand and the empty coalition).
    """

    name: ClassVar[str] = "banzhaf"
    index: ClassVar[str] = "banzhaf"
    needs: ClassVar[frozenset[str]] = frozenset({"utility", "examples"})

    def minimum_budget(self, n_players: int) -> int:
        """``2n + 2`` coalitions."""
        return 2 * n_players + 2

    def value_round(
        self,
        utility: ExampleUtility,
        n_players: int,
        *,
        budget: int,
        rng: np.random.Generator,
    ) -> RoundValuation:
        """The round's values, standard errors, per-example values and gain.

        Args:
            utility: per-example coalition utilities.
            n_players: the round's included participants.
            budget: the requested evaluations (raised to :meth:`minimum_budget`).
            rng: draws the sampled coalitions (not used when exact).
        """
        m = n_players
        check_n_players(m)
        budget = self.effective_budget(m, budget)
        if m <= MAX_EXACT_PLAYERS and 2**m <= budget:
            return banzhaf_valuation(utility.example_values_of_masks(range(2**m)))
        rows = sample_coalitions(m, budget - 2, rng)
        masks = [sum(1 << i for i in np.flatnonzero(row).tolist()) for row in rows]
        ends = utility.example_values_of_masks([(1 << m) - 1, 0])
        return banzhaf_msr(rows, utility.example_values_of_masks(masks), ends[0], ends[1])

    def _estimate(
        self, data: ScoringData, budget: int | None, rng: np.random.Generator
    ) -> Contribution:
        """:meth:`value_round` as a :class:`~market.contribution.Contribution` (values and
        standard errors); the utility must return per-example values."""
        if not isinstance(data.utility, ExampleUtility):
            raise ValueError(
                "the per-example Banzhaf valuation needs a utility with "
                "example_values_of_masks (e.g. fl_core.CoalitionUtility)"
            )
        requested = self.minimum_budget(data.n_players) if budget is None else int(budget)
        counted = _Counted(data.utility)
        valuation = self.value_round(counted, data.n_players, budget=requested, rng=rng)
        return Contribution(
            values=valuation.values,
            evaluations=len(counted.seen),
            method=self.name,
            index=self.index,
            stderr=valuation.stderr,
        )

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        raise ValueError("the per-example Banzhaf valuation is called through value_round")


class _Counted:
    """An :class:`ExampleUtility` that records the distinct coalitions asked of it."""

    def __init__(self, utility: ExampleUtility) -> None:
        self.utility = utility
        self.seen: set[int] = set()

    def example_values_of_masks(self, masks: Sequence[int], /) -> FloatArray:
        masks = [int(m) for m in masks]
        self.seen.update(masks)
        return self.utility.example_values_of_masks(masks)

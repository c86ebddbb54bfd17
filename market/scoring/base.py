"""The estimator base class: budget validation, the game wrapper, the rng default, BLAS.

The platform calls every estimator the same way::

    budget = estimator.effective_budget(n, requested)
    prefetch(estimator.planned_coalitions(n, budget))  # one batch, optional
    result = estimator.estimate(utility, n, budget=budget, rng=rng, updates=..., weights=...)

Settings live on the instance (a frozen dataclass), data arrive in :meth:`Estimator.estimate`;
an estimator declares the data it reads in :attr:`Estimator.needs` (``"utility"``: the
coalition utility; ``"updates"``: the individual update vectors, which only a privacy access
mode that lets someone read them can supply).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game, check_n_players
from market.scoring._blas import single_blas_thread
from market.types import FloatArray, UtilityLike


@dataclass(frozen=True)
class ScoringData:
    """What a round hands an estimator: the players and the data its :attr:`Estimator.needs`
    name (the coalition utility, or the update vectors and their aggregation weights)."""

    utility: UtilityLike | None
    n_players: int
    updates: FloatArray | None = None
    weights: FloatArray | None = None


class Estimator(ABC):
    """A contribution estimator: options live on the (frozen dataclass) instance.

    Subclasses set ``name`` and ``index``, implement :meth:`minimum_budget` and
    :meth:`_run`, and may override :meth:`default_budget`, :meth:`effective_budget` and
    :meth:`planned_coalitions`.
    """

    name: ClassVar[str]
    max_players: ClassVar[int | None] = None
    """The most players the method scores (``None``: no limit)."""
    index: ClassVar[str] = "shapley"
    needs: ClassVar[frozenset[str]] = frozenset({"utility"})
    """The data :meth:`estimate` reads: ``"utility"`` (the coalition utility), ``"updates"``
    (the update vectors: refused where nobody may read one) and/or ``"examples"`` (a utility
    that returns per-example values, :class:`market.types.ExampleUtility`; such an estimator
    also offers ``value_round``, e.g. :class:`market.scoring.ExampleBanzhaf`)."""

    @abstractmethod
    def minimum_budget(self, n_players: int) -> int:
        """Smallest budget (distinct evaluations) the method accepts for ``n_players``."""

    def default_budget(self, n_players: int) -> int:
        """Budget used when the caller passes ``budget=None``."""
        return max(self.minimum_budget(n_players), min(1 << n_players, 100 * n_players))

    def effective_budget(self, n_players: int, requested: int) -> int:
        """The budget this method actually uses when ``requested`` is asked for.

        ``max(requested, minimum_budget(n))``: a budget below the minimum is raised to it.
        """
        check_n_players(n_players)
        return max(int(requested), self.minimum_budget(n_players))

    def planned_coalitions(self, n_players: int, budget: int) -> list[frozenset[int]]:
        """Coalitions this method certainly evaluates first with ``budget``, so a caller can
        evaluate them as one batch before :meth:`estimate`. Default: none known."""
        return []

    @abstractmethod
    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        """Estimate on ``game``; must catch :class:`market.game.BudgetExhausted`."""

    def estimate(
        self,
        utility: UtilityLike | None,
        n_players: int,
        *,
        budget: int | None = None,
        rng: np.random.Generator | None = None,
        updates: FloatArray | None = None,
        weights: FloatArray | None = None,
    ) -> Contribution:
        """Score ``n_players`` players of ``utility`` with at most ``budget`` evaluations.

        Runs with single-threaded BLAS (:func:`market.scoring._blas.single_blas_thread`).

        Args:
            utility: ``u(frozenset) -> float`` or a table of length ``2**n_players``.
            n_players: number of players.
            budget: maximum distinct utility evaluations; ``None`` uses
                :meth:`default_budget`.
            rng: random generator; ``None`` means ``np.random.default_rng(0)`` so that
                results are reproducible.
            updates, weights: the players' update vectors ``(n, d)`` and aggregation weights,
                read only by an estimator whose :attr:`needs` has ``"updates"``.
        """
        check_n_players(n_players)
        data = ScoringData(utility, n_players, updates, weights)
        return self._estimate(data, budget, np.random.default_rng(0) if rng is None else rng)

    def _estimate(
        self, data: ScoringData, budget: int | None, rng: np.random.Generator
    ) -> Contribution:
        """Score ``data`` (default: :meth:`_run` on the utility's game within ``budget``)."""
        n_players, utility = data.n_players, data.utility
        minimum = self.minimum_budget(n_players)
        if budget is None:
            budget = self.default_budget(n_players)
        elif isinstance(budget, bool) or not isinstance(budget, int | np.integer):
            raise ValueError(f"budget must be an int or None, got {type(budget).__name__}")
        if budget < minimum:
            raise ValueError(
                f"budget={budget} is below the minimum {minimum} of method {self.name!r} "
                f"for n_players={n_players}; raise the budget"
            )
        if utility is None:
            raise ValueError(f"method {self.name!r} needs a utility (callable or table); got None")
        game = Game(utility, n_players, budget=int(budget))
        with single_blas_thread():
            result = self._run(game, rng)
        assert result.evaluations <= budget, "estimator exceeded its budget"
        return result


class WalkEstimator(Estimator):
    """An estimator that samples whole permutation walks (permutation, TMC, GTG, adaptive).

    Every walk starts at the empty coalition and ends at the grand one, so the minimum budget
    is one full walk and those two coalitions are always evaluated first.
    """

    def minimum_budget(self, n_players: int) -> int:
        """One full permutation: the empty coalition plus ``n`` prefixes."""
        return n_players + 1

    def planned_coalitions(self, n_players: int, budget: int) -> list[frozenset[int]]:
        """The empty and grand coalitions (every walk starts and ends there)."""
        return [frozenset[int](), frozenset(range(n_players))]


def all_coalitions(n_players: int) -> list[frozenset[int]]:
    """Every coalition of ``n_players`` players, in bitmask order."""
    return [frozenset(i for i in range(n_players) if k >> i & 1) for k in range(1 << n_players)]


def border_coalitions(n_players: int) -> list[frozenset[int]]:
    """The empty and grand coalitions, the singletons and the leave-one-outs."""
    grand = frozenset(range(n_players))
    out = [frozenset[int](), grand]
    out += [frozenset({i}) for i in range(n_players)]
    out += [grand - {i} for i in range(n_players)]
    return list(dict.fromkeys(out))

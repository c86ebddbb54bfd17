"""Leave-one-out contribution ``u(N) - u(N - i)`` (Cook 1977; the baseline in Data Shapley).

Exact with ``n + 1`` evaluations. It is not a Shapley value: redundant players (duplicates,
clones) each score about 0, which is what makes it resist Sybil replication.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game
from market.scoring.base import Estimator


@dataclass(frozen=True)
class LeaveOneOut(Estimator):
    """Leave-one-out marginal contribution. Minimum budget: ``n + 1``."""

    name: ClassVar[str] = "loo"
    index: ClassVar[str] = "loo"

    def minimum_budget(self, n_players: int) -> int:
        """The grand coalition and the ``n`` coalitions without one player."""
        return n_players + 1

    def default_budget(self, n_players: int) -> int:
        """Exactly ``n + 1``."""
        return n_players + 1

    def planned_coalitions(self, n_players: int, budget: int) -> list[frozenset[int]]:
        """The grand coalition and every leave-one-out."""
        grand = frozenset(range(n_players))
        return [grand] + [grand - {i} for i in range(n_players)]

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        v_grand = game.value(game.grand)
        without = game.values(game.grand ^ (1 << i) for i in range(n))
        return Contribution(
            values=v_grand - without,
            evaluations=game.evaluations,
            method=self.name,
            index=self.index,
        )

"""Surrogate Shapley: a stacked surrogate model of the utility, used in one of two ways.

* ``control_variate=True`` (default): the surrogate is a control variate inside an unbiased
  sampler of the residual ``u - H``: below 20% of the coalitions drawn where the surrogate is
  unsure (:mod:`.focused`), from 20% by size strata (:mod:`.strata`), or by antithetic
  permutation walks (:mod:`.control`): efficient, a null player exactly 0, symmetric players
  equal in expectation, with standard errors and ``converged``.
* ``control_variate=False``: imputation, the most accurate per evaluation on smooth
  (FL-like) games but biased where the surrogate is wrong (threshold games). The coalitions of
:func:`.design.design` are evaluated; a surrogate of ``u`` (:mod:`.stacking`: parametric
families, GP corrections, blended by stacking) is fitted on them and fills in every other
coalition (the regression view of KernelSHAP, Lundberg & Lee 2017, and the
regression-adjusted estimators of Witter, Musco et al. 2025); the exact Shapley value of the
completed table is returned. Evaluated coalitions keep their true value, so the estimate is
exact at ``budget = 2**n`` and always efficient (``sum(phi) = u(N) - u(empty)``). Null and
symmetric players are handled by :mod:`.axioms` (a true null scores 0, true symmetric
players are equal; players the evaluations cannot tell apart are treated alike). No
standard error (``stderr`` inf, ``converged`` False) unless every coalition was evaluated.

Both are exact at ``budget >= 2**n``. Works for ``n_players <= 20``.

Minimum budget: ``min(2**n, 2n + 2)`` (sizes 0, 1, n-1 and n).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import numpy as np

from market.contribution import Contribution
from market.game import Game, player_bits
from market.scoring._walk import relative_stderr
from market.scoring.base import Estimator, border_coalitions
from market.scoring.exact import shapley_from_table
from market.scoring.surrogate.axioms import (
    average_classes,
    null_players,
    reduce_masks,
    symmetric_classes,
)
from market.scoring.surrogate.control import control_variate_estimate
from market.scoring.surrogate.design import design, impute
from market.scoring.surrogate.families import (
    DEFAULT_FAMILIES,
    FAMILIES,
    FOCUSED_FAMILIES,
    fit_additive,
)
from market.scoring.surrogate.focused import focused_estimate
from market.scoring.surrogate.stacking import Stacker
from market.scoring.surrogate.strata import strata_estimate
from market.types import FloatArray, IntArray

MAX_PLAYERS = 20
SAMPLERS = ("auto", "focused", "strata", "walks")
STRATA_FROM = 0.2
"""The fraction of the ``2**n`` coalitions from which ``sampler="auto"`` uses strata."""


@dataclass(frozen=True)
class SurrogateShapley(Estimator):
    """Border enumeration + paired sampling + stacked surrogate imputation.

    Args:
        families: parametric surrogate families to choose from (subset of :data:`FAMILIES`).
        gp: also consider the Gaussian-process residual correction.
        folds: cross-validation folds.
        ridge: ridge penalty of the ``pairwise`` family.
        border_levels: size levels enumerated exactly on each side (at least 2).
        max_gp_points: largest number of evaluated coalitions the GP is used with.
        gp_fit_points: GP hyperparameters are fitted on a random subset of this many.
        combine: ``"stack"`` blends the candidates with non-negative weights fitted to their
            out-of-fold predictions; ``"select"`` keeps the one with the smallest error.
        axioms: handle null and symmetric players exactly (:mod:`.axioms`); ``False`` only
            to measure what that handling buys.
        control_variate: use the surrogate as a control variate in an unbiased sampler
            (default) rather than to impute the unevaluated coalitions.
        tolerance: relative standard error at which a control-variate estimate is
            reported converged.
        cv_folds: folds of antithetic pairs the control variate is cross-fitted over.
        coefficient: ``"fitted"`` scales the control variate by a coefficient in [0, 1]
            estimated on the other folds (0 when the surrogate explains nothing: plain
            antithetic sampling); ``"one"`` keeps it at 1 (the plain difference estimator).
        baseline: ``"additive"`` mixes the surrogate with the additive fit,
            ``beta * G + (1 - beta) * A``, both equal to ``u`` on the evaluated coalitions
            (so the border positions of a walk carry no variance whatever ``beta``);
            ``"none"`` uses ``beta * G``.
        sampler: how the residual ``u - H`` is sampled: ``"focused"``, uniform exploration,
            then draws where a committee of refits disagrees, by Des Raj's estimator
            (:mod:`.focused`); ``"walks"``, antithetic permutation walks (:mod:`.control`);
            ``"strata"``, stratified SVARM by coalition size (:mod:`.strata`); ``"auto"``
            (default), strata from :data:`STRATA_FROM` of the ``2**n`` coalitions, focused
            below. Measured on the tuning voting games (seeds 3000+, n = 10, 8 x 4 runs,
            median relative L2 error): focused 0.12 at 15% and 0.42 at 10% (walks 0.42 and
            0.67); at 30% focused 0.034, strata 0.093. On FL-like games (fl-exp, fl-power,
            seeds 5000+, 4 x 2 runs) focused 0.017 / 0.030 at 15% (walks 0.027 / 0.038) and
            0.070 / 0.090 at 5% (walks 0.140 / 0.287), but strata are better at 30% (0.007 vs
            0.010 on fl-exp), hence the switch.
        check_per_null: evaluations kept back, per player that looks null, to check the
            apparent nulls (:mod:`.checks`): a true null passes every check and scores
            exactly 0; 0 turns the checks off. None (default): the sampler's own, 2 for the
            focused sampler (targeted by its surrogate, after the exploration; measured at
            15% on the tuning voting games: median 0.167 without, 0.116 with), 0 for the
            strata (with strata from 14% they gave 0.405 at 15% on the bench's voting games
            but 0.127 at 30%, 0.105 without: bench/results/voting_games_null_checks.md).
        check_share: the most of the sampling budget the checks may keep back; None
            (default): 0.1 for the focused sampler (0.05: median 0.136; 3 per null and 0.15:
            0.136), 0.05 for the strata (2 per null and 5% cut their false nulls per run
            from 3.0 to about 0.6).
        explore: the focused sampler's share of the budget after the border spent on the
            uniform exploration (tuned before the checks, with GP candidates, 8 x 2 runs: 0.4 /
            0.5 / 0.6 / 0.7 gave 0.295 / 0.142 / 0.219 / 0.147 at 15% on the voting games; on
            fl-exp at 5% 0.033 / 0.050 / 0.053 / 0.053).
        mix: the share of the focused proposal spread over every unseen coalition by its
            Shapley weight alone (the rest follows the committee); 1 turns the focus off.
    """

    name: ClassVar[str] = "surrogate"
    max_players: ClassVar[int | None] = MAX_PLAYERS
    families: tuple[str, ...] | None = None
    gp: bool | None = None
    folds: int = 5
    ridge: float = 1e-2
    border_levels: int = 3
    max_gp_points: int = 1000
    gp_fit_points: int = 160
    combine: str = "stack"
    axioms: bool = True
    control_variate: bool = True
    tolerance: float = 0.02
    cv_folds: int = 8
    coefficient: str = "fitted"
    baseline: str = "additive"
    sampler: str = "auto"
    check_per_null: int | None = None
    check_share: float | None = None
    explore: float = 0.5
    mix: float = 0.2

    def __post_init__(self) -> None:
        unknown = [f for f in self.families or FAMILIES if f not in FAMILIES]
        if unknown or self.families == ():
            raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got {unknown}")
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}")
        if self.border_levels < 2:
            raise ValueError(f"border_levels must be >= 2, got {self.border_levels}")
        if self.combine not in ("stack", "select"):
            raise ValueError(f"combine must be 'stack' or 'select', got {self.combine!r}")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be >= 2, got {self.cv_folds}")
        if self.coefficient not in ("fitted", "one"):
            raise ValueError(f"coefficient must be 'fitted' or 'one', got {self.coefficient!r}")
        if self.baseline not in ("additive", "none"):
            raise ValueError(f"baseline must be 'additive' or 'none', got {self.baseline!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if not 0.0 < self.explore < 1.0:
            raise ValueError(f"explore must be in (0, 1), got {self.explore}")
        if not 0.0 < self.mix <= 1.0:
            raise ValueError(f"mix must be in (0, 1], got {self.mix}")
        if self.check_per_null is not None and self.check_per_null < 0:
            raise ValueError(f"check_per_null must be >= 0, got {self.check_per_null}")
        if self.check_share is not None and not 0.0 <= self.check_share < 1.0:
            raise ValueError(f"check_share must be in [0, 1), got {self.check_share}")
        if self.max_gp_points < 3 or self.gp_fit_points < 3:
            raise ValueError("max_gp_points and gp_fit_points must be >= 3")

    def minimum_budget(self, n_players: int) -> int:
        """Sizes 0, 1, n-1 and n: ``min(2**n, 2n + 2)``."""
        return min(1 << n_players, 2 * n_players + 2)

    def default_budget(self, n_players: int) -> int:
        """``max(minimum, min(2**n, 100 n))``."""
        return max(self.minimum_budget(n_players), min(1 << n_players, 100 * n_players))

    def planned_coalitions(self, n_players: int, budget: int) -> list[frozenset[int]]:
        """Empty, grand, singletons and leave-one-outs when the budget affords them."""
        border = border_coalitions(n_players)
        return border if budget >= len(border) else []

    def _stacker(self, focused: bool = False) -> Stacker:
        """The stacker, with the sampler's own candidates where ``families`` / ``gp`` are
        None: :data:`FOCUSED_FAMILIES` without GP for the focused sampler (a GP's smooth
        correction leaves a residual on every coalition, which the focus cannot localise;
        measured at 15% on the tuning voting games, 8 x 2 runs: median 0.156 with GP
        candidates, 0.142 without; but on fedavg-ridge games, 4 x 2 runs, 0.066 with, 0.096
        without), :data:`DEFAULT_FAMILIES` with GP otherwise."""
        default = FOCUSED_FAMILIES if focused else DEFAULT_FAMILIES
        return Stacker(
            families=self.families or default,
            gp=(not focused) if self.gp is None else self.gp,
            folds=self.folds,
            ridge=self.ridge,
            max_gp_points=self.max_gp_points,
            gp_fit_points=self.gp_fit_points,
            combine=self.combine,
        )

    def _completed_table(
        self, masks: IntArray, y: FloatArray, n: int, low: int, high: int, rng: np.random.Generator
    ) -> tuple[FloatArray, dict[str, float | int | str]]:
        """The ``2**n`` table: evaluated values where known, the surrogate elsewhere."""
        size = 1 << n
        table = np.empty(size)
        if len(np.unique(masks)) == size:
            table[masks] = y
            return table, {"surrogate": "none"}
        x = player_bits(masks, n)
        sizes = x.sum(axis=1)
        holdout = np.flatnonzero((sizes >= low) & (sizes <= high)).astype(np.int64)
        if len(holdout) < self.folds:
            holdout = np.arange(len(y), dtype=np.int64)
        predict, label, cv_rmse = self._stacker().build(x, y, holdout, rng)
        table = impute(predict, n)
        if not np.all(np.isfinite(table)):
            label = "additive"
            table = impute(fit_additive(x, y), n)
        table[masks] = y
        return table, {"surrogate": label, "cv_rmse": cv_rmse}

    def _run(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        if n > MAX_PLAYERS:
            raise ValueError(
                f"method 'surrogate' supports n_players <= {MAX_PLAYERS}, got {n}; "
                "use 'permutation' or 'tmc'"
            )
        if self.control_variate and game.budget < 1 << n:
            return self._run_control(game, rng)
        masks, low, high = design(n, game.budget, rng, self.border_levels)
        y = game.values(masks.tolist())
        nulls = null_players(masks, y, n) if self.axioms else []
        keep = [i for i in range(n) if i not in nulls]
        phi = np.zeros(n)
        info: dict[str, float | int | str] = {"surrogate": "none", "null_players": len(nulls)}
        exact = len(np.unique(masks)) == 1 << n
        if keep and exact:
            table = np.empty(1 << n)
            table[masks] = y
            phi = shapley_from_table(table)
        elif keep:
            # the game without the null players; the empty and grand coalitions are written
            # last so that the reduced game keeps u(N) - u(empty) exactly
            order = np.argsort((masks == 0) | (masks == game.grand), kind="stable")
            reduced = reduce_masks(masks[order], keep)
            _, first = np.unique(reduced[::-1], return_index=True)
            pick = len(reduced) - 1 - first
            table, fit_info = self._completed_table(
                reduced[pick], y[order][pick], len(keep), low, high, rng
            )
            info.update(fit_info)
            phi[keep] = shapley_from_table(table)
        classes = symmetric_classes(masks, y, keep) if self.axioms else []
        phi = average_classes(phi, classes)
        info["symmetric_classes"] = len(classes)
        info["border_levels"] = low
        return Contribution(
            values=phi,
            evaluations=game.evaluations,
            method=self.name,
            converged=exact,
            stderr=np.zeros(n) if exact else np.full(n, np.inf),
            info=info,
        )

    def _run_control(self, game: Game, rng: np.random.Generator) -> Contribution:
        n = game.n_players
        border, _, _ = design(n, self.minimum_budget(n), rng, border_levels=2)
        sampler = self.sampler
        if sampler == "auto":
            sampler = "strata" if game.budget >= STRATA_FROM * (1 << n) else "focused"
        if sampler == "focused":
            stacker = self._stacker(focused=True)
            values, stderr, info = focused_estimate(
                game,
                border,
                stacker,
                rng,
                folds=self.cv_folds,
                explore=self.explore,
                mix=self.mix,
                check_per_null=2 if self.check_per_null is None else self.check_per_null,
                check_share=0.1 if self.check_share is None else self.check_share,
            )
            return self._contribution(game, values, stderr, {**info, "sampler": "focused"})
        strata = sampler == "strata"
        folds, adaptive = self.cv_folds, self.coefficient == "fitted"
        baseline = self.baseline == "additive"
        estimate_residual = (
            partial(
                strata_estimate,
                check_per_null=self.check_per_null or 0,
                check_share=0.05 if self.check_share is None else self.check_share,
            )
            if strata
            else control_variate_estimate
        )
        values, stderr, info = estimate_residual(
            game, border, self._stacker(), rng, folds=folds, adaptive=adaptive, baseline=baseline
        )
        return self._contribution(
            game, values, stderr, {**info, "sampler": "strata" if strata else "walks"}
        )

    def _contribution(
        self,
        game: Game,
        values: FloatArray,
        stderr: FloatArray,
        info: dict[str, float | int | str],
    ) -> Contribution:
        info = {**info, "tolerance": self.tolerance}
        return Contribution(
            values=values,
            evaluations=game.evaluations,
            method=self.name,
            converged=relative_stderr(values, stderr) <= self.tolerance,
            stderr=stderr,
            info=info,
        )

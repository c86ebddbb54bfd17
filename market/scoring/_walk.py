"""The one permutation driver and stopping rule shared by permutation, TMC and GTG.

A *walk* follows one order of the players and records each player's marginal contribution
to the prefix before it (Castro, Gomez & Tejada 2009). A *batch* is a group of walks whose
mean is one sample: an antithetic pair (an order and its reverse, Mitchell et al. 2022), a
GTG round, or a single walk. Samples are i.i.d., so their mean is unbiased for the Shapley
value (unless truncation cut a walk), sums to ``u(N) - u(empty)`` and gives a null player
exactly 0 (every marginal of a null player is exactly 0).

Stopping rule (:func:`converged`): stop once at least ``min_samples`` samples are in and the
relative standard error ``sqrt(sum_i se_i**2) / ||phi_hat||_2`` is at most ``tolerance``,
where ``se_i`` is the sample standard deviation of player ``i``'s samples over
``sqrt(count)``. A run in which truncation cut any walk is biased by an amount its standard
errors do not show, so it is never reported converged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from market.contribution import Contribution
from market.game import BudgetExhausted, Game
from market.types import FloatArray, IntArray

Orders = Callable[[np.random.Generator], list[IntArray]]
"""Draws the orders of one batch."""


def walk(
    game: Game,
    order: IntArray,
    v_empty: float,
    *,
    v_grand: float | None = None,
    truncation: float = 0.0,
) -> tuple[FloatArray, bool]:
    """Return the marginals of each player along ``order`` and whether truncation cut it.

    With ``truncation > 0`` the walk stops evaluating once ``|v_grand - v(prefix)|`` falls
    below ``truncation`` and gives every later player a marginal of 0 (Ghorbani & Zou 2019;
    biased: a later harmful or helpful player is hidden).

    A walk whose new prefixes would not all fit in the remaining budget is not started (its
    partial marginals would be discarded).

    Raises:
        market.game.BudgetExhausted: the walk's new prefixes exceed the remaining budget.
    """
    marginals = np.zeros(game.n_players, dtype=np.float64)
    if truncation <= 0.0 and v_grand is None:
        # no truncation: every prefix is needed, so ask for them in one walk (a utility
        # with ``values_along`` computes them as a running sum; all or nothing on the budget)
        values = game.values_along(order)
        marginals[order] = np.diff(values, prepend=v_empty)
        return marginals, False
    order_list = order.tolist()
    last = len(order_list) - 1
    new = 0
    for position, mask in enumerate(game.prefix_masks(order, len(order_list))):
        new += not ((position == last and v_grand is not None) or game.is_cached(mask))
    if new > game.remaining:
        raise BudgetExhausted(f"a walk needs {new} new evaluations, {game.remaining} left")
    mask = 0
    previous = v_empty
    for position, player in enumerate(order_list):
        if truncation > 0.0 and v_grand is not None and abs(v_grand - previous) < truncation:
            return marginals, True
        mask |= 1 << player
        current = v_grand if (position == last and v_grand is not None) else game.value(mask)
        marginals[player] = current - previous
        previous = current
    return marginals, False


def summarise(samples: list[FloatArray], n_players: int) -> tuple[FloatArray, FloatArray]:
    """Return the mean and the standard error of the samples (``inf`` below 2 samples)."""
    if not samples:
        return np.zeros(n_players), np.full(n_players, np.inf)
    stacked = np.vstack(samples)
    mean: FloatArray = stacked.mean(axis=0)
    if len(samples) < 2:
        return mean, np.full(n_players, np.inf)
    stderr: FloatArray = stacked.std(axis=0, ddof=1) / math.sqrt(len(samples))
    return mean, stderr


def relative_stderr(mean: FloatArray, stderr: FloatArray) -> float:
    """``sqrt(sum stderr**2) / ||mean||_2`` (0 if both are 0, inf if only the mean is)."""
    spread = float(np.sqrt(np.sum(stderr**2)))
    if spread == 0.0:
        return 0.0
    scale = float(np.linalg.norm(mean))
    return spread / scale if scale > 0 else math.inf


def converged(samples: list[FloatArray], tolerance: float, min_samples: int) -> bool:
    """The shared stopping rule (see the module docstring)."""
    if len(samples) < max(min_samples, 2):
        return False
    mean, stderr = summarise(samples, samples[0].shape[0])
    return relative_stderr(mean, stderr) <= tolerance


@dataclass(frozen=True)
class WalkRun:
    """What :func:`sample_walks` returns."""

    samples: list[FloatArray]
    walks: int
    truncated: int
    converged: bool


def sample_walks(
    game: Game,
    orders: Orders,
    rng: np.random.Generator,
    *,
    max_walks: int,
    tolerance: float,
    min_samples: int,
    truncation: float = 0.0,
) -> WalkRun:
    """Draw batches of walks until the stopping rule holds, ``max_walks`` or the budget.

    ``truncation`` (absolute, in utility units) is passed to :func:`walk` and needs
    ``u(N)``, evaluated first. A batch cut short by the budget keeps its complete walks.
    """
    v_empty = game.value(0)
    v_grand = game.value(game.grand) if truncation > 0 else None
    samples: list[FloatArray] = []
    walks = truncated = 0
    done = exhausted = False
    while walks < max_walks and not done and not exhausted:
        batch: list[FloatArray] = []
        for order in orders(rng):
            if walks >= max_walks:
                break
            try:
                marginals, cut = walk(game, order, v_empty, v_grand=v_grand, truncation=truncation)
            except BudgetExhausted:
                exhausted = True
                break
            batch.append(marginals)
            walks += 1
            truncated += cut
        if batch:
            samples.append(np.mean(batch, axis=0))
        done = tolerance > 0 and converged(samples, tolerance, min_samples)
    ok = truncated == 0 and converged(samples, tolerance, min_samples)
    return WalkRun(samples=samples, walks=walks, truncated=truncated, converged=ok)


def contribution_of(
    game: Game, run: WalkRun, method: str, tolerance: float, **info: float | int | str
) -> Contribution:
    """The :class:`Contribution` of a walk run, with standard errors."""
    values, stderr = summarise(run.samples, game.n_players)
    return Contribution(
        values=values,
        evaluations=game.evaluations,
        method=method,
        converged=run.converged,
        stderr=stderr,
        info={
            "permutations": run.walks,
            "samples": len(run.samples),
            "truncated_walks": run.truncated,
            "tolerance": tolerance,
            **info,
        },
    )


def check_truncation(truncation: float) -> None:
    """Raise ``ValueError`` unless ``0 <= truncation < 1``."""
    if not 0.0 <= truncation < 1.0:
        raise ValueError(f"truncation must be in [0, 1), got {truncation}")


def check_sampling_options(tolerance: float, min_samples: int, max_walks: int) -> None:
    """Raise ``ValueError`` naming the bad field."""
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if min_samples < 2:
        raise ValueError(f"min_samples must be >= 2, got {min_samples}")
    if max_walks < 1:
        raise ValueError(f"max_permutations must be >= 1, got {max_walks}")

"""Sybil and replication measurement: what a participant gains by acting as ``k`` identities.

:func:`replicate` builds the game with copies of a player, :func:`values_for` values a game
as a mechanism is meant to be paid, and :func:`sybil_gain` compares the payments with and
without the extra identities (:func:`sybil_gain_estimate`: for every player of a round).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from market.checks import finite_vector
from market.game import as_table, check_n_players, mask_of
from market.mechanisms.base import Mechanism
from market.mechanisms.payments import grand_marginals
from market.scoring import banzhaf_from_table, estimate, shapley_from_table
from market.types import FloatArray, IntArray, Utility, UtilityLike


@dataclass(frozen=True)
class SybilResult:
    """Outcome of one participant acting as ``k`` identities instead of one.

    Attributes:
        original: payment of the participant acting alone.
        clones: total payment of its ``k`` identities.
        gain: ``clones - original`` (> 0: splitting pays more).
        k: number of identities.
        payoff_original: ``original`` minus the participant's cost.
        payoff_clones: ``clones`` minus the identities' total cost.
        relative_gain: ``(payoff_clones - payoff_original) / |payoff_original|`` (``inf``/
            ``-inf``/``0`` signs when the single identity's payoff is 0).
    """

    original: float
    clones: float
    gain: float
    k: int
    payoff_original: float = 0.0
    payoff_clones: float = 0.0
    relative_gain: float = 0.0


def replicate(utility: UtilityLike, n_players: int, player: int, k: int) -> Utility:
    """Utility of the game where ``player`` has ``k - 1`` exact copies ``n .. n+k-2``.

    A coalition is worth what the original game gives it with every copy mapped back to
    ``player`` (copies bring the same data, so they add nothing to one another).
    """
    table = None if callable(utility) else np.asarray(utility, dtype=np.float64)

    def cloned(coalition: frozenset[int]) -> float:
        mapped = frozenset(player if i >= n_players else i for i in coalition)
        if table is not None:
            return float(table[mask_of(mapped)])
        assert callable(utility)  # narrowed: table is None only for callables
        return float(utility(mapped))

    return cloned


def _table(utility: UtilityLike, n: int) -> FloatArray:
    if not callable(utility):
        return np.asarray(utility, dtype=np.float64)
    return np.array([utility(frozenset(i for i in range(n) if k >> i & 1)) for k in range(1 << n)])


def _callable(utility: UtilityLike, n: int) -> Utility:
    if callable(utility):
        return utility
    table = as_table(np.asarray(utility, dtype=np.float64), n)
    return lambda coalition: float(table[mask_of(coalition)])


def values_for(
    mechanism: Mechanism,
    utility: UtilityLike,
    n_players: int,
    *,
    method: str | None = None,
    estimator_budget: int | None = None,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """The contributions ``mechanism`` is meant to be paid on.

    With ``method=None``: exact values in the mechanism's :attr:`~Mechanism.valuation`
    (Banzhaf for ``"banzhaf"``, else Shapley) from the full table; otherwise ``method``.
    """
    if method is None:
        table = _table(utility, n_players)
        if mechanism.valuation is not None and mechanism.valuation.index == "banzhaf":
            return banzhaf_from_table(table)
        return shapley_from_table(table)
    rng = np.random.default_rng(0) if rng is None else rng
    return estimate(utility, n_players, method, budget=estimator_budget, rng=rng).values


def _relative(new: float, old: float) -> float:
    if old != 0:
        return (new - old) / abs(old)
    return 0.0 if new == old else math.copysign(math.inf, new - old)


def sybil_gain(
    utility: UtilityLike,
    n_players: int,
    player: int,
    k: int,
    mechanism: Mechanism,
    *,
    budget: float,
    method: str | None = None,
    cloned_utility: UtilityLike | None = None,
    costs: FloatArray | None = None,
    clone_costs: FloatArray | None = None,
    data_sizes: FloatArray | None = None,
    clone_sizes: FloatArray | None = None,
    group_clones: bool = False,
    clones_true_cost: float | None = None,
    estimator_budget: int | None = None,
    rng: np.random.Generator | None = None,
    effort: FloatArray | None = None,
    clone_effort: FloatArray | None = None,
) -> SybilResult:
    """Reward and payoff of ``k`` identities of ``player`` against acting as one.

    Contributions are valued with :func:`values_for` (``method``, default the mechanism's
    own valuation, exact) on the original game and on the game with the identities
    (``cloned_utility``, extra players ``n .. n+k-2``; default :func:`replicate`), then paid
    by ``mechanism.run_round`` with the same ``budget``.

    Args:
        costs: per-player costs in the original game (default 0).
        clone_costs: costs of the ``k`` identities (``player`` first); default: each bears
            the original's cost (replicas that each train). A split passes ``cost / k`` each.
        data_sizes, clone_sizes: declared sizes (the auction's values), likewise.
        group_clones: pay the identities as one replica group (as the platform does once
            :func:`market.identities.replica_groups` has found them).
        clones_true_cost: what the identities really spend in total (default: the sum of
            ``clone_costs``); replicas that train once spend the original's cost.
        effort: per-player metered effort in the original game, for mechanisms that pay on
            it (:class:`~market.mechanisms.PooledValue`); default: the data sizes.
        clone_effort: the identities' metered effort (``player`` first). Default: the
            ``clone_sizes`` when given (a split meters its pieces), else the original's
            effort for ``player`` and 0 for the others (replicas train once: one identity
            trains, the others send its update).
    """
    check_n_players(n_players)
    if not 0 <= player < n_players or k < 1:
        raise ValueError(f"player must be in [0, {n_players}) and k >= 1")
    rng = np.random.default_rng(0) if rng is None else rng
    rng_a, rng_b = rng.spawn(2)
    game_b = replicate(utility, n_players, player, k) if cloned_utility is None else cloned_utility
    n_b = n_players + k - 1
    identities = [player, *range(n_players, n_b)]
    cost_a = np.zeros(n_players) if costs is None else finite_vector(costs, "costs")
    cost_b = _extend(cost_a, clone_costs, player, k, "clone_costs")
    size_a = np.ones(n_players) if data_sizes is None else finite_vector(data_sizes, "data_sizes")
    size_b = _extend(size_a, clone_sizes, player, k, "clone_sizes")
    groups: IntArray | None = None
    if group_clones:
        groups = np.arange(n_b, dtype=np.int64)
        groups[identities] = player
    phi_a = values_for(
        mechanism, utility, n_players, method=method, estimator_budget=estimator_budget, rng=rng_a
    )
    phi_b = values_for(
        mechanism, game_b, n_b, method=method, estimator_budget=estimator_budget, rng=rng_b
    )
    effort_a = size_a if effort is None else finite_vector(effort, "effort")
    if clone_effort is None:
        clone_effort = (
            np.asarray(clone_sizes, dtype=np.float64)
            if clone_sizes is not None
            else np.array([effort_a[player], *np.zeros(k - 1)])
        )
    effort_b = _extend(effort_a, clone_effort, player, k, "clone_effort")
    pay_a = _paid(mechanism, utility, phi_a, budget, cost_a, size_a, effort_a)
    pay_b = _paid(mechanism, game_b, phi_b, budget, cost_b, size_b, effort_b, groups)
    original, clones = float(pay_a[player]), float(pay_b[identities].sum())
    if not (math.isfinite(original) and math.isfinite(clones)):
        raise ValueError("payments must be finite")
    payoff_a = original - float(cost_a[player])
    spent = float(cost_b[identities].sum()) if clones_true_cost is None else clones_true_cost
    payoff_b = clones - spent
    return SybilResult(
        original=original,
        clones=clones,
        gain=clones - original,
        k=k,
        payoff_original=payoff_a,
        payoff_clones=payoff_b,
        relative_gain=_relative(payoff_b, payoff_a),
    )


def _paid(
    mechanism: Mechanism,
    utility: UtilityLike,
    values: FloatArray,
    budget: float,
    costs: FloatArray,
    sizes: FloatArray,
    effort: FloatArray,
    groups: IntArray | None = None,
) -> FloatArray:
    """What ``mechanism.run_round`` pays for ``values`` in the game ``utility`` (with the
    marginals of the positive players' grand coalition where the rule pays on them)."""
    n = values.size
    margins = None
    if mechanism.uses_marginals:
        margins = grand_marginals(_callable(utility, n), n, values > 0)
    allocation = mechanism.run_round(
        values,
        budget=budget,
        costs=costs,
        data_sizes=sizes,
        groups=groups,
        marginals=margins,
        effort=effort,
    )
    return allocation.payments


def _extend(
    base: FloatArray, clones: FloatArray | None, player: int, k: int, name: str
) -> FloatArray:
    if clones is None:
        return np.concatenate([base, np.full(k - 1, base[player])])
    arr = finite_vector(clones, name)
    if arr.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},), the identities' values")
    out = np.concatenate([base, arr[1:]])
    out[player] = arr[0]
    return out


def sybil_gain_estimate(
    utility: UtilityLike,
    n_players: int,
    mechanism: Mechanism,
    *,
    budget: float,
    costs: FloatArray | None = None,
    k: int = 3,
    players: IntArray | None = None,
    group_clones: bool = True,
) -> FloatArray:
    """Per-round Sybil-gain estimate: each player's relative payoff gain from replicating.

    Replays the round's utility (a table, or a memoised callable: the replicated game asks
    for no new coalition) with each of ``players`` (default all) acting as ``k`` replicas,
    and returns their :attr:`SybilResult.relative_gain`. The attacker trains once but every
    replica declares the original's cost (the cheapest attack); ``group_clones``: the
    platform pays detected replicas as one group, ``False`` replays *noisy* copies, which
    evade the replica detector (the copies carry no metered effort, so a rule that pays
    metered work gives them nothing). Splitting one's data cannot be replayed from a table
    (the pieces train on their own): the gym (:mod:`agents.attacks`) plays it. Average the
    rounds of a run for a per-run figure.
    """
    cost = np.zeros(n_players) if costs is None else finite_vector(costs, "costs")
    chosen = np.arange(n_players) if players is None else np.asarray(players, dtype=np.int64)
    table = _table(utility, n_players)
    out = np.zeros(chosen.size)
    for j, i in enumerate(chosen):
        result = sybil_gain(
            table,
            n_players,
            int(i),
            k,
            mechanism,
            budget=budget,
            costs=cost,
            group_clones=group_clones,
            clones_true_cost=float(cost[i]),
        )
        out[j] = result.relative_gain
    return out

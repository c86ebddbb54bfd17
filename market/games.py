"""Oracle games with known Shapley values, used as test fixtures and benchmark games.

Each game is callable as a utility ``u(frozenset) -> float``, gives its full utility table
(``table()``, length ``2**n`` indexed by bitmask) and its Shapley values
(``shapley_values()``): in closed form for the airport (Littlechild & Owen 1973), glove,
weighted voting (by counting, Mann & Shapley 1962), additive and unanimity games; by exact
enumeration for the federated-learning-like :class:`SaturatingGame`, which has no closed form.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace

import numpy as np

from market.checks import check_players, finite_vector
from market.game import MAX_TABLE_PLAYERS, mask_of, player_bits
from market.scoring.exact import shapley_from_table
from market.types import FloatArray


def _floats(values: object, name: str) -> FloatArray:
    return finite_vector(values, name, non_empty=True)


class OracleGame(ABC):
    """A cooperative game over players ``0 .. n_players - 1`` with known Shapley values."""

    @property
    @abstractmethod
    def n_players(self) -> int:
        """Number of players."""

    @abstractmethod
    def value_of_bits(self, members: FloatArray) -> FloatArray:
        """Utilities of the coalitions given as rows of a 0/1 membership matrix."""

    @abstractmethod
    def shapley_values(self) -> FloatArray:
        """The exact Shapley values."""

    def __call__(self, coalition: frozenset[int]) -> float:
        """Return ``u(coalition)``."""
        members = np.zeros((1, self.n_players))
        members[0, sorted(coalition)] = 1.0
        return float(self.value_of_bits(members)[0])

    def table(self) -> FloatArray:
        """Return the utility of every coalition, indexed by bitmask."""
        if self.n_players > MAX_TABLE_PLAYERS:
            raise ValueError(f"n_players must be <= {MAX_TABLE_PLAYERS} to build a table")
        masks = np.arange(1 << self.n_players, dtype=np.int64)
        return self.value_of_bits(player_bits(masks, self.n_players))


@dataclass(frozen=True, eq=False)
class AdditiveGame(OracleGame):
    """``u(S) = offset + sum_{i in S} a_i``; ``phi_i = a_i``."""

    weights: FloatArray
    offset: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _floats(self.weights, "weights"))

    @property
    def n_players(self) -> int:
        """Number of players."""
        return int(self.weights.size)

    def value_of_bits(self, members: FloatArray) -> FloatArray:
        """Offset plus the sum of member weights."""
        out: FloatArray = self.offset + members @ self.weights
        return out

    def shapley_values(self) -> FloatArray:
        """The weights."""
        return self.weights.copy()


@dataclass(frozen=True, eq=False)
class UnanimityGame(OracleGame):
    """``u(S) = 1`` if ``carrier`` is a subset of ``S``; ``phi_i = 1/|carrier|`` on it."""

    players: int
    carrier: frozenset[int]

    def __post_init__(self) -> None:
        if self.players < 1 or not self.carrier or not self.carrier <= set(range(self.players)):
            raise ValueError("carrier must be a non-empty subset of range(players)")

    @property
    def n_players(self) -> int:
        """Number of players."""
        return self.players

    def value_of_bits(self, members: FloatArray) -> FloatArray:
        """1 where every carrier member is present."""
        out: FloatArray = np.all(members[:, sorted(self.carrier)] > 0, axis=1).astype(float)
        return out

    def shapley_values(self) -> FloatArray:
        """``1/|carrier|`` for carrier members, 0 otherwise."""
        phi = np.zeros(self.players)
        phi[sorted(self.carrier)] = 1.0 / len(self.carrier)
        return phi


@dataclass(frozen=True, eq=False)
class AirportGame(OracleGame):
    """Airport cost game ``u(S) = max_{i in S} c_i`` (Littlechild & Owen 1973).

    ``phi`` of the ``k``-th smallest cost is ``sum_{j <= k} (c_(j) - c_(j-1)) / (n - j + 1)``.
    """

    costs: FloatArray

    def __post_init__(self) -> None:
        costs = _floats(self.costs, "costs")
        if np.any(costs < 0):
            raise ValueError("costs must be >= 0")
        object.__setattr__(self, "costs", costs)

    @property
    def n_players(self) -> int:
        """Number of players."""
        return int(self.costs.size)

    def value_of_bits(self, members: FloatArray) -> FloatArray:
        """The largest member cost (0 for the empty coalition)."""
        out: FloatArray = np.max(members * self.costs, axis=1)
        return out

    def shapley_values(self) -> FloatArray:
        """Littlechild-Owen sequential cost sharing."""
        n = self.n_players
        order = np.argsort(self.costs, kind="stable")
        sorted_costs = self.costs[order]
        steps = np.diff(np.concatenate([[0.0], sorted_costs])) / (n - np.arange(n))
        phi = np.empty(n)
        phi[order] = np.cumsum(steps)
        return phi


@dataclass(frozen=True, eq=False)
class GloveGame(OracleGame):
    """Glove game: players ``0 .. n_left-1`` own left gloves, the rest right gloves;
    ``u(S) = min(#left in S, #right in S)`` (pairs formed)."""

    n_left: int
    n_right: int

    def __post_init__(self) -> None:
        if self.n_left < 0 or self.n_right < 0 or self.n_left + self.n_right < 1:
            raise ValueError("n_left and n_right must be >= 0 with at least one player")

    @property
    def n_players(self) -> int:
        """Number of players."""
        return self.n_left + self.n_right

    def value_of_bits(self, members: FloatArray) -> FloatArray:
        """Number of complete pairs."""
        left = members[:, : self.n_left].sum(axis=1)
        right = members[:, self.n_left :].sum(axis=1)
        out: FloatArray = np.minimum(left, right)
        return out

    @staticmethod
    def _owner_value(same: int, other: int) -> float:
        """Shapley value of a glove owner with ``same`` other same-side and ``other`` gloves.

        A random order puts ``t`` uniform in ``0 .. n-1`` players before ours; the number of
        same-side ones is hypergeometric; our glove completes a pair iff fewer same-side than
        other-side gloves precede it.
        """
        n = same + other + 1
        total = 0.0
        for t in range(n):
            for a in range(max(0, t - other), min(same, t) + 1):
                if t - a > a:
                    total += math.comb(same, a) * math.comb(other, t - a) / math.comb(n - 1, t)
        return total / n

    def shapley_values(self) -> FloatArray:
        """Closed form by the hypergeometric count above."""
        left = self._owner_value(self.n_left - 1, self.n_right) if self.n_left else 0.0
        right = self._owner_value(self.n_right - 1, self.n_left) if self.n_right else 0.0
        return np.array([left] * self.n_left + [right] * self.n_right, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class WeightedVotingGame(OracleGame):
    """``u(S) = 1`` if the integer weights in ``S`` reach ``quota``.

    Shapley-Shubik power by counting swings with a dynamic programme over (size, weight)
    (Mann & Shapley 1962), no enumeration of coalitions.
    """

    weights: tuple[int, ...]
    quota: int

    def __post_init__(self) -> None:
        if not self.weights or any(int(w) != w or w < 0 for w in self.weights):
            raise ValueError("weights must be a non-empty tuple of non-negative ints")
        if not 0 < self.quota <= sum(self.weights):
            raise ValueError(f"quota must be in (0, {sum(self.weights)}], got {self.quota}")

    @property
    def n_players(self) -> int:
        """Number of players."""
        return len(self.weights)

    def value_of_bits(self, members: FloatArray) -> FloatArray:
        """1 where the coalition's weight reaches the quota."""
        out: FloatArray = (members @ np.asarray(self.weights, float) >= self.quota).astype(float)
        return out

    def shapley_values(self) -> FloatArray:
        """Count, for each player, the coalitions of each size it swings."""
        n, total = self.n_players, sum(self.weights)
        phi = np.zeros(n)
        for i in range(n):
            counts = np.zeros((n, total + 1))  # counts[s, w]: subsets of N - i, size s, weight w
            counts[0, 0] = 1.0
            for j, w in enumerate(self.weights):
                if j == i:
                    continue
                shifted = np.zeros_like(counts)
                shifted[1:, w:] = counts[:-1, : total + 1 - w]
                counts = counts + shifted
            low, high = max(self.quota - self.weights[i], 0), self.quota
            for s in range(n):
                swings = counts[s, low:high].sum()
                phi[i] += swings / (n * math.comb(n - 1, s))
        return phi


@dataclass(frozen=True, eq=False)
class SaturatingGame(OracleGame):
    """A federated-learning-like game: accuracy saturating in quality-weighted pooled data.

    ``u(S) = base + (acc_max - base) * h(W(S) / scale) + noise(S)`` with
    ``W(S) = sum_{i in S} quality_i * size_i`` and ``h(x) = 1 - exp(-x)`` (``link="exp"``) or
    the learning-curve power law ``h(x) = 1 - (1 + x)**-0.7`` (``link="power"``). ``noise(S)``
    is deterministic per coalition (drawn once from ``noise_seed``), like re-evaluating a fixed
    model on a finite test set. The Shapley values are computed by exact enumeration.
    """

    sizes: FloatArray
    qualities: FloatArray
    scale: float
    acc_max: float = 0.9
    base: float = 0.1
    noise: float = 0.0
    noise_seed: int = 0
    link: str = "exp"
    _noise_table: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sizes, qualities = _floats(self.sizes, "sizes"), _floats(self.qualities, "qualities")
        if sizes.shape != qualities.shape or np.any(sizes < 0) or np.any(qualities < 0):
            raise ValueError("sizes and qualities must be non-negative arrays of equal length")
        if sizes.size > MAX_TABLE_PLAYERS:
            raise ValueError(f"SaturatingGame supports at most {MAX_TABLE_PLAYERS} players")
        if self.scale <= 0 or self.noise < 0:
            raise ValueError("scale must be > 0 and noise >= 0")
        if self.link not in ("exp", "power"):
            raise ValueError(f"link must be 'exp' or 'power', got {self.link!r}")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "qualities", qualities)
        draws = np.random.default_rng(self.noise_seed).standard_normal(1 << sizes.size)
        object.__setattr__(self, "_noise_table", self.noise * draws)

    @property
    def n_players(self) -> int:
        """Number of players."""
        return int(self.sizes.size)

    def value_of_bits(self, members: FloatArray) -> FloatArray:
        """Saturating accuracy plus the coalition's fixed noise."""
        x = members @ (self.qualities * self.sizes) / self.scale
        shape = 1.0 - np.exp(-x) if self.link == "exp" else 1.0 - (1.0 + x) ** -0.7
        masks = members @ (1 << np.arange(self.n_players)).astype(float)
        out: FloatArray = (
            self.base
            + (self.acc_max - self.base) * shape
            + self._noise_table[masks.astype(np.int64)]
        )
        return out

    def __call__(self, coalition: frozenset[int]) -> float:
        """Return ``u(coalition)``."""
        members = player_bits(np.array([mask_of(coalition)], dtype=np.int64), self.n_players)
        return float(self.value_of_bits(members)[0])

    def shapley_values(self) -> FloatArray:
        """Exact Shapley values by enumeration (no closed form exists)."""
        return shapley_from_table(self.table())

    def split_player(self, player: int, k: int) -> SaturatingGame:
        """Return the game in which ``player`` splits its data into ``k`` equal identities.

        ``player`` keeps ``1/k`` of its data; players ``n .. n+k-2`` are the new identities.
        """
        if not 0 <= player < self.n_players or k < 1:
            raise ValueError(f"player must be in [0, {self.n_players}) and k >= 1")
        part = self.sizes[player] / k
        sizes = np.concatenate([self.sizes, np.full(k - 1, part)])
        sizes[player] = part
        qualities = np.concatenate([self.qualities, np.full(k - 1, self.qualities[player])])
        return replace(self, sizes=sizes, qualities=qualities)


def fl_game(
    n_players: int,
    rng: np.random.Generator,
    *,
    noise: float = 0.01,
    null_player: bool = True,
    duplicate: bool = True,
    link: str = "exp",
) -> SaturatingGame:
    """A random FL-like :class:`SaturatingGame` for tests and benchmarks.

    Sizes are log-normal, qualities uniform in ``[0.2, 1]``; the last player has quality 0
    (a null player, up to noise) and player ``n-2`` duplicates player 0 (same size and
    quality, so the two are symmetric up to noise). ``scale`` is 35% of the total weighted data
    (``exp``) or 10% of it (``power``) so the curve saturates within the game.
    """
    check_players(n_players)
    sizes = rng.lognormal(5.5, 0.7, n_players)
    qualities = rng.uniform(0.2, 1.0, n_players)
    if null_player and n_players >= 2:
        qualities[-1] = 0.0
    if duplicate and n_players >= 3:
        sizes[-2], qualities[-2] = sizes[0], qualities[0]
    total = float(np.sum(sizes * qualities)) or 1.0
    scale = (0.35 if link == "exp" else 0.1) * total
    return SaturatingGame(
        sizes=sizes,
        qualities=qualities,
        scale=scale,
        noise=noise,
        noise_seed=int(rng.integers(2**31)),
        link=link,
    )


__all__ = [
    "AdditiveGame",
    "AirportGame",
    "GloveGame",
    "OracleGame",
    "SaturatingGame",
    "UnanimityGame",
    "WeightedVotingGame",
    "fl_game",
]

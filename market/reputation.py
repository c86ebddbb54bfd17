"""The marketplace's one reputation policy: beta reputation with forgetting and exclusion.

Beta reputation (Josang & Ismail 2002, "The beta reputation system", Bled eCommerce
Conference): each identity holds positive evidence ``alpha`` and negative evidence ``beta``;
its reputation is the posterior mean ``(alpha + 1) / (alpha + beta + 2)``. Each scored round,
old evidence is discounted by ``forgetting`` and a participant adds ``r_i`` positive and
``1 - r_i`` negative evidence, with ``r_i = clip(phi_i / mean(phi_j > 0), 0, 1)``: at least the
average helpful contribution earns a full unit, nothing or harm earns a full negative unit.
A round in which nobody helped carries no evidence. A rejected update is a full negative unit
(:meth:`ReputationPolicy.penalise`). Once an identity has ``min_rounds`` scored rounds and its
reputation is below ``threshold`` it is excluded for good (``threshold = 0`` never excludes).

The state also keeps the *signed* track record that the cost cover of ``banzhaf_cover`` reads:
``harm`` accumulates ``clip(-phi_i / mean(phi_j > 0), 0, 1)`` (a rejected update: 1) with the
same forgetting, so :attr:`ReputationState.record` ``= (alpha - harm) / (alpha + beta)`` is the
discounted mean of ``s_i = clip(phi_i / mean(phi_j > 0), -1, 1)`` over the judged rounds (each
judged round adds exactly one unit to ``alpha + beta``): in ``[-1, 1]``, positive for a
participant that helped more than it harmed, 0 without evidence.

The state is plain arrays (:meth:`ReputationState.to_arrays` / :meth:`~ReputationState.
from_arrays`) so a checkpoint stores it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.arrays import array_copies, freeze, stored_fields
from market.checks import check_players, vector_pair
from market.types import BoolArray, FloatArray, IntArray


@dataclass(frozen=True, eq=False)
class ReputationState:
    """Reputation evidence of every identity.

    Attributes:
        alpha: accumulated positive evidence, shape ``(n,)``.
        beta: accumulated negative evidence, shape ``(n,)``.
        scored_rounds: rounds in which each identity was judged (scored or penalised).
        excluded: identities excluded from later rounds.
        harm: accumulated evidence of harm, ``clip(-phi / mean(phi_j > 0), 0, 1)`` per judged
            round, ``0 <= harm <= beta`` (default: none).
    """

    alpha: FloatArray
    beta: FloatArray
    scored_rounds: IntArray | None = None
    excluded: BoolArray | None = None
    harm: FloatArray | None = None

    def __post_init__(self) -> None:
        alpha, beta = vector_pair(
            self.alpha, self.beta, "reputation alpha and beta must be 1-D arrays of equal shape"
        )
        if np.any(alpha < 0) or np.any(beta < 0) or not np.all(np.isfinite(alpha + beta)):
            raise ValueError("reputation alpha and beta must be finite and >= 0")
        n = alpha.shape
        rounds = np.zeros(n, np.int64) if self.scored_rounds is None else self.scored_rounds
        excluded = np.zeros(n, bool) if self.excluded is None else self.excluded
        rounds = np.array(rounds, dtype=np.int64)
        excluded = np.array(excluded, dtype=bool)
        if rounds.shape != n or excluded.shape != n or np.any(rounds < 0):
            raise ValueError(f"reputation scored_rounds and excluded must have shape {n}")
        harm = np.zeros(n) if self.harm is None else np.array(self.harm, dtype=np.float64)
        if harm.shape != n or np.any(harm < 0) or np.any(harm > beta * (1 + 1e-9) + 1e-12):
            raise ValueError(f"reputation harm must have shape {n} and lie in [0, beta]")
        freeze(self, alpha=alpha, beta=beta, scored_rounds=rounds, harm=harm, excluded=excluded)

    @classmethod
    def initial(cls, n_players: int) -> ReputationState:
        """No evidence: every reputation is 1/2, nobody excluded."""
        check_players(n_players)
        return cls(alpha=np.zeros(n_players), beta=np.zeros(n_players))

    @property
    def n_players(self) -> int:
        """Number of identities covered."""
        return int(self.alpha.size)

    @property
    def scores(self) -> FloatArray:
        """Expected reputation ``(alpha + 1) / (alpha + beta + 2)`` in ``(0, 1)``."""
        out: FloatArray = (self.alpha + 1.0) / (self.alpha + self.beta + 2.0)
        return out

    @property
    def record(self) -> FloatArray:
        """Signed track record ``(alpha - harm) / (alpha + beta)`` in ``[-1, 1]``: the discounted
        mean of ``clip(phi / mean(phi_j > 0), -1, 1)`` over judged rounds (0 without evidence)."""
        assert self.harm is not None  # set in __post_init__
        weight = self.alpha + self.beta
        safe = np.where(weight > 0, weight, 1.0)
        out: FloatArray = np.where(weight > 0, (self.alpha - self.harm) / safe, 0.0)
        return out

    @property
    def excluded_mask(self) -> BoolArray:
        """``excluded`` as a (never ``None``) bool array."""
        assert self.excluded is not None  # set in __post_init__
        return self.excluded

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as plain arrays (for a checkpoint)."""
        return array_copies(self, ("alpha", "beta", "scored_rounds", "excluded", "harm"))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ReputationState:
        """Rebuild a state written by :meth:`to_arrays` (``harm`` optional: older checkpoints)."""
        required = ("alpha", "beta", "scored_rounds", "excluded")
        return cls(**stored_fields("reputation", arrays, required, ("harm",)))


def signed_evidence(contributions: FloatArray, participants: BoolArray) -> FloatArray | None:
    """``clip(phi_i / mean(phi_j > 0), -1, 1)`` for participants (0 for the others): a full
    unit for at least the average helpful contribution, minus a full unit for harming as much;
    ``None`` if nobody helped (the round carries no evidence)."""
    phi = np.where(participants, contributions, 0.0)
    helpful = phi[participants & (phi > 0)]
    if helpful.size == 0:
        return None
    out: FloatArray = np.clip(phi / float(helpful.mean()), -1.0, 1.0)
    return out


@dataclass(frozen=True)
class ReputationPolicy:
    """How contributions become reputation, and when an identity is excluded.

    Args:
        forgetting: discount of past evidence per judged round, in ``(0, 1]``.
        threshold: reputation below which a judged identity is excluded, in ``[0, 1)``;
            0 never excludes.
        min_rounds: judged rounds before an identity can be excluded, ``>= 1``.
    """

    forgetting: float = 0.9
    threshold: float = 0.0
    min_rounds: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.forgetting <= 1.0:
            raise ValueError(f"reputation forgetting must be in (0, 1], got {self.forgetting}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"reputation threshold must be in [0, 1), got {self.threshold}")
        if isinstance(self.min_rounds, bool) or int(self.min_rounds) != self.min_rounds:
            raise ValueError(f"reputation min_rounds must be an integer, got {self.min_rounds}")
        if self.min_rounds < 1:
            raise ValueError(f"reputation min_rounds must be >= 1, got {self.min_rounds}")

    def initial(self, n_players: int) -> ReputationState:
        """The state of ``n_players`` identities with no evidence."""
        return ReputationState.initial(n_players)

    def evidence(self, contributions: FloatArray, participants: BoolArray) -> FloatArray | None:
        """Positive evidence ``clip(phi / mean(phi_j > 0), 0, 1)``; ``None`` if nobody helped."""
        signed = signed_evidence(contributions, participants)
        if signed is None:
            return None
        out: FloatArray = np.clip(signed, 0.0, 1.0)
        return out

    def observe(
        self, state: ReputationState, contributions: FloatArray, participants: BoolArray
    ) -> ReputationState:
        """The state after a scored round (``participants``: who was scored)."""
        phi, mask = _check(state, contributions, participants)
        signed = signed_evidence(phi, mask)
        if signed is None:
            return state
        return self._judge(state, np.clip(signed, 0.0, 1.0), mask, np.clip(-signed, 0.0, 1.0))

    def penalise(self, state: ReputationState, mask: BoolArray) -> ReputationState:
        """The state after the updates of ``mask`` were rejected (full negative evidence)."""
        _, rejected = _check(state, np.zeros(state.n_players), mask)
        if not rejected.any():
            return state
        return self._judge(state, np.zeros(state.n_players), rejected, np.ones(state.n_players))

    def _judge(
        self, state: ReputationState, positive: FloatArray, mask: BoolArray, harm: FloatArray
    ) -> ReputationState:
        alpha = self.forgetting * state.alpha + np.where(mask, positive, 0.0)
        beta = self.forgetting * state.beta + np.where(mask, 1.0 - positive, 0.0)
        assert state.scored_rounds is not None and state.harm is not None
        harms = self.forgetting * state.harm + np.where(mask, harm, 0.0)
        rounds = state.scored_rounds + mask
        excluded = state.excluded_mask.copy()
        if self.threshold > 0:
            scores = (alpha + 1.0) / (alpha + beta + 2.0)
            excluded |= (rounds >= self.min_rounds) & (scores < self.threshold)
        return ReputationState(
            alpha=alpha, beta=beta, scored_rounds=rounds, excluded=excluded, harm=harms
        )


def _check(
    state: ReputationState, contributions: FloatArray, participants: BoolArray
) -> tuple[FloatArray, BoolArray]:
    n = state.n_players
    phi = np.asarray(contributions, dtype=np.float64)
    mask = np.asarray(participants)
    if phi.shape != (n,):
        raise ValueError(f"contributions must have shape ({n},), got {phi.shape}")
    if mask.shape != (n,) or mask.dtype != np.bool_:
        raise ValueError(f"participants must be a bool array of shape ({n},)")
    if not np.all(np.isfinite(phi[mask])):
        raise ValueError("contributions of participants must be finite")
    return np.where(mask, phi, 0.0), mask


__all__ = ["ReputationPolicy", "ReputationState", "signed_evidence"]

"""Differential privacy in a run: the compiled ``[privacy.dp]`` settings and one round's
noise shares and releases (the mechanism and its accounting: :mod:`privacy.dp`).

Every included client's update is clipped to L2 norm ``clip`` (times its own clip factor, the
menu choice of :mod:`agents.participants`) and scaled by its FedAvg weight over the round's
largest weight (so its sensitivity stays within ``clip``); each gets one noise share per
round, drawn from the run's DP stream. Every sum released that round -- the model's, and
each coalition sum scoring evaluates -- carries its members' shares, and is recorded, so
that the round's ``mu^2`` per participant follows exactly from the releases
(:func:`privacy.dp.round_mu_squared`).

What DP covers: the released model and everything computed from noised sums (coalition
utilities, hence contribution scores and value-based pay). What it does not: a declared
reader's plaintext reads (the validity and free-rider screens, replica grouping, estimators
that read update vectors read the noised ones only), which the update store counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from privacy import dp as dp_math


@dataclass(frozen=True)
class DifferentialPrivacy:
    """A run's client-level DP (DP-FedAvg with distributed noise shares).

    Attributes:
        noise_multiplier: ``z``: any released sum of ``t`` or more clients carries noise of
            std ``>= z * clip`` (solved from ``epsilon`` unless the scenario fixes it).
        clip: the L2 bound on each client's update.
        delta: the ``delta`` every epsilon is reported at.
        epsilon: the target (``nan`` where ``z`` was given).
        secure: whether the shares are added by the clients before masking.
        scoring_multiplier: ``z`` of scoring's own noise shares (``None``: scoring's coalition
            sums carry the model's shares).
    """

    noise_multiplier: float
    clip: float
    delta: float
    epsilon: float = float("nan")
    secure: bool = False
    scoring_multiplier: float | None = None

    @classmethod
    def solve(
        cls,
        *,
        epsilon: float,
        delta: float,
        clip: float,
        rounds: int,
        t_max: int,
        covers: str,
        scoring_share: float = 0.0,
    ) -> DifferentialPrivacy:
        """``z`` for a participant included every round to spend ``epsilon``: the model's sum
        alone is at most ``1/z``-GDP per round; releases that determine its noised update are
        ``sqrt(t)/z``-GDP, so ``covers = "scoring"`` solves for ``t = t_max``.

        With a ``scoring_share`` f > 0 scoring gets its own noise: the model's shares spend
        ``1 - f`` of the budget's ``mu^2`` and scoring's (which its coalition sums may
        determine) the rest, whatever ``covers`` says."""
        z = dp_math.noise_multiplier_for(epsilon, delta, rounds)
        if scoring_share > 0:
            return cls(
                noise_multiplier=z / math.sqrt(1 - scoring_share),
                clip=clip,
                delta=delta,
                epsilon=epsilon,
                scoring_multiplier=z * math.sqrt(t_max / scoring_share),
            )
        if covers == "scoring":
            z *= math.sqrt(t_max)
        return cls(noise_multiplier=z, clip=clip, delta=delta, epsilon=epsilon)

    def epsilon_of(self, mu_squared: float) -> float:
        """The epsilon at ``delta`` of a ``sqrt(mu_squared)``-GDP guarantee."""
        return dp_math.epsilon_of(mu_squared, self.delta)

    def round_noise(
        self,
        pids: Sequence[int],
        clip_factors: Sequence[float],
        t: int,
        dimension: int,
        rng: np.random.Generator,
        *,
        step: float = 0.0,
    ) -> RoundNoise:
        """One round's shares for the included ``pids`` (drawn in pid order from ``rng``;
        scoring's own shares, where it has them, after the model's)."""
        factors = dict(zip(pids, clip_factors, strict=True))

        rounded = dp_math.rounding(dimension, step)

        def draw(z: float) -> RoundNoise:
            std = dp_math.share_std(z, self.clip, t, dimension=dimension, step=step)
            shares = {pid: rng.normal(0.0, std, dimension) for pid in sorted(pids)}
            return RoundNoise(self, z, t, std, shares, factors, rounded=rounded)

        noise = draw(self.noise_multiplier)
        if self.scoring_multiplier is not None:
            noise.own_scoring = draw(self.scoring_multiplier)
        return noise


@dataclass
class RoundNoise:
    """One round's noise shares (of multiplier ``z``), clip factors and releases (sets of
    pids); ``scoring`` is the family scoring's coalition sums carry (itself by default)."""

    dp: DifferentialPrivacy
    z: float
    t: int
    std: float
    shares: dict[int, np.ndarray]
    clip_factors: dict[int, float]
    releases: list[frozenset[int]] = field(default_factory=list)
    own_scoring: RoundNoise | None = None
    rounded: float = 0.0
    """How far rounding to the secure sum's grid can move an update (0 in the clear): the
    noise covers ``clip + rounded``, an update held to ``c * clip`` moves it by
    ``c * clip + rounded`` at most."""

    @property
    def scoring(self) -> RoundNoise:
        """The shares scoring's coalition sums carry."""
        return self.own_scoring if self.own_scoring is not None else self

    @property
    def released(self) -> int:
        """Noised sums released this round, in every family."""
        extra = len(self.own_scoring.releases) if self.own_scoring is not None else 0
        return len(self.releases) + extra

    def clipped(self, pid: int, update: np.ndarray) -> np.ndarray:
        """``update`` held to L2 norm ``clip`` times its clip factor."""
        return dp_math.clip_l2(update, self.dp.clip * self.clip_factors[pid])

    def release(self, pids: Sequence[int]) -> None:
        """Record that a sum over ``pids`` left the noise's protection."""
        self.releases.append(frozenset(int(p) for p in pids))

    def mu_squared(self, pids: Sequence[int]) -> dict[int, float]:
        """Each of ``pids``' ``mu^2`` from this round's releases (both families)."""
        position = {pid: i for i, pid in enumerate(pids)}
        releases = [frozenset(position[p] for p in r if p in position) for r in self.releases]
        factors = [
            dp_math.sensitivity_ratio(self.clip_factors.get(pid, 1.0), self.dp.clip, self.rounded)
            for pid in pids
        ]
        values = dp_math.round_mu_squared(
            releases, len(pids), z=self.z, t=self.t, clip_factors=factors
        )
        if self.own_scoring is not None:  # independent noise: the mechanisms compose
            scoring = self.own_scoring.mu_squared(pids)
            values = values + np.array([scoring[pid] for pid in pids])
        return {pid: float(v) for pid, v in zip(pids, values, strict=True)}


@dataclass
class PrivacyAccount:
    """What one identity has given up so far.

    Attributes:
        clip_factor: the share of ``clip`` its update is held to (1: the scenario's clip; a
            smaller factor spends less epsilon per release and carries less signal).
        mu_squared: its GDP ``mu^2`` over the run so far (Gaussian mechanisms add ``mu^2``).
        epsilon_round: the epsilon of this round's releases alone.
        epsilon: its epsilon so far, at the run's delta.
    """

    clip_factor: float = 1.0
    mu_squared: float = 0.0
    epsilon_round: float = 0.0
    epsilon: float = 0.0

    def book(self, dp: DifferentialPrivacy, mu_squared: float) -> None:
        """Add a round's ``mu^2`` and update both epsilons."""
        self.mu_squared += mu_squared
        self.epsilon_round = dp.epsilon_of(mu_squared)
        self.epsilon = dp.epsilon_of(self.mu_squared)

    def state_dict(self) -> dict[str, float]:
        return {
            "clip_factor": self.clip_factor,
            "mu_squared": self.mu_squared,
            "epsilon": self.epsilon,
        }

    @classmethod
    def from_state(cls, state: dict[str, float] | None) -> PrivacyAccount:
        """Its state from a checkpoint (a fresh account for one without)."""
        if not state:
            return cls()
        return cls(
            clip_factor=float(state["clip_factor"]),
            mu_squared=float(state["mu_squared"]),
            epsilon=float(state["epsilon"]),
        )


def book_round(noise: RoundNoise, accounts: dict[int, PrivacyAccount]) -> float:
    """Book the round's releases on every account (``pid -> account``; those in no release
    spend nothing) and return the largest epsilon any account has spent so far."""
    pids = sorted(accounts)
    spent = noise.mu_squared(pids)
    for pid in pids:
        accounts[pid].book(noise.dp, spent[pid])
    return max((a.epsilon for a in accounts.values()), default=0.0)

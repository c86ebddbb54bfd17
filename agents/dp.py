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
    """

    noise_multiplier: float
    clip: float
    delta: float
    epsilon: float = float("nan")
    secure: bool = False

    @classmethod
    def solve(
        cls, *, epsilon: float, delta: float, clip: float, rounds: int, t_max: int, covers: str
    ) -> DifferentialPrivacy:
        """``z`` for a participant included every round to spend ``epsilon``: the model's sum
        alone is at most ``1/z``-GDP per round; releases that determine its noised update are
        ``sqrt(t)/z``-GDP, so ``covers = "scoring"`` solves for ``t = t_max``."""
        z = dp_math.noise_multiplier_for(epsilon, delta, rounds)
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
        """One round's shares for the included ``pids`` (drawn in pid order from ``rng``)."""
        std = dp_math.share_std(self.noise_multiplier, self.clip, t, dimension=dimension, step=step)
        shares = {pid: rng.normal(0.0, std, dimension) for pid in sorted(pids)}
        factors = dict(zip(pids, clip_factors, strict=True))
        return RoundNoise(self, t, std, shares, factors)


@dataclass
class RoundNoise:
    """One round's noise shares, clip factors and releases (sets of pids)."""

    dp: DifferentialPrivacy
    t: int
    std: float
    shares: dict[int, np.ndarray]
    clip_factors: dict[int, float]
    releases: list[frozenset[int]] = field(default_factory=list)

    def clipped(self, pid: int, update: np.ndarray) -> np.ndarray:
        """``update`` held to L2 norm ``clip`` times its clip factor."""
        return dp_math.clip_l2(update, self.dp.clip * self.clip_factors[pid])

    def release(self, pids: Sequence[int]) -> None:
        """Record that a sum over ``pids`` left the noise's protection."""
        self.releases.append(frozenset(int(p) for p in pids))

    def mu_squared(self, pids: Sequence[int]) -> dict[int, float]:
        """Each of ``pids``' ``mu^2`` from this round's releases."""
        position = {pid: i for i, pid in enumerate(pids)}
        releases = [frozenset(position[p] for p in r if p in position) for r in self.releases]
        factors = [self.clip_factors.get(pid, 1.0) for pid in pids]
        values = dp_math.round_mu_squared(
            releases, len(pids), z=self.dp.noise_multiplier, t=self.t, clip_factors=factors
        )
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

"""How a participant decides to join a round, and what it learns from the outcome.

A :class:`JoinPolicy` holds no state: a participant keeps its own ``belief`` (a plain dict,
checkpointed with it) and the policy reads and updates it. Each round the participant is
available in, the policy sees the profit it expects from joining (its private cost
included), then the outcome:

* ``profit``: what joining earned (pay less cost), when it joined;
* ``foregone``: what joining would have earned, less its expected cost: its own past pay
  once it has joined, before that the platform's posted pay per metered example
  (:attr:`agents.model.MarketModel.posted_rate`) times the examples it would train on
  (:meth:`agents.participants.ParticipantAgent.foregone_profit`; ``nan`` while nothing is
  known). This is how a participant that stays out learns what its data are worth
  without paying to find out;
* ``reservation``: the outside option, earned by staying out.

Policies are registered by name in :data:`JOIN_POLICIES` (``economics.join_policy``); a
user's subclass registered with :func:`register_join_policy` works from TOML like these.
Register it at import time of a module (not under ``if __name__ == "__main__":``): the
``process`` and ``ray`` sweep backends build scenarios in fresh interpreters.
``market.exploration`` applies to ``ema`` only; the others explore through their own rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from market.registry import Registry

Belief = dict[str, Any]


@dataclass(frozen=True)
class JoinOutcome:
    """One available round's outcome, from the participant's point of view."""

    joined: bool
    reward: float
    profit: float
    foregone: float
    reservation: float


@dataclass(frozen=True)
class JoinSituation:
    """What a participant weighs when it decides to join a round.

    Attributes:
        expected_cost: its private cost of a round of training.
        reservation: its outside option (earned by staying out).
        exploration: the chance to join anyway (``market.exploration``; ``ema`` only).
        prior_reward: what a newcomer expects joining to pay (an even share of the budget).
    """

    expected_cost: float
    reservation: float
    exploration: float = 0.0
    prior_reward: float = 0.0


class JoinPolicy:
    """A rule for joining; subclasses set ``name`` and implement the three methods."""

    name: ClassVar[str] = ""

    def __init__(self, **settings: float) -> None:
        self.settings = settings

    def initial_belief(self, situation: JoinSituation) -> Belief:
        """The belief of a newcomer that expects ``situation.prior_reward`` from joining."""
        raise NotImplementedError

    def decide(self, belief: Belief, situation: JoinSituation, rng: np.random.Generator) -> bool:
        """Whether to join this round (draw only from ``rng``)."""
        raise NotImplementedError

    def learn(self, belief: Belief, outcome: JoinOutcome) -> None:
        """Update ``belief`` in place after an available round."""
        raise NotImplementedError

    @staticmethod
    def expected_reward(belief: Belief) -> float:
        """What the participant now expects joining to pay (for the tables)."""
        return float(belief.get("expected_reward", math.nan))


class MovingAverage(JoinPolicy):
    """Join when an exponential moving average of past rewards covers cost plus outside
    option, or with probability ``exploration`` anyway (a bandit-style rule; learns only
    from rounds it joined)."""

    name = "ema"

    def initial_belief(self, situation: JoinSituation) -> Belief:
        return {"expected_reward": float(situation.prior_reward)}

    def decide(self, belief: Belief, situation: JoinSituation, rng: np.random.Generator) -> bool:
        explore = bool(rng.random() < situation.exploration)
        return (
            explore or belief["expected_reward"] - situation.expected_cost >= situation.reservation
        )

    def learn(self, belief: Belief, outcome: JoinOutcome) -> None:
        if outcome.joined:
            rate = float(self.settings["learning_rate"])
            belief["expected_reward"] = (1 - rate) * belief[
                "expected_reward"
            ] + rate * outcome.reward


class ExperienceWeightedAttraction(JoinPolicy):
    """Experience-weighted attraction (Camerer & Ho 1999, "Experience-weighted attraction
    learning in normal form games", Econometrica 67(4)).

    Two strategies, join and stay out, with attractions ``A`` and experience ``N``:
    ``N <- rho N + 1``; ``A_j <- (phi N_old A_j + (delta + (1 - delta) [j chosen]) pi_j) / N``;
    join with the logit probability ``1 / (1 + exp(-lambda (A_join - A_out)))``. The payoff
    of staying out is the reservation; the payoff of joining when out is the foregone
    estimate (while nothing is known, its attraction stays as it is). ``delta = 0`` is
    reinforcement learning, ``delta = 1`` belief learning.
    """

    name = "ewa"

    def initial_belief(self, situation: JoinSituation) -> Belief:
        return {
            "experience": 1.0,
            "attraction_join": float(situation.prior_reward - situation.expected_cost),
            "attraction_out": float(situation.reservation),
            "expected_reward": float(situation.prior_reward),
        }

    def decide(self, belief: Belief, situation: JoinSituation, rng: np.random.Generator) -> bool:
        lam = float(self.settings["ewa_lambda"])
        edge = lam * (belief["attraction_join"] - belief["attraction_out"])
        probability = 1.0 / (1.0 + math.exp(-max(min(edge, 700.0), -700.0)))
        return bool(rng.random() < probability)

    def learn(self, belief: Belief, outcome: JoinOutcome) -> None:
        phi, delta, rho = (float(self.settings[k]) for k in ("ewa_phi", "ewa_delta", "ewa_rho"))
        old = belief["experience"]
        new = rho * old + 1.0
        payoff = {"attraction_out": (not outcome.joined, outcome.reservation)}
        join_payoff = outcome.profit if outcome.joined else outcome.foregone
        payoff["attraction_join"] = (outcome.joined, join_payoff)
        for key, (chosen, value) in payoff.items():
            if not math.isfinite(value):
                continue  # nothing known of this action's payoff: its attraction stays
            weight = 1.0 if chosen else delta
            belief[key] = (phi * old * belief[key] + weight * value) / new
        belief["experience"] = new
        if outcome.joined:
            belief["expected_reward"] = outcome.reward


class RegretMatching(JoinPolicy):
    """Regret matching (Hart & Mas-Colell 2000, "A simple adaptive procedure leading to
    correlated equilibrium", Econometrica 68(5)), on unconditional regrets: the variant
    whose play approaches the Hannan set (coarse correlated equilibria), not the
    conditional one that approaches correlated equilibria.

    The regret of an action is the summed payoff it would have earned minus what was
    earned; join with probability ``R+_join / (R+_join + R+_out)``, and repeat the last
    choice while no regret is positive (a newcomer joins when its prior profit beats the
    outside option). Foregone payoffs as in :class:`ExperienceWeightedAttraction`.
    """

    name = "regret"

    def initial_belief(self, situation: JoinSituation) -> Belief:
        return {
            "regret_join": 0.0,
            "regret_out": 0.0,
            "last_joined": bool(
                situation.prior_reward - situation.expected_cost >= situation.reservation
            ),
            "expected_reward": float(situation.prior_reward),
        }

    def decide(self, belief: Belief, situation: JoinSituation, rng: np.random.Generator) -> bool:
        join, out = max(belief["regret_join"], 0.0), max(belief["regret_out"], 0.0)
        draw = rng.random()
        if join + out <= 0:
            return bool(belief["last_joined"])
        return bool(draw < join / (join + out))

    def learn(self, belief: Belief, outcome: JoinOutcome) -> None:
        join = outcome.profit if outcome.joined else outcome.foregone
        if math.isfinite(join):
            earned = join if outcome.joined else outcome.reservation
            belief["regret_join"] += join - earned
            belief["regret_out"] += outcome.reservation - earned
        belief["last_joined"] = outcome.joined
        if outcome.joined:
            belief["expected_reward"] = outcome.reward


JOIN_POLICIES: Registry[JoinPolicy] = Registry(
    "join policy",
    {cls.name: cls for cls in (MovingAverage, ExperienceWeightedAttraction, RegretMatching)},
    base=JoinPolicy,
)
"""Join policies by ``economics.join_policy`` name."""


def register_join_policy(cls: type[JoinPolicy], *, replace: bool = False) -> type[JoinPolicy]:
    """Register a :class:`JoinPolicy` subclass under its ``name`` (usable as a decorator).

    Raises:
        ValueError: not a subclass with a ``name``, or the name is taken (see
            :meth:`market.Registry.register`).
    """
    if not (isinstance(cls, type) and issubclass(cls, JoinPolicy) and cls.name):
        raise ValueError("register a JoinPolicy subclass with a non-empty class attribute 'name'")
    JOIN_POLICIES.register(cls.name, cls, replace=replace)
    return cls


def make_join_policy(name: str, **settings: float) -> JoinPolicy:
    """The registered policy ``name`` with its settings."""
    return JOIN_POLICIES.make(name, **settings)

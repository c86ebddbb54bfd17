"""Participant agents: data, compute, cost, a strategy, and the decision to join a round.

Each participant holds a shard of the training pool (its size, class mix and label noise
come from its group), a compute speed (samples per second), an availability, a cost per
round of training, and a strategy (:mod:`agents.strategies`: honest, free rider, noisy,
poisoner, Sybil, colluder, copycat, replay, plagiarist, lazy, or a registered plug-in),
which decides what it sends. The platform never sees the strategy: it sees an update, a bid
(``declared_cost``) and a declared data size (``declared_size``).

Misreporting (any strategy): the bid is ``bid_factor`` times the true cost and the declared
size ``size_factor`` times the true size; the auction selects on the declared values, while
the cost actually incurred, the training and the aggregation weight (the metered samples
processed, :func:`agents.metering.metered_weight`) use the truth. A participant with
``join_round > 1`` is unavailable before that round (a late joiner).

Joining follows the scenario's :class:`agents.join_policies.JoinPolicy` (``economics``):
by default a bandit-style rule (with probability ``exploration`` it joins anyway, otherwise
when a moving average of its rewards, starting from an even share of the round budget,
covers its cost and outside option); experience-weighted attraction and regret matching
also learn from the pay the platform posts.

Economics (``[economics]``): a round of training costs the group's fixed ``cost`` plus
``compute_price`` per simulated second (``samples / speed``) plus ``data_price`` per distinct
example trained on, all times a private factor drawn per owner (``cost_spread``). The
platform meters the same formula without the private factor (``metered_cost``): it can
verify the work, not a participant's private valuation of it. Under differential privacy
the epsilon it spends costs it a private price per unit (``privacy_price``), which the
platform cannot meter (:mod:`agents.privacy_economics`, with the epsilon menu). Staying out
earns the ``reservation``; an identity that keeps losing money leaves (``exit_after``), and
``entrants`` arrive after round 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from agents import privacy_economics as pe
from agents.dp import PrivacyAccount
from agents.join_policies import Belief, JoinOutcome, JoinPolicy, JoinSituation
from agents.metering import distinct_examples
from agents.validity import update_fault
from fl_core.optimizer_state import state_from_numpy, state_to_numpy

if TYPE_CHECKING:
    from agents.identities import IdentitySpec
    from agents.strategies import Strategy
    from fl_core.training import LocalResult


class ParticipantAgent(mesa.Agent):  # type: ignore[misc]  # mesa ships no type stubs
    """One identity the platform sees."""

    def __init__(
        self,
        model: mesa.Model,
        spec: IdentitySpec,
        shard: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
        cost_factor: float,
        arrival_round: int,
        quality: float,
        *,
        prior_reward: float,
        exploration: float,
        policy: JoinPolicy,
        behaviour: Strategy,
        privacy_price: float = 0.0,
    ) -> None:
        super().__init__(model)
        group = spec.group
        self.pid = spec.pid
        self.owner = spec.owner
        self.group = group.name
        self.strategy = group.strategy  # its name (the participants table's column)
        self.behaviour = behaviour  # what it does (agents.strategies)
        self.params = group
        self.shard = shard
        self.labels = labels
        self.speed = spec.speed
        self.cost = spec.cost
        self.availability = group.availability
        self.exploration = exploration
        self.stream = rng
        self.cost_factor = float(cost_factor)  # private: the platform never sees it
        self.arrival_round = int(arrival_round)
        self.quality = float(quality)  # share of its labels that are right
        self.policy = policy
        self.privacy_price = float(privacy_price)  # private: its price per unit of epsilon
        self.privacy = PrivacyAccount(clip_factor=pe.initial_clip_factor(model.plan))
        self.belief: Belief = policy.initial_belief(
            JoinSituation(self.expected_cost, self.reservation, prior_reward=prior_reward)
        )
        self.left = False  # it left the market for good (``economics.exit_after``)
        self.losing_streak = 0
        self.reward_estimate = 0.0  # its own pay when it joined (moving average)
        self.rewards_seen = 0
        self.optimizer_state: dict[str, Any] | None = None
        self.cumulative_reward = 0.0
        self.cumulative_cost = 0.0
        self.rounds_joined = 0
        self.last_sent: np.ndarray | None = None  # the update it sent when last included
        self.reset_round()

    # ----- checkpoint state -----
    def state_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream.bit_generator.state,
            "belief": dict(self.belief),
            "left": self.left,
            "losing_streak": self.losing_streak,
            "reward_estimate": self.reward_estimate,
            "rewards_seen": self.rewards_seen,
            "optimizer_state": state_to_numpy(self.optimizer_state),  # no torch in a checkpoint
            "cumulative_reward": self.cumulative_reward,
            "cumulative_cost": self.cumulative_cost,
            "rounds_joined": self.rounds_joined,
            "last_sent": self.last_sent,
            "privacy": self.privacy.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stream.bit_generator.state = state["stream"]
        self.belief = dict(state["belief"])
        self.left = bool(state["left"])
        self.losing_streak = int(state["losing_streak"])
        self.reward_estimate = float(state["reward_estimate"])
        self.rewards_seen = int(state["rewards_seen"])
        self.optimizer_state = state_from_numpy(state["optimizer_state"])
        self.cumulative_reward = float(state["cumulative_reward"])
        self.cumulative_cost = float(state["cumulative_cost"])
        self.rounds_joined = int(state["rounds_joined"])
        self.last_sent = state.get("last_sent")
        self.privacy = PrivacyAccount.from_state(state.get("privacy"))

    # ----- per-round bookkeeping -----
    def reset_round(self) -> None:
        self.available = False
        self.joined = False
        self.selected = False
        self.included = False
        self.exposed = False  # the server saw its individual update this round
        self.privacy.epsilon_round = 0.0
        self.epsilon_at_start = self.privacy.epsilon  # what it had spent before this round
        self.privacy_cost_incurred = 0.0  # its price times the epsilon booked this round
        self.straggler = False
        self.dropped_stage = ""
        self.rejected_reason = ""
        self.samples = 0
        self.update: np.ndarray | None = None
        self.contribution = float("nan")
        self.payment_value = float("nan")
        self.reward = 0.0
        self.cost_incurred = 0.0
        self.metered_cost = 0.0  # the platform's meter: the cost without the private factor
        self.compute_seconds = 0.0
        self.trained_update: np.ndarray | None = None  # what it trained, before any copying
        self.examples_trained = 0  # distinct examples its training could draw on this round
        self.in_market = False  # arrived and not left, as the round starts

    @property
    def trains(self) -> bool:
        """Whether this participant spends compute on real training."""
        return self.behaviour.trains

    @property
    def samples_per_second(self) -> float:
        """Its training speed this round (a lazy participant stops after ``lazy_samples``)."""
        return self.behaviour.samples_per_second(self, self._deadline_s)

    @property
    def _deadline_s(self) -> float:
        return float(self.model.scenario.train.deadline_s)

    @property
    def copies_peers(self) -> bool:
        """A replicating Sybil identity or a colluder: it may send a peer's update."""
        return self.behaviour.copies_from() is not None

    def check_own_update(self, size: int, bound: float) -> str:
        """The client-side validity check before masking (:mod:`agents.validity`): why its
        own update may not be sent (``""``: it may). A poisoner, which deviates on purpose,
        skips it and sends its update anyway (the check only stops faulty clients)."""
        if not self.behaviour.checks_own_update or self.update is None:
            return ""
        return update_fault(self.update, size, bound)

    @property
    def economics(self) -> Any:
        return self.model.scenario.economics

    @property
    def reservation(self) -> float:
        """The outside option: what a round spent out of the market earns it (an owner's,
        shared by its identities like its cost)."""
        return float(self.economics.reservation) / self.params.identities

    @property
    def expected_reward(self) -> float:
        """What it now expects joining to pay (its join policy's belief)."""
        return self.policy.expected_reward(self.belief)

    def expected_samples(self) -> int:
        """Samples it would train on in a round: its compute bound or its epochs' worth."""
        from fl_core.training import sample_budget

        scenario = self.model.scenario
        return sample_budget(
            self.samples_per_second, scenario.train, len(self.shard), scenario.model.mode
        )

    def round_cost(self, samples: int, examples: int, share: float = 1.0) -> float:
        """The metered cost of a round that trained ``samples`` samples on ``examples``
        distinct examples (``share``: the part of the fixed cost spent, for a lazy one)."""
        economics = self.economics
        cost = self.cost * share
        if economics.compute_price:  # seconds on the owner's hardware, whatever its pace
            cost += economics.compute_price * samples / self.params.speed
        if economics.data_price:
            cost += economics.data_price * min(samples, examples)
        return cost

    def privacy_cost(self, clip_factor: float | None = None) -> float:
        """What the epsilon a round would spend costs it (its private price times the
        expected increase of its epsilon; 0 without DP or at price 0):
        :func:`agents.privacy_economics.expected_privacy_cost`."""
        return pe.expected_privacy_cost(self, clip_factor)

    def charge_privacy(self) -> None:
        """Add its price times the epsilon booked this round to its realised cost."""
        self.privacy_cost_incurred = pe.realised_privacy_cost(self)
        self.cost_incurred += self.privacy_cost_incurred

    @property
    def expected_cost(self) -> float:
        """Its private cost of a round of training, the epsilon it would spend included (0 for
        one that does not train)."""
        if not self.trains:
            return 0.0
        plain = self.cost
        if self.economics.compute_price or self.economics.data_price:
            plain = self.round_cost(self.expected_samples(), len(self.shard))
        return plain * self.cost_factor + self.privacy_cost()

    def foregone_profit(self) -> float:
        """What joining this round would have earned it, less its expected cost.

        Its own experience once it has any (a moving average of the pay of the rounds it
        joined, at ``market.learning_rate``); before that, the platform's posted pay per
        metered example times the examples it would have trained on: how a newcomer learns
        what its data are worth without paying to find out (``nan`` before anything is
        posted, and for one that does not train).
        """
        if not self.trains:
            return float("nan")
        if self.rewards_seen:
            return self.reward_estimate - self.expected_cost
        rate = float(self.model.posted_rate)
        if not np.isfinite(rate):
            return float("nan")
        metered = min(self.expected_samples(), len(self.shard))
        return rate * metered - self.expected_cost

    def _remember_pay(self) -> None:
        """Update its own pay estimate after a round it joined."""
        step = float(self.model.scenario.market.learning_rate) if self.rewards_seen else 1.0
        self.reward_estimate += step * (self.reward - self.reward_estimate)
        self.rewards_seen += 1

    @property
    def declared_cost(self) -> float:
        """Its bid: the cost it tells the platform (``bid_factor`` x the expected cost)."""
        return self.expected_cost * self.params.bid_factor

    @property
    def declared_size(self) -> float:
        """The data size it tells the platform (``size_factor`` x the true size)."""
        return float(len(self.shard)) * self.params.size_factor

    def _peers(self) -> list[ParticipantAgent]:
        """Selected identities this one copies from: its own owner's replicas, or its group's
        colluders; empty for other strategies."""
        same = self.behaviour.copies_from()
        if same is None:
            return []
        return sorted(
            (
                p
                for p in self.model.agents_by_type[type(self)]
                if p.selected and getattr(p, same) == getattr(self, same)
            ),
            key=lambda p: p.pid,
        )

    def noisy(self, vector: np.ndarray, relative: float) -> np.ndarray:
        """``vector`` plus Gaussian noise of norm about ``relative * |vector|``."""
        norm = float(np.linalg.norm(vector))
        if relative <= 0 or norm == 0:
            return vector.astype(np.float32).copy()
        sigma = relative * norm / np.sqrt(vector.size)
        return (vector + self.stream.normal(0.0, sigma, vector.size)).astype(np.float32)

    def decide(self) -> None:
        """Be available (by chance) and choose whether to join this round."""
        self.reset_round()
        self.available = bool(self.stream.random() < self.availability)
        arrived = self.model.round >= max(self.params.join_round, self.arrival_round)
        self.in_market = arrived and not self.left  # at the start of the round
        if not self.in_market:
            self.available = False
        if not self.available:
            return
        self.privacy.clip_factor = pe.choose_clip_factor(self)  # its epsilon-menu choice, if any
        situation = JoinSituation(self.expected_cost, self.reservation, self.exploration)
        self.joined = self.policy.decide(self.belief, situation, self.stream)

    def learn(self) -> None:
        """Update the expected reward from this round's outcome (only when it joined)."""
        if self.included and self.update is not None and self.model.keeps_sent:
            self.last_sent = np.asarray(self.update, dtype=np.float32).copy()
        if not self.available:
            return
        outcome = JoinOutcome(
            joined=self.joined,
            reward=self.reward,
            profit=self.profit,
            foregone=float("nan") if self.joined else self.foregone_profit(),
            reservation=self.reservation,
        )
        self.policy.learn(self.belief, outcome)
        if not self.joined:
            return
        self._remember_pay()
        self.cumulative_reward += self.reward
        self.cumulative_cost += self.cost_incurred
        self.rounds_joined += 1
        losing = self.profit < self.reservation
        self.losing_streak = self.losing_streak + 1 if losing else 0
        exit_after = self.economics.exit_after
        if exit_after and self.losing_streak >= exit_after:
            self.left = True

    @property
    def cumulative_profit(self) -> float:
        return self.cumulative_reward - self.cumulative_cost

    @property
    def profit(self) -> float:
        return self.reward - self.cost_incurred

    def train(self, task: Any, global_vector: np.ndarray, last_step: np.ndarray | None) -> None:
        """Produce this round's update according to the strategy (real local training)."""
        if not self.trains:
            self.samples = 0
            self.update = self.behaviour.untrained_update(self, global_vector, last_step)
            return
        peers = self._peers()
        shared = next((p.trained_update for p in peers if p.trained_update is not None), None)
        if shared is not None:  # a replica or colluder copies what its leader trained
            self.samples = 0
            self.update = self.noisy(shared, self.params.copy_noise)
            return
        shard, labels = self.shard, self.labels
        if self.behaviour.pools_data and peers:  # the leader trains on the pooled data
            shard = np.concatenate([p.shard for p in peers])
            labels = np.concatenate([p.labels for p in peers])
        self.examples_trained = distinct_examples(shard)
        self.receive(
            task.train_client(
                global_vector,
                shard,
                labels,
                samples_per_second=self.samples_per_second,
                rng=self.stream,
                optimizer_state=self.optimizer_state,
            )
        )

    def receive(self, result: LocalResult) -> None:
        """Take this round's local training result (from ``train`` or a batched trainer)."""
        self.optimizer_state = result.optimizer_state
        self.samples = result.samples_processed
        self.compute_seconds = result.compute_seconds
        share = self.behaviour.compute_share(self, self.samples, self._deadline_s)
        self.metered_cost = self.round_cost(self.samples, self.examples_trained, share)
        self.cost_incurred = self.metered_cost * self.cost_factor
        if result.straggler or result.delta is None:
            self.straggler = True
            return
        delta = self.behaviour.sent(self, result.delta)
        self.trained_update = delta
        self.update = delta

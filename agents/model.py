"""The Mesa 3 model of the marketplace: participants and a platform, one step per round.

``MarketModel(scenario=...)`` is seeded through Mesa's ``rng`` (from ``scenario.seed``);
every random choice draws from streams spawned from it: data allocation, each participant's
decisions and local training, secure-aggregation keys and dropouts, and the scoring
estimator. Rounds are staged over ``AgentSet``s (decide, train, screen, aggregate, score,
pay, learn); a ``DataCollector`` records model and agent reporters in ``__init__`` and every
``step``. ``mesa.batch_run(MarketModel, parameters={"scenario": [...]})`` works as well.
"""

from __future__ import annotations

import time
from typing import Any

import mesa
import numpy as np

from agents.participants import ParticipantAgent
from agents.platform import PlatformAgent
from agents.scenario import Scenario, ScenarioError
from fl_core import (
    DataConfig,
    FederatedTask,
    ModelConfig,
    TrainConfig,
    allocate,
    apply_update,
    flip_labels,
    stratified_subset,
)


def _task_configs(scenario: Scenario) -> tuple[DataConfig, ModelConfig, TrainConfig]:
    d, m, t = scenario.data, scenario.model, scenario.train
    own_file: dict[str, Any] = {}
    if d.dataset == "file":
        own_file = {
            "dataset": "file",
            "path": d.path,
            "text_column": d.text_column,
            "label_column": d.label_column,
            "positive_label": d.positive_label or None,
        }
    data = DataConfig(val_size=d.val_size, max_length=d.max_length, **own_file)
    model = ModelConfig(
        backbone=m.backbone,
        init=m.init,
        mode=m.mode,
        lora_rank=m.lora_rank,
        lora_alpha=m.lora_alpha,
        adapted_layers=m.adapted_layers,
        head_hidden=m.head_hidden,
    )
    train = TrainConfig(
        lr=t.lr,
        batch_size=t.batch_size,
        local_epochs=t.local_epochs,
        deadline_s=t.deadline_s,
        min_samples=t.min_samples,
        prox_mu=t.prox_mu,
    )
    return data, model, train


def check_compatible(scenario: Scenario) -> None:
    """Cross-section rules that no single section can check."""
    if scenario.privacy.secure_aggregation and scenario.train.aggregator != "fedavg":
        raise ScenarioError(
            f"train.aggregator: {scenario.train.aggregator!r} needs every update in the clear; "
            "use 'fedavg' with privacy.secure_aggregation = true"
        )
    if scenario.privacy.access == "secure_coalitions" and scenario.market.scoring == "cgsv":
        raise ScenarioError(
            "market.scoring: 'cgsv' reads individual updates; use a utility-based method "
            "with privacy.access = 'secure_coalitions'"
        )
    import market

    if scenario.market.scoring not in market.METHODS:
        raise ScenarioError(
            f"market.scoring: {scenario.market.scoring!r} is not one of {sorted(market.METHODS)}"
        )
    if scenario.market.mechanism not in market.MECHANISMS:
        raise ScenarioError(
            f"market.mechanism: {scenario.market.mechanism!r} is not one of "
            f"{sorted(market.MECHANISMS)}"
        )


class MarketModel(mesa.Model):  # type: ignore[misc]  # mesa ships no type stubs
    """The marketplace: participants join rounds of real federated fine-tuning."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        task: FederatedTask | None = None,
        seed: int | None = None,
        progress: bool = False,
        **_: Any,
    ) -> None:
        scenario = scenario or Scenario()
        if seed is not None and seed != scenario.seed:
            scenario = scenario.replace("seed", int(seed))
        check_compatible(scenario)
        super().__init__(rng=scenario.seed)
        self.scenario = scenario
        streams = self.rng.spawn(6)
        task_rng, data_rng, agent_rng, self.secagg_rng, self.scoring_rng, subset_rng = streams
        data, model, train = _task_configs(scenario)
        self.task = task or FederatedTask(data, model, train, rng=task_rng)
        self.utility_indices = stratified_subset(
            self.task.splits.val.labels, scenario.data.utility_subset, subset_rng
        )
        self._create_participants(data_rng, agent_rng)
        self.task.precompute(
            np.concatenate([p.shard for p in self.participants]), progress=progress
        )
        self.platform = PlatformAgent(self, self.n_identities)
        self.global_vector = self.task.initial_vector.copy()
        self.last_step: np.ndarray | None = None
        self.round = 0
        self.round_rows: list[dict[str, Any]] = []
        self.participant_rows: list[dict[str, Any]] = []
        self.graph: Any = None
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "val_accuracy": lambda m: m.round_rows[-1]["val_accuracy"],
                "test_accuracy": lambda m: m.round_rows[-1]["test_accuracy"],
                "budget_paid": lambda m: m.round_rows[-1]["budget_paid"],
            },
            agenttype_reporters={
                ParticipantAgent: {
                    "joined": "joined",
                    "reward": "reward",
                    "contribution": "contribution",
                    "strategy": "strategy",
                }
            },
        )
        self._record_round({"round": 0})
        self.datacollector.collect(self)

    # ----- construction -----
    @property
    def participants(self) -> mesa.agent.AgentSet:
        return self.agents_by_type[ParticipantAgent]

    def _create_participants(
        self, data_rng: np.random.Generator, agent_rng: np.random.Generator
    ) -> None:
        scenario = self.scenario
        labels = self.task.train_labels
        n_classes = self.task.n_classes
        prior = np.bincount(labels, minlength=n_classes) / len(labels)
        owners = []  # (group, owner index)
        for group in scenario.participants:
            owners += [group] * group.count
        mix_rng, alloc_rng, noise_rng = data_rng.spawn(3)
        mixes = np.array(
            [
                mix_rng.dirichlet(g.class_alpha * prior * n_classes) if g.class_alpha > 0 else prior
                for g in owners
            ]
        )
        sizes = [g.data_size for g in owners]
        replace = scenario.data.replace or sum(sizes) > len(labels)
        shards = allocate(labels, sizes, mixes, alloc_rng, replace=replace)
        self.n_identities = scenario.n_identities
        self.replaced_data = replace
        identity_rngs = agent_rng.spawn(self.n_identities)
        prior_reward = scenario.market.round_budget / self.n_identities
        pid = 0
        for owner, (group, shard) in enumerate(zip(owners, shards, strict=True)):
            own_labels = labels[shard]
            if group.label_noise > 0:
                own_labels = flip_labels(own_labels, group.label_noise, n_classes, noise_rng)
            if group.strategy == "noisy":
                own_labels = flip_labels(own_labels, group.flip_rate, n_classes, noise_rng)
            k = group.sybil_identities if group.strategy == "sybil" else 1
            parts = np.array_split(np.arange(len(shard)), k)
            for part in parts:
                ParticipantAgent(
                    self,
                    pid=pid,
                    owner=owner,
                    group=group,
                    shard=shard[part],
                    labels=own_labels[part],
                    speed=group.speed / k,
                    cost=group.cost / k,
                    rng=identity_rngs[pid],
                    prior_reward=prior_reward,
                )
                pid += 1

    # ----- one round -----
    def step(self) -> None:
        self.round += 1
        started = time.perf_counter()
        platform = self.platform
        platform.round_info = {}
        ordered = sorted(self.participants, key=lambda p: p.pid)
        self.participants.do("decide")
        joined = [p for p in ordered if p.joined]
        selected = platform.select(joined)
        for p in selected:
            p.selected = True
        train_started = time.perf_counter()
        for p in selected:
            p.train(self.task, self.global_vector, self.last_step)
        train_seconds = time.perf_counter() - train_started
        trained = [p for p in selected if p.update is not None]
        accepted = platform.screen(trained, len(self.global_vector))
        rejected = [p for p in trained if p.update is None]
        platform.penalise(rejected)
        included, delta, secagg = platform.aggregate(accepted, self.secagg_rng)
        if "graph" in secagg:
            self.graph = secagg["graph"]
        for p in included:
            p.included = True
        base = self.global_vector
        scoring = platform.score(included, base, self.scoring_rng)
        paid = platform.pay(included, self.n_identities)
        if delta is not None:
            new_vector = apply_update(base, delta)
            self.last_step = new_vector - base
            self.global_vector = new_vector
        self.participants.do("learn")
        elapsed = time.perf_counter() - started
        row = {
            "round": self.round,
            "available": sum(p.available for p in ordered),
            "joined": len(joined),
            "selected": len(selected),
            "stragglers": sum(p.straggler for p in selected),
            "rejected": len(rejected),
            "dropouts": sum(bool(p.dropped_stage) for p in accepted),
            "included": len(included),
            "aborted": secagg["aborted"],
            "abort_reason": secagg["abort_reason"],
            "budget_paid": paid,
            "scoring_method": self.scenario.market.scoring,
            "scoring_evaluations": scoring["scoring_evaluations"],
            "exposed_clients": scoring["exposed_clients"],
            "secagg_bytes": secagg["secagg_bytes"],
            "plain_bytes": secagg["plain_bytes"],
            "secagg_seconds": secagg["secagg_seconds"],
            "scoring_secagg_runs": scoring["scoring_secagg_runs"],
            "scoring_secagg_bytes": scoring["scoring_secagg_bytes"],
            "train_seconds": train_seconds,
            "scoring_seconds": scoring["scoring_seconds"],
        }
        self._record_round(row)
        row = self.round_rows[-1]
        row["round_seconds"] = time.perf_counter() - started
        row["overhead_seconds"] = (
            elapsed - train_seconds - scoring["scoring_seconds"] - secagg["secagg_seconds"]
        )
        self._record_participants(ordered)
        self.datacollector.collect(self)
        if self.round >= self.scenario.rounds:
            self.running = False

    # ----- checkpoint state -----
    def state_dict(self) -> dict[str, Any]:
        """Everything later rounds depend on (the task is rebuilt from the scenario)."""
        return {
            "round": self.round,
            "running": self.running,
            "global_vector": self.global_vector.copy(),
            "last_step": None if self.last_step is None else self.last_step.copy(),
            "round_rows": [dict(r) for r in self.round_rows],
            "participant_rows": [dict(r) for r in self.participant_rows],
            "secagg_rng": self.secagg_rng.bit_generator.state,
            "scoring_rng": self.scoring_rng.bit_generator.state,
            "platform": {
                "alpha": self.platform.reputation.alpha.copy(),
                "beta": self.platform.reputation.beta.copy(),
                "scored_rounds": self.platform.scored_rounds.copy(),
                "excluded": self.platform.excluded.copy(),
            },
            "participants": {p.pid: p.state_dict() for p in self.participants},
            "graph": self.graph,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import market

        self.round = int(state["round"])
        self.running = bool(state["running"])
        self.global_vector = np.asarray(state["global_vector"], dtype=np.float32).copy()
        self.last_step = state["last_step"]
        self.round_rows = [dict(r) for r in state["round_rows"]]
        self.participant_rows = [dict(r) for r in state["participant_rows"]]
        self.secagg_rng.bit_generator.state = state["secagg_rng"]
        self.scoring_rng.bit_generator.state = state["scoring_rng"]
        platform = state["platform"]
        self.platform.reputation = market.ReputationState(platform["alpha"], platform["beta"])
        self.platform.scored_rounds = platform["scored_rounds"].copy()
        self.platform.excluded = platform["excluded"].copy()
        saved = state["participants"]
        for p in self.participants:
            p.load_state_dict(saved[p.pid])
        self.graph = state["graph"]

    def _record_round(self, row: dict[str, Any]) -> None:
        val = self.task.evaluate(self.global_vector, "val")
        test = self.task.evaluate(self.global_vector, "test")
        full = {
            "round": row["round"],
            "val_accuracy": val.accuracy,
            "val_loss": val.loss,
            "test_accuracy": test.accuracy,
            "test_loss": test.loss,
        }
        defaults = {
            "available": 0,
            "joined": 0,
            "selected": 0,
            "stragglers": 0,
            "rejected": 0,
            "dropouts": 0,
            "included": 0,
            "aborted": False,
            "abort_reason": "",
            "budget_paid": 0.0,
            "scoring_method": self.scenario.market.scoring,
            "scoring_evaluations": 0,
            "exposed_clients": 0,
            "secagg_bytes": 0,
            "plain_bytes": 0,
            "secagg_seconds": 0.0,
            "scoring_secagg_runs": 0,
            "scoring_secagg_bytes": 0,
            "train_seconds": 0.0,
            "scoring_seconds": 0.0,
            "round_seconds": 0.0,
            "overhead_seconds": 0.0,
        }
        full.update(defaults)
        full.update({k: v for k, v in row.items() if k != "round"})
        self.round_rows.append(full)

    def _record_participants(self, ordered: list[ParticipantAgent]) -> None:
        reputation = self.platform.reputation.scores
        for p in ordered:
            self.participant_rows.append(
                {
                    "round": self.round,
                    "participant": p.pid,
                    "owner": p.owner,
                    "group": p.group,
                    "strategy": p.strategy,
                    "available": p.available,
                    "joined": p.joined,
                    "selected": p.selected,
                    "included": p.included,
                    "straggler": p.straggler,
                    "dropped_stage": p.dropped_stage,
                    "rejected_reason": p.rejected_reason,
                    "n_examples": len(p.shard),
                    "samples": p.samples,
                    "contribution": p.contribution,
                    "reward": p.reward,
                    "cost": p.cost_incurred,
                    "profit": p.profit,
                    "cumulative_profit": p.cumulative_reward - p.cumulative_cost,
                    "expected_reward": p.expected_reward,
                    "reputation": float(reputation[p.pid]),
                    "excluded": bool(self.platform.excluded[p.pid]),
                }
            )

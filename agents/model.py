"""The Mesa 3 model of the marketplace: participants and a platform, one step per round.

``MarketModel(scenario=...)`` compiles the scenario once (:func:`agents.compile_scenario`)
and is seeded through Mesa's ``rng`` (from ``scenario.seed``); every random choice draws
from streams spawned from it: data allocation, each participant's decisions and local
training, secure-aggregation graphs and dropouts, and the scoring estimator. Rounds are
staged over ``AgentSet``s (decide, train, screen, aggregate, score, pay, learn) and counted
by Mesa's ``steps``; Mesa's ``DataCollector`` is the record: the ``rounds`` table is its
model variables and the ``participants`` table its ``ParticipantAgent`` variables.
``agents.batch_run(MarketModel, {"scenario": [...]})`` is Mesa's batch runner with every
round reported (Mesa 3.3's ``mesa.batch_run`` drops the last one: :mod:`agents.batch`).
"""

from __future__ import annotations

import itertools
import operator
import time
from collections.abc import Callable, Iterable
from typing import Any

import mesa
import numpy as np
import pandas as pd

from agents.compile import RunPlan, compile_scenario
from agents.economics import owner_economics, posted_rate
from agents.join_policies import make_join_policy
from agents.participants import ParticipantAgent, distinct_examples
from agents.platform import PlatformAgent, RoundContext
from agents.reports import RoundRecord
from agents.scenario import Scenario
from agents.update_store import EVALUATOR, SERVER, UpdateStore
from fl_core import FederatedTask, allocate, apply_update, flip_labels, stratified_subset
from fl_core.compression import sent_bytes

PARTICIPANT_COLUMNS = {
    "participant": "pid",
    "owner": "owner",
    "group": "group",
    "strategy": "strategy",
    "available": "available",
    "joined": "joined",
    "selected": "selected",
    "included": "included",
    "exposed": "exposed",
    "straggler": "straggler",
    "dropped_stage": "dropped_stage",
    "rejected_reason": "rejected_reason",
    "n_examples": lambda p: len(p.shard),
    "n_synthetic": lambda p: int(np.count_nonzero(p.shard >= p.model.n_real_examples)),
    "speed": "speed",
    "quality": "quality",
    "in_market": "in_market",
    "samples": "samples",
    "contribution": "contribution",
    "reward": "reward",
    "cost": "cost_incurred",
    "profit": "profit",
    "cumulative_profit": "cumulative_profit",
    "expected_reward": "expected_reward",
    "reputation": lambda p: float(p.model.platform.reputation.scores[p.pid]),
    "excluded": lambda p: bool(p.model.platform.excluded[p.pid]),
    "payment_value": "payment_value",
}
"""Columns of the ``participants`` table: agent attribute names or reporters."""

_ATTRIBUTE_COLUMNS = tuple(c for c in PARTICIPANT_COLUMNS.values() if isinstance(c, str))


class ParticipantCollector(mesa.DataCollector):  # type: ignore[misc]  # no mesa type stubs
    """Mesa's ``DataCollector`` with the ``ParticipantAgent`` rows built column-wise.

    The rows are those of Mesa's own per-agent reporters (``PARTICIPANT_COLUMNS``), in the
    same layout ``(step, unique_id, *values)``; the attribute columns are read with one
    ``operator.attrgetter`` call per agent and the platform's columns (reputation, exclusion)
    from its arrays once per step instead of once per agent. ``tests/agents`` checks the rows
    equal Mesa's generic ones.
    """

    def _record_agenttype(self, model: Any, agent_type: type) -> Iterable[tuple[Any, ...]]:
        if agent_type is not ParticipantAgent or not isinstance(model, MarketModel):
            return super()._record_agenttype(model, agent_type)
        return model._participant_rows()


class MarketModel(mesa.Model):  # type: ignore[misc]  # mesa ships no type stubs
    """The marketplace: participants join rounds of real federated fine-tuning."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        task: FederatedTask | None = None,
        seed: int | None = None,
        progress: bool = False,
        on_progress: Callable[[int, int, str], None] | None = None,
        **_: Any,
    ) -> None:
        scenario = scenario or Scenario()
        if seed is not None and seed != scenario.seed:
            scenario = scenario.replace("seed", int(seed))
        super().__init__(rng=scenario.seed)
        self.scenario = scenario
        self.progress = progress
        self.plan: RunPlan = compile_scenario(scenario)
        streams = self.rng.spawn(8)
        task_rng, data_rng, agent_rng, self.secagg_rng, self.scoring_rng, subset_rng = streams[:6]
        self.selection_rng, economics_rng = streams[6:]
        if on_progress is not None and task is None:
            on_progress(0, 1, "loading the model and the data")
        self.task = task or FederatedTask(
            scenario.data, scenario.model, scenario.train, rng=task_rng
        )
        self.utility_indices = stratified_subset(
            self.task.splits.val.labels, scenario.data.utility_subset, subset_rng
        )
        self.posted_rate = float("nan")
        """The last pay per metered example the platform posted (``nan``: none yet)."""
        self.replaced_data = self._create_participants(data_rng, agent_rng, economics_rng)
        by_pid = sorted(self.participants, key=lambda p: p.pid)
        self._n_examples = [len(p.shard) for p in by_pid]
        self._n_synthetic = [int(np.count_nonzero(p.shard >= self.n_real_examples)) for p in by_pid]
        self.task.precompute(
            np.concatenate([p.shard for p in self.participants]),
            progress=progress,
            on_progress=on_progress,
        )
        self.platform = PlatformAgent(self, self.plan)
        self.platform.refused = self._register()
        self.global_vector = self.task.initial_vector.copy()
        self.last_step: np.ndarray | None = None
        self.global_steps: list[np.ndarray] = []  # the last applied global steps, in order
        self.keeps_sent = any(g.strategy == "copycat" for g in self.plan.owners)
        """Whether identities' last sent updates are kept (a copycat reads them)."""
        self._steps_kept = max(
            [g.replay_lag for g in self.plan.owners if g.strategy == "replay"], default=1
        )
        self.graph: Any = None
        self.graphs: dict[int, Any] = {}
        """The neighbour graph of every round that ran secure aggregation, by round."""
        self.record = self._evaluated(RoundRecord(scoring_method=scenario.market.scoring))
        self.datacollector = ParticipantCollector(
            model_reporters={
                name: (lambda m, name=name: getattr(m.record, name))
                for name in RoundRecord.columns()
            },
            agenttype_reporters={ParticipantAgent: PARTICIPANT_COLUMNS},
        )
        self.datacollector.collect(self)

    @property
    def n_identities(self) -> int:
        return self.plan.n_identities

    @property
    def round(self) -> int:
        """Rounds completed (Mesa's step counter)."""
        return int(self.steps)

    @property
    def participants(self) -> mesa.agent.AgentSet:
        return self.agents_by_type[ParticipantAgent]

    # ----- construction -----
    def _create_participants(
        self,
        data_rng: np.random.Generator,
        agent_rng: np.random.Generator,
        economics_rng: np.random.Generator,
    ) -> bool:
        """Allocate each owner's shard, split it over its identities, create the agents."""
        plan = self.plan
        labels = self.task.train_labels
        n_classes = self.task.n_classes
        prior = np.bincount(labels, minlength=n_classes) / len(labels)
        mix_rng, alloc_rng, noise_rng = data_rng.spawn(3)
        mixes = np.array(
            [
                mix_rng.dirichlet(g.class_alpha * prior * n_classes) if g.class_alpha > 0 else prior
                for g in plan.owners
            ]
        )
        sizes = [g.data_size for g in plan.owners]
        replace = self.scenario.data.replace or sum(sizes) > len(labels)
        shards = allocate(labels, sizes, mixes, alloc_rng, replace=replace)
        owner_labels = []
        for group, shard in zip(plan.owners, shards, strict=True):
            own = labels[shard]
            if group.label_noise > 0:
                own = flip_labels(own, group.label_noise, n_classes, noise_rng)
            if group.strategy == "noisy":
                own = flip_labels(own, group.flip_rate, n_classes, noise_rng)
            owner_labels.append(own)
        for owner, group in enumerate(plan.owners):  # the same data under a second identity
            if group.strategy == "plagiarist" and owner > 0:
                shards[owner] = shards[0].copy()
                owner_labels[owner] = owner_labels[0].copy()
        self.n_real_examples = len(labels)  # pool indices from here on are synthetic
        if any(g.synthetic_examples for g in plan.owners):
            self._add_synthetic(shards, owner_labels, data_rng.spawn(1)[0])
        id_shards, id_labels = [], []
        for spec in plan.identities:
            order = np.arange(len(shards[spec.owner]))
            if spec.group.sybil_mode == "complementary" and spec.group.strategy == "sybil":
                order = np.argsort(owner_labels[spec.owner], kind="stable")  # by class
            part = np.array_split(order, spec.parts)[spec.part]
            id_shards.append(shards[spec.owner][part])
            id_labels.append(owner_labels[spec.owner][part])
        true_labels = self.task.train_labels
        quality = [
            float(np.mean(own == true_labels[shard])) if len(shard) else 1.0
            for shard, own in zip(id_shards, id_labels, strict=True)
        ]
        factors, arrivals = owner_economics(
            self.scenario.economics, len(plan.owners), economics_rng
        )
        market, economics = self.scenario.market, self.scenario.economics
        policy = make_join_policy(
            economics.join_policy,
            learning_rate=market.learning_rate,
            **{k: getattr(economics, k) for k in ("ewa_phi", "ewa_delta", "ewa_rho", "ewa_lambda")},
        )
        ParticipantAgent.create_agents(
            self,
            plan.n_identities,
            list(plan.identities),
            id_shards,
            id_labels,
            list(agent_rng.spawn(plan.n_identities)),
            [factors[spec.owner] for spec in plan.identities],
            [arrivals[spec.owner] for spec in plan.identities],
            quality,
            prior_reward=plan.prior_reward,
            exploration=market.exploration,
            policy=policy,
        )
        return replace

    def _register(self) -> dict[int, str]:
        """Register every identity's data, in identity order (:mod:`privacy.commitments`):
        the identities refused because most of their examples were registered first by
        another, with the reason. Off (``{}``) when the data were drawn with replacement,
        where honest participants share examples by construction."""
        from privacy.commitments import DataRegistry

        limit = self.scenario.market.max_data_overlap
        if self.replaced_data or limit >= 1:
            return {}
        registry = DataRegistry(limit)
        texts = self.task.splits.train.texts
        refused = {}
        for p in sorted(self.participants, key=lambda p: p.pid):
            admitted, share, earlier = registry.register(p.pid, (texts[i] for i in p.shard))
            if not admitted:
                refused[p.pid] = (
                    f"refused at registration: {share:.0%} of its examples were registered "
                    "first by another identity"
                )
        return refused

    def _add_synthetic(
        self, shards: list[np.ndarray], owner_labels: list[np.ndarray], rng: np.random.Generator
    ) -> None:
        """Top up each owner's shard with ``synthetic_examples`` generated reviews (in place).

        The labels are the prompted ones, split evenly over the classes (the first classes
        get the remainder), whatever the owner's own class mix: a top-up that evens out
        label skew. Each prompt shows a few of the owner's own reviews of that class (all
        its reviews when it has none of it). The generator is SmolLM2-135M-Instruct, or a
        tiny random Llama for the ``tiny`` test backbone.
        """
        from fl_core.synthesize import LABEL_NAMES, generator_for, synthesize

        task = self.task
        pool = task.splits.train
        n_classes = task.n_classes
        names = LABEL_NAMES if n_classes == 2 else pool.class_names
        lm = generator_for(self.scenario.model.backbone)
        texts: list[str] = []
        labels: list[int] = []
        owners: list[int] = []
        for owner, (group, shard) in enumerate(zip(self.plan.owners, shards, strict=True)):
            n = group.synthetic_examples
            seed = int(rng.integers(2**31 - 1))
            if n == 0:
                continue
            counts = np.full(n_classes, n // n_classes)
            counts[: n % n_classes] += 1
            own = pool.labels[shard]
            for label, count in enumerate(counts):
                if count == 0:
                    continue
                same = shard[own == label] if np.any(own == label) else shard
                new = synthesize(
                    int(count),
                    label=label,
                    seed=seed + label,
                    examples=[pool.texts[i] for i in same],
                    label_names=names,
                    lm=lm,
                    progress=self.progress,
                )
                texts += new
                labels += [label] * len(new)
                owners += [owner] * len(new)
        added = task.add_examples(texts, np.asarray(labels, dtype=np.int64))
        owner_of = np.asarray(owners)
        label_arr = np.asarray(labels, dtype=np.int64)
        for owner in range(len(shards)):
            mine = owner_of == owner
            if np.any(mine):
                shards[owner] = np.concatenate([shards[owner], added[mine]])
                owner_labels[owner] = np.concatenate([owner_labels[owner], label_arr[mine]])

    # ----- one round -----
    def step(self) -> None:
        started = time.perf_counter()
        platform = self.platform
        record = RoundRecord(round=self.round, scoring_method=self.scenario.market.scoring)
        ordered = sorted(self.participants, key=lambda p: p.pid)
        self.participants.do("decide")
        joined = [p for p in ordered if p.joined]
        selected = platform.select(joined, self.selection_rng)
        for p in selected:
            p.selected = True
        train_started = time.perf_counter()
        # free riders, replicas and colluders act one by one (copiers read their leader's
        # update); everyone else who trains goes through one call, a batch in head mode
        trainers = [p for p in selected if p.trains and not p.copies_peers]
        for p in selected:
            if p not in trainers:
                p.train(self.task, self.global_vector, self.last_step)
        # one call for all who train: in head mode a batch (each keeps its own stream)
        results = self.task.train_clients(
            self.global_vector,
            [p.shard for p in trainers],
            [p.labels for p in trainers],
            samples_per_second=[p.samples_per_second for p in trainers],
            rngs=[p.stream for p in trainers],
            optimizer_states=[p.optimizer_state for p in trainers],
        )
        for p, result in zip(trainers, results, strict=True):
            p.examples_trained = distinct_examples(p.shard)
            p.receive(result)
        record.train_seconds = time.perf_counter() - train_started
        trained = [p for p in selected if p.update is not None]
        record.bytes_sent = len(trained) * sent_bytes(len(self.global_vector), self.scenario.train)
        # what the clients submit: read only as the access mode declares (agents.update_store)
        store = UpdateStore(
            self.plan.access, {p.pid: p.update for p in trained if p.update is not None}
        )
        accepted = platform.screen(trained, len(self.global_vector), store)
        rejected = [p for p in trained if p.update is None]
        platform.penalise(rejected)
        context = RoundContext(
            task=self.task,
            base_vector=self.global_vector,
            utility_indices=self.utility_indices,
            secagg_rng=self.secagg_rng,
            scoring_rng=self.scoring_rng,
        )
        aggregation = platform.aggregate(accepted, context, store)
        if aggregation.graph is not None:
            self.graph = aggregation.graph
            self.graphs[self.round] = aggregation.graph
        included = aggregation.members
        for p in included:
            p.included = True
        scoring = platform.score(included, context, store)
        record.budget_paid = platform.pay(included, store)
        if aggregation.delta is not None:
            new_vector = apply_update(self.global_vector, aggregation.delta)
            self.last_step = new_vector - self.global_vector
            self.global_steps.append(self.last_step)
            del self.global_steps[: -self._steps_kept]  # replayers need no older ones
            self.global_vector = new_vector
        record.posted_rate = posted_rate(included)
        if np.isfinite(record.posted_rate):  # a round that paid nobody posts nothing new
            self.posted_rate = record.posted_rate
        record.costs_incurred = float(sum(p.cost_incurred for p in ordered))
        self.participants.do("learn")
        elapsed = time.perf_counter() - started
        record.update_from(aggregation)
        record.update_from(scoring)
        server_read = store.reads(SERVER)
        record.server_reads, record.evaluator_reads = len(server_read), len(store.reads(EVALUATOR))
        exposed = {included[i].pid for i in scoring.exposed_positions} | server_read
        record.exposed_clients = len(exposed)  # every individual update the server could see
        for p in ordered:
            p.exposed = p.pid in exposed
        record.available = sum(p.available for p in ordered)
        record.joined = len(joined)
        record.selected = len(selected)
        record.stragglers = sum(p.straggler for p in selected)
        record.rejected = len(rejected)
        record.dropouts = sum(bool(p.dropped_stage) for p in accepted)
        record.included = len(included)
        self.record = self._evaluated(record)
        record.round_seconds = time.perf_counter() - started
        record.overhead_seconds = (
            elapsed - record.train_seconds - record.scoring_seconds - record.secagg_seconds
        )
        self.datacollector.collect(self)
        if self.round >= self.scenario.rounds:
            self.running = False

    def _evaluated(self, record: RoundRecord) -> RoundRecord:
        """The record with the global model's validation and test metrics."""
        val = self.task.evaluate(self.global_vector, "val")
        test = self.task.evaluate(self.global_vector, "test")
        record.val_accuracy, record.val_loss = val.accuracy, val.loss
        record.test_accuracy, record.test_loss = test.accuracy, test.loss
        return record

    # ----- the tables -----
    def _participant_rows(self) -> list[tuple[Any, ...]]:
        """This step's ``participants`` rows, as Mesa's reporters would give them."""
        agents = list(self.participants)
        if not agents:
            return []
        read = operator.attrgetter("unique_id", "pid", *_ATTRIBUTE_COLUMNS)
        unique_ids, pids, *attributes = zip(*map(read, agents), strict=True)
        platform = self.platform
        derived = {
            "n_examples": self._n_examples,
            "n_synthetic": self._n_synthetic,
            "reputation": platform.reputation.scores.tolist(),
            "excluded": np.asarray(platform.excluded, dtype=bool).tolist(),
        }
        by_attribute = iter(attributes)
        columns = [
            next(by_attribute) if isinstance(c, str) else [derived[name][i] for i in pids]
            for name, c in PARTICIPANT_COLUMNS.items()
        ]
        return list(zip(itertools.repeat(self.steps), unique_ids, *columns))

    def rounds_table(self) -> pd.DataFrame:
        """One row per round, round 0 being the initial model."""
        frame = self.datacollector.get_model_vars_dataframe()
        return frame[RoundRecord.columns()].reset_index(drop=True)

    def participants_table(self) -> pd.DataFrame:
        """One row per round (from 1) and participant identity, ordered by identity."""
        frame = self.datacollector.get_agenttype_vars_dataframe(ParticipantAgent)
        if frame.empty:
            return pd.DataFrame(columns=["round", *PARTICIPANT_COLUMNS])
        frame = frame.reset_index().rename(columns={"Step": "round"})
        frame = frame[frame["round"] >= 1].sort_values(["round", "participant"], kind="stable")
        return frame[["round", *PARTICIPANT_COLUMNS]].reset_index(drop=True)

    # ----- checkpoint state -----
    def state_dict(self) -> dict[str, Any]:
        """Everything later rounds depend on (the task is rebuilt from the scenario)."""
        collector = self.datacollector
        return {
            "round": self.round,
            "running": self.running,
            "global_vector": self.global_vector.copy(),
            "last_step": None if self.last_step is None else self.last_step.copy(),
            "global_steps": [step.copy() for step in self.global_steps],
            # Mesa's DataCollector keeps agent-type records in a private dict (mesa < 4)
            "model_vars": {k: list(v) for k, v in collector.model_vars.items()},
            "agenttype_records": {
                step: {cls.__name__: list(rows) for cls, rows in by_type.items()}
                for step, by_type in collector._agenttype_records.items()
            },
            "secagg_rng": self.secagg_rng.bit_generator.state,
            "scoring_rng": self.scoring_rng.bit_generator.state,
            "selection_rng": self.selection_rng.bit_generator.state,
            "posted_rate": self.posted_rate,
            "platform": self.platform.state_dict(),
            "participants": {p.pid: p.state_dict() for p in self.participants},
            "graph": self.graph,
            "graphs": dict(self.graphs),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state["round"], int) or not isinstance(state["running"], bool):
            raise TypeError("round must be an int and running a bool")
        self.steps = int(state["round"])
        self.running = bool(state["running"])
        vector = np.asarray(state["global_vector"], dtype=np.float32)
        if vector.shape != self.global_vector.shape:
            raise ValueError(
                f"global_vector has shape {vector.shape}, not {self.global_vector.shape}"
            )
        self.global_vector = vector.copy()
        self.last_step = state["last_step"]
        self.global_steps = [np.asarray(step) for step in state.get("global_steps", [])]
        collector = self.datacollector
        collector.model_vars = {k: list(v) for k, v in state["model_vars"].items()}
        collector._agenttype_records = {
            step: {ParticipantAgent: list(by_type["ParticipantAgent"])}
            for step, by_type in state["agenttype_records"].items()
        }
        self.secagg_rng.bit_generator.state = state["secagg_rng"]
        self.scoring_rng.bit_generator.state = state["scoring_rng"]
        self.selection_rng.bit_generator.state = state["selection_rng"]
        self.posted_rate = float(state["posted_rate"])
        self.platform.load_state_dict(state["platform"])
        saved = state["participants"]
        for p in self.participants:
            p.load_state_dict(saved[p.pid])
        self.graph = state["graph"]
        self.graphs = dict(state.get("graphs", {}))

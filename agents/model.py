"""The Mesa 3 model of the marketplace: participants and a platform, one step per round.

``MarketModel(scenario=...)`` compiles the scenario once (:func:`agents.compile_scenario`)
and is seeded through Mesa's ``rng`` (from ``scenario.seed``); every random choice draws
from streams spawned from it: data allocation, each participant's decisions and local
training, secure-aggregation graphs and dropouts, and the scoring estimator. Rounds are
staged over ``AgentSet``s (decide, train, screen, aggregate, score, pay, learn) and counted
by Mesa's ``steps``; Mesa's ``DataCollector`` is the record: the ``rounds`` table is its
model variables and the ``participants`` table its ``participants`` table (public API only).
``agents.batch_run(MarketModel, {"scenario": [...]})`` is Mesa's batch runner with every
round reported (Mesa 3.3's ``mesa.batch_run`` drops the last one: :mod:`agents.batch`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import mesa
import numpy as np
import pandas as pd

from agents.compile import RunPlan, compile_scenario
from agents.dp import book_round
from agents.economics import owner_economics, owner_privacy_prices, posted_rate
from agents.join_policies import make_join_policy
from agents.metering import distinct_examples
from agents.participant_table import (
    PARTICIPANT_COLUMNS,
    PARTICIPANTS_TABLE,
    collect_participants,
    participants_frame,
)
from agents.participants import ParticipantAgent
from agents.platform import PlatformAgent
from agents.reports import RoundContext, RoundRecord
from agents.scenario import Scenario
from agents.shards import allocate_identity_data
from agents.update_store import EVALUATOR, SERVER, UpdateStore
from fl_core import FederatedTask, apply_update, stratified_subset
from fl_core.compression import sent_bytes


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
        self.keeps_sent = any(b.keeps_sent for b in self.plan.strategies)
        """Whether identities' last sent updates are kept (a copycat reads them)."""
        self._steps_kept = max(b.steps_kept() for b in self.plan.strategies)
        self.graph: Any = None
        self.graphs: dict[int, Any] = {}
        """The neighbour graph of every round that ran secure aggregation, by round."""
        self.dp_rng = self.rng.spawn(1)[0] if self.plan.dp is not None else None
        """The stream of DP noise shares (spawned last: the other streams never move)."""
        self.record = self._evaluated(RoundRecord(scoring_method=scenario.market.scoring))
        self.datacollector = mesa.DataCollector(
            model_reporters={
                name: (lambda m, name=name: getattr(m.record, name))
                for name in RoundRecord.columns()
            },
            tables={PARTICIPANTS_TABLE: ["round", "agent_id", *PARTICIPANT_COLUMNS]},
        )
        self.collect()

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
        data = allocate_identity_data(plan, self.task, data_rng, progress=self.progress)
        self.n_real_examples = data.n_real_examples  # pool indices from here on are synthetic
        factors, arrivals = owner_economics(
            self.scenario.economics, len(plan.owners), economics_rng
        )
        prices = owner_privacy_prices(self.scenario.economics, len(plan.owners), economics_rng)
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
            data.shards,
            data.labels,
            list(agent_rng.spawn(plan.n_identities)),
            [factors[spec.owner] for spec in plan.identities],
            [arrivals[spec.owner] for spec in plan.identities],
            data.quality,
            prior_reward=plan.prior_reward,
            exploration=market.exploration,
            policy=policy,
            behaviour=[plan.strategies[spec.owner] for spec in plan.identities],
            privacy_price=[prices[spec.owner] for spec in plan.identities],
        )
        return data.replaced

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
            self.plan.access.name, {p.pid: p.update for p in trained if p.update is not None}
        )
        accepted = platform.screen(trained, len(self.global_vector), store)
        rejected = [p for p in trained if p.update is None]
        platform.penalise(rejected)
        context = RoundContext(
            self.task,
            self.global_vector,
            self.utility_indices,
            self.secagg_rng,
            self.scoring_rng,
            self.dp_rng,
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
        if context.noise is not None:  # what this round's noised releases cost each member
            record.dp_noise_std, record.dp_releases = context.noise.std, context.noise.released
            book_round(context.noise, {p.pid: p.privacy for p in included})
            for p in included:  # its price times the epsilon just booked (privacy_economics)
                p.charge_privacy()
        record.dp_epsilon = max((p.privacy.epsilon for p in ordered), default=0.0)
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
        self.collect()
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
    def collect(self) -> None:
        """Record this step: the round's row (Mesa's model reporters) and every participant's
        row in the :data:`~agents.participant_table.PARTICIPANTS_TABLE`."""
        self.datacollector.collect(self)
        platform = self.platform
        derived = {
            "n_examples": self._n_examples,
            "n_synthetic": self._n_synthetic,
            "reputation": platform.reputation.scores.tolist(),
            "excluded": np.asarray(platform.excluded, dtype=bool).tolist(),
        }
        collect_participants(self.datacollector, list(self.participants), int(self.steps), derived)

    def rounds_table(self) -> pd.DataFrame:
        """One row per round, round 0 being the initial model."""
        frame = self.datacollector.get_model_vars_dataframe()
        return frame[RoundRecord.columns()].reset_index(drop=True)

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The ``rounds`` and ``participants`` tables."""
        return self.rounds_table(), self.participants_table()

    def participants_table(self) -> pd.DataFrame:
        """One row per round (from 1) and participant identity, ordered by identity."""
        return participants_frame(self.datacollector)

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
            "model_vars": {k: list(v) for k, v in collector.model_vars.items()},
            "participant_table": {
                k: list(v) for k, v in collector.tables[PARTICIPANTS_TABLE].items()
            },
            "secagg_rng": self.secagg_rng.bit_generator.state,
            "scoring_rng": self.scoring_rng.bit_generator.state,
            "selection_rng": self.selection_rng.bit_generator.state,
            "dp_rng": None if self.dp_rng is None else self.dp_rng.bit_generator.state,
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
        saved_table = state["participant_table"]
        columns = collector.tables[PARTICIPANTS_TABLE]
        if set(saved_table) != set(columns):
            raise ValueError("participant_table: its columns are not this version's")
        collector.tables[PARTICIPANTS_TABLE] = {k: list(saved_table[k]) for k in columns}
        self.secagg_rng.bit_generator.state = state["secagg_rng"]
        self.scoring_rng.bit_generator.state = state["scoring_rng"]
        self.selection_rng.bit_generator.state = state["selection_rng"]
        if self.dp_rng is not None and state.get("dp_rng") is not None:
            self.dp_rng.bit_generator.state = state["dp_rng"]
        self.posted_rate = float(state["posted_rate"])
        self.platform.load_state_dict(state["platform"])
        saved = state["participants"]
        for p in self.participants:
            p.load_state_dict(saved[p.pid])
        self.graph = state["graph"]
        self.graphs = dict(state.get("graphs", {}))

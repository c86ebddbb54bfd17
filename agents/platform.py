"""The platform agent: it orchestrates one round over components the plan built.

One round, in order (each a small method; the model calls them with a :class:`RoundContext`):

1. :meth:`select` -- all who joined and are not excluded, or, with the ``auction``
   mechanism, the winners of a budget-feasible reverse auction (Zhang et al. 2021, RRAFL);
   never an identity the data registry refused (the same examples registered first by
   another identity: :mod:`privacy.commitments`).
2. the selected train (``ParticipantAgent.train``: real local fine-tuning).
3. :meth:`screen` -- an update that is NaN/Inf, of the wrong length, or whose norm exceeds
   ``train.max_update_norm`` is rejected with a reason and paid nothing. Under secure
   aggregation the same check runs client-side before masking. Free riders are screened too
   (``market.free_rider_reasons``): an update far smaller than the round's median (a zero
   or diluting update) or a replay of the platform's own last global step (stale, or stale
   plus noise: Fraboni et al. 2021, told from honest step-aligned work by a span test) is
   rejected; the platform knows its last step and, in
   the clear, each identity's previous update, so the replay test excludes an identity's own
   share of that step. An update backed by no metered training (a copy of another's) is
   rejected too: aggregation weights are the samples processed (:func:`metered_weight`).
4. :meth:`aggregate` -- the plan's aggregator in the clear, or ``privacy.secure_aggregate``
   over the scenario's neighbour graph with its dropouts; an aborted secure round leaves the
   model unchanged.
5. :meth:`score` -- the plan's ``market`` estimator over the coalition utility of the
   included updates, reached through the privacy access mode (:mod:`agents.access`).
6. :meth:`pay` -- the plan's ``market`` mechanism within the round budget, and the trust
   update (beta reputation, Josang & Ismail 2002; exclusion below the threshold).

The platform never reads the Mesa model: what a phase needs arrives in the context.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

import market
from agents.access import SecAggLedger, coalition_aggregator, leak_report, secure_sum
from agents.reports import AggregationReport, ScoringReport
from agents.update_store import UpdateStore
from agents.validity import update_fault
from fl_core import CoalitionUtility
from market.game import coalition_of

if TYPE_CHECKING:
    from agents.compile import RunPlan
    from agents.participants import ParticipantAgent
    from fl_core import FederatedTask

SYBIL_ESTIMATE_COPIES = 3
"""Identities the per-round replication estimate gives each participant (issue 12's attack)."""
SYBIL_ESTIMATE_MAX_PLAYERS = 10
"""Largest round the replication estimate replays (its game has ``m + 2`` players, exact)."""
SECAGG_STAGES = ("advertise_keys", "share_keys", "masked_input", "unmasking")


def metered_weight(participant: ParticipantAgent) -> float:
    """A participant's FedAvg weight: the distinct examples it trained on this round, as the
    platform meters them (``min(samples processed, examples trained on)``: local training shuffles
    its shard each epoch), never the data size it declares. FedAvg weighs by examples
    (McMahan et al. 2017), so extra epochs over the same examples buy no weight.

    Threat model: the platform meters local training (a trusted execution environment or a
    proof-of-learning transcript, Jia et al. 2021, attests the samples processed); the
    simulator stands in for that meter. A participant controls how much it trains, not what
    the meter reads, so declaring more data buys no weight, and an update backed by no
    training (a copy, a replay) has weight 0 and is rejected by :meth:`PlatformAgent.screen`.
    Not covered: training on duplicated or synthetic filler data counts as processed samples.
    """
    return float(min(participant.samples, participant.examples_trained))


@dataclass
class RoundContext:
    """What the platform needs of the run in one round.

    Attributes:
        task: the federated task (model, data, evaluators).
        base_vector: the global model at the start of the round.
        utility_indices: validation examples on which coalitions are scored.
        secagg_rng, scoring_rng: the round's random streams (graph and dropouts; estimator).
    """

    task: FederatedTask
    base_vector: np.ndarray
    utility_indices: np.ndarray
    secagg_rng: np.random.Generator
    scoring_rng: np.random.Generator


class PlatformAgent(mesa.Agent):  # type: ignore[misc]  # mesa ships no type stubs
    """Runs the marketplace side of every round."""

    def __init__(self, model: mesa.Model, plan: RunPlan) -> None:
        super().__init__(model)
        self.plan = plan
        self.reputation = plan.reputation.initial(plan.n_identities)
        self.ledger = market.PaymentLedger.initial(plan.n_identities)  # run totals
        self.selection: Any = None
        self.last_delta: np.ndarray | None = None  # the global step it applied last round
        self.last_shares: dict[int, np.ndarray] = {}  # pid -> its weighted share of that step
        self.marginals: dict[int, float] = {}  # pid -> u(N) - u(N - i) this round
        self.stderr: dict[int, float] = {}  # pid -> sampling error of its value this round
        self.examples: dict[int, np.ndarray] = {}  # pid -> its per-example values this round
        self.gain: tuple[float, float] | None = None  # this round's u(N) - u(empty), stderr
        self.reserve = 0.0  # unpaid budget carried over (market.unspent = "carry")
        self.refused: dict[int, str] = {}  # pid -> why the data registry refused it

    # ----- 1. selection -----
    @property
    def excluded(self) -> np.ndarray:
        """Identities the reputation policy has excluded for good."""
        return self.reputation.excluded_mask

    def select(
        self, joined: list[ParticipantAgent], rng: np.random.Generator
    ) -> list[ParticipantAgent]:
        """Who trains this round: the mechanism's selection phase over those who joined."""
        n = self.plan.n_identities
        candidates, bids, sizes = np.zeros(n, dtype=bool), np.zeros(n), np.zeros(n)
        for p in joined:
            if p.pid in self.refused:
                p.rejected_reason = self.refused[p.pid]
                continue
            candidates[p.pid] = True
            bids[p.pid] = p.declared_cost
            sizes[p.pid] = p.declared_size
        self.selection = self.plan.mechanism.select(
            candidates,
            budget=self.plan.scenario.market.round_budget,
            bids=bids,
            data_sizes=sizes,
            state=self.reputation,
            rng=rng,
        )
        for p in joined:
            if p.pid in self.refused:
                continue
            if self.selection.excluded[p.pid]:
                p.rejected_reason = "excluded: reputation below threshold"
            elif self.selection.lost[p.pid]:
                p.rejected_reason = "lost the auction"
        return [p for p in joined if self.selection.selected[p.pid] and p.pid not in self.refused]

    # ----- 3. screening -----
    def screen(
        self, trained: list[ParticipantAgent], size: int, store: UpdateStore
    ) -> list[ParticipantAgent]:
        """The updates that pass the checks (the others are dropped with a reason).

        The validity check (:func:`agents.validity.update_fault`) is run by the access mode's
        declared reader (:mod:`agents.update_store`), or, under ``secure_coalitions``, by each
        client on its own update before masking. The free-rider screen needs every update:
        under ``secure_coalitions`` it is off (the plan's notice says so).
        """
        bound = self.plan.scenario.train.max_update_norm
        valid = []
        for p in trained:
            if p.pid not in store:
                continue
            if store.readable:
                update = store.read(p.pid, purpose="validity check")
                reason = update_fault(np.asarray(update), size, bound)
            else:
                reason = p.check_own_update(size, bound)
            if reason:
                self._reject(p, reason, store)
            else:
                valid.append(p)
        reasons = [""] * len(valid)  # off under secure_coalitions (the plan's notice)
        if valid and store.readable:
            updates = store.read_many([p.pid for p in valid], purpose="free-rider screen")
            reasons = market.free_rider_reasons(
                np.stack([np.asarray(u) for u in updates]),
                self.last_delta,
                own_shares=[self.last_shares.get(p.pid) for p in valid],
            )
        kept = []
        for p, reason in zip(valid, reasons, strict=True):
            if reason:
                self._reject(p, reason, store)
            elif not self._unmetered(p, store):
                kept.append(p)
        return kept

    def _unmetered(self, p: ParticipantAgent, store: UpdateStore) -> bool:
        """Reject (and say so) an update backed by no metered training."""
        if metered_weight(p) > 0:
            return False
        self._reject(p, "no metered training: the update is backed by 0 samples processed", store)
        return True

    @staticmethod
    def _reject(p: ParticipantAgent, reason: str, store: UpdateStore) -> None:
        p.rejected_reason, p.update = reason, None
        store.discard(p.pid)

    # ----- 4. aggregation -----
    def aggregate(
        self, accepted: list[ParticipantAgent], context: RoundContext, store: UpdateStore
    ) -> AggregationReport:
        """The included participants and the aggregate delta of their updates."""
        report = AggregationReport()
        if not accepted:
            return report
        weights = [metered_weight(p) for p in accepted]
        report.plain_bytes = 4 * len(accepted) * len(context.base_vector)
        secagg = self.plan.secagg
        if secagg is None:  # updates travel in the clear (access plaintext): the server reads
            deltas = [
                np.asarray(u)
                for u in store.read_many([p.pid for p in accepted], purpose="aggregation")
            ]
            report.members = accepted
            report.delta = self.plan.aggregator(deltas, weights)
            self._remember(report.delta, accepted, deltas, weights)
            return report
        import privacy

        rng = context.secagg_rng
        scale = max(weights)
        inputs = store.secure_inputs(p.pid for p in accepted)
        scaled = {
            p.pid: np.asarray(inputs[p.pid], dtype=np.float64) * (w / scale)
            for p, w in zip(accepted, weights, strict=True)
        }
        dropouts: dict[str, list[int]] = {}
        if secagg.dropout_rate > 0:
            for p in accepted:
                if rng.random() < secagg.dropout_rate:
                    stage = SECAGG_STAGES[int(rng.integers(len(SECAGG_STAGES)))]
                    dropouts.setdefault(stage, []).append(p.pid)
                    p.dropped_stage = stage
        try:
            result = secure_sum(scaled, **secagg.secure_sum_options(), rng=rng, dropouts=dropouts)
        except privacy.SecAggAborted as error:
            report.record_abort(error)  # typed reason, message, and the graph if one was built
            return report
        report.secagg_bytes = int(sum(sum(v.values()) for v in result.bytes_sent.values()))
        report.secagg_seconds = float(sum(result.seconds.values()))
        report.graph = result.graph
        report.members = [p for p in accepted if p.pid in result.included]
        if report.members:
            total = sum(metered_weight(p) for p in report.members)
            report.delta = (result.aggregate * scale / total).astype(np.float32)
        self.last_delta, self.last_shares = report.delta, {}  # no individual updates seen
        return report

    def _remember(
        self,
        delta: np.ndarray,
        members: list[ParticipantAgent],
        deltas: list[np.ndarray],
        weights: list[float],
    ) -> None:
        """Keep the global step and each member's FedAvg share of it (for the replay test)."""
        total = sum(weights)
        self.last_delta = np.asarray(delta, dtype=np.float32)
        self.last_shares = {
            p.pid: (w / total) * np.asarray(d, dtype=np.float32)
            for p, d, w in zip(members, deltas, weights, strict=True)
        }

    # ----- 5. scoring -----
    def score(
        self, included: list[ParticipantAgent], context: RoundContext, store: UpdateStore
    ) -> ScoringReport:
        """Each included participant's contribution (``p.contribution``).

        Coalition utilities come through the access mode: from the updates read by its
        declared reader, or, under ``secure_coalitions``, from one secure-aggregation run per
        coalition (the server never holds an individual update)."""
        report = ScoringReport()
        m = len(included)
        if m == 0:
            return report
        started = time.perf_counter()
        plan = self.plan
        weights = [metered_weight(p) for p in included]
        ledger = SecAggLedger()
        method = plan.scenario.market.scoring
        valuation = plan.mechanism.valuation
        utility = None
        if method != "cgsv" or valuation is not None:
            utility = self._utility(included, weights, context, ledger, store)
        budget = plan.estimator.effective_budget(m, plan.scoring_budget)
        self.stderr, self.examples, self.gain = {}, {}, None
        if getattr(plan.mechanism, "uses_valuation", False):
            return self._score_valuation(included, context, ledger, report, started, store)
        if method == "cgsv":  # cosine scores read every update (refused under secure_coalitions)
            deltas = self._read(included, store, "cgsv scoring")
            contribution = market.estimate(
                None, m, "cgsv", updates=np.stack(deltas), weights=np.asarray(weights)
            )
        else:
            assert utility is not None
            if plan.access != "secure_coalitions":  # (secure runs draw from rng: keep order)
                utility.prefetch(plan.estimator.planned_coalitions(m, budget))
            contribution = plan.estimator.estimate(
                utility, m, budget=budget, rng=context.scoring_rng
            )
        values = contribution.values
        if valuation is not None and valuation != method:
            assert utility is not None
            values = _valuation(valuation, utility, m, budget, context.scoring_rng)
        for p, value, paid_on in zip(included, contribution.values, values, strict=True):
            p.contribution = float(value)
            p.payment_value = float(paid_on)
        self.marginals = {}
        if plan.mechanism.uses_marginals and utility is not None:
            helpful = np.asarray(values) > 0  # marginals to the coalition of those that help
            marginals = market.grand_marginals(utility, m, helpful)  # mostly memoised
            self.marginals = {p.pid: float(v) for p, v in zip(included, marginals, strict=True)}
        report.sybil_gain_max = self._replication_gain(included, utility, m, store.readable)
        # distinct coalitions evaluated this round, the mechanism's own valuation included
        report.scoring_evaluations = int(
            utility.evaluations if utility is not None else contribution.evaluations
        )
        return self._closed(report, ledger, m, started)

    def _closed(
        self, report: ScoringReport, ledger: SecAggLedger, m: int, started: float
    ) -> ScoringReport:
        """The report with the round's scoring time and exposure (the leak audit of what
        scoring released under the access mode)."""
        report.scoring_seconds = time.perf_counter() - started
        leak = leak_report(self.plan.access, ledger.released, m)
        report.exposed_clients = len(leak.exposed)
        report.exposed_positions = frozenset(leak.exposed)
        report.smallest_group = min(len(leak.smallest_group), m)
        report.smallest_group_at_least = min(leak.smallest_group_at_least, m)
        report.smallest_group_exact = leak.exact
        report.scoring_secagg_runs = ledger.runs
        report.scoring_secagg_bytes = ledger.bytes_sent
        return report

    def _score_valuation(
        self,
        included: list[ParticipantAgent],
        context: RoundContext,
        ledger: SecAggLedger,
        report: ScoringReport,
        started: float,
        store: UpdateStore,
    ) -> ScoringReport:
        """Score with the mechanism's own valuation, the one every report then shows:
        Banzhaf values with standard errors over the validation examples
        (:mod:`market.valuation`), exact when the scoring budget covers ``2**m`` coalitions,
        else maximum sample reuse per example, whose errors add the sampling error."""
        plan = self.plan
        m = len(included)
        weights = [metered_weight(p) for p in included]
        utility = self._utility(included, weights, context, ledger, store)
        budget = max(plan.scoring_budget, 2 * m + 2)
        if m <= market.MAX_EXACT_PLAYERS and 2**m <= budget:
            valuation = market.banzhaf_valuation(utility.example_values_of_masks(range(2**m)))
        else:  # maximum sample reuse on coalitions drawn uniformly (per example)
            rows = market.sample_coalitions(m, budget - 2, context.scoring_rng)
            masks = [sum(1 << i for i in np.flatnonzero(row).tolist()) for row in rows]
            ends = utility.example_values_of_masks([(1 << m) - 1, 0])
            valuation = market.banzhaf_msr(
                rows, utility.example_values_of_masks(masks), ends[0], ends[1]
            )
        assert valuation.per_example is not None and valuation.sampling_stderr is not None
        for i, p in enumerate(included):
            p.contribution = p.payment_value = float(valuation.values[i])
            self.stderr[p.pid] = float(valuation.sampling_stderr[i])
            self.examples[p.pid] = valuation.per_example[i]
        self.gain = (valuation.gain, valuation.gain_stderr)
        self.marginals = {}
        report.sybil_gain_max = self._replication_gain(included, utility, m, store.readable)
        report.scoring_evaluations = int(utility.evaluations)
        return self._closed(report, ledger, m, started)

    def _replication_gain(
        self,
        included: list[ParticipantAgent],
        utility: CoalitionUtility | None,
        m: int,
        grouped: bool = True,
    ) -> float:
        """The most any included participant would have gained this round (payoff, budget
        units) by also submitting its update under :data:`SYBIL_ESTIMATE_COPIES` - 1 more
        identities (:func:`market.sybil_gain` on the round's utility, with the platform's
        replica grouping when ``grouped``: off under ``secure_coalitions``, where pay cannot
        group). Computed only when every coalition is already evaluated (``2**m`` memoised: no
        extra evaluation, and under secure coalitions no extra released sum); ``nan``
        otherwise. Splitting one's data cannot be replayed from the table: the gym
        (:mod:`agents.attacks`) measures it.
        """
        if utility is None or m > SYBIL_ESTIMATE_MAX_PLAYERS or utility.evaluations < 2**m:
            return float("nan")
        costs = np.array([p.metered_cost for p in included], dtype=np.float64)
        effort = np.array([metered_weight(p) for p in included], dtype=np.float64)
        table = np.array([utility(coalition_of(mask, m)) for mask in range(2**m)])
        gains = [
            market.sybil_gain(
                table,
                m,
                i,
                SYBIL_ESTIMATE_COPIES,
                self.plan.mechanism,
                budget=self.plan.scenario.market.round_budget,
                costs=costs,
                effort=effort,  # metered (a replica's copies: none)
                group_clones=grouped,
                clones_true_cost=float(costs[i]),
            ).gain
            for i in range(m)
        ]
        return float(max(gains))

    @staticmethod
    def _read(
        included: list[ParticipantAgent], store: UpdateStore, purpose: str
    ) -> list[np.ndarray]:
        """The included updates, read by the access mode's declared reader."""
        updates = store.read_many([p.pid for p in included], purpose=purpose)
        return [np.asarray(u, dtype=np.float32) for u in updates]

    def _utility(
        self,
        included: list[ParticipantAgent],
        weights: list[float],
        context: RoundContext,
        ledger: SecAggLedger,
        store: UpdateStore,
    ) -> CoalitionUtility:
        """``u(S)``: the metric of the model updated by coalition S's aggregate."""
        plan = self.plan
        aggregate_fn = None
        deltas: list[np.ndarray] | None = None
        if plan.access == "secure_coalitions" and plan.secagg is not None:
            inputs = store.secure_inputs(p.pid for p in included)
            scale = max(weights)
            scaled = [
                np.asarray(inputs[p.pid], dtype=np.float64) * (w / scale)
                for p, w in zip(included, weights, strict=True)
            ]
            aggregate_fn = coalition_aggregator(
                scaled,
                weights,
                scale,
                **plan.secagg.secure_sum_options(),
                rng=context.secagg_rng,
                ledger=ledger,
            )
        else:
            deltas = self._read(included, store, "coalition utilities")
            if plan.scenario.train.aggregator != "fedavg":
                plain = deltas

                def aggregate_fn(coalition: frozenset[int]) -> np.ndarray:
                    members = sorted(coalition)
                    return plan.aggregator(
                        [plain[i] for i in members], [weights[i] for i in members]
                    )

        # the task's cached, batched evaluator: exact, with a memo across rounds (next
        # round's start model is this round's grand coalition)
        evaluator = context.task.coalition_evaluator("val", context.utility_indices)
        return CoalitionUtility(
            evaluator.evaluate,
            context.base_vector,
            deltas,
            weights,
            metric=plan.scenario.market.utility_metric,
            server_lr=1.0,
            aggregate=aggregate_fn,
            evaluate_many=evaluator.evaluate_many,
        )

    # ----- 6. payment and trust -----
    def pay(self, included: list[ParticipantAgent], store: UpdateStore) -> float:
        """Pay the included participants (``p.reward``) and update their reputation.

        The mechanism pays on ``p.payment_value`` (its own valuation, e.g. Banzhaf) and,
        where it uses them, on the round's grand-coalition marginals (:meth:`score`);
        identities whose updates are near-identical form one replica group, covered once
        (the grouping reads every update: off under ``secure_coalitions``, where each
        identity is its own group). Reputation evidence is the scenario's contribution
        score. Returns the total paid.
        """
        n = self.plan.n_identities
        values, contributions, costs = np.zeros(n), np.zeros(n), np.zeros(n)
        effort = np.zeros(n)
        mask, groups = np.zeros(n, dtype=bool), np.arange(n)
        for p in included:
            values[p.pid] = p.payment_value
            contributions[p.pid] = p.contribution
            mask[p.pid] = True
            costs[p.pid] = p.metered_cost
            effort[p.pid] = metered_weight(p)
        if not mask.any():
            if self.plan.scenario.market.unspent == "carry":
                self.reserve += self.plan.scenario.market.round_budget
            return 0.0
        ids = np.array([p.pid for p in included])
        if store.readable:
            updates = self._read(included, store, "replica grouping")
            groups[ids] = ids[market.replica_groups(np.stack(updates))]
        marginals = None
        if self.marginals:
            marginals = np.zeros(n)
            for p in included:
                marginals[p.pid] = self.marginals[p.pid]
        stderr = examples = None
        if self.stderr:
            stderr = np.zeros(n)
            width = len(next(iter(self.examples.values())))
            examples = np.zeros((n, width))
            for p in included:
                stderr[p.pid] = self.stderr[p.pid]
                examples[p.pid] = self.examples[p.pid]
        section = self.plan.scenario.market
        reserve = self.reserve if section.unspent == "carry" else 0.0
        allocation = self.plan.mechanism.allocate(
            values,
            budget=section.round_budget,
            stderr=stderr,
            gain=self.gain,
            reserve=reserve,
            example_values=examples,
            effort=effort,
            costs=costs,
            participants=mask,
            state=self.reputation,
            groups=groups,
            selection=self.selection,
            marginals=marginals,
            ledger=self.ledger,
        )
        assert allocation.ledger is not None  # allocate returns the ledger it was given
        held_before = float(np.sum(self.ledger.held)) if self.ledger.held is not None else 0.0
        self.ledger = allocation.ledger
        if section.unspent == "carry":  # what is held stays earmarked, not carried twice
            held_after = float(np.sum(self.ledger.held)) if self.ledger.held is not None else 0.0
            spent = allocation.total + held_after - held_before
            self.reserve = max(section.round_budget + reserve - spent, 0.0)
        for p in included:
            p.reward = float(allocation.payments[p.pid])
        self.reputation = self.plan.reputation.observe(self.reputation, contributions, mask)
        return allocation.total

    def penalise(self, rejected: list[ParticipantAgent]) -> None:
        """A rejected update is full negative evidence."""
        if not rejected:
            return
        mask = np.zeros(self.plan.n_identities, dtype=bool)
        mask[[p.pid for p in rejected]] = True
        self.reputation = self.plan.reputation.penalise(self.reputation, mask)

    # ----- checkpoint state -----
    def state_dict(self) -> dict[str, Any]:
        return {
            "reputation": self.reputation.to_arrays(),
            "ledger": self.ledger.to_arrays(),
            "last_delta": self.last_delta,
            "last_shares": dict(self.last_shares),
            "reserve": self.reserve,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reputation = market.ReputationState.from_arrays(state["reputation"])
        if "ledger" in state:  # older checkpoints start the totals afresh
            self.ledger = market.PaymentLedger.from_arrays(state["ledger"])
        self.last_delta = state.get("last_delta")
        self.last_shares = dict(state.get("last_shares") or {})
        self.reserve = float(state.get("reserve", 0.0))


def _valuation(
    valuation: str, utility: CoalitionUtility, m: int, budget: int, rng: np.random.Generator
) -> np.ndarray:
    """The mechanism's own valuation of the round (exact when the budget covers 2**m)."""
    if m <= 16 and 2**m <= budget:
        coalitions = [frozenset(i for i in range(m) if k >> i & 1) for k in range(2**m)]
        utility.prefetch(coalitions)
        table = np.array([utility(c) for c in coalitions])
        return (
            market.banzhaf_from_table(table)
            if valuation == "banzhaf"
            else market.shapley_from_table(table)
        )
    return market.estimate(utility, m, valuation, budget=budget, rng=rng).values

"""The platform agent: selection, secure aggregation, contribution scoring, payment, trust.

One round, in order (each a small method):

1. :meth:`select` -- all who joined and are not excluded, or, with the ``auction``
   mechanism, the winners of a budget-feasible truthful reverse auction over their costs
   (values: reputation x data size), run before training (Zhang et al. 2021, RRAFL).
2. the selected train (``ParticipantAgent.train``: real local fine-tuning).
3. :meth:`screen` -- an update that is NaN/Inf, of the wrong length, or whose norm is far
   beyond ``train.max_update_norm`` is rejected with a reason and paid nothing. Under
   secure aggregation the same check runs client-side before masking; the platform then
   trusts the clients to run it (the protocol cannot check a masked input).
4. :meth:`aggregate` -- FedAvg in the clear (or a robust coordinate-wise median / trimmed
   mean), or ``privacy.secure_aggregate`` over the scenario's neighbour graph, with the
   scenario's dropouts; an aborted secure round leaves the model unchanged.
5. :meth:`score` -- a ``market`` estimator over the coalition utility of the included
   updates, reached through the privacy access mode (see :mod:`agents.access`).
6. :meth:`pay` -- a ``market`` mechanism within the round budget; beta reputation
   (Josang & Ismail 2002) is updated from contributions, and participants below
   ``market.reputation_threshold`` are excluded from later rounds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

import market
from agents.access import SecAggLedger, coalition_aggregator, exposed_count, secure_sum
from fl_core import CoalitionUtility, coordinate_median, fedavg, trimmed_mean

if TYPE_CHECKING:
    from agents.model import MarketModel
    from agents.participants import ParticipantAgent

REPUTATION_FORGETTING = 0.9
MIN_EVIDENCE_ROUNDS = 2
"""A participant is judged for exclusion only after this many scored rounds."""


class PlatformAgent(mesa.Agent):  # type: ignore[misc]  # mesa ships no type stubs
    """Runs the marketplace side of every round."""

    model: MarketModel

    def __init__(self, model: MarketModel, n_identities: int) -> None:
        super().__init__(model)
        scenario = model.scenario
        self.mechanism = market.make_mechanism(
            scenario.market.mechanism,
            **(
                {"threshold": scenario.market.reputation_threshold}
                if scenario.market.mechanism == "reputation"
                else {}
            ),
        )
        self.reputation = market.ReputationState.initial(n_identities)
        self.scored_rounds = np.zeros(n_identities, dtype=np.int64)
        self.excluded = np.zeros(n_identities, dtype=bool)
        self.round_info: dict[str, Any] = {}

    # ----- 1. selection -----
    def select(self, joined: list[ParticipantAgent]) -> list[ParticipantAgent]:
        candidates = [p for p in joined if not self.excluded[p.pid]]
        for p in joined:
            if self.excluded[p.pid]:
                p.rejected_reason = "excluded: reputation below threshold"
        if self.model.scenario.market.mechanism != "auction" or not candidates:
            return candidates
        n = len(self.excluded)
        values = np.zeros(n)
        bids = np.zeros(n)
        mask = np.zeros(n, dtype=bool)
        for p in candidates:
            values[p.pid] = len(p.shard)
            bids[p.pid] = p.expected_cost
            mask[p.pid] = True
        allocation = self.mechanism.allocate(
            values,
            budget=self.model.scenario.market.round_budget,
            costs=bids,
            participants=mask,
            state=self.reputation,
        )
        self.round_info["auction_payments"] = allocation.payments
        winners = [p for p in candidates if allocation.selected[p.pid]]
        for p in candidates:
            if not allocation.selected[p.pid]:
                p.rejected_reason = "lost the auction"
        return winners

    # ----- 3. screening -----
    def screen(self, trained: list[ParticipantAgent], size: int) -> list[ParticipantAgent]:
        bound = self.model.scenario.train.max_update_norm
        accepted = []
        for p in trained:
            update = p.update
            if update is None:
                continue
            if update.shape != (size,):
                p.rejected_reason = f"wrong length {update.shape[0]} (expected {size})"
            elif not np.all(np.isfinite(update)):
                p.rejected_reason = "update contains NaN or Inf"
            elif float(np.linalg.norm(update)) > bound:
                p.rejected_reason = (
                    f"update norm {float(np.linalg.norm(update)):.3g} exceeds {bound:g}"
                )
            else:
                accepted.append(p)
                continue
            p.update = None
        return accepted

    # ----- 4. aggregation -----
    def aggregate(
        self, accepted: list[ParticipantAgent], rng: np.random.Generator
    ) -> tuple[list[ParticipantAgent], np.ndarray | None, dict[str, Any]]:
        """Return the included participants, the FedAvg delta and secure-aggregation stats."""
        scenario = self.model.scenario
        stats: dict[str, Any] = {
            "secagg_bytes": 0,
            "plain_bytes": 0,
            "secagg_seconds": 0.0,
            "aborted": False,
            "abort_reason": "",
        }
        if not accepted:
            return [], None, stats
        weights = [float(len(p.shard)) for p in accepted]
        deltas = [p.update for p in accepted]
        assert all(d is not None for d in deltas)
        stats["plain_bytes"] = 4 * len(accepted) * len(deltas[0])  # type: ignore[arg-type]
        if not scenario.privacy.secure_aggregation:
            if scenario.train.aggregator == "median":
                return accepted, coordinate_median(deltas), stats  # type: ignore[arg-type]
            if scenario.train.aggregator == "trimmed_mean":
                delta = trimmed_mean(deltas, scenario.train.trim_fraction)  # type: ignore[arg-type]
                return accepted, delta, stats
            return accepted, fedavg(deltas, weights), stats  # type: ignore[arg-type]
        priv = scenario.privacy
        scale = max(weights)
        scaled = {
            p.pid: (np.asarray(p.update, dtype=np.float64) * (w / scale))
            for p, w in zip(accepted, weights, strict=True)
        }
        dropouts: dict[str, list[int]] = {}
        if priv.dropout_rate > 0:
            stages = ("advertise_keys", "share_keys", "masked_input", "unmasking")
            for p in accepted:
                if rng.random() < priv.dropout_rate:
                    stage = stages[int(rng.integers(len(stages)))]
                    dropouts.setdefault(stage, []).append(p.pid)
                    p.dropped_stage = stage
        import privacy

        try:
            result = secure_sum(
                scaled,
                threshold_share=priv.threshold,
                neighbors=priv.neighbors,
                clip=priv.clip,
                bits=priv.bits,
                rng=rng,
                dropouts=dropouts,
            )
        except privacy.SecAggAborted as error:
            stats["aborted"] = True
            stats["abort_reason"] = str(error)
            return [], None, stats
        stats["secagg_bytes"] = int(sum(sum(v.values()) for v in result.bytes_sent.values()))
        stats["secagg_seconds"] = float(sum(result.seconds.values()))
        stats["graph"] = result.neighbor_graph
        included = [p for p in accepted if p.pid in result.included]
        if not included:
            return [], None, stats
        total = sum(len(p.shard) for p in included)
        delta = (result.aggregate * scale / total).astype(np.float32)
        return included, delta, stats

    # ----- 5. scoring -----
    def score(
        self,
        included: list[ParticipantAgent],
        base_vector: np.ndarray,
        rng: np.random.Generator,
    ) -> dict[str, Any]:
        scenario = self.model.scenario
        task = self.model.task
        m = len(included)
        out: dict[str, Any] = {
            "scoring_evaluations": 0,
            "scoring_seconds": 0.0,
            "exposed_clients": 0,
            "scoring_secagg_runs": 0,
            "scoring_secagg_bytes": 0,
        }
        if m == 0:
            return out
        started = time.perf_counter()
        deltas = [np.asarray(p.update, dtype=np.float32) for p in included]
        weights = [float(len(p.shard)) for p in included]
        method = scenario.market.scoring
        access = scenario.privacy.access if scenario.privacy.secure_aggregation else "plaintext"
        ledger = SecAggLedger()
        aggregate_fn = None
        if access == "secure_coalitions":
            scale = max(weights)
            scaled = [
                d.astype(np.float64) * (w / scale) for d, w in zip(deltas, weights, strict=True)
            ]
            priv = scenario.privacy
            aggregate_fn = coalition_aggregator(
                scaled,
                weights,
                scale,
                threshold_share=priv.threshold,
                neighbors=priv.neighbors,
                clip=priv.clip,
                bits=priv.bits,
                rng=rng,
                ledger=ledger,
            )
        elif scenario.train.aggregator != "fedavg":
            robust = scenario.train.aggregator

            def aggregate_fn(coalition: frozenset[int]) -> np.ndarray:
                members = [deltas[i] for i in sorted(coalition)]
                if robust == "median":
                    return coordinate_median(members)
                return trimmed_mean(members, scenario.train.trim_fraction)

        # the task's cached, batched evaluator (fl_core.batched_eval): exact, and it keeps a
        # memo across rounds (next round's start model is this round's grand coalition)
        evaluator = task.coalition_evaluator("val", self.model.utility_indices)
        utility = CoalitionUtility(
            evaluator.evaluate
            if evaluator is not None
            else (lambda v: task.evaluate(v, "val", self.model.utility_indices)),
            base_vector,
            deltas,
            weights,
            metric=scenario.market.utility_metric,
            server_lr=1.0,
            aggregate=aggregate_fn,
            evaluate_many=evaluator.evaluate_many if evaluator is not None else None,
        )
        if method == "cgsv":
            contribution = market.estimate(
                None, m, "cgsv", updates=np.stack(deltas), weights=np.asarray(weights)
            )
        else:
            estimator = market.make_estimator(method)
            budget = max(scenario.market.scoring_budget, estimator.minimum_budget(m))
            if method == "exact":
                budget = 2**m
            from threadpoolctl import threadpool_limits

            # every dense op below is small (a head on 128 examples, a weighted sum of the
            # updates): BLAS threads only wait on each other, badly so on busy cores (8x
            # slower scoring at 1,000 participants, bench/scale.py); torch is not affected
            with threadpool_limits(limits=1, user_api="blas"):
                if access != "secure_coalitions":  # (secure runs draw from rng: keep order)
                    # coalitions this method always asks for first, evaluated as one batch
                    grand = frozenset(range(m))
                    certain = [frozenset(), grand]
                    if method == "exact" and m <= 16:
                        certain = [
                            frozenset(i for i in range(m) if k >> i & 1) for k in range(2**m)
                        ]
                    elif method == "loo":
                        certain = [grand] + [grand - {i} for i in range(m)]
                    elif method == "surrogate" and budget >= 2 * m + 2:
                        certain += [frozenset({i}) for i in range(m)]
                        certain += [grand - {i} for i in range(m)]
                    elif method not in ("gtg", "tmc", "permutation"):
                        certain = []
                    utility.prefetch(certain)
                contribution = market.estimate(utility, m, method, budget=budget, rng=rng)
        for p, value in zip(included, contribution.values, strict=True):
            p.contribution = float(value)
        out["scoring_evaluations"] = int(contribution.evaluations)
        out["scoring_seconds"] = time.perf_counter() - started
        out["exposed_clients"] = exposed_count(access, ledger.released, m)
        out["scoring_secagg_runs"] = ledger.runs
        out["scoring_secagg_bytes"] = ledger.bytes_sent
        return out

    # ----- 6. payment and trust -----
    def pay(self, included: list[ParticipantAgent], all_ids: int) -> float:
        scenario = self.model.scenario
        n = all_ids
        contributions = np.zeros(n)
        mask = np.zeros(n, dtype=bool)
        costs = np.zeros(n)
        for p in included:
            contributions[p.pid] = p.contribution
            mask[p.pid] = True
            costs[p.pid] = p.expected_cost
        if not mask.any():
            return 0.0
        budget = scenario.market.round_budget
        if scenario.market.mechanism == "auction":
            payments = np.where(mask, self.round_info.get("auction_payments", np.zeros(n)), 0.0)
        else:
            allocation = self.mechanism.allocate(
                contributions, budget=budget, costs=costs, participants=mask, state=self.reputation
            )
            payments = allocation.payments
        for p in included:
            p.reward = float(payments[p.pid])
        self._update_reputation(contributions, mask)
        return float(payments.sum())

    def _update_reputation(self, contributions: np.ndarray, mask: np.ndarray) -> None:
        """Beta reputation from this round's contributions.

        Positive evidence is ``clip(phi_i / mean(phi_j > 0), 0, 1)``: a participant that
        contributes at least the average positive contribution earns a full unit, one that
        contributes nothing or harms the model earns none (and a full unit of negative
        evidence). Rounds where nobody improved the model carry no evidence.
        """
        helpful = contributions[mask & (contributions > 0)]
        if helpful.size == 0:
            return
        positive = np.clip(contributions / float(helpful.mean()), 0.0, 1.0)
        self.reputation = self.reputation.updated(positive, mask, REPUTATION_FORGETTING)
        self.scored_rounds += mask
        threshold = self.model.scenario.market.reputation_threshold
        if threshold > 0:
            judged = self.scored_rounds >= MIN_EVIDENCE_ROUNDS
            self.excluded |= judged & (self.reputation.scores < threshold)

    def penalise(self, rejected: list[ParticipantAgent]) -> None:
        """A rejected update is full negative evidence."""
        if not rejected:
            return
        mask = np.zeros(len(self.excluded), dtype=bool)
        for p in rejected:
            mask[p.pid] = True
        self.reputation = self.reputation.updated(np.zeros(len(mask)), mask, REPUTATION_FORGETTING)
        self.scored_rounds += mask

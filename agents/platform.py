"""The platform agent: it sequences one round's phases over the typed parts of the plan.

1. :meth:`select` -- the mechanism's selection phase over those who joined, never an
   identity the data registry refused (:mod:`privacy.commitments`).
2. the selected train (``ParticipantAgent.train``: real local fine-tuning).
3. :meth:`screen` -- invalid updates (NaN/Inf, wrong length, norm above
   ``train.max_update_norm``), free riders (``market.free_rider_reasons``: far smaller than
   the median, or a replay of the last global step, Fraboni et al. 2021) and updates backed
   by no metered training (:func:`agents.metering.metered_weight`) are rejected with a reason.
4. :meth:`aggregate` -- the round's sum through the access mode (:mod:`agents.access`), with
   DP noise shares (:mod:`agents.dp`); an aborted secure round leaves the model unchanged.
5. :meth:`score` -- the estimator and the mechanism's valuation (:mod:`agents.scoring`).
6. :meth:`pay` -- the mechanism within the round budget, and the trust update (beta
   reputation, Josang & Ismail 2002; exclusion below the threshold).

The platform reads neither the Mesa model nor the scenario: what a phase needs arrives in
the plan (:class:`~agents.compile.RunPlan`) or the round's context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

import market
from agents.metering import metered_weight
from agents.reports import AggregationReport, RoundContext, ScoringReport
from agents.scoring import RoundScores, score_round
from agents.update_store import UpdateStore
from agents.validity import update_fault

if TYPE_CHECKING:
    from agents.compile import RunPlan
    from agents.participants import ParticipantAgent


class PlatformAgent(mesa.Agent):  # type: ignore[misc]  # mesa ships no type stubs
    """Runs the marketplace side of every round."""

    def __init__(self, model: mesa.Model, plan: RunPlan) -> None:
        super().__init__(model)
        self.plan = plan
        self.reputation = plan.reputation.initial(plan.n_identities)
        self.ledger = market.PaymentLedger.initial(plan.n_identities)  # run totals
        self.selection: market.Selection | None = None
        self.last_delta: np.ndarray | None = None  # the global step it applied last round
        self.last_shares: dict[int, np.ndarray] = {}  # pid -> its weighted share of that step
        self.scores = RoundScores()  # what this round's scoring gave payment
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
            bids[p.pid], sizes[p.pid] = p.declared_cost, p.declared_size
        selection = self.plan.mechanism.select(
            candidates,
            budget=self.plan.round_budget,
            bids=bids,
            data_sizes=sizes,
            state=self.reputation,
            rng=rng,
        )
        self.selection = selection
        for p in joined:
            if p.pid in self.refused:
                continue
            if selection.excluded[p.pid]:
                p.rejected_reason = "excluded: reputation below threshold"
            elif selection.lost[p.pid]:
                p.rejected_reason = "lost the auction"
        return [p for p in joined if selection.selected[p.pid] and p.pid not in self.refused]

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
        bound = self.plan.max_update_norm
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
            if not reason and metered_weight(p) <= 0:
                reason = "no metered training: the update is backed by 0 samples processed"
            if reason:
                self._reject(p, reason, store)
            else:
                kept.append(p)
        return kept

    @staticmethod
    def _reject(p: ParticipantAgent, reason: str, store: UpdateStore) -> None:
        p.rejected_reason, p.update = reason, None
        store.discard(p.pid)

    # ----- 4. aggregation -----
    def aggregate(
        self, accepted: list[ParticipantAgent], context: RoundContext, store: UpdateStore
    ) -> AggregationReport:
        """The included participants and the aggregate (with DP: noised) of their updates."""
        weights, access = [metered_weight(p) for p in accepted], self.plan.access
        context.noise = access.round_noise(self.plan.dp, accepted, context)  # DP: noise shares
        report, deltas = access.aggregate(accepted, weights, store, context)
        report.plain_bytes = 4 * len(accepted) * len(context.base_vector)
        if deltas is not None:  # the server read the updates: keep each member's share
            total = sum(weights)
            self.last_shares = {
                p.pid: (w / total) * np.asarray(d, dtype=np.float32)
                for p, d, w in zip(accepted, deltas, weights, strict=True)
            }
            self.last_delta = np.asarray(report.delta, dtype=np.float32)
        elif accepted and not report.aborted:  # a secure sum: no individual update seen
            self.last_delta, self.last_shares = report.delta, {}
        return report

    # ----- 5. scoring -----
    def score(
        self, included: list[ParticipantAgent], context: RoundContext, store: UpdateStore
    ) -> ScoringReport:
        """Each included participant's contribution (``p.contribution``) and the value the
        mechanism pays on (``p.payment_value``): :func:`agents.scoring.score_round`."""
        weights = [metered_weight(p) for p in included]
        report, self.scores = score_round(self.plan, included, weights, context, store)
        return report

    # ----- 6. payment and trust -----
    def pay(self, included: list[ParticipantAgent], store: UpdateStore) -> float:
        """Pay the included participants (``p.reward``) and update their reputation.

        The mechanism pays on ``p.payment_value`` and what scoring gave it (marginals,
        standard errors, per-example values, the gain); identities whose updates are
        near-identical form one replica group, covered once (the grouping reads every
        update: off under ``secure_coalitions``, where each identity is its own group).
        Reputation evidence is the scenario's contribution score. Returns the total paid.
        """
        plan, n = self.plan, self.plan.n_identities
        if not included:
            self.reserve += plan.round_budget if plan.carry_unspent else 0.0
            return 0.0
        ids = np.array([p.pid for p in included])
        mask = np.zeros(n, dtype=bool)
        mask[ids] = True

        def spread(values: list[float]) -> np.ndarray:
            out = np.zeros(n)
            out[ids] = values
            return out

        groups = np.arange(n)
        if store.readable:
            updates = store.read_updates(ids.tolist(), "replica grouping")
            groups[ids] = ids[market.replica_groups(np.stack(updates))]
        reserve = self.reserve if plan.carry_unspent else 0.0
        allocation = plan.mechanism.allocate(
            spread([p.payment_value for p in included]),
            budget=plan.round_budget,
            **self.scores.by_identity(ids, n),
            reserve=reserve,
            effort=spread([metered_weight(p) for p in included]),
            costs=spread([p.metered_cost for p in included]),
            participants=mask,
            state=self.reputation,
            groups=groups,
            selection=self.selection,
            ledger=self.ledger,
        )
        assert allocation.ledger is not None  # allocate returns the ledger it was given
        held_before = _held(self.ledger)
        self.ledger = allocation.ledger
        if plan.carry_unspent:  # what is held stays earmarked, not carried twice
            spent = allocation.total + _held(self.ledger) - held_before
            self.reserve = max(plan.round_budget + reserve - spent, 0.0)
        for p in included:
            p.reward = float(allocation.payments[p.pid])
        contributions = spread([p.contribution for p in included])
        self.reputation = plan.reputation.observe(self.reputation, contributions, mask)
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


def _held(ledger: market.PaymentLedger) -> float:  # what it holds back (0: holds nothing)
    return float(np.sum(ledger.held)) if ledger.held is not None else 0.0

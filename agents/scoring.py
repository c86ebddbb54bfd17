"""Scoring one round: each included participant's contribution, in the scenario's estimator,
and the value the mechanism pays on, in the mechanism's own valuation.

Coalition utilities come through the privacy access mode (:mod:`agents.access`): from the
updates its declared reader may read, or, under ``secure_coalitions``, from one
secure-aggregation run per coalition. An estimator reads what its ``needs`` declare (the
utility, the update vectors: :class:`market.scoring.Estimator`); a mechanism whose valuation
gives per-example values (:class:`market.scoring.ExampleBanzhaf`) is scored with that one
valuation, which every report then shows.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

import market
from agents.access import CoalitionAggregate, SecAggLedger
from agents.dp_scoring import noise_stderr, remembered
from agents.reports import RoundContext, ScoringReport
from agents.update_store import UpdateStore
from fl_core import CoalitionUtility
from market.game import coalition_of

if TYPE_CHECKING:
    from agents.compile import RunPlan
    from agents.participants import ParticipantAgent

Sources = tuple["Sequence[np.ndarray] | None", "CoalitionAggregate | None"]
"""What a round's coalition utilities are built from: the updates, or a coalition rule."""
_NO_SOURCES: Sources = (None, None)

SYBIL_ESTIMATE_COPIES = 3
"""Identities the per-round replication estimate gives each participant (issue 12's attack)."""
SYBIL_ESTIMATE_MAX_PLAYERS = 10
"""Largest round the replication estimate replays (its game has ``m + 2`` players, exact)."""


@dataclass
class RoundScores:
    """What payment needs of one round's scoring, by identity.

    Attributes:
        marginals: ``u(N) - u(N - i)`` (mechanisms that use marginals).
        stderr: the standard error of each value (per-example valuations).
        examples: each identity's per-example values.
        gain: the round's ``u(N) - u(empty)`` and its standard error.
    """

    marginals: dict[int, float] = field(default_factory=dict)
    stderr: dict[int, float] = field(default_factory=dict)
    examples: dict[int, np.ndarray] = field(default_factory=dict)
    gain: tuple[float, float] | None = None

    def by_identity(self, ids: np.ndarray, n: int) -> dict[str, Any]:
        """The mechanism's ``stderr``, ``example_values``, ``marginals`` (arrays over all
        ``n`` identities, 0 outside ``ids``; ``None`` where scoring gave none) and ``gain``."""

        def spread(by_pid: dict[int, Any], width: tuple[int, ...] = ()) -> np.ndarray | None:
            if not by_pid:
                return None
            out = np.zeros((n, *width))
            out[ids] = [by_pid[int(pid)] for pid in ids]
            return out

        width = (len(next(iter(self.examples.values()))),) if self.examples else ()
        return {
            "stderr": spread(self.stderr),
            "example_values": spread(self.examples, width),
            "marginals": spread(self.marginals),
            "gain": self.gain,
        }


def score_round(
    plan: RunPlan,
    included: list[ParticipantAgent],
    weights: list[float],
    context: RoundContext,
    store: UpdateStore,
) -> tuple[ScoringReport, RoundScores]:
    """Score ``included`` (their FedAvg ``weights``): sets ``p.contribution`` and
    ``p.payment_value``; returns the round's report and what payment needs."""
    report, scores = ScoringReport(), RoundScores()
    m = len(included)
    if m == 0:
        return report, scores
    started = time.perf_counter()
    estimator, valuation = plan.estimator, plan.mechanism.valuation
    ledger = SecAggLedger()
    utility, sources = None, _NO_SOURCES
    if "utility" in estimator.needs or valuation is not None:
        utility, sources = _utility(plan, included, weights, context, ledger, store)
    if valuation is not None and "examples" in valuation.needs:
        assert utility is not None and isinstance(valuation, market.ExampleBanzhaf)
        values = _score_examples(
            valuation, plan, included, weights, utility, sources, context, scores
        )
        contribution_values = values
    else:
        budget = estimator.effective_budget(m, plan.scoring_budget)
        updates = None
        if "updates" in estimator.needs:  # refused under secure_coalitions (the scenario says so)
            updates = np.stack(
                store.read_updates([p.pid for p in included], f"{estimator.name} scoring")
            )
        elif plan.access.readable and utility is not None:  # (secure runs draw from rng)
            utility.prefetch(estimator.planned_coalitions(m, budget))
        contribution = estimator.estimate(
            utility,
            m,
            budget=budget,
            rng=context.scoring_rng,
            updates=updates,
            weights=np.asarray(weights) if updates is not None else None,
        )
        contribution_values = values = contribution.values
        if valuation is not None and valuation.index != estimator.index:
            values = valuation.estimate(utility, m, budget=budget, rng=context.scoring_rng).values
        if plan.mechanism.uses_marginals and utility is not None:
            helpful = np.asarray(values) > 0  # marginals to the coalition of those that help
            marginals = market.grand_marginals(utility, m, helpful)  # mostly memoised
            scores.marginals = {p.pid: float(v) for p, v in zip(included, marginals, strict=True)}
    for p, value, paid_on in zip(included, contribution_values, values, strict=True):
        p.contribution = float(value)
        p.payment_value = float(paid_on)
    report.sybil_gain_max = replication_gain(plan, included, weights, utility, store.readable)
    if context.noise is not None and utility is not None and plan.access.readable:
        for coalition in utility.table():  # each a sum of noised updates that left the scorer
            context.noise.scoring.release([included[i].pid for i in coalition])
    # distinct coalitions evaluated this round, the mechanism's own valuation included
    report.scoring_evaluations = int(utility.evaluations if utility is not None else 0)
    report.scoring_seconds = time.perf_counter() - started
    leak = plan.access.leak(ledger.released, m)
    report.exposed_clients = len(leak.exposed)
    report.exposed_positions = frozenset(leak.exposed)
    report.smallest_group = min(len(leak.smallest_group), m)
    report.smallest_group_at_least = min(leak.smallest_group_at_least, m)
    report.smallest_group_exact = leak.exact
    report.scoring_secagg_runs = ledger.runs
    report.scoring_secagg_bytes = ledger.bytes_sent
    return report, scores


def _score_examples(
    valuation: market.ExampleBanzhaf,
    plan: RunPlan,
    included: list[ParticipantAgent],
    weights: list[float],
    utility: CoalitionUtility,
    sources: Sources,
    context: RoundContext,
    scores: RoundScores,
) -> np.ndarray:
    """Banzhaf values with standard errors over the validation examples
    (:class:`market.scoring.ExampleBanzhaf`), their per-example values and the gain; with DP
    the errors include what the noise shares put in (:func:`agents.dp_scoring.noise_stderr`)."""
    m, budget = len(included), plan.scoring_budget
    replay = copy.deepcopy(context.scoring_rng)  # the coalitions a redraw values again
    result = valuation.value_round(utility, m, budget=budget, rng=context.scoring_rng)
    assert result.per_example is not None and result.sampling_stderr is not None
    stderr, gain_stderr = np.asarray(result.sampling_stderr), result.gain_stderr
    if context.noise is not None and context.dp_rng is not None:  # DP noise, measured

        def valuate(
            deltas: Sequence[np.ndarray] | None,
            aggregate: CoalitionAggregate | None,
            rng: np.random.Generator,
        ) -> tuple[np.ndarray, float]:
            redrawn = _coalition_utility(plan, context, deltas, weights, aggregate)
            again = valuation.value_round(redrawn, m, budget=budget, rng=rng)
            return np.asarray(again.values), again.gain

        noise_se, gain_noise_se = noise_stderr(
            valuate,
            *sources,
            noise=context.noise.scoring,
            pids=[p.pid for p in included],
            weights=weights,
            scoring_rng=replay,
            values=np.asarray(result.values),
            gain=result.gain,
            rng=context.dp_rng,
        )
        stderr = np.hypot(stderr, noise_se)
        gain_stderr = float(np.hypot(gain_stderr, gain_noise_se))
    for i, p in enumerate(included):
        scores.stderr[p.pid] = float(stderr[i])
        scores.examples[p.pid] = result.per_example[i]
    scores.gain = (result.gain, gain_stderr)
    return np.asarray(result.values)


def replication_gain(
    plan: RunPlan,
    included: list[ParticipantAgent],
    effort: list[float],
    utility: CoalitionUtility | None,
    grouped: bool = True,
) -> float:
    """The most any included participant would have gained this round (payoff, budget
    units) by also submitting its update under :data:`SYBIL_ESTIMATE_COPIES` - 1 more
    identities (:func:`market.sybil_gain` on the round's utility, with the platform's
    replica grouping when ``grouped``: off under ``secure_coalitions``, where pay cannot
    group), ``effort`` the metered effort of each. Computed only when every coalition is
    already evaluated (``2**m`` memoised: no extra evaluation, and under secure coalitions no
    extra released sum); ``nan`` otherwise. Splitting one's data cannot be replayed from the
    table: the gym (:mod:`agents.attacks`) measures it.
    """
    m = len(included)
    if utility is None or m > SYBIL_ESTIMATE_MAX_PLAYERS or utility.evaluations < 2**m:
        return float("nan")
    costs = np.array([p.metered_cost for p in included], dtype=np.float64)
    metered = np.array(effort, dtype=np.float64)
    table = np.array([utility(coalition_of(mask, m)) for mask in range(2**m)])
    gains = [
        market.sybil_gain(
            table,
            m,
            i,
            SYBIL_ESTIMATE_COPIES,
            plan.mechanism,
            budget=plan.round_budget,
            costs=costs,
            effort=metered,  # metered (a replica's copies: none)
            group_clones=grouped,
            clones_true_cost=float(costs[i]),
        ).gain
        for i in range(m)
    ]
    return float(max(gains))


def _utility(
    plan: RunPlan,
    included: list[ParticipantAgent],
    weights: list[float],
    context: RoundContext,
    ledger: SecAggLedger,
    store: UpdateStore,
) -> tuple[CoalitionUtility, Sources]:
    """``u(S)``: the metric of the model updated by coalition S's aggregate, and what it is
    built from (with DP, the released sums are kept for :mod:`agents.dp_scoring`)."""
    deltas, aggregate = plan.access.coalitions(
        included, weights, store, context.secagg_rng, ledger, context.noise
    )
    if context.noise is not None:
        aggregate = remembered(aggregate)
    return _coalition_utility(plan, context, deltas, weights, aggregate), (deltas, aggregate)


def _coalition_utility(
    plan: RunPlan,
    context: RoundContext,
    deltas: Sequence[np.ndarray] | None,
    weights: list[float],
    aggregate: CoalitionAggregate | None,
) -> CoalitionUtility:
    # the task's cached, batched evaluator: exact, with a memo across rounds (next
    # round's start model is this round's grand coalition)
    evaluator = context.task.coalition_evaluator("val", context.utility_indices)
    return CoalitionUtility(
        evaluator.evaluate,
        context.base_vector,
        deltas,
        weights,
        metric=plan.utility_metric,
        server_lr=1.0,
        aggregate=aggregate,
        evaluate_many=evaluator.evaluate_many,
    )

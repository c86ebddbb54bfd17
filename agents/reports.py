"""Typed reports of one round's phases, and the round record the model collects.

Each phase of :class:`~agents.platform.PlatformAgent` returns one of these instead of a
``dict``; :class:`RoundRecord` is the row of the ``rounds`` table (Mesa's DataCollector
reads its fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from agents.dp import RoundNoise
    from agents.participants import ParticipantAgent
    from fl_core import FederatedTask


@dataclass
class RoundContext:
    """What the platform needs of the run in one round.

    Attributes:
        task: the federated task (model, data, evaluators).
        base_vector: the global model at the start of the round.
        utility_indices: validation examples on which coalitions are scored.
        secagg_rng, scoring_rng: the round's random streams (graph and dropouts; estimator).
        dp_rng: the run's stream of DP noise shares (``None``: no differential privacy).
        noise: the round's noise shares and releases, once aggregation has drawn them.
    """

    task: FederatedTask
    base_vector: np.ndarray
    utility_indices: np.ndarray
    secagg_rng: np.random.Generator
    scoring_rng: np.random.Generator
    dp_rng: np.random.Generator | None = None
    noise: RoundNoise | None = None


@dataclass
class AggregationReport:
    """Who was included (``members``) and the aggregate delta (``None``: model unchanged)."""

    members: list[ParticipantAgent] = field(default_factory=list)
    delta: np.ndarray | None = None
    secagg_bytes: int = 0
    plain_bytes: int = 0
    secagg_seconds: float = 0.0
    aborted: bool = False
    abort_reason: str = ""  # typed reason code of privacy.SecAggAborted ("too_few_survivors", ...)
    abort_message: str = ""  # the abort's one-line message
    graph: Any = None  # the round's neighbour graph (kept when the round aborts after building it)

    def record_abort(self, error: Exception) -> None:
        """Record a secure-aggregation abort (``privacy.SecAggAborted``): its typed reason code
        (``error.reason``, else the exception class in snake_case), its one-line message, and
        the round's neighbour graph when one was built before the abort (``error.graph``)."""
        self.aborted = True
        self.abort_reason = str(getattr(error, "reason", None) or _snake_case(type(error).__name__))
        self.abort_message = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.graph = getattr(error, "graph", None)


def _snake_case(name: str) -> str:
    """``"TooFewSurvivors"`` -> ``"too_few_survivors"``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@dataclass
class ScoringReport:
    """What contribution scoring cost and exposed."""

    scoring_evaluations: int = 0
    scoring_seconds: float = 0.0
    exposed_clients: int = 0
    smallest_group: int = 0  # a computable group of that size (the leak audit's witness)
    smallest_group_at_least: int = 0  # no computable group is smaller (a proven lower bound)
    smallest_group_exact: bool = False  # the two meet (False: nothing scored)
    scoring_secagg_runs: int = 0
    scoring_secagg_bytes: int = 0
    sybil_gain_max: float = float("nan")
    exposed_positions: frozenset[int] = frozenset()  # positions in `included` the audit exposes


@dataclass
class RoundRecord:
    """One row of the ``rounds`` table (round 0 is the initial model)."""

    round: int = 0
    val_accuracy: float = float("nan")
    val_loss: float = float("nan")
    test_accuracy: float = float("nan")
    test_loss: float = float("nan")
    available: int = 0
    joined: int = 0
    selected: int = 0
    stragglers: int = 0
    rejected: int = 0
    dropouts: int = 0
    included: int = 0
    aborted: bool = False
    abort_reason: str = ""  # typed reason code of the secure-aggregation abort ("": none)
    abort_message: str = ""  # its one-line message
    budget_paid: float = 0.0
    costs_incurred: float = 0.0  # participants' true (private) costs this round
    posted_rate: float = float("nan")  # pay per metered example the platform posted
    scoring_method: str = ""
    scoring_evaluations: int = 0
    exposed_clients: int = 0
    smallest_group: int = 0  # a computable group of that size: the server could sum it
    smallest_group_at_least: int = 0  # no computable group is smaller (proven)
    smallest_group_exact: bool = False  # smallest_group is proven smallest (False: nothing scored)
    secagg_bytes: int = 0
    plain_bytes: int = 0
    bytes_sent: int = 0  # update payloads sent this round, plaintext under train.compression
    secagg_seconds: float = 0.0
    scoring_secagg_runs: int = 0
    scoring_secagg_bytes: int = 0
    train_seconds: float = 0.0
    scoring_seconds: float = 0.0
    sybil_gain_max: float = float("nan")  # best replication gain any participant had (budget units)
    server_reads: int = 0  # distinct clients whose individual update the server read
    evaluator_reads: int = 0  # ... that the trusted evaluator read (privacy.access)
    dp_noise_std: float = 0.0  # each client's DP noise share std this round (0: no DP)
    dp_releases: int = 0  # noised sums released this round (the model's and scoring's)
    dp_epsilon: float = 0.0  # the largest epsilon any participant has spent so far
    round_seconds: float = 0.0
    overhead_seconds: float = 0.0

    def update_from(self, report: AggregationReport | ScoringReport) -> None:
        """Copy the fields a phase report shares with the record."""
        mine = {f.name for f in fields(self)}
        for f in fields(report):
            if f.name in mine:
                setattr(self, f.name, getattr(report, f.name))

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

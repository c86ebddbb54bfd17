"""Banzhaf cover: a cost cover decided by the Banzhaf value, a surplus paid on marginals.

Two stages (the marketplace default until ``pooled_value``, issue 25):

1. *Cover*: every participant whose Banzhaf value is positive is paid its metered cost
   (replica groups covered once). The Banzhaf value (Wang & Jia 2023, "Data Banzhaf: a
   robust data valuation framework for machine learning", AISTATS) is the semivalue most
   robust to utility noise, so it is the test of "contributes something": null and harmful
   participants get nothing.
2. *Surplus*: the rest of the budget is split among the covered participants in proportion
   to ``max(u(N) - u(N - i), 0)``, their marginal contribution to the grand coalition
   (leave-one-out). Qi & Zhu 2024 ("Data-sharing markets: model, protocol and algorithms to
   incentivize the formation of data-sharing consortia") show that marginal-contribution
   payments do not reward splitting one's data over several identities on submodular games:
   the parts of a split substitute for one another in ``N``, so their marginals add up to at
   most the whole's. Exact replicas have marginal 0 to one another.

Why not the Banzhaf surplus (the rule before): a semivalue averages marginals over
coalitions of every size, and adding identities makes every *other* participant's Banzhaf
value smaller (the coalitions they are averaged over grow), while the split owner's summed
value stays the same. Measured on MiniLM head mode (default market, 6 honest owners of 300
reviews and one attacker, 3 rounds, the gym of ``agents.attacks``, seeds 0-19): per round the
attacker's summed Banzhaf value was 0.0128 split vs 0.0122 whole, the six honest ones' 0.068
vs 0.076, so the split owner's surplus share rose from 15% to 20%: a payoff gain of
+12.4 +- 3.0 (standard error) on a mean honest payoff of 29.1 (+43%), structural rather than
noise (replaying the rounds with a 500-example validation set left it at +38%). With the
surplus on grand-coalition marginals: -0.4 +- 4.1 on 27.3 (-1% +- 15%).

Without ``marginals`` (callers that cannot evaluate the utility), the surplus is split by
the Banzhaf values, as before.

The cover on evidence over rounds (:func:`covered_on_record`). One round's value is noisy: an
honest owner's Banzhaf value came out <= 0 in 17% of its rounds, and each such round paid it
nothing, not even its cost, while an owner split into 3 identities rarely had all three
pieces <= 0 at once (1.7% of rounds): a noise-driven reward for splitting. So a participant is
also covered when its signed track record says it helps: with the reputation state of
:class:`market.reputation.ReputationPolicy`, ``record_i + s_i > 0``, where ``s_i =
clip(phi_i / mean(phi_j > 0), -1, 1)`` is this round's signed evidence and ``record_i`` the
discounted mean of the past ones (:attr:`~market.reputation.ReputationState.record`, in
``[-1, 1]``). A dip is forgiven only when it is smaller, in units of the round's average help,
than the participant's average help so far; a harm at least as large as the average help
(``s_i = -1``) is never forgiven, however long the history; a null player's record is 0 and
stays uncovered; a first round (no record) is judged on its value alone. A forgiven round is a
cover only (its cost, metered: 0 for one that did not train); its surplus share still
follows ``max(u(N) - u(N - i), 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from market.mechanisms.base import Mechanism, Round, cover_then_share
from market.reputation import signed_evidence
from market.scoring.banzhaf import ExactFirstBanzhaf
from market.scoring.base import Estimator
from market.types import BoolArray, FloatArray


def covered_on_record(round_: Round) -> BoolArray:
    """Participants covered this round: a positive value, or ``record_i + s_i > 0`` where
    ``s_i`` is this round's signed evidence and ``record_i`` the reputation state's signed
    track record (see the module docstring; without a state: a positive value)."""
    covered: BoolArray = round_.participants & (round_.contributions > 0)
    signed = signed_evidence(round_.contributions, round_.participants)
    if round_.state is None or signed is None:
        return covered
    forgiven: BoolArray = round_.participants & (round_.state.record + signed > 0)
    return covered | forgiven


@dataclass(frozen=True)
class BanzhafCover(Mechanism):
    """Cost cover for positive Banzhaf values (or a positive track record, see
    :func:`covered_on_record`) plus a surplus split by grand-coalition marginals.

    Class attributes:
        covers_on_record: forgive a dip of the round's value within the track record
            (``False``: cover positive values only, the rule before).
    """

    name: ClassVar[str] = "banzhaf_cover"
    valuation: ClassVar[Estimator | None] = ExactFirstBanzhaf()
    guarantees: ClassVar[frozenset[str]] = frozenset(
        {"budget", "ir", "free_rider", "poisoner", "sybil"}
    )
    uses_marginals: ClassVar[bool] = True
    covers_on_record: ClassVar[bool] = True

    def _pay(self, round_: Round) -> FloatArray:
        covered = covered_on_record(round_) if self.covers_on_record else None
        return cover_then_share(round_, round_.positive, round_.marginals, covered=covered)

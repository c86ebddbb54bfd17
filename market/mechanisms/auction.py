"""Budget-feasible, truthful reverse auction with escrow released against delivery (Singer
2010, "Budget feasible mechanisms", FOCS; reputation-weighted values in the spirit of RRAFL,
Zhang et al. 2021, "Incentive mechanism for horizontal federated learning based on reputation
and reverse auction", WWW).

Selection (:meth:`Auction.select`, before training). Each candidate bids its cost ``b_i`` and
declares a data size; its value is ``v_i = size_i * rep_i`` (``rep_i`` from the reputation
state when given, else 1). Bidders are ranked by cost per unit value ``rho_i = b_i / v_i``,
ties broken by a random priority drawn from ``rng`` (by identity when ``rng`` is ``None``),
so tied bidders are taken one by one and never dropped as a block. The winners are the
longest prefix ``1..k`` with ``rho_k * V_k <= B`` (``V_k`` the prefix's value), and each is
escrowed ``e_i = p * v_i`` with ``p = min(B / V_k, rho_{k+1})``. For a fixed priority the rule
is monotone and ``e_i`` is the critical bid, so bidding the true cost is dominant (Myerson
1981); ``e_i >= b_i`` and ``sum e_i <= B``. Zero-value candidates (no data) never win.

Payment (:meth:`Auction.allocate`, after scoring). The escrow is released against delivered
contribution (:func:`release`): with ``E`` the escrow of the winners who delivered, ``s_i =
e_i / E`` winner ``i``'s declared share and ``d_i`` its share of their positive contribution,
``due_i = min(e_i, E * d_i / theta)`` with ``theta = full_share`` (0.25): the full escrow once
it delivers a quarter of its declared share, less below. A winner that delivers nothing (a
free rider bidding 0) or harms the model is due 0. The price of ``theta < 1``: a winner that
inflates its declared data size by a factor up to ``1 / theta`` and delivers its true share
is still due its (inflated) escrow; beyond that ``d_i`` caps it. Unreleased escrow is not
spent. Identities of one replica group
(near-identical updates, :func:`market.identities.replica_groups`) delivered one data set:
together they are paid at most their largest escrow (:func:`once_per_replica_group`).

Over a run (the caller passes a :class:`~market.mechanisms.ledger.PaymentLedger`), the rule
is applied to the run's totals: ``e_i``, ``E`` and the values are summed over the rounds each
identity delivered in, and round ``t`` pays ``clip(due_i(t) - paid_i(t - 1), 0, e_i(t))``, the
increment of the cumulative release, at most this round's escrow (so every round stays within
its budget, truthfulness of the selection is untouched, and nobody is paid more than its
escrow over the run). Without a ledger, or in the first round, this is the one-round rule.

Why (data splitting, the false-name bids of Yokoo, Sakurai & Matsubara 2004, "The effect of
false-name bids in combinatorial auctions", Games and Economic Behavior). The escrow is
additive in the declared size, so a split owner's pieces are escrowed what the whole is; the
gain comes from the release. Measured on MiniLM head mode (4 honest owners of 200 reviews,
one of 300 whole or split in 3, exact Shapley values, 4 rounds; recorded in
``tests/market/test_auction_release.py``): (1) in round 1 the three pieces' Shapley values
summed 1.7-2.8x the whole's on seeds 0, 3 and 4 (0.030 vs 0.012 on seed 4): the head saturates,
and the Shapley value credits each piece with the first examples' worth (the replication and
splitting rewards of Shapley shares, Han et al. 2022), so with ``theta = 1`` the pieces were
paid their full escrow while the whole was paid its smaller value share; (2) later rounds'
values are within the evaluation noise, and released round by round each identity is paid on
the positive part of its own value, ``sum_k max(X_k, 0) >= max(sum_k X_k, 0)`` (Jensen). The
owner split 3 ways earned (split / whole, seeds 0-5): 0.95 0.84 0.73 1.11 2.73 0.98 with
the rule round by round and ``theta = 1``; 0.62 0.75 0.85 2.06 2.39 1.01 on the run's totals
with ``theta = 1``; 0.83 0.84 0.48 0.86 1.42 0.70 round by round with ``theta = 0.25``;
with both, 0.48 0.89 0.67 0.94 0.81 0.71 (and 0.77-0.98 on seeds 6-11; ``theta`` 0.2 and 0.3
also hold on seeds 0-5, 0.5 does not). Lowering ``theta`` makes the release nearly flat in
the value above a quarter of the declared share, so an inflated Shapley share buys nothing
beyond the escrow; accumulating (the multi-round sum of per-round values of Song, Tong & Wei
2019, "Profit allocation for federated learning", IEEE Big Data) lets the first rounds'
signal outweigh the later noise, and once every piece's running value is positive,
``sum_k min(e_k, c d_k) <= min(sum_k e_k, c sum_k d_k)``. ``theta`` below 0.2 pays a
zero-quality identity that declares data its escrow on noise (the free-rider check of
``tests/market/test_market_properties.py`` fails at 0.15). A pure poisoner's running value
stays negative and a free rider's at 0: both are paid 0 over the run; one that helped and
then harms is paid only while its running value still covers it.

Not resisted: declaring more data than one holds. The declared size sets the escrow and the
pool ``E``, and the server cannot verify it. Measured with the attack gym
(``python -m bench.attack_matrix --rounds 3 --seeds 0 1 2 --mechanisms auction --attacks
inflate_size sybil_split``, an owner declaring 3x its 300 reviews; AMD EPYC): it gained
+11.8 +- 12.1 over honest play (+89%) with the previous rule (round by round, ``theta = 1``;
honest payoff 6.8) and +33.7 +- 35.3 (+107%) with this one (honest payoff 23.2); splitting
in 3 lost 5.3 and 16.9. The value-based mechanisms (``pooled_value``, the default, and
``banzhaf_cover``) pay without looking at declared sizes, and FedAvg weighs metered samples
(see bench/results/attack_matrix.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Mechanism, Offers, Round, Selection
from market.types import BoolArray, FloatArray, IntArray

MIN_RELATIVE_VALUE = 1e-12
"""Bidders whose value is below this fraction of the largest value never win."""


def proportional_share_auction(
    values: FloatArray, bids: FloatArray, budget: float, priority: IntArray | None = None
) -> tuple[BoolArray, FloatArray]:
    """Return the winners and their payments under the proportional-share rule.

    Only bidders with ``values > MIN_RELATIVE_VALUE * max(values)`` take part (whatever they
    bid, so the rule stays monotone). Equal ``rho`` are ordered by ``priority`` (lower first;
    default: the index). A winner's payment is ``min(B * v_i / V_k, rho_{k+1} * v_i)``,
    written so that tiny values cannot overflow.
    """
    n = values.size
    winners = np.zeros(n, dtype=bool)
    payments = np.zeros(n)
    top = float(values.max()) if n else 0.0
    if top <= 0 or budget <= 0:
        return winners, payments
    rank = np.arange(n) if priority is None else np.asarray(priority)
    values = values / top  # the rule is scale-free in the values; this avoids overflow
    active = np.flatnonzero(values > MIN_RELATIVE_VALUE)
    rho = bids[active] / values[active]
    order = np.lexsort((rank[active], rho))
    ranked, rho_sorted = active[order], rho[order]
    prefix_value = np.cumsum(values[ranked])
    fits = rho_sorted * prefix_value <= budget
    k = int(np.argmin(fits)) if not fits.all() else ranked.size  # longest feasible prefix
    if k == 0:
        return winners, payments
    chosen = ranked[:k]
    winners[chosen] = True
    share = budget * (values[chosen] / prefix_value[k - 1])
    if k < ranked.size:
        share = np.minimum(share, rho_sorted[k] * values[chosen])
    payments[chosen] = share
    return winners, payments


@dataclass(frozen=True)
class Auction(Mechanism):
    """Reverse auction at selection, escrow released against delivered contribution.

    Args:
        use_reputation: weight declared values by the reputation ``state``'s scores.
        full_share: ``theta`` in ``(0, 1]``: the fraction of its declared share of the value
            at which an identity's full escrow is released.

    Pass ``ledger=`` to :meth:`allocate` every round to release against the run's totals.
    """

    name: ClassVar[str] = "auction"
    guarantees: ClassVar[frozenset[str]] = frozenset(
        {"budget", "ir", "free_rider", "poisoner", "sybil"}
    )
    use_reputation: bool = True
    full_share: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < self.full_share <= 1.0:
            raise ValueError(f"auction full_share must be in (0, 1], got {self.full_share}")

    def _choose(self, eligible: Selection, offers: Offers) -> Selection:
        """Run the reverse auction over the eligible candidates' bids and data sizes."""
        bid_arr, sizes, budget, state = offers.bids, offers.data_sizes, offers.budget, offers.state
        if bid_arr is None or sizes is None:
            raise ValueError("the auction selects on bids=<costs> and data_sizes=<sizes>")
        values = np.where(eligible.selected, sizes, 0.0)
        if self.use_reputation and state is not None:
            values = values * state.scores
        n = values.size
        priority = np.arange(n) if offers.rng is None else offers.rng.permutation(n)
        winners, escrow = proportional_share_auction(
            values, np.where(eligible.selected, bid_arr, 0.0), budget, priority
        )
        if escrow.sum() > budget:  # floating-point guard; the rule itself never exceeds
            escrow *= budget / escrow.sum()
        won_value = float(values[winners].sum())
        price = float(escrow.sum()) / won_value if won_value > 0 else 0.0
        return Selection(
            selected=winners,
            excluded=eligible.excluded,
            escrow=escrow,
            mechanism=self.name,
            info={"price_per_value": price},
        )

    def _pay(self, round_: Round) -> FloatArray:
        selection = round_.selection
        if selection is None or selection.mechanism != self.name:
            raise ValueError("the auction pays from its escrow: pass selection=auction.select(...)")
        delivered = round_.participants & selection.selected
        escrow = np.where(delivered, selection.escrow, 0.0)
        value = np.where(delivered, round_.contributions, 0.0)
        paid = np.zeros(escrow.size)
        if round_.ledger is not None:  # the run so far: release against the running totals
            escrow = escrow + round_.ledger.escrow
            value = value + round_.ledger.value
            paid = round_.ledger.paid
        due = release(escrow, value, self.full_share)
        out: FloatArray = np.where(delivered, np.clip(due - paid, 0.0, selection.escrow), 0.0)
        return once_per_replica_group(
            out, np.where(delivered, selection.escrow, 0.0), round_.groups
        )


def once_per_replica_group(pay: FloatArray, escrow: FloatArray, groups: IntArray) -> FloatArray:
    """Scale each replica group's payments down to at most its largest member's escrow.

    Identities sending near-identical updates (:func:`market.identities.replica_groups`)
    delivered one data set, declared as many times: their escrow is released once.
    """
    out = pay.copy()
    for label in np.unique(groups):
        members = groups == label
        total = float(out[members].sum())
        cap = float(escrow[members].max())
        if total > cap:  # the escrows are >= 0, so total > 0 here
            out[members] *= cap / total
    return out


def release(escrow: FloatArray, value: FloatArray, full_share: float = 1.0) -> FloatArray:
    """``min(e_i, E * d_i / full_share)``: escrow released against delivered value.

    ``E = sum(escrow)``; ``d_i = max(value_i, 0) / sum_j max(value_j, 0)`` (nothing is released
    when no value is positive).
    """
    positive = np.clip(value, 0.0, None)
    total = float(positive.sum())
    if total <= 0:
        return np.zeros(value.size)
    out: FloatArray = np.minimum(escrow, float(escrow.sum()) * (positive / total) / full_share)
    return out

"""Budget-feasible, truthful reverse auction (Singer 2010, "Budget feasible mechanisms", FOCS;
reputation-weighted values in the spirit of RRAFL, Zhang et al. 2021, "Incentive mechanism for
horizontal federated learning based on reputation and reverse auction", WWW).

Each participant bids its cost ``b_i`` and has value ``v_i = max(phi_i, 0) * rep_i`` (``rep_i``
from the reputation ``state`` when given, else 1). Bidders are ranked by cost per unit value
``rho_i = b_i / v_i``; the winners are the longest prefix ``1..k`` with
``rho_k * V_k <= B`` where ``V_k`` is the prefix's total value (the proportional-share rule),
never splitting bidders with equal ``rho``. Every winner is paid the same price per unit value,
``p = min(B / V_k, rho_{k+1})``, i.e. ``p * v_i``.

Properties (proved by Singer; checked by the tests): the rule is monotone (a lower bid never
loses) and ``p * v_i`` is exactly the critical bid above which ``i`` would lose, so bidding the
true cost is a dominant strategy (Myerson 1981); winners get ``p * v_i >= rho_i * v_i = b_i``
(individually rational); and ``sum p * v_i <= (B / V_k) * V_k = B`` (budget feasible).
Zero-value bidders never win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanisms.base import Allocation, Mechanism, ReputationState
from market.types import BoolArray, FloatArray

MIN_RELATIVE_VALUE = 1e-12
"""Bidders whose value is below this fraction of the largest value never win."""


def proportional_share_auction(
    values: FloatArray, bids: FloatArray, budget: float
) -> tuple[BoolArray, FloatArray]:
    """Return the winners and their payments under the proportional-share rule.

    Only bidders with ``values > MIN_RELATIVE_VALUE * max(values)`` take part (whatever they
    bid, so the rule stays monotone). A winner's payment is
    ``min(B * v_i / V_k, rho_{k+1} * v_i)``, written so that tiny values cannot overflow.
    """
    n = values.size
    winners = np.zeros(n, dtype=bool)
    payments = np.zeros(n)
    top = float(values.max()) if n else 0.0
    if top <= 0 or budget <= 0:
        return winners, payments
    values = values / top  # the rule is scale-free in the values; this avoids overflow
    active = np.flatnonzero(values > MIN_RELATIVE_VALUE)
    rho = bids[active] / values[active]
    order = np.lexsort((active, rho))
    ranked, rho_sorted = active[order], rho[order]
    prefix_value = np.cumsum(values[ranked])
    k = 0
    for end in range(1, ranked.size + 1):
        if end < ranked.size and rho_sorted[end] == rho_sorted[end - 1]:
            continue  # never split a block of equal cost-per-value
        if rho_sorted[end - 1] * prefix_value[end - 1] <= budget:
            k = end
        else:
            break
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
    """Reverse auction with critical-value payments.

    Args:
        use_reputation: weight values by ``state.scores`` when a state is passed.
    """

    name: ClassVar[str] = "auction"
    use_reputation: bool = True

    def _allocate(
        self,
        contributions: FloatArray,
        budget: float,
        costs: FloatArray | None,
        participants: BoolArray,
        state: ReputationState | None,
    ) -> Allocation:
        if costs is None:
            raise ValueError("the auction needs costs=<bids, shape (n,)>")
        values = np.where(participants, np.clip(contributions, 0.0, None), 0.0)
        if self.use_reputation and state is not None:
            values = values * state.scores
        bids = np.where(participants, costs, 0.0)
        winners, payments = proportional_share_auction(values, bids, budget)
        if payments.sum() > budget:  # floating-point guard; the rule itself never exceeds
            payments *= budget / payments.sum()
        won_value = float(values[winners].sum())
        price = float(payments.sum()) / won_value if won_value > 0 else 0.0
        return Allocation(
            payments=payments,
            selected=winners,
            mechanism=self.name,
            budget=budget,
            state=state,
            info={"price_per_value": price},
        )

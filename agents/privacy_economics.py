"""The price of privacy in the market (issue 29): what the epsilon a participant spends costs
it, what it expects to spend before it joins, and which clip factor of a menu it picks.

**Sensitivity.** Each owner has a private price per unit of epsilon (``economics.
privacy_price`` on average, log-normal ``privacy_price_spread``; drawn by
:func:`agents.economics.owner_privacy_prices`), like its private cost factor: the platform
never sees it. Its identities share it.

**Expected spend** (the cost of joining). Before a round, a participant prices the ``mu^2``
the round's releases may add to its Gaussian-DP account (:mod:`privacy.dp`), as the platform's
guarantee states it: ``mu^2 = h * t * c^2 / z^2`` with ``c`` its clip factor, ``z`` the run's
noise multiplier, ``t`` the round's noise divisor (:meth:`agents.access.Access.noise_divisor`:
the clients a secure sum expects to survive, every included client in the clear) for a round that
includes all ``n`` identities (the round the noise was solved for: fewer included clients
spend less, so this is an upper bound, and a forecast that cannot oscillate with last
round's turnout), and ``h`` what the platform says its releases cover (``privacy.dp.
budget_covers``): 1 for the shares Shapley-style scoring's coalition sums carry (they
determine its noised update, whatever the budget was solved for), ``1/n`` for the model's own
shares where scoring has its own (``privacy.dp.scoring_share``). The epsilon it would
spend is the *increase* of its epsilon, ``epsilon(mu^2_so_far + mu^2) -
epsilon(mu^2_so_far)`` (epsilons do not add; ``mu^2`` does),
and its privacy cost that times its price: part of the expected cost its join policy
weighs, and of its bid (``declared_cost``).

**Realised spend.** After scoring the platform books the round's actual releases
(:func:`agents.dp.book_round`); each included identity is then charged its price times the
increase of its booked epsilon over the round (:func:`realised_privacy_cost`): the
``privacy_cost`` column, part of ``cost``. A participant that does not train sends none of its
data, so it has nothing to price (0), as its expected cost is 0.

**Who pays for it** (Ghosh & Roth 2011, "Selling Privacy at Auction", EC): the platform meters
compute and data (``metered_cost``) but not a private price, so the value-based mechanisms
(``pooled_value``, ``banzhaf_cover``, ``verified_value``), which cover metered costs and pay
for value, do not reimburse privacy; a participant whose privacy cost exceeds its expected
pay stays out. The ``auction`` (Singer 2010's budget-feasible reverse auction) takes bids:
the privacy cost is part of the bid, and a winner's escrow is its critical (threshold) price,
at least its bid, so truthful bidding recovers the privacy cost as Ghosh & Roth's threshold
payments do (a bid above one's true privacy cost only loses rounds one would have gained
from; below it, one may win at a price under one's cost). The escrow is released against
delivered value (:mod:`market.mechanisms.auction`): a winner whose noised contribution falls
short of a quarter of its declared share is paid less than its price.

**The menu** (``privacy.dp.menu``, clip factors in ``(0, 1]``; the platform offers it under
any mechanism, and the clip factor is public: it sets the accounting). Each available participant
picks the factor ``c`` maximising ``R c - price * spend(c)`` before it decides to join
(:func:`choose_clip_factor`): ``R`` is the pay its join policy expects, which it takes to be
the pay of a full-clip update, and pay is taken to scale with ``c`` (under the same noise a
clipped update carries signal in proportion to its factor where the clip binds); its other
costs do not depend on ``c``. Ties go to the larger factor (more signal). This is a belief,
not a measurement: ``pooled_value`` pays mostly for metered effort and the auction its escrow,
so a small factor costs a participant less pay than it assumes.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

from agents.dp import DifferentialPrivacy, PrivacyAccount


class Priced(Protocol):
    """What this module reads of a participant (``agents.participants.ParticipantAgent``)."""

    model: Any  # the Mesa model: its plan (``agents.compile.RunPlan``)
    privacy: PrivacyAccount
    privacy_price: float
    epsilon_at_start: float

    @property
    def trains(self) -> bool: ...

    @property
    def expected_reward(self) -> float: ...


@functools.lru_cache(maxsize=256)
def round_threshold(access: Any, n: int) -> int:
    """The ``t`` of a round that includes ``n`` clients, as the access mode draws its noise
    (:meth:`agents.access.Access.noise_divisor`; ``access``: an Access)."""
    return int(access.noise_divisor(n))


def expected_mu_squared(plan: Any, n: int, clip_factor: float) -> float:
    """The ``mu^2`` one member of a round of ``n`` included clients expects its releases to
    cost: ``h * t * c^2 / z^2`` summed over the noise families, ``h = 1`` for the shares
    that Shapley-style scoring's coalition sums carry (they determine its noised update) and
    ``1/n`` for the model's own where scoring has its own (``plan``: the run's
    :class:`agents.compile.RunPlan`)."""
    dp = plan.dp
    if dp is None or n < 1:
        return 0.0
    t, c2 = round_threshold(plan.access, n), clip_factor**2
    if dp.scoring_multiplier is not None:  # the model's sum alone, and scoring's own shares
        return t * c2 * (1.0 / (n * dp.noise_multiplier**2) + 1.0 / dp.scoring_multiplier**2)
    return t * c2 / dp.noise_multiplier**2  # scoring's coalition sums determine its update


def spend(dp: DifferentialPrivacy, mu_so_far: float, mu_round: float) -> float:
    """The epsilon a round of ``mu_round`` adds to an account at ``mu_so_far`` (``mu^2``s)."""
    return dp.epsilon_of(mu_so_far + mu_round) - dp.epsilon_of(mu_so_far)


def expected_privacy_cost(p: Priced, clip_factor: float | None = None) -> float:
    """``p``'s price times the epsilon it expects a round to add at ``clip_factor`` (default:
    its current one); 0 without DP, at price 0, or for one that does not train."""
    plan = p.model.plan
    if plan.dp is None or p.privacy_price <= 0 or not p.trains:
        return 0.0
    factor = p.privacy.clip_factor if clip_factor is None else clip_factor
    mu = expected_mu_squared(plan, plan.n_identities, factor)
    return p.privacy_price * spend(plan.dp, p.privacy.mu_squared, mu)


def realised_privacy_cost(p: Priced) -> float:
    """``p``'s price times the increase of its booked epsilon this round (0 for one that does
    not train: it sent none of its data)."""
    if p.privacy_price <= 0 or not p.trains:
        return 0.0
    return p.privacy_price * max(p.privacy.epsilon - p.epsilon_at_start, 0.0)


def menu_of(plan: Any) -> tuple[float, ...]:
    """The clip factors the run offers (empty: none, or no DP)."""
    if plan.dp is None:
        return ()
    return tuple(float(c) for c in plan.scenario.privacy.dp.menu)


def initial_clip_factor(plan: Any) -> float:
    """A newcomer's clip factor: the menu's largest (1 without a menu)."""
    menu = menu_of(plan)
    return max(menu) if menu else 1.0


def choose_clip_factor(p: Priced) -> float:
    """The factor of the menu maximising ``R c - privacy cost(c)`` (ties: the larger);
    its current factor where the run offers no menu."""
    menu = menu_of(p.model.plan)
    if not menu:
        return float(p.privacy.clip_factor)
    reward = p.expected_reward
    reward = reward if reward == reward else 0.0  # nan: nothing expected yet
    best, best_value = max(menu), float("-inf")
    for factor in sorted(set(menu), reverse=True):
        value = reward * factor - expected_privacy_cost(p, factor)
        if value > best_value:
            best, best_value = factor, value
    return best

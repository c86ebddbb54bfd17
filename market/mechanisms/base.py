"""What every reward mechanism shares: the selection and allocation phases and their results.

A round has two phases. Before training, :meth:`Mechanism.select` picks who trains from the
candidates (default: every candidate the reputation state has not excluded; the auction
runs its reverse auction here and escrows the winners' payments). After the updates are
scored, :meth:`Mechanism.allocate` pays within the budget. Subclasses implement only
:meth:`Mechanism._pay` on a validated :class:`Round` (and may implement :meth:`Mechanism._choose`
on validated :class:`Offers`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from market.mechanisms.ledger import PaymentLedger
from market.reputation import ReputationState
from market.types import BoolArray, FloatArray, IntArray, MaskUtility, Utility

BUDGET_SLACK = 1e-9
"""Relative slack for floating-point sums; payments are rescaled to stay within budget."""

PROPERTIES = frozenset({"budget", "ir", "free_rider", "poisoner", "sybil"})
"""Guarantees a mechanism may claim (checked by ``tests/market/test_market_properties.py``):
budget balance, individual rationality of positive contributors when the budget covers their
costs, nothing for null contributions, nothing for harmful ones, bounded Sybil gain."""


@dataclass(frozen=True, eq=False)
class Selection:
    """Who trains this round.

    Attributes:
        selected: candidates chosen to train.
        excluded: candidates refused because the reputation policy excluded them.
        escrow: the most each selected identity can be paid (the auction's critical
            payments; 0 for mechanisms that escrow nothing).
        mechanism: name of the mechanism.
        info: mechanism-specific numbers (the auction's price per unit value).
    """

    selected: BoolArray
    excluded: BoolArray
    escrow: FloatArray
    mechanism: str
    info: Mapping[str, float] = field(default_factory=dict)

    @property
    def lost(self) -> BoolArray:
        """Candidates neither selected nor excluded (they lost the auction)."""
        out: BoolArray = ~self.selected & ~self.excluded
        return out


@dataclass(frozen=True, eq=False)
class Allocation:
    """Payments of one round.

    Attributes:
        payments: non-negative payment per player; ``payments.sum() <= budget``.
        selected: players paid something.
        mechanism: name of the mechanism.
        budget: the round budget.
        info: mechanism-specific numbers.
        ledger: the run totals after this round, if the caller passed a ledger.
    """

    payments: FloatArray
    selected: BoolArray
    mechanism: str
    budget: float
    info: Mapping[str, float] = field(default_factory=dict)
    ledger: PaymentLedger | None = None

    def __post_init__(self) -> None:
        payments = np.asarray(self.payments, dtype=np.float64)
        if np.any(payments < 0) or not np.all(np.isfinite(payments)):
            raise ValueError("payments must be finite and >= 0")
        if payments.sum() > self.budget * (1 + BUDGET_SLACK) + 1e-12:
            raise ValueError(f"payments sum {payments.sum()} exceeds the budget {self.budget}")
        object.__setattr__(self, "payments", payments)
        object.__setattr__(self, "selected", np.asarray(self.selected, dtype=bool))

    @property
    def total(self) -> float:
        """Sum of payments."""
        return float(self.payments.sum())


@dataclass(frozen=True, eq=False)
class Offers:
    """Validated inputs of :meth:`Mechanism._choose`.

    Attributes:
        budget: the round budget.
        bids: declared costs, if given.
        data_sizes: declared training-set sizes, if given.
        state: reputation state, if any.
        rng: tie-breaking generator, if any.
    """

    budget: float
    bids: FloatArray | None
    data_sizes: FloatArray | None
    state: ReputationState | None
    rng: np.random.Generator | None


@dataclass(frozen=True, eq=False)
class Round:
    """Validated inputs of :meth:`Mechanism._pay`.

    Attributes:
        contributions: scores, 0 for non-participants.
        budget: the round budget.
        costs: per-player costs (0 where unknown).
        participants: who took part and is not excluded.
        state: reputation state, if any.
        groups: replica-group label per player (see :func:`market.identities.replica_groups`;
            default: every player its own group).
        selection: this round's :class:`Selection`, if the caller ran one.
        marginals: each participant's marginal contribution to the grand coalition of the
            participants, ``u(N) - u(N - i)`` (0 for non-participants), if the caller gave
            them (see :attr:`Mechanism.uses_marginals`).
        ledger: the run totals before this round, if the caller keeps a :class:`PaymentLedger`.
        stderr: the standard error of each contribution (0 for non-participants), if the
            valuation has them (:class:`market.valuation.RoundValuation`).
        gain: the round's utility gain ``u(N) - u(empty)`` and its standard error, if known.
        reserve: what earlier rounds left unpaid and carried over (a rule that pays for
            value may draw on it beyond ``budget``; the others ignore it).
        example_values: ``(n, E)`` per-example contributions (rows of non-participants 0),
            where the valuation has them.
        effort: each participant's metered effort (the distinct examples it trained on, as
            the platform meters them; 0 for non-participants), where the caller meters it
            (default: 1 per participant).
    """

    contributions: FloatArray
    budget: float
    costs: FloatArray
    participants: BoolArray
    state: ReputationState | None
    groups: IntArray
    selection: Selection | None
    marginals: FloatArray | None = None
    ledger: PaymentLedger | None = None
    stderr: FloatArray | None = None
    gain: tuple[float, float] | None = None
    reserve: float = 0.0
    example_values: FloatArray | None = None
    effort: FloatArray | None = None

    @property
    def positive(self) -> FloatArray:
        """``max(phi, 0)`` for participants, else 0."""
        out: FloatArray = np.where(self.participants, np.clip(self.contributions, 0.0, None), 0.0)
        return out


class Mechanism(ABC):
    """A reward rule: a selection before training and payments within a budget after.

    Class attributes:
        name: registry name.
        valuation: the ``market`` scoring method whose values the guarantees assume
            (``None``: any Shapley-style score, the scenario's scoring).
        guarantees: the :data:`PROPERTIES` the rule guarantees (tested).
        uses_marginals: the rule also pays on each participant's marginal contribution to
            the grand coalition (``allocate(..., marginals=...)``); callers that can
            evaluate the coalition utility pass them (:func:`grand_marginals`).
    """

    name: ClassVar[str]
    valuation: ClassVar[str | None] = None
    guarantees: ClassVar[frozenset[str]] = frozenset({"budget"})
    uses_marginals: ClassVar[bool] = False

    def select(
        self,
        candidates: BoolArray,
        *,
        budget: float,
        bids: FloatArray | None = None,
        data_sizes: FloatArray | None = None,
        state: ReputationState | None = None,
        rng: np.random.Generator | None = None,
    ) -> Selection:
        """Choose who trains: every candidate the reputation ``state`` has not excluded.

        Args:
            candidates: identities that want to train, bool ``(n,)``.
            budget: the round budget, ``>= 0``.
            bids: declared costs (the auction's bids), ``>= 0``.
            data_sizes: declared training-set sizes, ``>= 0``.
            state: the reputation state (its ``excluded`` identities are refused).
            rng: breaks ties where a rule has them (the auction).
        """
        mask, bid_arr, sizes = _inputs(candidates, budget, bids, data_sizes, state)
        excluded = mask & state.excluded_mask if state is not None else np.zeros_like(mask)
        eligible = Selection(
            selected=mask & ~excluded,
            excluded=excluded,
            escrow=np.zeros(mask.size),
            mechanism=self.name,
        )
        return self._choose(eligible, Offers(budget, bid_arr, sizes, state, rng))

    def _choose(self, eligible: Selection, offers: Offers) -> Selection:
        """Who of the ``eligible`` (non-excluded candidates) trains; default: all of them."""
        return eligible

    def allocate(
        self,
        contributions: FloatArray,
        *,
        budget: float,
        costs: FloatArray | None = None,
        participants: BoolArray | None = None,
        state: ReputationState | None = None,
        groups: IntArray | None = None,
        selection: Selection | None = None,
        marginals: FloatArray | None = None,
        ledger: PaymentLedger | None = None,
        stderr: FloatArray | None = None,
        gain: tuple[float, float] | None = None,
        reserve: float = 0.0,
        example_values: FloatArray | None = None,
        effort: FloatArray | None = None,
    ) -> Allocation:
        """Pay participants for one round.

        Args:
            contributions: per-player scores, shape ``(n,)`` (in the :attr:`valuation`;
                ``NaN`` allowed for non-participants).
            budget: the most that may be paid in total, ``>= 0``.
            costs: per-player costs incurred this round (metered, not declared).
            participants: whose update was scored (default: everyone); others get 0.
            state: reputation state; its excluded identities get 0.
            groups: replica-group labels (identities sending near-identical updates share
                a label and are covered once); default: one group per identity.
            selection: the result of :meth:`select` this round (required by the auction).
            marginals: ``u(N) - u(N - i)`` per player over the participants' grand
                coalition ``N`` (used where :attr:`uses_marginals`; ``NaN`` allowed for
                non-participants).
            ledger: the run totals before this round (returned updated in the allocation).
            stderr: standard error of each contribution (``>= 0`` for participants), where
                the valuation has them.
            gain: ``(gain, stderr)`` of the round's utility gain ``u(N) - u(empty)``.
            reserve: unpaid budget carried over from earlier rounds (``>= 0``); payments
                stay within ``budget + reserve`` (plus money held back for an identity in
                earlier rounds and released now).
            example_values: ``(n, E)`` per-example contributions whose row means are
                ``contributions`` (where the valuation has them).
            effort: metered effort per player (``>= 0``; the distinct examples trained on,
                never a declared size), where the caller meters it.
        """
        c = np.asarray(contributions, dtype=np.float64)
        if c.ndim != 1 or c.size < 1:
            raise ValueError(f"contributions must be a non-empty 1-D array, got shape {c.shape}")
        n = c.size
        default = np.ones(n, dtype=bool) if participants is None else participants
        mask, cost_arr, _ = _inputs(default, budget, costs, None, state, name="costs")
        if mask.shape != (n,):
            raise ValueError(f"participants must be a bool array of shape ({n},)")
        if not np.all(np.isfinite(c[mask])):
            raise ValueError("contributions of participants must be finite")
        labels = np.arange(n) if groups is None else np.asarray(groups)
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"groups must be an integer array of shape ({n},)")
        if selection is not None and selection.selected.shape != (n,):
            raise ValueError(f"selection must cover {n} players")
        if state is not None:
            mask = mask & ~state.excluded_mask
        margins = None
        if marginals is not None:
            margins = np.asarray(marginals, dtype=np.float64)
            if margins.shape != (n,) or not np.all(np.isfinite(margins[mask])):
                raise ValueError(f"marginals must have shape ({n},) and be finite for participants")
            margins = np.where(mask, margins, 0.0)
        if ledger is not None and ledger.n_players != n:
            raise ValueError(f"ledger must cover {n} players, got {ledger.n_players}")
        errors = _participants_nonnegative("stderr", stderr, mask)
        if gain is not None and not (
            len(gain) == 2 and np.isfinite(gain[0]) and np.isfinite(gain[1]) and gain[1] >= 0
        ):
            raise ValueError("gain must be (finite gain, finite stderr >= 0)")
        if not (np.isfinite(reserve) and reserve >= 0):
            raise ValueError(f"reserve must be finite and >= 0, got {reserve}")
        per_example = None
        if example_values is not None:
            per_example = np.asarray(example_values, dtype=np.float64)
            if per_example.ndim != 2 or per_example.shape[0] != n:
                raise ValueError(f"example_values must have shape ({n}, E)")
            if not np.all(np.isfinite(per_example[mask])):
                raise ValueError("example_values of participants must be finite")
            per_example = np.where(mask[:, None], per_example, 0.0)
        metered = _participants_nonnegative("effort", effort, mask)
        round_ = Round(
            contributions=np.where(mask, c, 0.0),
            budget=float(budget),
            costs=np.zeros(n) if cost_arr is None else np.where(mask, cost_arr, 0.0),
            participants=mask,
            state=state,
            groups=labels.astype(np.int64),
            selection=selection,
            marginals=margins,
            ledger=ledger,
            stderr=errors,
            gain=None if gain is None else (float(gain[0]), float(gain[1])),
            reserve=float(reserve),
            example_values=per_example,
            effort=metered,
        )
        payments = np.where(mask, self._pay(round_), 0.0)
        # money held back in earlier rounds (ledger.held) was allocated from their budgets:
        # releasing it adds to this round's limit
        held = 0.0
        if ledger is not None and ledger.held is not None:
            held = float(ledger.held[mask].sum())
        total, limit = float(payments.sum()), float(budget) + float(reserve) + held
        if total > limit:  # floating-point guard; the rules themselves never exceed
            payments *= limit / total
        if ledger is not None:  # the run totals after this round
            escrow = np.zeros(n) if selection is None else selection.escrow
            ledger = ledger.after(
                mask,
                escrow,
                round_.contributions,
                payments,
                variance=None if errors is None else errors**2,
                cost=group_costs(round_),
                held=self._held_after(round_),
                examples=per_example,
                **self._ledger_increments(round_),
            )
        return Allocation(
            payments=payments,
            selected=payments > 0,
            mechanism=self.name,
            budget=limit,
            ledger=ledger,
        )

    def run_round(
        self,
        contributions: FloatArray,
        *,
        budget: float,
        costs: FloatArray | None = None,
        data_sizes: FloatArray | None = None,
        groups: IntArray | None = None,
        rng: np.random.Generator | None = None,
        marginals: FloatArray | None = None,
        effort: FloatArray | None = None,
    ) -> Allocation:
        """Select everyone who bids ``costs`` and declares ``data_sizes`` (default 1 each),
        then pay the selected for delivering ``contributions`` (and ``marginals`` and
        ``effort``, see :meth:`allocate`; for tests and metrics)."""
        n = np.asarray(contributions).size
        sizes = np.ones(n) if data_sizes is None else data_sizes
        everyone = np.ones(n, dtype=bool)
        selection = self.select(everyone, budget=budget, bids=costs, data_sizes=sizes, rng=rng)
        return self.allocate(
            contributions,
            budget=budget,
            costs=costs,
            participants=selection.selected,
            groups=groups,
            selection=selection,
            marginals=marginals,
            effort=effort,
        )

    @abstractmethod
    def _pay(self, round_: Round) -> FloatArray:
        """Payments for validated inputs (non-participants' entries are ignored)."""

    def _held_after(self, round_: Round) -> FloatArray | None:
        """What every identity has been allocated but not paid after this round (``None``:
        the rule holds nothing back)."""
        return None

    def _ledger_increments(self, round_: Round) -> dict[str, FloatArray]:
        """This round's additions to the ledger's rule-specific totals (``expected``,
        ``spread``: see :class:`PaymentLedger`); default none."""
        return {}


def _participants_nonnegative(
    name: str, values: FloatArray | None, mask: BoolArray
) -> FloatArray | None:
    """``values`` validated as one finite ``>= 0`` number per player (checked for the
    participants in ``mask``, 0 elsewhere); ``None`` stays ``None``."""
    if values is None:
        return None
    n = mask.size
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,) or not np.all(np.isfinite(arr[mask])) or np.any(arr[mask] < 0):
        raise ValueError(f"{name} must have shape ({n},) and be finite and >= 0")
    out: FloatArray = np.where(mask, arr, 0.0)
    return out


def _inputs(
    mask_like: object,
    budget: float,
    first: FloatArray | None,
    second: FloatArray | None,
    state: ReputationState | None,
    *,
    name: str = "bids",
) -> tuple[BoolArray, FloatArray | None, FloatArray | None]:
    """Validate a participant mask, a budget, two optional per-player arrays and a state."""
    mask = np.asarray(mask_like)
    if mask.ndim != 1 or mask.dtype != np.bool_:
        raise ValueError("participants/candidates must be a 1-D bool array")
    n = mask.size
    if not np.isfinite(budget) or budget < 0:
        raise ValueError(f"budget must be finite and >= 0, got {budget}")
    out: list[FloatArray | None] = []
    for label, values in ((name, first), ("data_sizes", second)):
        if values is None:
            out.append(None)
            continue
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (n,) or np.any(arr[mask] < 0) or not np.all(np.isfinite(arr[mask])):
            raise ValueError(f"{label} must have shape ({n},) and be finite and >= 0")
        out.append(arr)
    if state is not None and state.n_players != n:
        raise ValueError(f"state must cover {n} players, got {state.n_players}")
    return mask, out[0], out[1]


def proportional_split(weights: FloatArray, amount: float) -> FloatArray:
    """Split ``amount`` in proportion to non-negative ``weights`` (all 0 if they sum to 0)."""
    total = float(weights.sum())
    if total <= 0.0 or amount <= 0.0:
        return np.zeros_like(weights)
    out: FloatArray = amount * (weights / total)
    excess = float(out.sum())
    if excess > amount:  # guard against rounding up
        out *= amount / excess
    return out


def group_costs(round_: Round) -> FloatArray:
    """Each participant's coverable cost: a replica group's cheapest metered cost, split
    equally among its members (one training run produced their update)."""
    out = np.zeros(round_.costs.size)
    inside = round_.participants
    for label in np.unique(round_.groups[inside]):
        members = inside & (round_.groups == label)
        out[members] = float(round_.costs[members].min()) / int(members.sum())
    return out


def cover_then_share(
    round_: Round,
    weights: FloatArray,
    surplus_weights: FloatArray | None = None,
    *,
    covered: BoolArray | None = None,
) -> FloatArray:
    """Cover the costs of positive contributors, then split the surplus by ``surplus_weights``.

    Every participant with ``weights > 0`` (or, if given, every participant in ``covered``)
    is first paid its cost; identities of one replica group are covered once (the group's
    cheapest cost, split equally), since one training run produced their update. If the
    covers exceed the budget they are scaled down together. The rest of the budget is split
    among them in proportion to ``max(surplus_weights, 0)`` (default: ``weights``). Nothing is
    paid for a zero or negative weight outside ``covered``, so null and harmful participants
    get 0.
    """
    chosen = weights > 0 if covered is None else covered
    eligible = round_.participants & chosen
    cover = np.zeros(weights.size)
    for label in np.unique(round_.groups[eligible]):
        members = eligible & (round_.groups == label)
        cover[members] = float(round_.costs[members].min()) / int(members.sum())
    total = float(cover.sum())
    if total > round_.budget:
        cover *= round_.budget / total
    surplus = max(round_.budget - float(cover.sum()), 0.0)
    shares = weights if surplus_weights is None else np.clip(surplus_weights, 0.0, None)
    return cover + proportional_split(np.where(eligible, shares, 0.0), surplus)


def grand_marginals(
    utility: Utility, n_players: int, members: BoolArray | None = None
) -> FloatArray:
    """``u(N) - u(N - i)`` for every player of ``N``: the leave-one-out marginal contributions
    to the grand coalition (``|N| + 1`` evaluations; Qi & Zhu 2024 pay these to resist data
    splitting). ``N`` is every player, or only ``members`` (the others get 0): the platform
    passes the players whose value is positive, so a marginal is what a player adds to the
    coalition of those that help. Without that, an owner who splits its data by class gets
    paid for the piece whose removal would leave its other, harmful pieces pulling the model
    their way (the gym's ``complementary_split``: +182% over honest play, 10 seeds)."""
    inside = np.ones(n_players, dtype=bool) if members is None else np.asarray(members, bool)
    if inside.shape != (n_players,):
        raise ValueError(f"members must be a bool array of shape ({n_players},)")
    players = np.flatnonzero(inside).tolist()
    out = np.zeros(n_players)
    if not players:
        return out
    if isinstance(utility, MaskUtility):  # one batch of bitmasks (a 100,000-player round)
        grand_mask = sum(1 << i for i in players) if members is not None else (1 << n_players) - 1
        values = utility.values_of_masks([grand_mask, *(grand_mask ^ (1 << i) for i in players)])
        out[players] = float(values[0]) - np.asarray(values[1:], dtype=np.float64)
        return out
    grand = frozenset(players)
    top = float(utility(grand))
    out[players] = [top - float(utility(grand - {i})) for i in players]
    return out

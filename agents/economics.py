"""Participant economics and what a run is worth: private costs, entry, the posted rate,
welfare and participation by type.

Definitions (per run; the tables give the same per round):

* platform utility: test-accuracy gain per budget unit paid;
* social welfare: ``value_per_accuracy x accuracy gain - costs - outside options given up``
  (payments are transfers and cancel; a participant that joins gives up its reservation);
* participants' surplus: pay less cost less outside options given up (over joined rounds);
* participation by type: the share of a type's identities that joined, where a type is a
  tercile (``low``/``mid``/``high``, by average rank, so tied identities share a level) of
  data size, data quality (the share of right labels) or compute (samples per second); an
  attribute with <= 3 distinct values uses them as the levels, and one that does not vary
  has the single level ``all``. Types are per identity: a Sybil owner's identities each
  show their part of its data and compute (per-group participation is reported too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.metering import metered_weight

if TYPE_CHECKING:
    import pandas as pd

TYPE_ATTRIBUTES = {"data_size": "n_examples", "quality": "quality", "compute": "speed"}
"""Participant types: attribute name -> its ``participants`` column."""


def owner_economics(
    economics: Any, n_owners: int, rng: np.random.Generator
) -> tuple[list[float], list[int]]:
    """Each owner's private cost factor and arrival round, drawn from ``rng``.

    Factors are ``exp(N(0, cost_spread^2))``; a share ``entrants`` of owners (rounded, drawn
    without replacement) arrives at ``1 + Geometric(entry_rate)``, the others at round 1.
    Nothing is drawn for a setting that is off, so other streams never move.
    """
    factors = np.ones(n_owners)
    arrivals = np.ones(n_owners, dtype=np.int64)
    cost_rng, entry_rng = rng.spawn(2)
    if economics.cost_spread > 0:
        factors = np.exp(cost_rng.normal(0.0, economics.cost_spread, n_owners))
    late = int(round(economics.entrants * n_owners))
    if late:
        who = entry_rng.choice(n_owners, size=late, replace=False)
        arrivals[who] = 1 + entry_rng.geometric(economics.entry_rate, late)
    return [float(f) for f in factors], [int(a) for a in arrivals]


def owner_privacy_prices(economics: Any, n_owners: int, rng: np.random.Generator) -> list[float]:
    """Each owner's private price per unit of epsilon (:mod:`agents.privacy_economics`).

    ``privacy_price`` times ``exp(N(-s^2 / 2, s^2))`` with ``s = privacy_price_spread`` (a
    log-normal factor of mean 1, so the prices' mean is ``privacy_price``). Drawn from the
    child of ``rng`` spawned after :func:`owner_economics`' two (spawning never moves a
    sibling), and only where the price is on, so the other draws stay as they were.
    """
    price, spread = float(economics.privacy_price), float(economics.privacy_price_spread)
    if price <= 0:
        return [0.0] * n_owners
    (price_rng,) = rng.spawn(1)
    if spread <= 0:
        return [price] * n_owners
    factors = np.exp(price_rng.normal(-(spread**2) / 2, spread, n_owners))
    return [float(price * f) for f in factors]


def posted_rate(included: Iterable[Any]) -> float:
    """The pay per metered example of a round's included identities (``nan``: none metered).

    What the platform posts after paying, and what a participant that stayed out learns
    its data's worth from (:meth:`agents.participants.ParticipantAgent.foregone_profit`).
    """
    paid = [(p.reward, metered_weight(p)) for p in included]
    examples = sum(w for _, w in paid)
    return float(sum(r for r, _ in paid) / examples) if examples > 0 else float("nan")


def type_levels(values: pd.Series) -> pd.Series:
    """Each identity's level (``low``/``mid``/``high``, or ``all``) of one attribute."""
    import pandas as pd

    distinct = np.unique(values.to_numpy(dtype=float))
    if len(distinct) == 1:
        return pd.Series("all", index=values.index)
    labels = ["low", "high"] if len(distinct) == 2 else ["low", "mid", "high"]
    if len(distinct) <= 3:
        rank = {v: labels[i] for i, v in enumerate(distinct)}
        return values.astype(float).map(rank)
    rank = values.rank(method="average").to_numpy()  # ties share a rank, hence a level
    n = len(rank)
    level = np.where(rank <= n / 3, "low", np.where(rank > 2 * n / 3, "high", "mid"))
    return pd.Series(level, index=values.index)


def participation_by_type(participants: pd.DataFrame) -> pd.DataFrame:
    """Per round, attribute and level: the share of that type's identities that joined.

    Columns ``round, attribute, level, participation`` (tidy, one row per combination).
    """
    import pandas as pd

    if participants.empty:
        return pd.DataFrame(columns=["round", "attribute", "level", "participation"])
    per_id = participants.groupby("participant").first()
    frames = []
    for attribute, column in TYPE_ATTRIBUTES.items():
        level = type_levels(per_id[column])
        joined = participants.assign(level=participants["participant"].map(level))
        share = joined.groupby(["round", "level"])["joined"].mean().reset_index()
        frames.append(share.assign(attribute=attribute))
    out = pd.concat(frames, ignore_index=True).rename(columns={"joined": "participation"})
    out["participation"] = out["participation"].astype(float)
    return out[["round", "attribute", "level", "participation"]]


def round_economics(
    rounds: pd.DataFrame, participants: pd.DataFrame, economics: Any
) -> pd.DataFrame:
    """Per round (from 1): accuracy gain, pay, costs, outside options given up, platform
    utility, social welfare and participants' surplus (the run's totals are their sums,
    platform utility aside)."""
    import pandas as pd

    acc = rounds.set_index("round")["test_accuracy"]
    paid = rounds.set_index("round")["budget_paid"]
    joined = participants[participants["joined"]]
    per_round = joined.groupby("round").agg(costs=("cost", "sum"), joined=("joined", "size"))
    out = pd.DataFrame({"round": acc.index[1:]}).set_index("round")
    out["accuracy_gain"] = acc.diff().iloc[1:]
    out["paid"] = paid.iloc[1:]
    out = out.join(per_round).fillna({"costs": 0.0, "joined": 0})
    out["outside_options"] = float(economics.reservation) * out["joined"]
    out["platform_utility"] = out["accuracy_gain"] / out["paid"].where(out["paid"] > 0)
    value = float(economics.value_per_accuracy) * out["accuracy_gain"]
    out["social_welfare"] = value - out["costs"] - out["outside_options"]
    out["participant_surplus"] = out["paid"] - out["costs"] - out["outside_options"]
    return out.drop(columns="joined").reset_index()


def welfare_summary(
    rounds: pd.DataFrame, participants: pd.DataFrame, economics: Any
) -> dict[str, float]:
    """Run totals: accuracy gain, platform utility, social welfare, participants' surplus,
    costs (and their privacy part), and participation over the run by scenario group
    (``participation_group_<name>``) and by type (``participation_<attribute>_<level>``)."""
    gain = float(rounds["test_accuracy"].iloc[-1] - rounds["test_accuracy"].iloc[0])
    paid = float(rounds["budget_paid"].sum())
    joined = participants[participants["joined"]]
    costs = float(joined["cost"].sum())
    given_up = float(economics.reservation) * len(joined)
    out = {
        "accuracy_gain": gain,
        "platform_utility": gain / paid if paid > 0 else math.nan,
        "social_welfare": float(economics.value_per_accuracy) * gain - costs - given_up,
        "participant_surplus": float(joined["reward"].sum()) - costs - given_up,
        "total_cost": costs,
    }
    if "privacy_cost" in joined:  # the part of the costs that priced epsilon spent
        out["total_privacy_cost"] = float(joined["privacy_cost"].sum())
    for group, frame in participants.groupby("group"):
        out[f"participation_group_{group}"] = float(frame["joined"].mean())
    shares = participation_by_type(participants)
    if not shares.empty:
        means = shares.groupby(["attribute", "level"])["participation"].mean()
        for (attribute, level), value in means.items():
            out[f"participation_{attribute}_{level}"] = float(value)
    return out

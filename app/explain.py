"""Why the market paid what it did: per-group payoffs and one-line explanations (no streamlit).

The Results page shows :func:`group_payoffs` as a table and :func:`why` next to the payoff
charts: which participant group earned a larger share of the rewards than of the (positive)
contributions, and the mechanism rule that made it so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from agents import RunResult, columns
from app import help as words

#: A group is called out when its reward share and contribution share differ by this much.
GAP = 0.05


def group_payoffs(parts: pd.DataFrame) -> pd.DataFrame:
    """One row per participant group: identities, strategy, totals and shares (rounded)."""
    positive = parts.assign(positive=parts["contribution"].clip(lower=0).fillna(0.0))
    table = positive.groupby("group", sort=False).agg(
        strategy=("strategy", "first"),
        identities=("participant", "nunique"),
        contribution=("positive", "sum"),
        reward=("reward", "sum"),
        cost=("cost", "sum"),
    )
    table["profit"] = table["reward"] - table["cost"]
    total_reward = float(table["reward"].sum())
    total_contribution = float(table["contribution"].sum())
    table["reward_share"] = table["reward"] / total_reward if total_reward > 0 else np.nan
    table["contribution_share"] = (
        table["contribution"] / total_contribution if total_contribution > 0 else np.nan
    )
    return table.reset_index().round(3)


def why(result: RunResult) -> list[str]:
    """Plain sentences: who earned more (or less) than they contributed, and the rule."""
    table = group_payoffs(result.participants)
    mechanism = result.scenario.market.mechanism
    rule = words.choice_help("market.mechanism").get(mechanism, mechanism)
    lines: list[str] = []
    top = table.sort_values("profit", ascending=False).iloc[0]
    lines.append(
        f"Highest profit: group **{top['group']}** ({top['strategy']}), "
        f"{top['profit']:.1f} {columns.unit('profit', 'participants')} over the run."
    )
    for row in table.itertuples():
        gap = float(row.reward_share) - float(row.contribution_share)
        if not np.isfinite(gap) or abs(gap) < GAP:
            continue
        more = "more" if gap > 0 else "less"
        lines.append(
            f"Group **{row.group}** ({row.strategy}) got {row.reward_share:.0%} of the rewards "
            f"for {row.contribution_share:.0%} of the positive contribution: {more} than it "
            "contributed."
        )
        if row.strategy == "free_rider" and gap > 0:
            lines.append(
                "A free rider trains on nothing; a positive score comes from the noise of the "
                "utility on a small validation subset (larger `data.utility_subset` or more "
                "seeds shrink it)."
            )
    lines.append(f"Mechanism **{mechanism}**: {rule}")
    return lines

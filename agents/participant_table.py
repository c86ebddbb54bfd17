"""The ``participants`` table: one row per identity per step, in Mesa's ``DataCollector``
(its public ``tables``), collected column by column."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import mesa
import numpy as np
import pandas as pd

PARTICIPANT_COLUMNS = {
    "participant": "pid",
    "owner": "owner",
    "group": "group",
    "strategy": "strategy",
    "available": "available",
    "joined": "joined",
    "selected": "selected",
    "included": "included",
    "exposed": "exposed",
    "straggler": "straggler",
    "dropped_stage": "dropped_stage",
    "rejected_reason": "rejected_reason",
    "n_examples": lambda p: len(p.shard),
    "n_synthetic": lambda p: int(np.count_nonzero(p.shard >= p.model.n_real_examples)),
    "speed": "speed",
    "quality": "quality",
    "in_market": "in_market",
    "samples": "samples",
    "contribution": "contribution",
    "reward": "reward",
    "cost": "cost_incurred",
    "profit": "profit",
    "cumulative_profit": "cumulative_profit",
    "expected_reward": "expected_reward",
    "reputation": lambda p: float(p.model.platform.reputation.scores[p.pid]),
    "excluded": lambda p: bool(p.model.platform.excluded[p.pid]),
    "payment_value": "payment_value",
    "dp_clip_factor": "privacy.clip_factor",
    "dp_epsilon_round": "privacy.epsilon_round",
    "dp_epsilon": "privacy.epsilon",
    "privacy_price": "privacy_price",
    "privacy_cost": "privacy_cost_incurred",
}
"""Columns of the ``participants`` table: agent attribute names or reporters."""

_ATTRIBUTE_COLUMNS = tuple(c for c in PARTICIPANT_COLUMNS.values() if isinstance(c, str))


PARTICIPANTS_TABLE = "participants"
"""The Mesa ``DataCollector`` table the participants' rows go to (every step, round 0 too)."""


def collect_participants(
    collector: mesa.DataCollector,
    agents: Sequence[Any],
    step: int,
    derived: Mapping[str, Sequence[Any]],
) -> None:
    """Append ``agents``' rows at ``step``: attribute columns with one
    ``operator.attrgetter`` call per agent, the ``derived`` columns (by ``pid``) from arrays
    computed once per step (the platform's reputation and exclusion, the shard counts)."""
    if not agents:
        return
    read = operator.attrgetter("unique_id", "pid", *_ATTRIBUTE_COLUMNS)
    unique_ids, pids, *attributes = zip(*map(read, agents), strict=True)
    by_attribute = iter(attributes)
    table = collector.tables[PARTICIPANTS_TABLE]
    table["round"].extend(itertools.repeat(step, len(agents)))
    table["agent_id"].extend(unique_ids)
    for name, column in PARTICIPANT_COLUMNS.items():
        if isinstance(column, str):
            table[name].extend(next(by_attribute))
        else:
            table[name].extend(derived[name][i] for i in pids)


def participants_frame(collector: mesa.DataCollector) -> pd.DataFrame:
    """One row per round (from 1) and participant identity, ordered by identity."""
    frame = collector.get_table_dataframe(PARTICIPANTS_TABLE)
    if frame.empty:
        return pd.DataFrame(columns=["round", *PARTICIPANT_COLUMNS])
    frame = frame[frame["round"] >= 1].sort_values(["round", "participant"], kind="stable")
    return frame[["round", *PARTICIPANT_COLUMNS]].reset_index(drop=True)

"""One-line notices about what a scenario's settings switch off (shown before a run)."""

from __future__ import annotations

from agents.scenario import Scenario

SECURE_COALITIONS_OFF = (
    "privacy.access = 'secure_coalitions': the server never reads an individual update, so "
    "the free-rider screen and replica grouping are off (free riders and replicating Sybils "
    "are not screened) and updates are checked client-side only; use 'trusted_evaluator' "
    "to screen inside a trusted party"
)


DP_MODEL_ONLY = (
    "privacy.dp.budget_covers = 'model': the noise is solved for the model's sum alone, and "
    "Shapley-style scoring releases coalition sums that determine each noised update, so "
    "participants spend more than privacy.dp.epsilon (dp_epsilon in the tables says how much)"
)
DP_IN_THE_CLEAR = (
    "privacy.dp without secure aggregation: the server adds the noise as a trusted curator "
    "and reads every update in the clear; DP protects against the model's users only"
)


def run_notices(scenario: Scenario) -> list[str]:
    """What the scenario's settings switch off that a user might expect on, one line each."""
    notices = []
    if scenario.privacy.access == "secure_coalitions":
        notices.append(SECURE_COALITIONS_OFF)
    dp = scenario.privacy.dp
    if dp.enabled and dp.budget_covers == "model":
        notices.append(DP_MODEL_ONLY)
    if dp.enabled and scenario.privacy.access == "plaintext":
        notices.append(DP_IN_THE_CLEAR)
    return notices

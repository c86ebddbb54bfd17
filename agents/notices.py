"""One-line notices about what a scenario's settings switch off (shown before a run)."""

from __future__ import annotations

from agents.scenario import Scenario

SECURE_COALITIONS_OFF = (
    "privacy.access = 'secure_coalitions': the server never reads an individual update, so "
    "the free-rider screen and replica grouping are off (free riders and replicating Sybils "
    "are not screened) and updates are checked client-side only; use 'trusted_evaluator' "
    "to screen inside a trusted party"
)


def run_notices(scenario: Scenario) -> list[str]:
    """What the scenario's settings switch off that a user might expect on, one line each."""
    notices = []
    if scenario.privacy.access == "secure_coalitions":
        notices.append(SECURE_COALITIONS_OFF)
    return notices

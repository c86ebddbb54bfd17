"""The explorer's words, in one place (no streamlit).

Every scenario field's help text, and the line on each of its choices, come from the
scenario's one field description (:mod:`agents.scenario.catalog`): the Scenario page shows
them as widget help (the "?" next to a field), the Results page reuses the mechanism rules to
say why a group earned what it did. What is here is the explorer's own: the attacks of the
Exploitability page and a caveat.
"""

from __future__ import annotations

from collections.abc import Mapping

from agents.scenario import field_doc


def field_help(path: str) -> str:
    """The help text of the scenario field at ``path``."""
    return field_doc(path).help


def choice_help(path: str) -> Mapping[str, str]:
    """One line on each choice of the field at ``path`` (empty when it has none)."""
    return field_doc(path).spec.choice_help


def choices_help(path: str, sep: str = "\n\n") -> str:
    """The field's help followed by a bold line per choice, for a selectbox's "?"."""
    lines = [f"**{name}**: {text}" for name, text in choice_help(path).items()]
    return sep.join([field_help(path), *lines])


#: The caveat shown next to the exposure chart when the trusted evaluator is used.
TRUSTED_EVALUATOR_CAVEAT = (
    "Access mode **trusted_evaluator**: zero exposed clients means the *server* saw no "
    "individual update. A trusted party (such as a TEE) still holds every plaintext update "
    "(the rounds table's `evaluator_reads` counts them); that is a trust assumption, not "
    "cryptography."
)

PROTECTION = (
    "Secure aggregation hides each *update* from the server: it unmasks sums only. "
    "Differential privacy bounds what the *released* sums (the model, and the coalition "
    "sums scoring evaluates) reveal about any one participant's data, to epsilon at delta; "
    "without it, the model and the scores are exact functions of everyone's data."
)

#: What each attack of ``agents.attacks.ATTACKS`` does, in one line (the Exploitability page).
ATTACK: dict[str, str] = {
    "free_ride_zero": "Joins and is paid but trains nothing: sends a zero update.",
    "free_ride_stale": "Trains nothing: sends back its previous round's update.",
    "free_ride_disguised": "Trains nothing: sends small random noise shaped like a real update.",
    "underbid_cost": "Reports a cost of 0.2x its true cost (to win an auction).",
    "overbid_cost": "Reports 3x its true cost (to have a larger cost covered).",
    "inflate_size": "Claims 3x the data it holds (only the auction reads declared sizes).",
    "sybil_split": "Splits its data over 3 identities, each paid separately.",
    "sybil_replicate": "Sends the same update from 3 identities (replicas of one another).",
    "sign_flip": "Poisons: sends its honest update times -1.",
    "boost_x3": "Boosts: sends its honest update times 3 to dominate the average.",
    "label_flip": "Trains on flipped labels (every label wrong).",
    "collude": "3 owners send near-copies of one update (noise 0.2) to inflate its value.",
    "copycat": "Trains nothing: sends a peer's last update plus 5% noise.",
    "replay_old": "Trains nothing: replays the global step of 2 rounds back, rescaled, +10% noise.",
    "plagiarist": "Trains honestly on a copy of another participant's data.",
    "lazy": "Trains 16 samples a round instead of its full compute (and pays for 16).",
    "size_misreport": "Claims 3x the data it holds.",
    "cost_misreport": "Reports 3x its true cost.",
    "complementary_split": "Splits its data by class over 3 identities (pieces that only "
    "help together).",
    "subtle_poisoner": "Sends its honest update times -0.3.",
    "late_joiner": "Joins only from round 3, when the model has learned most of what it will.",
}

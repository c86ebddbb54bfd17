"""One described column, and the units the dictionary uses."""

from __future__ import annotations

from dataclasses import dataclass

SHARE = "0-1"
BUDGET = "budget units"
SECONDS = "s"
BYTES = "bytes"
IDENTITIES = "identities"
FLAG = "true/false"
TEXT = "text"
INDEX = "index"
UTILITY = "utility units"
NATS = "nats"
EPSILON = "epsilon (at dp_delta)"
UNITLESS = frozenset({FLAG, TEXT, INDEX})
"""Units an axis title leaves out (a flag, a name, an index)."""


@dataclass(frozen=True)
class Column:
    """A column of an output table (or a summary key).

    Attributes:
        label: a few words for an axis or a legend.
        unit: one of the units above, or another in words (``samples/s``).
        definition: what the value is, how it is computed, and where a NaN comes from.
    """

    label: str
    unit: str
    definition: str

"""Limits on what a scenario may ask for, checked before anything is allocated.

Threat model: a scenario, sweep or study file (or a TOML upload in the explorer) may come
from someone the person running fedmarket does not fully trust: a shared repository, a
colleague's study, a web form. Such input must not be able to exhaust memory or CPU before it
is rejected, crash the parser with a traceback, or write terminal control sequences to the
user's terminal. Two kinds of limit hold:

* **Input shape**: file size and bracket nesting (:func:`check_toml_text`, counted on the raw
  text before the recursive TOML parser runs); string length and control characters, number
  of participant groups, runs a sweep expands to (:mod:`agents.scenario.text`, whose names
  are importable from here too).
* **A total budget** (:func:`check_budget`): identities, held examples and an estimate of the
  run's peak memory from the products that drive it (identities, examples, rounds x
  identities table rows, scoring budget x identities coalition memo), computed from a few
  integers of the validated scenario.

Every check costs time linear in the size of the input text (at most :data:`MAX_FILE_BYTES`)
or in the number of groups (at most :data:`MAX_GROUPS`), and allocates nothing proportional to
what the scenario asks for. Not covered: a scenario inside the limits that is merely slow
(10,000 rounds of LoRA fine-tuning), and a user who raises :data:`MEMORY_ENV` on purpose.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Protocol

from agents.scenario.errors import ScenarioError
from agents.scenario.groups import ParticipantGroup
from agents.scenario.sections import MarketSection, PrivacySection
from agents.scenario.text import (  # the input-shape limits, importable from here as well
    MAX_GROUPS,
    MAX_NAME_CHARS,
    MAX_RUNS,
    MAX_TEXT_CHARS,
    UNSAFE_CATEGORIES,
    check_runs,
    check_strings,
    check_text,
    first_unsafe,
    kib,
    printable_line,
    shown,
)

MAX_FILE_BYTES = 256 << 10
"""Largest scenario, sweep or study file (256 KiB; the shipped ones are under 4 KiB). Python's
``tomllib`` takes about 1 s per MiB of dense arrays on a busy 2-core machine."""
MAX_NESTING = 32
"""Deepest bracket nesting (arrays and inline tables) in TOML text; scenarios use at most 3."""
MAX_IDENTITIES = 100_000
"""Most identities a scenario may show the platform: the largest size ``bench/scale.py``
runs (100,000 head-mode participants x 3 rounds, 2.9 GiB peak; README, Benchmarks)."""
MAX_EXAMPLES = 20_000_000
"""Most training examples held by all identities together (their shards' index arrays)."""
MEMORY_ENV = "FEDMARKET_MAX_MEMORY_GIB"
"""Environment variable that overrides :data:`DEFAULT_MEMORY_GIB` (a positive number)."""
DEFAULT_MEMORY_GIB = 8.0
MAX_MEMORY_GIB = 1 << 20
"""The largest value :data:`MEMORY_ENV` may take (a pebibyte: any real machine is below)."""

# Costs of the estimate, calibrated on bench/scale.py (README, Benchmarks): 10,000 identities
# x 5 rounds with 32 examples each measured 874 MiB peak, 100,000 x 3 measured 2.9 GiB; the
# model below gives 874 MiB and 3.1 GiB. It is an upper-side estimate, not a measurement.
BASE_BYTES = 600 << 20
"""The interpreter, torch, the model and the data pool."""
IDENTITY_BYTES = 20 << 10
"""One identity: its agent, rng streams, per-round update and secure-aggregation state."""
EXAMPLE_BYTES = 64
"""One held example: shard indices and labels, with their copies while shards are built."""
ROW_BYTES = 1 << 10
"""One row of the ``participants`` table (one per identity per round, kept by design)."""
COALITION_OVERHEAD_BYTES = 128
"""One memoised coalition utility beyond its membership bits."""
_TOKENS = re.compile(r"\"\"\"|'''|[\"'#\[\]{}\n\\]")
SECAGG_PAIR_BYTES = 1 << 10
"""Peak bytes per pair of clients of one complete-graph secure-aggregation round
(``privacy.neighbors = 0``: every pair agrees keys and exchanges shares; 67 MB measured at
300 clients, AMD EPYC); SecAgg+ pairs only neighbours, counted in the identity term."""


def check_toml_text(text: str | bytes, what: str, subject: str = "") -> None:
    """Reject TOML text that is too large or nested too deeply, before it is parsed.

    ``subject`` starts the message (``"FILE is "``). Nesting is counted over ``[``/``{``
    outside strings and comments (Python's ``tomllib`` recurses once per level, so a 50,000
    deep array would otherwise end in a ``RecursionError``); a table header ``[[x]]`` counts 2.
    """
    size = len(text)
    if size > MAX_FILE_BYTES:
        raise ScenarioError(
            what,
            f"{subject or 'the text is '}{kib(size)}, over the limit of {kib(MAX_FILE_BYTES)}; "
            f"give a smaller {what} file",
        )
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        return  # not text at all: the caller says so
    depth = _nesting(decoded)
    if depth > MAX_NESTING:
        raise ScenarioError(
            what,
            f"{subject or 'the text is '}nested more than {MAX_NESTING} brackets deep; "
            "use flat lists and tables",
        )


def _nesting(text: str) -> int:
    """The deepest bracket nesting of TOML ``text`` outside strings and comments."""
    depth = deepest = 0
    state = ""  # "", '"', "'", '"""', "'''" or "#"
    skip_to = 0  # after a backslash, the escaped character is not a token
    for match in _TOKENS.finditer(text):
        token, start = match.group(), match.start()
        if start < skip_to:
            continue
        if state == "":
            if token in "[{":
                depth += 1
                deepest = max(deepest, depth)
                if deepest > MAX_NESTING:
                    return deepest
            elif token in "]}":
                depth = max(depth - 1, 0)
            elif token in ('"', "'", '"""', "'''", "#"):
                state = token
        elif token == "\\" and state in ('"', '"""'):
            skip_to = match.end() + 1
        elif token == state or (token == "\n" and state in ('"', "'", "#")):
            state = ""
    return deepest


class Budgeted(Protocol):
    """What the budget reads of a :class:`~agents.scenario.Scenario` (which is built on top
    of this module and checks itself against it at construction)."""

    @property
    def rounds(self) -> int: ...
    @property
    def participants(self) -> tuple[ParticipantGroup, ...]: ...
    @property
    def n_identities(self) -> int: ...
    @property
    def market(self) -> MarketSection: ...
    @property
    def privacy(self) -> PrivacySection: ...


def memory_limit() -> int:
    """The memory budget in bytes: ``$FEDMARKET_MAX_MEMORY_GIB`` or :data:`DEFAULT_MEMORY_GIB`."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return int(DEFAULT_MEMORY_GIB * (1 << 30))
    try:
        gib = float(text)
    except ValueError:
        gib = math.nan
    if not (math.isfinite(gib) and 0 < gib <= MAX_MEMORY_GIB):
        raise ScenarioError(
            MEMORY_ENV, f"must be a number of GiB in (0, {MAX_MEMORY_GIB:g}], got {shown(text)}"
        )
    return int(gib * (1 << 30))


@dataclass(frozen=True)
class MemoryEstimate:
    """What a scenario would hold at its peak, by term, in bytes (an upper-side estimate).

    Attributes:
        identities, examples, table_rows, coalitions: the counts behind the terms.
        terms: bytes per term (``base``, ``identities``, ``examples``, ``tables``,
            ``scoring``).
    """

    identities: int
    examples: int
    table_rows: int
    coalitions: int
    terms: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.terms.values())


def estimate_memory(scenario: Budgeted) -> MemoryEstimate:
    """The peak-memory estimate of ``scenario``, from a few of its integers (no allocation)."""
    identities = scenario.n_identities
    examples = held_examples(scenario)
    rows = (scenario.rounds + 1) * identities
    # the scoring memo: at most the budget, and never more than every coalition
    coalitions = min(scenario.market.scoring_budget, 2 ** min(identities, 62))
    privacy = scenario.privacy
    complete = privacy.secure_aggregation and not 0 < privacy.neighbors < identities - 1
    return MemoryEstimate(
        identities=identities,
        examples=examples,
        table_rows=rows,
        coalitions=coalitions,
        terms={
            "base": BASE_BYTES,
            "identities": identities * IDENTITY_BYTES,
            "examples": examples * EXAMPLE_BYTES,
            "tables": rows * ROW_BYTES,
            "scoring": coalitions * (-(-identities // 8) + COALITION_OVERHEAD_BYTES),
            "secagg": identities * identities * SECAGG_PAIR_BYTES if complete else 0,
        },
    )


def held_examples(scenario: Budgeted) -> int:
    """Training examples held by all identities together (a replicating Sybil holds its
    owner's data once per identity)."""
    total = 0
    for g in scenario.participants:
        copies = _held_copies(g)
        total += g.count * (g.data_size + g.synthetic_examples) * copies
    return total


def _held_copies(group: Any) -> int:
    """How many times the group's strategy holds an owner's data (:mod:`agents.strategies`)."""
    from agents.strategies import STRATEGIES

    if group.strategy not in STRATEGIES:
        return 1
    return int(STRATEGIES[group.strategy].held_copies(group))  # type: ignore[attr-defined]


def _gib(n: int) -> str:
    return f"{n / (1 << 30):,.1f} GiB"


def check_budget(scenario: Budgeted) -> None:
    """Reject a scenario over the group, identity, example or memory budget (one line)."""
    groups = scenario.participants
    if len(groups) > MAX_GROUPS:
        raise ScenarioError(
            "participants",
            f"{len(groups):,} groups exceed the limit of {MAX_GROUPS}; merge groups that "
            "share a profile (raise their count)",
        )
    identities = scenario.n_identities
    if identities > MAX_IDENTITIES:
        largest = max(groups, key=lambda g: g.count * g.identities)
        raise ScenarioError(
            "participants",
            f"{len(groups):,} groups x up to {largest.count:,} participants = {identities:,} "
            f"identities exceeds the limit of {MAX_IDENTITIES:,}; lower "
            f"participants.{largest.name}.count or split the study",
        )
    examples = held_examples(scenario)
    if examples > MAX_EXAMPLES:
        largest = max(groups, key=lambda g: g.count * (g.data_size + g.synthetic_examples))
        raise ScenarioError(
            "participants",
            f"{identities:,} identities hold {examples:,} training examples, over the limit "
            f"of {MAX_EXAMPLES:,}; lower participants.{largest.name}.data_size or count",
        )
    estimate = estimate_memory(scenario)
    limit = memory_limit()
    if estimate.total <= limit:
        return
    worst = max(
        ("identities", "examples", "tables", "scoring", "secagg"),
        key=lambda term: estimate.terms[term],
    )
    cause, fix = {
        "identities": (f"{identities:,} identities", "lower participants counts"),
        "examples": (f"{examples:,} held examples", "lower participants data_size"),
        "tables": (
            f"rounds {scenario.rounds:,} x {identities:,} identities = "
            f"{estimate.table_rows:,} table rows",
            "lower rounds or participants counts",
        ),
        "scoring": (
            f"market.scoring_budget {estimate.coalitions:,} coalitions x {identities:,} identities",
            "lower market.scoring_budget",
        ),
        "secagg": (
            f"complete-graph secure aggregation over {identities:,} identities",
            "use SecAgg+ (privacy.neighbors = 12)",
        ),
    }[worst]
    path = {
        "tables": "rounds",
        "scoring": "market.scoring_budget",
        "secagg": "privacy.neighbors",
    }.get(worst, "participants")
    raise ScenarioError(
        path,
        f"estimated peak memory {_gib(estimate.total)} ({cause} dominate) exceeds the limit "
        f"of {_gib(limit)}; {fix}, or raise ${MEMORY_ENV}",
    )


__all__ = [
    "DEFAULT_MEMORY_GIB",
    "MAX_EXAMPLES",
    "MAX_FILE_BYTES",
    "MAX_GROUPS",
    "MAX_IDENTITIES",
    "MAX_NAME_CHARS",
    "MAX_NESTING",
    "MAX_RUNS",
    "MAX_TEXT_CHARS",
    "MEMORY_ENV",
    "UNSAFE_CATEGORIES",
    "Budgeted",
    "MemoryEstimate",
    "check_budget",
    "check_runs",
    "check_strings",
    "check_text",
    "check_toml_text",
    "estimate_memory",
    "first_unsafe",
    "held_examples",
    "kib",
    "memory_limit",
    "printable_line",
    "shown",
]

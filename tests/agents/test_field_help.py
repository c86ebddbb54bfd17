"""One field description: every scenario field has help, bounds and choices in one place.

``agents.scenario.catalog`` gathers what each field's declaration says (its default, help,
unit, bounds and choices); the validation checks against it, and the explorer and
``fedmarket fields`` read it. This checks that no field lacks a description (and that the
check catches one added without), that the bounds and choices described are the ones the
validation enforces (``fl_core``'s included, probed at each bound), and that the app and the
CLI take their words from it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from typer.testing import CliRunner

from agents import Scenario, ScenarioError
from agents.scenario import FIELDS, FieldDoc, MarketSection, ParticipantGroup, catalog
from agents.scenario.sections import NESTED, SECTIONS
from agents.scenario.spec import setting
from agents.scenario.training import INHERITED, FieldSpec

PLAIN = (
    Scenario().replace("privacy.access", "plaintext").replace("privacy.secure_aggregation", False)
)
"""A base where no cross-section rule ties a choice to secure aggregation."""


def test_every_scenario_field_is_described() -> None:
    assert catalog.undocumented() == []
    groups = {f.name for f in dataclasses.fields(ParticipantGroup)} - {"name"}
    tables = {**SECTIONS, **NESTED}
    sections = {
        f"{name}.{f.name}" for name, cls in tables.items() for f in dataclasses.fields(cls)
    } - set(NESTED)
    assert set(FIELDS) == {"name", "rounds", "seed"} | sections | {
        f"participants.*.{g}" for g in groups
    }
    assert all(doc.help.strip() for doc in FIELDS.values())


def test_a_field_added_without_help_is_caught() -> None:
    # broken variants: a new market field, a new group field, a stale inherited description
    market_variant = dataclasses.make_dataclass(
        "MarketSection", [("new_knob", float, 0.0)], bases=(MarketSection,), frozen=True
    )
    assert catalog.undocumented(sections={**SECTIONS, "market": market_variant}) == [
        "market.new_knob"
    ]
    group_variant = dataclasses.make_dataclass(
        "ParticipantGroup", [("mood", str, "calm")], bases=(ParticipantGroup,), frozen=True
    )
    assert catalog.undocumented(group=group_variant) == ["participants.*.mood"]
    blank = dataclasses.make_dataclass(
        "MarketSection",
        [("quiet", float, setting(0.0, " "))],
        bases=(MarketSection,),
        frozen=True,
    )
    assert catalog.undocumented(sections={**SECTIONS, "market": blank}) == ["market.quiet"]
    stale = {**INHERITED, "train.gone": FieldSpec("A field fl_core no longer has.")}
    assert catalog.undocumented(inherited=stale) == ["train.gone"]


def _error_at(base: Scenario, path: str, value: Any) -> bool:
    """Whether setting ``path`` to ``value`` is refused with an error naming ``path``."""
    concrete = path.replace("participants.*", f"participants.{base.participants[0].name}")
    try:
        base.replace(concrete, value)
    except ScenarioError as error:
        return error.path == concrete
    return False


def _base(path: str) -> Scenario:
    if path == "model.adapted_layers":  # at most 6 on MiniLM, 30 on the causal backbones
        return Scenario().replace("model.backbone", "tiny_causal")
    if path == "data.partition":  # natural needs a task whose examples name their owner
        return Scenario().replace("data.dataset", "drug_reviews")
    return Scenario()


def _step(doc: FieldDoc, at: float) -> float:
    return 1 if not doc.is_float else max(abs(at) * 1e-6, 1e-9)


BOUNDED = [doc for doc in FIELDS.values() if doc.spec.low is not None or doc.spec.high is not None]


@pytest.mark.parametrize("doc", BOUNDED, ids=[doc.path for doc in BOUNDED])
def test_the_bounds_described_are_the_bounds_enforced(doc: FieldDoc) -> None:
    base, spec = _base(doc.path), doc.spec
    cast = float if doc.is_float else int
    high = spec.high if spec.cap is None else spec.cap
    for bound, is_open, outward in ((spec.low, spec.low_open, -1), (high, spec.high_open, 1)):
        if bound is None or math.isinf(bound):
            continue
        inside = bound - outward * _step(doc, bound) if is_open else bound
        outside = bound if is_open else bound + outward * _step(doc, bound)
        assert not _error_at(base, doc.path, cast(inside)), (doc.path, inside)
        assert _error_at(base, doc.path, cast(outside)), (doc.path, outside)


CHOSEN = [doc for doc in FIELDS.values() if doc.choices() and not doc.kind.startswith("list")]


@pytest.mark.parametrize("doc", CHOSEN, ids=[doc.path for doc in CHOSEN])
def test_the_choices_described_are_the_choices_accepted(doc: FieldDoc) -> None:
    for choice in doc.choices() or ():
        refused = _error_at(_base(doc.path), doc.path, choice) and _error_at(
            PLAIN, doc.path, choice
        )
        assert not refused, (doc.path, choice)
    wrong = 16 if isinstance(doc.default, int) else "not-a-choice"
    assert _error_at(Scenario(), doc.path, wrong)
    assert set(doc.spec.choice_help) <= set(doc.choices() or ())


def test_the_app_reads_help_choices_and_bounds_from_the_description() -> None:
    from app import help as words
    from app import state, sweep_state

    assert not hasattr(words, "FIELD")  # no second copy of the field help
    for path, doc in FIELDS.items():
        assert words.field_help(path) == doc.help
        assert state.CHOICES.get(path) == doc.choices()
        assert sweep_state.choices_for(path.replace("*", "g")) == doc.choices()
    for key, path in state.WIDGETS.items():
        doc = catalog.field_doc(path)
        assert state.widget_label(key).lower().startswith(doc.label.lower())
        limits = state.number_limits(path)
        if doc.spec.low is not None and not doc.spec.low_open:
            assert limits["min_value"] == doc.spec.low
        if doc.spec.high is not None and not doc.spec.high_open:
            assert limits["max_value"] == doc.spec.high
    columns = {doc.name: doc for doc in state.group_columns()}
    assert columns["cost"] is FIELDS["participants.*.cost"]


def test_fedmarket_fields_lists_every_field_with_its_help() -> None:
    from agents.cli import app

    done = CliRunner().invoke(app, ["fields", "market"], env={"COLUMNS": "400"})
    assert done.exit_code == 0, done.output
    for doc in FIELDS.values():
        if doc.path.startswith("market."):
            assert doc.path in done.output
            assert doc.help.split()[0] in done.output
    assert "privacy.clip" not in done.output
    missing = CliRunner().invoke(app, ["fields", "nothing"])
    assert missing.exit_code == 2


def test_a_removed_field_still_loads_from_an_old_file() -> None:
    with pytest.warns(FutureWarning, match=r"market\.selection = 'all' is ignored"):
        old = Scenario.from_toml_string('[market]\nselection = "all"\nmechanism = "flat"\n')
    assert old == Scenario().replace("market.mechanism", "flat")
    with pytest.raises(ScenarioError) as error:
        Scenario.from_toml_string('[market]\nselection = "everyone"\n')
    assert error.value.path == "market.selection" and "delete" in str(error.value)
    with pytest.raises(ScenarioError, match="unknown field"):
        Scenario().replace("market.selection", "all")
    assert "market.selection" not in FIELDS

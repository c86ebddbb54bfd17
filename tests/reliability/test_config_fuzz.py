"""Bad configuration: every broken scenario ends in one line naming the field and the fix.

Issue 8, item 5. hypothesis mutates a valid scenario file -- wrong types, out-of-range
values, unknown names and keys, wrong nesting, missing pieces -- and every case must end in a
:class:`ScenarioError` whose message is a single line that starts with the dotted field name
and says what is allowed. The allowed ranges are restated here from the documentation,
independently of ``agents.scenario``. Broken TOML, unreadable files and the real command line
are in ``test_config_files.py``.
"""

from __future__ import annotations

import copy
import datetime
import unicodedata
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import Scenario, ScenarioError
from agents.scenario import limits
from tests.reliability.conftest import BASE, assert_refused, load, set_field

BAD_STRINGS = st.text(max_size=12).filter(lambda s: s != "file")
ENUMS = {
    ("model", "mode"): ("lora", "head"),
    ("model", "init"): ("pretrained", "random"),
    ("model", "backbone"): ("minilm", "tiny"),
    ("data", "dataset"): ("amazon_reviews",),
    ("train", "aggregator"): ("fedavg", "median", "trimmed_mean"),
    ("privacy", "access"): ("plaintext", "auto"),
    ("market", "utility_metric"): ("accuracy", "neg_loss"),
    ("market", "scoring"): (
        "exact",
        "permutation",
        "tmc",
        "gtg",
        "banzhaf",
        "loo",
        "cgsv",
        "surrogate",
    ),
    ("market", "mechanism"): ("proportional", "shapley_fair", "reputation", "auction", "flat"),
    ("participants", "strategy"): ("honest", "free_rider", "noisy", "poisoner", "sybil"),
    ("participants", "free_ride"): ("zero", "stale"),
}
"""String fields and (some of) their allowed values; anything else must be refused."""

NAN, INF = float("nan"), float("inf")
OUT_OF_RANGE: dict[tuple[str, str], list[Any]] = {
    ("", "rounds"): [0, -1, 10_001, 2**62],
    ("", "seed"): [-1, 2**63],
    ("model", "lora_rank"): [0, 65, -3],
    ("model", "lora_alpha"): [0, -1],
    ("model", "adapted_layers"): [0, 7],
    ("model", "head_hidden"): [-1, 1025],
    ("data", "val_size"): [19, 100_001, 0],
    ("data", "max_length"): [7, 513],
    ("data", "utility_subset"): [9, 0, -5],
    ("train", "lr"): [0.0, 1.0, -0.1, 2.0, NAN, INF],
    ("train", "batch_size"): [0, 1025],
    ("train", "local_epochs"): [0.0, -1.0, 100.5, NAN],
    ("train", "deadline_s"): [0.0, -5.0, 1e8, INF, 1e308],
    ("train", "min_samples"): [0, -1],
    ("train", "prox_mu"): [-0.1, -INF, NAN],
    ("train", "trim_fraction"): [-0.1, 0.5, 0.9],
    ("train", "max_update_norm"): [0.0, -1.0, INF],
    ("privacy", "threshold"): [0.0, -0.5, 1.5, NAN],
    ("privacy", "neighbors"): [-1, -10],
    ("privacy", "clip"): [0.0, -1.0, INF],
    ("privacy", "bits"): [16, 8, 128, 0],
    ("privacy", "dropout_rate"): [1.0, -0.1, 2.0],
    ("market", "scoring_budget"): [1, 0, -4],
    ("market", "round_budget"): [0.0, -1.0, 1e13, INF, 1e308],
    ("market", "reputation_threshold"): [-0.1, 1.0],
    ("market", "exploration"): [-0.1, 1.1],
    ("market", "learning_rate"): [0.0, 1.5],
    ("participants", "count"): [-1, 10_001],
    ("participants", "data_size"): [0, 100_001],
    ("participants", "class_alpha"): [-0.1, 1e7, 1e308, INF],
    ("participants", "label_noise"): [-0.1, 1.1],
    ("participants", "speed"): [0.0, -1.0, 1e10, 1e308],
    ("participants", "availability"): [-0.1, 1.1],
    ("participants", "cost"): [-1.0, -INF],
    ("participants", "flip_rate"): [-0.1, 1.1],
    ("participants", "poison_scale"): [NAN, INF, -INF],
    ("participants", "sybil_identities"): [0, 51],
}
"""Values outside the documented range of each numeric field."""

WRONG_TYPES: dict[type, list[Any]] = {
    int: ["3", 2.5, True, [1], {"a": 1}, datetime.date(2024, 1, 1)],
    float: ["0.5", True, [0.5], {"v": 1.0}, datetime.time(12, 0)],
    bool: [1, "true", 0.0, [True]],
    str: [1, 1.5, False, ["a"], {"a": "b"}],
    tuple: ["query", [1], 3, {"a": "b"}],
}
"""For each declared type, values of other TOML types (ints widen to floats, so no ints)."""

FIELD_TYPES: dict[tuple[str, str], type] = {
    ("", "name"): str,
    ("", "rounds"): int,
    ("", "seed"): int,
    **{
        (section, key): type(value)
        for section in ("model", "data", "train", "privacy", "market")
        for key, value in BASE[section].items()
        if not isinstance(value, dict)
    },
    **{  # tables inside a section ([privacy.dp]), field by field
        (f"{section}.{table}", key): type(value)
        for section in ("model", "data", "train", "privacy", "market")
        for table, fields in BASE[section].items()
        if isinstance(fields, dict)
        for key, value in fields.items()
    },
    **{("participants", key): type(value) for key, value in BASE["participants"]["honest"].items()},
}
WRONG_FOR: dict[tuple[str, str], list[Any]] = {
    ("privacy.dp", "menu"): ["0.5", 0.5, ["a"], [[0.5]], {"a": 1.0}],
}
"""A list of numbers: a list of ints is not a wrong type there (ints widen to floats)."""
FIELD_TYPES.pop(("data", "positive_label"))  # a string or an integer label: both are valid


def test_the_base_scenario_loads() -> None:
    assert load(tomli_w.dumps(BASE)).n_identities == 3


def test_a_nested_table_that_is_not_a_table_is_refused() -> None:
    for value in (3, "on", [1.0], True):
        raw, field = set_field(BASE, "privacy", "dp", value)
        assert_refused(raw, field)


@given(target=st.sampled_from(sorted(FIELD_TYPES)), data=st.data())
@settings(max_examples=300, deadline=None)
def test_wrong_types_are_refused(target: tuple[str, str], data: st.DataObject) -> None:
    # Prepare
    section, key = target
    wrong = WRONG_FOR.get(target, WRONG_TYPES[FIELD_TYPES[target]])
    value = data.draw(st.sampled_from(wrong), label="value")
    raw, field = set_field(BASE, section, key, value)
    # Execute / Assert
    assert_refused(raw, field)


@given(target=st.sampled_from(sorted(OUT_OF_RANGE)), data=st.data())
@settings(max_examples=300, deadline=None)
def test_out_of_range_numbers_are_refused(target: tuple[str, str], data: st.DataObject) -> None:
    value = data.draw(st.sampled_from(OUT_OF_RANGE[target]), label="value")
    raw, field = set_field(BASE, *target, value)
    assert_refused(raw, field)


@given(target=st.sampled_from(sorted(ENUMS)), value=BAD_STRINGS)
@settings(max_examples=200, deadline=None)
def test_unknown_names_are_refused(target: tuple[str, str], value: str) -> None:
    if value in ENUMS[target]:
        return
    raw, field = set_field(BASE, *target, value)
    assert_refused(raw, field)


PLAIN_KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,14}", fullmatch=True)


@given(
    where=st.sampled_from(["", "model", "data", "train", "privacy", "market", "group"]),
    key=PLAIN_KEYS,
)
@settings(max_examples=300, deadline=None)
def test_unknown_keys_are_refused_by_name(where: str, key: str) -> None:
    # Prepare: a key that is not a field at this level (a typo, or a field of another level)
    known = {"": BASE, "group": BASE["participants"]["honest"]}.get(where) or BASE[where]
    if key in known:
        return
    raw = copy.deepcopy(BASE)
    if where == "":
        raw[key], field = 1, key
    else:
        raw, field = set_field(BASE, "participants" if where == "group" else where, key, 1)
    # Execute / Assert
    message = assert_refused(raw, field)
    assert "unknown key" in message and "allowed are" in message


@given(
    where=st.sampled_from(["", "model", "train", "group"]),
    key=st.text(min_size=1, max_size=8).filter(lambda k: not k.isidentifier()),
)
@settings(max_examples=100, deadline=None)
def test_keys_with_odd_characters_still_give_one_line(where: str, key: str) -> None:
    raw = copy.deepcopy(BASE)
    if where == "":
        raw[key] = 1
    elif where == "group":
        raw["participants"] = {key: {"count": 1}}  # an odd group name
    else:
        raw[where][key] = 1
    with pytest.raises(ScenarioError) as info:
        load(tomli_w.dumps(raw))
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert limits.first_unsafe(message) is None, repr(message)
    if limits.first_unsafe(key) is not None:  # refused before its table is read
        section = "participants" if where == "group" else where
        assert message.startswith(f"{section}." if section else ("'", '"'))
        assert "holds a control character" in message
    elif where == "group":
        assert message.startswith("participants: group name ") and "identifier" in message
    else:
        assert message.startswith("" if where == "" else f"{where}.")
        assert "unknown key; allowed are" in message


Edit = tuple[tuple[str, ...], Any]
NESTING: list[tuple[list[Edit], str]] = [
    # (edits: path -> new value, the field the message must start with)
    ([(("model",), 3)], "model"),
    ([(("train",), [1, 2])], "train"),
    ([(("privacy",), [{"secure_aggregation": True}])], "privacy"),
    ([(("market",), "shapley_fair")], "market"),
    ([(("participants",), 5)], "participants"),
    ([(("participants",), {})], "participants"),
    ([(("participants", "honest"), 3)], "participants.honest"),
    ([(("participants", "honest"), [{"count": 2}])], "participants.honest"),
    ([(("participants", "count"), 2)], "participants.count"),  # a field without its group
    ([(("participants", "honest", "extra"), {"count": 1})], "participants.honest.extra"),
    ([(("model", "data"), {"val_size": 50})], "model.data"),  # a section inside another
    ([(("model", "lr"), 0.1)], "model.lr"),  # a field in the wrong section
    ([(("train", "rounds"), 3)], "train.rounds"),
    ([(("market", "participants"), {"g": {"count": 1}})], "market.participants"),
    ([(("data", "max_length"), {"value": 64})], "data.max_length"),
    # missing pieces
    ([(("data", "dataset"), "file"), (("data", "path"), "")], "data.path"),
    ([(("participants", g, "count"), 0) for g in BASE["participants"]], "participants"),
    # fields that are valid alone but not together
    ([(("privacy", "access"), "trusted_evaluator")], "privacy.access"),
    (
        [(("privacy", "secure_aggregation"), True), (("train", "aggregator"), "median")],
        "train.aggregator",
    ),
    (
        [
            (("privacy", "secure_aggregation"), True),
            (("privacy", "access"), "secure_coalitions"),
            (("market", "scoring"), "cgsv"),
        ],
        "market.scoring",
    ),
]


@pytest.mark.parametrize(("edits", "field"), NESTING)
def test_wrong_nesting_and_missing_pieces_are_refused(edits: list[Edit], field: str) -> None:
    raw = copy.deepcopy(BASE)
    for path, value in edits:
        node = raw
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    assert_refused(raw, field)


@given(drop=st.sets(st.sampled_from(["name", "rounds", "seed", "model", "train", "privacy"])))
@settings(max_examples=30, deadline=None)
def test_missing_optional_sections_take_the_documented_defaults(drop: set[str]) -> None:
    raw = {k: v for k, v in copy.deepcopy(BASE).items() if k not in drop}
    scenario = load(tomli_w.dumps(raw))
    default = Scenario()
    for key in drop:
        assert getattr(scenario, key) == getattr(default, key)


@given(name=st.text(max_size=260))
@settings(max_examples=300, deadline=None)
def test_a_name_is_accepted_only_when_short_and_printable(name: str) -> None:
    # the rule restated: at most 200 characters, none of Unicode categories Cc (C0, DEL, C1),
    # Cf (bidi overrides, zero-width), Cs (lone surrogates), Zl and Zp (line separators)
    unsafe = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    allowed = len(name) <= 200 and not any(unicodedata.category(c) in unsafe for c in name)
    try:
        scenario = Scenario.from_toml_string(tomli_w.dumps({**BASE, "name": name}))
    except ScenarioError as error:
        assert not allowed, error
        assert error.path == "name" and "\n" not in str(error)
        assert limits.first_unsafe(str(error)) is None, repr(str(error))
    else:
        assert allowed and scenario.name == name

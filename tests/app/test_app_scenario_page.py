"""Scenario page: examples, upload, edits through the library, errors next to the field."""

from __future__ import annotations

from agents import Scenario
from agents.scenario import load_example


def test_opens_on_default_and_shows_its_toml(app, errors, tiny_toml) -> None:
    # Execute
    at = app("scenario")

    # Assert
    assert not at.exception
    assert not errors(at)
    scenario = at.session_state["scenario"]
    assert scenario == Scenario.from_toml(tiny_toml)
    assert Scenario.from_toml_string(at.code[0].value) == scenario
    assert at.get("download_button")[0].key == "download_toml"


def test_edited_groups_become_the_scenario_that_runs(app, errors) -> None:
    # Prepare
    at = app("scenario")

    # Execute: 3 honest participants instead of 2, and a poisoner group added
    at.session_state["groups"] = {
        "edited_rows": {0: {"count": 3}},
        "added_rows": [{"name": "poison", "count": 1, "strategy": "poisoner"}],
        "deleted_rows": [],
    }
    at.run()
    scenario = at.session_state["scenario"]
    at.switch_page("app_pages/run.py").run()
    at.button(key="run").click().run()

    # Assert: the edits reached the library and the run saw them
    assert not at.exception
    assert not errors(at)
    assert scenario.group("honest").count == 3
    assert scenario.group("poison").strategy == "poisoner"
    result = at.session_state["result"]
    assert result.scenario == scenario
    assert result.participants["participant"].nunique() == scenario.n_identities == 5
    assert set(result.participants["strategy"]) == {"honest", "free_rider", "poisoner"}


def test_invalid_values_show_the_library_error_next_to_the_field(app, errors) -> None:
    # Prepare
    at = app("scenario")
    before = at.session_state["scenario"]

    # Execute / Assert: a negative cost in the table
    at.session_state["groups"] = {
        "edited_rows": {1: {"cost": -1}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    assert errors(at) == ["participants.free_rider.cost: must be >= 0, got -1.0"]
    assert at.session_state["scenario"] == before
    assert at.warning, "the page says the other pages keep the last valid scenario"

    # Execute / Assert: a negative budget per round
    at.session_state["groups"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": []}
    at.number_input(key="round_budget").set_value(-5.0).run()
    assert not at.exception
    assert errors(at) == ["market.round_budget: must be > 0, got -5.0"]

    # Execute / Assert: a cross-section rule (cgsv reads individual updates)
    at.number_input(key="round_budget").set_value(50.0).run()
    at.selectbox(key="scoring").set_value("cgsv").run()
    assert not at.exception
    assert len(errors(at)) == 1 and errors(at)[0].startswith("market.scoring: 'cgsv'")
    assert at.session_state["scenario"].market.scoring == "exact"

    # Execute / Assert: fixed again, the edit is taken
    at.selectbox(key="scoring").set_value("loo").run()
    assert not errors(at)
    assert at.session_state["scenario"].market.round_budget == 50.0
    assert at.session_state["scenario"].market.scoring == "loo"


def test_secure_aggregation_off_forces_plaintext(app) -> None:
    # Prepare
    at = app("scenario")

    # Execute
    at.toggle(key="secure_aggregation").set_value(False).run()

    # Assert
    privacy = at.session_state["scenario"].privacy
    assert not at.exception
    assert (privacy.secure_aggregation, privacy.access) == (False, "plaintext")


def test_load_example_and_upload(app, errors) -> None:
    # Prepare
    at = app("scenario")

    # Execute: load the baseline example
    at.selectbox(key="example").set_value("baseline").run()
    at.button(key="load_example").click().run()

    # Assert
    assert not at.exception
    assert at.session_state["scenario"] == load_example("baseline")
    assert at.number_input(key="rounds").value == load_example("baseline").rounds

    # Execute: upload a TOML file with a mistake, then a good one
    at.radio(key="source").set_value("Upload TOML").run()
    at.file_uploader(key="upload").set_value(("bad.toml", b"rounds = 0\n", "application/toml"))
    at.run()
    assert not at.exception
    assert errors(at) == ["rounds: must be an integer in [1, 10000], got 0"]
    good = load_example("free_riders").replace("name", "mine")
    at.file_uploader(key="upload").set_value(
        ("mine.toml", good.to_toml().encode(), "application/toml")
    )
    at.run()

    # Assert
    assert not at.exception
    assert not errors(at)
    assert at.session_state["scenario"] == good
    assert at.text_input(key="name").value == "mine"


def test_widgets_take_label_help_choices_and_bounds_from_the_field_description(app) -> None:
    from agents.scenario import field_doc
    from app import help as words
    from app import state

    # Execute
    at = app("scenario")

    # Assert: each widget of the page shows what the scenario's field description says
    kinds = ("number_input", "selectbox", "text_input", "checkbox", "toggle")
    widgets = {w.key: w for kind in kinds for w in at.get(kind)}
    for key, path in state.WIDGETS.items():
        widget, doc = widgets[key], field_doc(path)
        assert widget.label == state.widget_label(key)
        assert widget.help.startswith(words.field_help(path)), key
        if doc.choices() is not None:
            assert list(widget.options) == [str(c) for c in doc.choices() or ()], key
        if type(widget).__name__ == "NumberInput":
            limits = state.number_limits(path)
            assert widget.min == limits.get("min_value", widget.min), key
            assert widget.max == limits.get("max_value", widget.max), key
    assert "market.selection" not in state.WIDGETS.values()

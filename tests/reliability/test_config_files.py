"""Bad configuration files: broken TOML, unreadable files and the real command line.

Issue 8, item 5 (the field mutations are in ``test_config_fuzz.py``). hypothesis damages a
valid scenario file -- inserted, deleted, duplicated and swapped characters and lines,
truncation -- and every case must load or end in one line (``scenario:`` when the text is not
TOML). A handful of real CLI runs check that such errors reach the user as exit status 2 and
one line on stderr, with no traceback (``fedmarket run`` and ``fedmarket sweep``).
"""

from __future__ import annotations

import copy
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import Scenario, ScenarioError
from tests.agents.conftest import fedmarket
from tests.reliability.conftest import BASE, SAYS_WHAT_IS_ALLOWED, load, set_field

TOML_CHARS = st.sampled_from(list("[]{}=\"'#,.\\\n \t") + ["\x00", "\x7f", "é", "[[", "]]"])
BASE_TEXT = tomli_w.dumps(BASE)


@st.composite
def broken_texts(draw: st.DrawFn) -> str:
    text = BASE_TEXT
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["insert", "delete", "truncate", "duplicate", "swap"]))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "insert":
            text = text[:at] + draw(TOML_CHARS) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
        elif kind == "truncate":
            text = text[:at]
        elif kind == "duplicate":
            lines = text.splitlines(keepends=True) or [""]
            k = draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[: k + 1] + lines[k:])
        else:
            lines = text.splitlines(keepends=True) or [""]
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "".join(lines)
    return text


@given(text=broken_texts())
@settings(max_examples=300, deadline=None)
def test_broken_toml_is_one_line_never_a_crash(text: str) -> None:
    # Prepare: is the text still TOML at all?
    try:
        tomllib.loads(text)
        parses = True
    except tomllib.TOMLDecodeError:
        parses = False
    # Execute: a damaged file may even stay valid (a deleted comment), but never crashes
    try:
        load(text)
    except ScenarioError as error:
        message = str(error)
    else:
        assert parses
        return
    # Assert
    assert len(message.splitlines()) == 1, message
    if not parses:
        assert message.startswith("scenario: not valid TOML: "), message
    else:
        assert ": " in message and SAYS_WHAT_IS_ALLOWED.search(message), message


def test_unreadable_files_are_one_line_scenario_errors(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'name = "\xff\xfe"\n')
    for path, expected in (
        (binary, "is not UTF-8"),
        (tmp_path / "missing.toml", "file not found"),
        (tmp_path, "is a folder"),
    ):
        with pytest.raises(ScenarioError, match=expected) as info:
            Scenario.from_toml(path)
        assert str(info.value).startswith("scenario: ") and "\n" not in str(info.value)


# ----- the real command line -----


def _assert_one_line_exit_2(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for text in expected:
        assert text in lines[0], lines[0]


def _write(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def test_cli_run_bad_scenarios_exit_2_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(BASE_TEXT.replace("[model]", "[model", 1), encoding="utf-8")
    fast, _ = set_field(BASE, "participants", "speed", 1e308)  # once an OverflowError traceback
    cases = [
        (broken, ("scenario: ", "not valid TOML")),
        (_write(tmp_path / "fast.toml", fast), ("participants.honest.speed: ", "1e+09")),
    ]
    for path, expected in cases:
        done = fedmarket("run", str(path), "--quiet", "--out", str(tmp_path / "never"), timeout=300)
        _assert_one_line_exit_2(done, *expected)
        assert not (tmp_path / "never").exists()


def test_cli_run_missing_data_file_exits_2_with_one_line(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE)
    raw["data"].update(dataset="file", path=str(tmp_path / "nowhere.csv"))
    path = _write(tmp_path / "file.toml", raw)
    done = fedmarket("run", str(path), "--quiet", "--out", str(tmp_path), timeout=300)
    _assert_one_line_exit_2(done, "data.path: ", "not found")


def test_cli_sweep_bad_sweep_file_exits_2_with_one_line(tmp_path: Path) -> None:
    sweep = {
        "base": copy.deepcopy(BASE),
        "seeds": [0],
        "backend": "serial",
        "grid": {"participants.nobody.count": [1, 2]},
    }
    done = fedmarket("sweep", str(_write(tmp_path / "sweep.toml", sweep)), "--quiet", timeout=300)
    _assert_one_line_exit_2(done, "participants.nobody", "no such group")

"""Hostile input: every one ends in one line, exit 2, within 2 s and under 1 GiB.

Issue 27, part 5 (M3). The real command line (``python -m agents.cli``) gets each input of
the security review -- a 30 MB name, an array nested 50,000 deep, 200 groups x 10,000
participants x 100,000 examples, an ANSI escape in a name -- and the ordinary broken files
(invalid UTF-8, a TOML syntax error, a binary file, an empty file, a folder, a missing file).
Each must exit 2 with exactly one line on stderr, no traceback, no control character, in at
most 2 s beyond the interpreter's own start (the median of ``fedmarket --help``, measured in
the same session) and with a peak resident set under 1 GiB (the rusage of that child
alone, read by a small fresh parent). ``fedmarket sweep`` and ``fedmarket study`` go through
the same loader. The budget, shape and terminal checks are also tested in-process, each with
a broken variant (the check monkeypatched away) to show that the assertion would catch its
absence: ``test_input_limits.py``.
"""

from __future__ import annotations

import importlib
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents import cli
from agents.scenario import limits

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 2.0  # beyond the interpreter's start
PEAK_BYTES = 1 << 30
DEEP = 50_000
HUGE_GROUPS = "".join(
    f"[participants.g{i}]\ncount = 10000\ndata_size = 100000\n" for i in range(200)
)
ESCAPE = "\x1b"


@dataclass
class Finished:
    """A finished CLI child: exit status, output, wall time and its own peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_bytes: int


MEASURE = """\
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[2:], timeout=float(sys.argv[1])).returncode
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
print(code, seconds, peak, file=open('measure.txt', 'w'))
sys.exit(code)
"""
"""A small, fresh parent for the CLI: its only child is the CLI, so ``RUSAGE_CHILDREN`` is
that child's peak alone (a fork of pytest itself would count pytest's resident pages)."""


def _fedmarket(*args: str, cwd: Path, timeout: float = 60.0) -> Finished:
    """Run the real CLI in a fresh interpreter: its status, output, time and peak RSS."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop(limits.MEMORY_ENV, None)
    command = [sys.executable, "-c", MEASURE, str(timeout), sys.executable, "-m", "agents.cli"]
    done = subprocess.run(
        [*command, *args], cwd=cwd, env=env, capture_output=True, timeout=timeout + 30
    )
    code, seconds, peak = (cwd / "measure.txt").read_text().split()
    assert int(code) == done.returncode
    return Finished(
        returncode=done.returncode,
        stdout=done.stdout.decode(errors="replace"),
        stderr=done.stderr.decode(errors="replace"),
        seconds=float(seconds),
        peak_bytes=int(peak),
    )


@pytest.fixture(scope="module")
def startup_s(tmp_path_factory: pytest.TempPathFactory) -> float:
    """The median wall time of ``fedmarket --help``: the interpreter's and the CLI's start."""
    folder = tmp_path_factory.mktemp("startup")
    times = [_fedmarket("--help", cwd=folder).seconds for _ in range(3)]
    return statistics.median(times)


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "30 MB name": (
        lambda d: _write(d, "name.toml", f'name = "{"x" * 30_000_000}"\n'),
        "over the limit of 256 KiB",
    ),
    "50,000-deep array": (
        lambda d: _write(d, "deep.toml", "name = " + "[" * DEEP + "]" * DEEP + "\n"),
        "nested more than 32 brackets",
    ),
    "200 groups x 10,000 x 100,000": (
        lambda d: _write(d, "huge.toml", HUGE_GROUPS),
        "participants: 200 groups exceed the limit of 100",
    ),
    "256 KiB of nested arrays (parsed, then refused)": (
        lambda d: _write(d, "dense.toml", "g = [" + ",".join(["[[1]]"] * 43_000) + "]\n"),
        "g: unknown key",
    ),
    "ANSI escape in the name": (
        lambda d: _write(d, "ansi.toml", 'name = "\\u001b[31mred\\u001b[0m"\n'),
        "name: holds a control character",
    ),
    "invalid UTF-8": (lambda d: _write(d, "latin.toml", b'name = "\xff\xfe"\n'), "not UTF-8"),
    "TOML syntax error": (
        lambda d: _write(d, "syntax.toml", 'name = "x"\n[model\n'),
        "not valid TOML",
    ),
    "binary file": (
        lambda d: _write(d, "binary.toml", random.Random(0).randbytes(65_536)),
        "is not UTF-8 text",
    ),
    "empty file": (lambda d: _write(d, "empty.toml", ""), "is empty"),
    "folder": (lambda d: (d / "folder.toml").mkdir() or d / "folder.toml", "is a folder"),
    "missing file": (lambda d: d / "missing.toml", "file not found"),
    "ANSI escape in the file name": (
        lambda d: d / f"{ESCAPE}[31mred.toml",
        "file not found",
    ),
}


def _assert_one_clean_line(done: Finished, expected: str, startup_s: float) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == "", done.stdout[:500]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stderr.endswith("\n"), done.stderr[:2000]
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0][:500]
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in lines[0]), repr(lines[0][:500])
    assert len(lines[0]) <= 2100, len(lines[0])
    assert done.seconds - startup_s <= SECONDS, (done.seconds, startup_s)
    assert done.peak_bytes < PEAK_BYTES, done.peak_bytes


@pytest.mark.parametrize("case", list(HOSTILE))
def test_cli_run_hostile_input_is_one_line_exit_2(
    case: str, tmp_path: Path, startup_s: float
) -> None:
    # Prepare
    make, expected = HOSTILE[case]
    path = make(tmp_path)
    # Execute
    done = _fedmarket("run", str(path), "--quiet", "--out", str(tmp_path / "never"), cwd=tmp_path)
    # Assert
    _assert_one_clean_line(done, expected, startup_s)
    assert not (tmp_path / "never").exists()


SWEEP_OR_STUDY = {
    "deep base": (
        "[base]\nname = 'b'\nrounds = " + "[" * DEEP + "]" * DEEP + "\n",
        "nested more than 32 brackets",
    ),
    "ANSI escape in the base name": (
        '[base]\nname = "\\u001b]0;owned\\u0007"\n',
        "base.name: holds a control character",
    ),
    "huge base": (
        "[base]\n" + HUGE_GROUPS.replace("[participants.", "[base.participants."),
        "participants: 200 groups exceed the limit of 100",
    ),
}
"""A sweep's or study's body (its base scenario), and what the one line must say."""


HUGE_GRID = "seeds = [0]\n[base]\nname = 'b'\n[grid]\nrounds = [{v}]\nseed = [{v}]\n".format(
    v=", ".join(["1"] * 20_000)
)
"""A sweep whose grid is 20,000 x 20,000 = 400 million runs, in 80 KiB."""
SLOW_GRID = (
    "seeds = [{seeds}]\n[base]\nname = 'b'\n[grid]\n\"market.round_budget\" = [{values}]\n".format(
        seeds=", ".join(str(s) for s in range(100)),
        values=", ".join([f"{v}.0" for v in range(1, 100)] + ["-1.0"]),
    )
)
"""100 grid values x 100 seeds = 10,000 runs (the limit), the one bad value last."""


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        (HUGE_GRID, "sweep.grid: the grid x seeds gives more than 10,000"),
        (SLOW_GRID, "market.round_budget: must be > 0"),
    ],
    ids=["huge_grid_before_expanding_it", "bad_value_before_applying_seeds"],
)
def test_cli_sweep_refuses_a_bad_grid_before_running_it(
    grid: str, expected: str, tmp_path: Path, startup_s: float
) -> None:
    path = _write(tmp_path, "sweep.toml", grid)
    done = _fedmarket("sweep", str(path), "--quiet", "--out", str(tmp_path / "never"), cwd=tmp_path)
    _assert_one_clean_line(done, expected, startup_s)


def test_without_the_run_cap_the_huge_grid_reaches_the_expansion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # broken variant: with the cap gone, the CLI hands the 400-million-run grid to expand
    from typer.testing import CliRunner

    sweep_module = importlib.import_module("agents.sweep")
    expanded: list[int] = []
    monkeypatch.setattr(limits, "check_runs", lambda *args: None)
    monkeypatch.setattr(sweep_module, "expand", lambda base, grid, seeds: expanded.append(1))
    monkeypatch.setattr(sweep_module, "sweep", lambda *args, **kwargs: 1 / 0)  # never runs
    path = _write(tmp_path, "sweep.toml", HUGE_GRID)
    CliRunner().invoke(cli.app, ["sweep", str(path), "--out", str(tmp_path / "never")])
    assert expanded == [1]


@pytest.mark.parametrize("command", ["sweep", "study"])
@pytest.mark.parametrize("case", list(SWEEP_OR_STUDY))
def test_cli_sweep_and_study_share_the_checks(
    command: str, case: str, tmp_path: Path, startup_s: float
) -> None:
    body, expected = SWEEP_OR_STUDY[case]
    text = (
        f"{body}[grid]\nseed = [1, 2]\n"
        if command == "sweep"
        else f"mechanisms = ['shapley_fair']\n{body}"
    )
    path = _write(tmp_path, f"{command}.toml", text)
    done = _fedmarket(command, str(path), "--quiet", "--out", str(tmp_path / "never"), cwd=tmp_path)
    _assert_one_clean_line(done, expected, startup_s)
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("where", "seeds", "expected"),
    [
        ("file", "10000000000", "seeds: 10,000,000,000 seeds exceed the limit of 10,000"),
        ("option", "10000000000", "seeds: 10,000,000,000 seeds exceed the limit of 10,000"),
        ("option", "1" + "0" * 5000, "seeds: give a count (5) or a comma-separated list"),
    ],
)
def test_cli_study_refuses_a_huge_seed_count_before_building_it(
    where: str, seeds: str, expected: str, tmp_path: Path, startup_s: float
) -> None:
    head = f"seeds = {seeds}\n" if where == "file" else ""
    path = _write(tmp_path, "study.toml", f"{head}mechanisms = ['shapley_fair']\n[base]\n")
    option = ["--seeds", seeds] if where == "option" else []
    done = _fedmarket(
        "study", str(path), *option, "--quiet", "--out", str(tmp_path / "never"), cwd=tmp_path
    )
    _assert_one_clean_line(done, expected, startup_s)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("run", "--seeds", "0"), "fedmarket run: Invalid value for '--seeds'"),
        (("run", "--nope"), "fedmarket run: No such option '--nope'"),
        (("app", "--port", "0"), "fedmarket app: Invalid value for '--port'"),
        (("bogus",), "fedmarket: No such command 'bogus'"),
        (("run", "--seed", "\x1b[31mred"), "fedmarket run: Invalid value for '--seed'"),
    ],
)
def test_cli_usage_errors_are_one_line_exit_2(
    args: tuple[str, ...], expected: str, tmp_path: Path, startup_s: float
) -> None:
    """Typer's own errors (bad options, commands) end like every other parse failure."""
    done = _fedmarket(*args, cwd=tmp_path)
    _assert_one_clean_line(done, expected, startup_s)


def test_the_installed_command_is_the_one_line_entry_point() -> None:
    """``fedmarket`` must call ``main`` (``app`` itself prints Rich's multi-line box)."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="fedmarket")
    assert script.value == "agents.cli:main"


def test_without_the_entry_point_a_usage_error_is_a_box(tmp_path: Path) -> None:
    # broken variant: Typer's app as the entry point prints several lines
    code = "import sys; from agents.cli import app; sys.argv[0] = 'fedmarket'; app()"
    done = subprocess.run(
        [sys.executable, "-c", code, "run", "--seeds", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) > 1

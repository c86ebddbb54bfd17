"""How far one run wanders across files: the calls from the CLI to the written tables.

Issue 28 asks that one run, from ``fedmarket run`` to the written tables, pass at most 20
calls across files with at most 5 of them into a file already entered (a reader following
the run should not bounce between modules). This traces one ``fedmarket run`` of a tiny
head-mode scenario (one round) in-process with ``sys.setprofile`` and keeps the calls from
one project file (``agents``, ``market``, ``privacy``, ``fl_core``) into another, down to
``--depth`` file changes below the CLI (default 2: the CLI, what it calls, and what those
call), each distinct (caller, callee) pair once. A call into a file entered earlier counts
as a return. Deterministic (no timing); the CPU does not matter.

Measured at commit 4cb9668 (before issue 28's architecture step): 29 calls into 15 files,
14 into a file already entered.

Run: ``python -m bench.call_path [--depth 2] [--show]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "market", "privacy", "fl_core")


@dataclass(frozen=True)
class Call:
    """One call from a project file into another, ``depth`` file changes below the CLI."""

    depth: int
    caller: str
    callee: str
    function: str


def _project_file(filename: str) -> str | None:
    try:
        path = Path(filename).resolve().relative_to(ROOT)
    except ValueError:
        return None
    return str(path) if path.parts and path.parts[0] in PACKAGES else None


def trace_run(scenario_toml: Path, out: Path, depth: int = 2) -> list[Call]:
    """The cross-file calls of ``fedmarket run scenario_toml --out out --quiet``."""
    import agents.model  # noqa: F401  # heavy imports before tracing (not part of the path)
    import agents.run  # noqa: F401
    from agents.cli import app

    calls: list[Call] = []
    seen: set[tuple[str, str, str, str]] = set()
    stack: list[tuple[int, str, str] | None] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "return":
            if stack:
                stack.pop()
            return
        if event != "call":
            return
        here = _project_file(frame.f_code.co_filename)
        parent = stack[-1] if stack else None
        if here is None:
            stack.append(parent)
            return
        level = 0 if parent is None else parent[0] + (parent[1] != here)
        name = frame.f_code.co_name
        if parent is not None and parent[1] != here and level <= depth and name[0] != "<":
            key = (parent[1], parent[2], here, name)
            if key not in seen:
                seen.add(key)
                calls.append(Call(level, parent[1], here, name))
        stack.append((level, here, name))

    argv = sys.argv
    sys.argv = ["fedmarket", "run", str(scenario_toml), "--out", str(out), "--quiet"]
    sys.setprofile(profile)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            app(standalone_mode=False)
    finally:
        sys.setprofile(None)
        sys.argv = argv
    return calls


def returns(calls: list[Call]) -> int:
    """Calls into a file an earlier call already entered."""
    entered: set[str] = set()
    count = 0
    for call in calls:
        count += call.callee in entered
        entered.add(call.callee)
    return count


def measure(depth: int = 2) -> tuple[list[Call], int, int]:
    """Trace a one-round tiny run: its calls, the files they enter, and the returns."""
    from agents.scenario import ParticipantGroup, Scenario
    from agents.scenario.sections import DataSection, MarketSection, ModelSection, TrainSection

    scenario = Scenario(
        name="call_path",
        rounds=1,
        model=ModelSection(backbone="tiny", mode="head"),
        data=DataSection(val_size=100, max_length=48, utility_subset=100),
        train=TrainSection(lr=0.05),
        market=MarketSection(scoring="exact", utility_metric="neg_loss"),
        participants=(ParticipantGroup("honest", count=3, data_size=60),),
    )
    with tempfile.TemporaryDirectory() as folder:
        toml = Path(folder) / "s.toml"
        toml.write_text(scenario.to_toml())
        calls = trace_run(toml, Path(folder) / "out", depth)
    return calls, len({c.callee for c in calls}), returns(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2, help="file changes below the CLI")
    parser.add_argument("--show", action="store_true", help="print every call")
    args = parser.parse_args()
    calls, files, back = measure(args.depth)
    if args.show:
        print("```")
        for call in calls:
            print(f"{'  ' * call.depth}{call.callee}:{call.function}  <- {call.caller}")
        print("```")
    print(
        f"one run, depth {args.depth}: {len(calls)} calls across files into {files} files, "
        f"{back} into a file already entered (issue 28: at most 20 and 5)"
    )


if __name__ == "__main__":
    main()

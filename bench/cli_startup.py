"""How fast the command line answers before any work: ``--help``, ``--version`` and a bad file.

Issue 13 asks that a bad scenario be rejected in under 1 s (and issue 17: ``--help``,
``--version`` and config errors in under 2 s). Each command runs in a fresh process,
``--repeat`` times; the table gives the median wall time and its ratio to a bare
``python -c pass`` measured in the same run, and whether torch was imported (it must not be).

Run: ``python -m bench.cli_startup [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import model_name

PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['fedmarket', *{args!r}]\n"
    "try:\n    runpy.run_module('agents.cli', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print('TORCH', 'torch' in sys.modules, file=sys.stderr)\n"
)


def _time(code: str, repeat: int) -> tuple[float, bool]:
    times, torch = [], False
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            check=False,
        )
        times.append(time.perf_counter() - started)
        torch = torch or "TORCH True" in done.stderr
    return statistics.median(times), torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bad = Path(tempfile.mkdtemp()) / "bad.toml"
    bad.write_text("[market]\nscoring = 'shapely'\n")
    baseline, _ = _time("pass", args.repeat)
    print(
        f"CPU: {model_name()}; load average {os.getloadavg()[0]:.1f}; median of {args.repeat} runs"
    )
    print(f"{'command':38s} {'seconds':>8s} {'x python':>9s} {'torch':>6s}")
    print(f"{'python -c pass (baseline)':38s} {baseline:8.3f} {1.0:9.1f} {'no':>6s}")
    for label, argv in (
        ("fedmarket --help", ["--help"]),
        ("fedmarket --version", ["--version"]),
        ("fedmarket run bad.toml (exit 2)", ["run", str(bad)]),
        ("fedmarket sweep missing.toml (exit 2)", ["sweep", "missing.toml"]),
    ):
        seconds, torch = _time(PROBE.format(args=argv), args.repeat)
        print(
            f"{label:38s} {seconds:8.3f} {seconds / baseline:9.1f} {'yes' if torch else 'no':>6s}"
        )


if __name__ == "__main__":
    main()

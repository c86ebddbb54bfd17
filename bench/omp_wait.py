"""Idle OpenMP threads: spinning (GNU OpenMP's default) vs sleeping, on an idle or busy machine.

Run: ``python -m bench.omp_wait [--repeats 3] [--steps 100]``.

torch's CPU build runs its parallel regions on GNU OpenMP (``libgomp``), whose idle threads
spin before they sleep. When the cores are shared with other work, a spinning thread takes
CPU from the thread that has work to do. This script times the same LoRA-sized workload (a
``(64, 96, 384) @ (384, 384)`` matmul, ReLU, sum and backward, ``--steps`` times) in fresh
processes, alternately: two torch threads with the default wait policy, two threads with
``OMP_WAIT_POLICY=PASSIVE`` (what ``fl_core`` sets unless the user did), and one thread. Run it
on an idle machine and on a busy one (for example beside ``make test``) and compare the
ratios; every ratio printed is measured within this run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from bench.machine import cpu_summary, load_average

WORKLOAD = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
a, w = torch.randn(64, 96, 384), torch.randn(384, 384, requires_grad=True)
started = time.perf_counter()
for _ in range(int(sys.argv[2])):
    (a @ w).relu().sum().backward()
print(time.perf_counter() - started)
"""

CONFIGS = {
    "2 threads, default wait (spin)": ("2", None),
    "2 threads, OMP_WAIT_POLICY=PASSIVE": ("2", "PASSIVE"),
    "1 thread": ("1", None),
}


def time_once(threads: str, policy: str | None, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run(
        [sys.executable, "-c", WORKLOAD, threads, str(steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    load = load_average()[0]
    seconds: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(args.repeats):
        for name, (threads, policy) in CONFIGS.items():
            seconds[name].append(time_once(threads, policy, args.steps))
    base = min(seconds["2 threads, default wait (spin)"])
    print(
        "## OpenMP wait policy (bench/omp_wait.py)\n\n"
        f"CPU {cpu_summary()}; load average {load:.1f} at "
        f"start, {load_average()[0]:.1f} at end; {args.steps} steps, best and range of "
        f"{args.repeats} alternations.\n"
    )
    print("| configuration | best s | range s | speed-up vs default (best) |\n|---|---|---|---|")
    for name, values in seconds.items():
        print(
            f"| {name} | {min(values):.2f} | {min(values):.2f}-{max(values):.2f} | "
            f"{base / min(values):.2f}x |"
        )


if __name__ == "__main__":
    main()

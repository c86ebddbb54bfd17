"""Timing side by side: every compared path runs in the same run, alternately, so all see the
same machine load (the benches print ratios of these times, never absolute targets alone)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Smallest wall-clock time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def alternately(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Best times of two functions timed alternately, so both see the same machine load."""
    a, b = [], []
    for _ in range(repeats):
        a.append(best_of(first, 1))
        b.append(best_of(second, 1))
    return min(a), min(b)


def timed_round_robin(
    paths: Mapping[str, Callable[[T], R]], inputs: Sequence[T], repeats: int
) -> tuple[dict[str, float], dict[str, list[R]]]:
    """Seconds per input of each path (best of ``repeats``), paths interleaved; and each
    path's results on ``inputs`` (from the last repeat)."""
    best = {name: float("inf") for name in paths}
    results: dict[str, list[R]] = {}
    for _ in range(repeats):
        for name, fn in paths.items():
            started = time.perf_counter()
            out = [fn(x) for x in inputs]
            best[name] = min(best[name], (time.perf_counter() - started) / len(inputs))
            results[name] = out
    return best, results

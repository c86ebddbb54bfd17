"""The frozen-prefix cache of the default scenario: one multi-threaded pass vs one worker per core.

Run: ``python -m bench.encode [--examples N] [--repeats R] [--out FILE]``.

``make demo`` starts by running the frozen layers of all-MiniLM-L6-v2 (all but the adapted
one) over the validation, test and training examples it uses, about 3,300 reviews; on two
cores that was a third of the demo's wall time. ``fl_core.features.FeatureStore`` now gives
each core a single-threaded worker with its own batches instead of running every batch on
torch's thread pool. This script fills the same store both ways, alternately, ``--repeats``
times, checks that the cached tensors are identical, and prints the median times and their
ratio, with the CPU and the load average (a busy machine widens the gap: the pool's
per-op barrier waits for the slowest thread).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from bench.machine import cpu_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="training examples to encode")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args()

    import numpy as np
    import torch

    from agents import Scenario
    from fl_core.features import FeatureStore
    from fl_core.task import FederatedTask

    scenario = Scenario()
    task = FederatedTask(
        scenario.data, scenario.model, scenario.train, rng=np.random.default_rng(0)
    )
    tokens = task.features["train"].tokens
    chosen = np.random.default_rng(1).choice(len(tokens), size=min(args.examples, len(tokens)))
    threads = torch.get_num_threads()
    configs = {
        f"one pass on {threads} torch threads": 1,
        f"{threads} single-threaded workers (default)": None,
    }
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    cached: dict[str, torch.Tensor] = {}
    load_start = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, workers in configs.items():
            store = FeatureStore(task.model, tokens, "hidden", workers=workers)
            started = time.perf_counter()
            store.ensure(chosen)
            seconds[name].append(time.perf_counter() - started)
            cached[name] = store.batch(np.sort(chosen)).hidden  # type: ignore[assignment]
    first, second = (cached[name] for name in configs)
    if not torch.equal(first, second):
        raise SystemExit("the two ways cached different tensors")
    median = {name: statistics.median(times) for name, times in seconds.items()}
    serial, parallel = median.values()
    lines = [
        f"CPU {cpu_summary()}; torch {torch.__version__}, {threads} threads; "
        f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end.",
        "",
        f"Frozen prefix ({task.model.first_trainable_layer} of {task.model.n_layers} layers, "
        f"max_length {tokens.input_ids.shape[1]}) of {len(chosen)} training reviews, "
        f"{args.repeats} alternating repeats; cached tensors identical.",
        "",
        "| how | median s | all s |",
        "|---|---|---|",
    ]
    for name in configs:
        runs = ", ".join(f"{t:.1f}" for t in seconds[name])
        lines.append(f"| {name} | {median[name]:.1f} | {runs} |")
    lines += ["", f"workers vs one pass: {serial / parallel:.2f}x faster"]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text("# Frozen-prefix cache: workers vs one pass\n\n" + text + "\n")


if __name__ == "__main__":
    main()

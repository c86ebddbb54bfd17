"""Local training on this process against Ray actors (``train.backend``), side by side.

Run: ``python -m bench.ray_backend [--rounds R] [--participants N] [--address ADDR]``
(about 2 minutes on 2 cores, most of it starting Ray and shipping the model).

Two runs on the tiny test backbone, each trained once per backend on one shared task
(``MarketModel(scenario, task=task)``): head mode with ``N`` participants (a batched round
when N >= 32) and LoRA with 4 participants. Printed per case: the training seconds of the
first round (on Ray it includes starting the actors and shipping the model and the cached
features), the median of the later rounds, the ratio Ray / local of those medians, and
whether the two backends' tables are identical (they must be).

Ray starts a local runtime unless ``--address`` points at a cluster. On one small machine
Ray is *not* faster: the actors share the driver's cores, and each round pays a fixed
dispatch and (de)serialisation cost (tens of milliseconds) that a microsecond head step or
a tiny LoRA step never earns back. The backend pays off when participants' training is
heavy (MiniLM LoRA: seconds per participant) and the cluster has more cores than this one.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from agents import ParticipantGroup, Scenario
from agents.model import MarketModel
from agents.scenario import DataSection, MarketSection, ModelSection, PrivacySection, TrainSection
from bench.machine import model_name, simd_short
from fl_core import FederatedTask
from fl_core.backends import LocalBackend, RayBackend, TrainingBackend


def scenario(mode: str, participants: int, rounds: int) -> Scenario:
    return Scenario(
        name=f"ray-bench-{mode}",
        rounds=rounds,
        seed=0,
        model=ModelSection(backbone="tiny", mode=mode),
        data=DataSection(val_size=100, max_length=48, utility_subset=100),
        train=TrainSection(),
        privacy=PrivacySection(secure_aggregation=False),
        market=MarketSection(scoring="loo"),
        participants=(ParticipantGroup("honest", count=participants, data_size=24),),
    )


def timed(
    sc: Scenario, task: FederatedTask, backend: TrainingBackend
) -> tuple[list[float], pd.DataFrame]:
    task.backend = backend
    model = MarketModel(sc, task=task)
    seconds = []
    while model.running:
        model.step()
        seconds.append(float(model.record.train_seconds))
    table = model.participants_table()
    return seconds, table.drop(columns=[c for c in table if c.endswith("seconds")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--participants", type=int, default=64, help="head-mode participants")
    parser.add_argument("--address", default=None, help="a Ray cluster (default: start one here)")
    args = parser.parse_args()
    print(f"CPU: {model_name()} ({simd_short()}, {os.cpu_count()} cores)")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read when Ray starts
    started = time.perf_counter()
    ray_backend = RayBackend(args.address)
    ready = time.perf_counter() - started
    print(f"Ray: {ray_backend.n_workers} workers, runtime ready in {ready:.1f} s")
    cases = [("head", args.participants), ("lora", 4)]
    for mode, n in cases:
        sc = scenario(mode, n, args.rounds)
        task = FederatedTask(sc.data, sc.model, sc.train, rng=np.random.default_rng(0))
        local, local_table = timed(sc, task, LocalBackend())
        on_ray, ray_table = timed(sc, task, ray_backend)
        same = local_table.equals(ray_table)
        later_local = float(np.median(local[1:] or local))
        later_ray = float(np.median(on_ray[1:] or on_ray))
        print(
            f"{mode:>4} x {n:>3}: first round local {local[0]:.3f} s, ray {on_ray[0]:.3f} s; "
            f"later rounds (median) local {later_local:.4f} s, ray {later_ray:.4f} s; "
            f"ray / local = {later_ray / later_local:.1f}x; identical tables: {same}"
        )
    ray_backend.close()


if __name__ == "__main__":
    main()

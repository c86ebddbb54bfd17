"""``train.backend = "ray"``: participants' local training as Ray actors, same tables.

The fast tests check the pieces without Ray: the config errors, the shipped features (the
very tensors the driver's store gives), and that a round cut into chunks trains exactly as
the whole round (the batching decision is the round's, not the chunk's). The ``ray`` test
starts a Ray head on 127.0.0.1 in a network namespace of its own (as ``test_sweep.py``
does) and runs this module as a script there: head mode with a batched round, head mode
one by one, and LoRA, each on both backends; plus two deliberately broken Ray backends
that the comparison must catch (results in reversed chunk order, as a completion-order
gather could give them; random streams not brought back from the workers).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from agents import ParticipantGroup, Scenario
from agents.scenario import ScenarioError, TrainSection
from tests.agents.conftest import local_ray_head, run_on_loopback_ray_head, tiny_scenario

CASES = ("batched_head", "head", "lora")


def _scenario(case: str) -> Scenario:
    if case == "batched_head":  # >= BATCHED_HEAD_MIN trainers: one batched step per chunk
        base = tiny_scenario(
            ParticipantGroup("honest", count=36, data_size=20),
            ParticipantGroup("riders", count=2, data_size=20, strategy="free_rider"),
            rounds=2,
            scoring="loo",
        )
    else:
        base = tiny_scenario(
            ParticipantGroup("honest", count=3, data_size=40),
            ParticipantGroup("noisy", count=1, data_size=40, strategy="noisy"),
            rounds=2,
        )
    if case == "lora":
        base = base.replace("model.mode", "lora")
    return base


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame if c.endswith("seconds")])


# ----- fast: no Ray -----
@pytest.mark.parametrize(
    ("field", "value"),
    [("backend", "spark"), ("ray_address", "my-cluster"), ("ray_address", "ray://host")],
)
def test_a_bad_backend_setting_names_the_field(field: str, value: str) -> None:
    with pytest.raises(ScenarioError) as error:
        TrainSection(**{field: value})  # type: ignore[arg-type]
    assert error.value.path == f"train.{field}"
    assert "\n" not in str(error.value)


def test_backend_settings_round_trip_through_toml() -> None:
    scenario = (
        _scenario("head")
        .replace("train.backend", "ray")
        .replace("train.ray_address", "ray://10.0.0.5:10001")
    )
    again = Scenario.from_toml_string(scenario.to_toml())
    assert again.train.backend == "ray"
    assert again.train.ray_address == "ray://10.0.0.5:10001"
    assert Scenario().train.backend == "local" and Scenario().train.ray_address is None


@pytest.mark.parametrize("mode", ["head", "lora"])
def test_shipped_features_are_the_stores_tensors(mode: str) -> None:
    from fl_core import FederatedTask
    from fl_core.backends import ShippedFeatures

    scenario = _scenario(mode)
    task = FederatedTask(
        scenario.data, scenario.model, scenario.train, rng=np.random.default_rng(0)
    )
    rows = np.arange(5, 60, 3)
    task.precompute(rows)
    shipped = ShippedFeatures(task.features["train"], rows)
    pick = rows[[4, 0, 7, 7, 2]]
    want, got = task.features["train"].batch(pick), shipped.batch(pick)
    for name in ("pooled", "hidden", "mask"):
        a, b = getattr(want, name), getattr(got, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.shape == b.shape and bool((a == b).all()), name
    with pytest.raises(ValueError, match="never sent"):
        shipped.batch(np.array([6]))


def test_a_round_cut_into_chunks_trains_as_the_whole_round() -> None:
    """What Ray workers do equals the local backend bit for bit, over two rounds: each
    contiguous chunk trains on copies of its jobs (as pickled to a worker) with the round's
    batching decision, and the copies' advanced streams are brought back. The mutation
    that forgets to bring them back (the driver's streams stay where they were) must give
    a different second round. (Deciding batching per chunk instead of per round was tried
    too: on this CPU the batched and one-by-one head paths agreed bit for bit, so that
    mutation is not detectable here; the round's decision is kept by construction.)"""
    from fl_core import FederatedTask
    from fl_core.backends import BATCHED_HEAD_MIN, TrainJob, batches_heads, train_jobs

    scenario = _scenario("head")
    task = FederatedTask(
        scenario.data, scenario.model, scenario.train, rng=np.random.default_rng(1)
    )
    n = BATCHED_HEAD_MIN + 6
    shards = [np.arange(i * 20, i * 20 + 20) % len(task.train_labels) for i in range(n)]
    task.precompute(np.concatenate(shards))
    batched = batches_heads(task.model, "head", n)
    assert batched

    def run(cuts: list[int], restore: bool = True) -> list[np.ndarray]:
        streams = np.random.default_rng(7).spawn(n)
        states: list[Any] = [None] * n
        deltas = []
        for _ in range(2):
            jobs = [
                TrainJob(s, task.train_labels[s], 50.0 + 3 * i, streams[i], states[i])
                for i, s in enumerate(shards)
            ]
            results = []
            for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
                shipped = copy.deepcopy(jobs[lo:hi])  # what a worker receives
                results += train_jobs(
                    task.model,
                    task.features["train"],
                    "head",
                    task.train_config,
                    task.initial_vector,
                    shipped,
                    batched=batched,
                )
                if restore:
                    for job, back in zip(jobs[lo:hi], shipped, strict=True):
                        job.rng.bit_generator.state = back.rng.bit_generator.state
            states = [r.optimizer_state for r in results]
            deltas += [r.delta for r in results]
        return deltas

    def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    whole = run([])
    assert same(whole, run([17]))
    assert same(whole, run([5, 6, 30]))
    assert not same(whole, run([17], restore=False))


# ----- on a local Ray head -----
@pytest.mark.ray
def test_ray_backend_on_a_local_head_gives_identical_tables(tmp_path: Path) -> None:
    run_on_loopback_ray_head("tests.agents.test_ray_backend", tmp_path)
    for case in CASES:
        for table in ("rounds", "participants"):
            local = pd.read_parquet(tmp_path / f"{case}-local-{table}.parquet")
            on_ray = pd.read_parquet(tmp_path / f"{case}-ray-{table}.parquet")
            pd.testing.assert_frame_equal(_stable(on_ray), _stable(local))
    # the comparison catches the bugs a distributed trainer invites
    local = pd.read_parquet(tmp_path / "batched_head-local-participants.parquet")
    for broken in ("reversed", "stale_streams"):
        frame = pd.read_parquet(tmp_path / f"batched_head-{broken}-participants.parquet")
        assert not _stable(frame).equals(_stable(local)), broken


def _broken_backends(address: str) -> dict[str, Callable[[], Any]]:
    from fl_core.backends import RayBackend

    class Reversed(RayBackend):
        """Mutation: chunk results gathered last chunk first (a completion-order gather)."""

        def map(self, task: Any, global_vector: Any, jobs: Any, *, cfg: Any = None) -> Any:
            results = super().map(task, global_vector, jobs, cfg=cfg)
            half = len(results) // 2
            return results[half:] + results[:half]

    class StaleStreams(RayBackend):
        """Mutation: the workers' advanced random streams are not brought back."""

        def map(self, task: Any, global_vector: Any, jobs: Any, *, cfg: Any = None) -> Any:
            saved = [job.rng.bit_generator.state for job in jobs]
            results = super().map(task, global_vector, jobs, cfg=cfg)
            for job, state in zip(jobs, saved, strict=True):
                job.rng.bit_generator.state = state
            return results

    return {
        "reversed": lambda: Reversed(address, workers=2),
        "stale_streams": lambda: StaleStreams(address, workers=2),
    }


def _tables(scenario: Scenario, backend: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    from agents.model import MarketModel

    model = MarketModel(scenario)
    if backend is not None:
        model.task.backend = backend
    while model.running:
        model.step()
    if model.task.backend.name == "ray":
        assert model.task.backend.n_workers >= 2, "a single worker proves nothing about order"
    model.task.backend.close()
    return model.rounds_table(), model.participants_table()


def main(out: Path) -> None:
    """Start a Ray head on 127.0.0.1, write every case's tables on both backends."""
    with local_ray_head(6391) as address:
        try:
            for case in CASES:
                scenario = _scenario(case)
                on_ray = scenario.replace("train.backend", "ray")
                on_ray = on_ray.replace("train.ray_address", address)
                runs = {"local": _tables(scenario), "ray": _tables(on_ray)}
                if case == "batched_head":
                    for name, backend in _broken_backends(address).items():
                        runs[name] = _tables(on_ray, backend())
                for name, (rounds, participants) in runs.items():
                    rounds.to_parquet(out / f"{case}-{name}-rounds.parquet")
                    participants.to_parquet(out / f"{case}-{name}-participants.parquet")
        finally:
            import ray

            ray.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""fedmarket against Flower: the same FedAvg rounds, with and without SecAgg+, side by side.

Run: ``python -m bench.vs_flower [--clients N] [--rounds R]`` (defaults 100 clients x 3
rounds; Flower's simulation engine starts Ray).

Same data: each client holds 32 reviews of the training pool as frozen all-MiniLM-L6-v2
sentence embeddings (head mode, read from the disk cache). Same model: the linear head.
Same local training: AdamW, the head-mode defaults, each client's own random stream and
optimizer state. fedmarket runs the rounds as a ``MarketModel`` (everyone joins; the
cheapest market settings that still score and pay: ``cgsv`` scoring, ``flat`` payments), with
SecAgg+ (``privacy.secure_aggregate`` over a Harary graph of degree ceil(log2 n)) or in the
clear. Flower runs them in its simulation engine (``flwr.simulation.run_simulation``, Ray
backend): a ``ServerApp`` with ``FedAvg`` under ``DefaultWorkflow``, with
``SecAggPlusWorkflow`` (same degree and threshold) and the client mod ``secaggplus_mod`` for
the secure runs. Every Flower client trains with fedmarket's own head trainer
(``fl_core.head_training.train_heads``, one client at a time) from the random-stream and
optimizer state its fedmarket twin had at the start of that round's training (recorded during
the fedmarket run), starting from Flower's own global model; the two global models must
then agree to 1e-5 after every round (SecAgg+ quantisation included: Flower's quantisation
range is raised to 2**24 over [-8, 8]).

Times are end to end: fedmarket's model build (embeddings from the disk cache) plus its
rounds; Flower's ``run_simulation`` call (Ray start included, the one-off cost a user pays on
every run). The last line is ``fedmarket vs Flower: <ratio>x faster (n=<n>, SecAgg+)``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import privacy
from agents.model import MarketModel
from agents.scenario import MarketSection, ParticipantGroup, PrivacySection, Scenario
from bench.crowd import SHARD, head_crowd
from bench.machine import model_name

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5


def scenario_for(n: int, rounds: int, secure: bool) -> Scenario:
    # Flower's SecAgg+ graph is a ring with an even degree (num_shares - 1, num_shares odd):
    # round ceil(log2 n) up to even so that both sides mask with the same number of neighbours
    degree = max(1, math.ceil(math.log2(n)))
    degree = min(degree + degree % 2, n - 1)
    if secure and degree < n - 1:  # the degree the run will use (the dropout bound may raise it)
        degree = privacy.secaggplus_parameters(n, dropout_rate=0.0, min_neighbors=degree).neighbors
    return head_crowd(
        "vs_flower",
        rounds,
        [ParticipantGroup(name="clients", count=n, data_size=SHARD, cost=0.0)],
        privacy=PrivacySection(secure_aggregation=secure, neighbors=degree if secure else 0),
        market=MarketSection(scoring="cgsv", mechanism="flat", exploration=0.0),
    )


def run_fedmarket(n: int, rounds: int, secure: bool, record: bool) -> dict[str, Any]:
    """The fedmarket run; with ``record``, what each client starts each round's training from."""
    scenario = scenario_for(n, rounds, secure)
    started = time.perf_counter()
    model = MarketModel(scenario)
    snapshots: list[list[dict[str, Any]]] = []
    if record:
        train_clients = model.task.train_clients

        def recording(vector: np.ndarray, shards: Any, labels: Any, **kw: Any) -> Any:
            snapshots.append(
                [
                    {
                        "shard": np.asarray(s),
                        "labels": np.asarray(y),
                        "speed": float(v),
                        "rng": copy.deepcopy(g.bit_generator.state),
                        "optimizer_state": copy.deepcopy(o),
                    }
                    for s, y, v, g, o in zip(
                        shards,
                        labels,
                        kw["samples_per_second"],
                        kw["rngs"],
                        kw["optimizer_states"],
                        strict=True,
                    )
                ]
            )
            return train_clients(vector, shards, labels, **kw)

        model.task.train_clients = recording  # type: ignore[method-assign]
    vectors = [model.global_vector.copy()]
    for _ in range(rounds):
        model.step()
        vectors.append(model.global_vector.copy())
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"seconds": seconds, "vectors": vectors}
    if record:
        head = model.task.model.head
        index = np.unique(np.concatenate([c["shard"] for r in snapshots for c in r]))
        pooled = model.task.features["train"].batch(index).pooled
        out["flower_input"] = {
            "weight": head.weight.detach().cpu().numpy().copy(),
            "bias": head.bias.detach().cpu().numpy().copy(),
            "index": index,
            "pooled": pooled.numpy().copy(),
            "train": model.task.train_config,
            "rounds": snapshots,
            "initial": vectors[0],
            "degree": scenario.privacy.neighbors,
            "threshold_share": secure.threshold if (secure := model.plan.access.secure) else 0.5,
        }
    return out


FLOWER_CHILD = r"""
import pickle, sys, time
import numpy as np
import torch
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.simulation import run_simulation

PATH, OUT, SECURE = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
with open(PATH, "rb") as f:
    DATA = pickle.load(f)
N = len(DATA["rounds"][0])
R = len(DATA["rounds"])
K, W = DATA["weight"].shape


class Pooled:  # what train_heads reads of a FeatureStore: .batch(index).pooled
    def __init__(self, index, pooled):
        self.index, self.pooled_all = index, torch.from_numpy(pooled)
    def batch(self, idx):
        rows = torch.from_numpy(np.searchsorted(self.index, idx))
        return type("B", (), {"pooled": self.pooled_all[rows]})()


def split(vector):
    return [vector[: K * W].reshape(K, W).copy(), vector[K * W :].copy()]


class HeadClient(NumPyClient):
    def __init__(self, cid):
        self.cid = cid
    def fit(self, parameters, config):
        from fl_core.head_training import train_heads
        snap = DATA["rounds"][int(config["round"]) - 1][self.cid]
        vector = np.concatenate([p.ravel() for p in parameters]).astype(np.float32)
        rng = np.random.default_rng()
        rng.bit_generator.state = snap["rng"]
        result = train_heads(
            torch.from_numpy(DATA["weight"]), torch.from_numpy(DATA["bias"]),
            Pooled(DATA["index"], DATA["pooled"]), vector, [snap["shard"]], [snap["labels"]],
            samples_per_second=[snap["speed"]], cfg=DATA["train"], rngs=[rng],
            optimizer_states=[snap["optimizer_state"]],
        )[0]
        return split(vector + result.delta), len(snap["shard"]), {}


def client_fn(context: Context):
    return HeadClient(int(context.node_config["partition-id"])).to_client()


class Capture(FedAvg):
    def aggregate_fit(self, server_round, results, failures):
        params, metrics = super().aggregate_fit(server_round, results, failures)
        flat = np.concatenate([a.ravel() for a in parameters_to_ndarrays(params)])
        np.save(f"{OUT}/round{server_round}.npy", flat)
        return params, metrics


server_app = ServerApp()


@server_app.main()
def main(grid, context):
    strategy = Capture(
        fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=N, min_available_clients=N,
        initial_parameters=ndarrays_to_parameters(split(DATA["initial"])),
        on_fit_config_fn=lambda r: {"round": r},
    )
    ctx = LegacyContext(context=context, config=ServerConfig(num_rounds=R), strategy=strategy)
    fit = None
    if SECURE:
        k = DATA["degree"]
        # odd: Flower 1.42 sends clients an even num_shares before raising it to odd for its
        # ring, and the clients then index past their shares (IndexError in _share_keys)
        fit = SecAggPlusWorkflow(
            num_shares=k + 1 + k % 2,
            reconstruction_threshold=max(2, int(np.ceil(DATA["threshold_share"] * (k + 1)))),
            max_weight=64.0, clipping_range=8.0, quantization_range=2**24, modulus_range=2**32,
        )
    DefaultWorkflow(fit_workflow=fit)(grid, ctx)


client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod] if SECURE else [])
started = time.perf_counter()
run_simulation(server_app, client_app, num_supernodes=N,
               backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
print(f"FLOWER_SECONDS {time.perf_counter() - started:.3f}")
"""


def run_flower(data: dict[str, Any], secure: bool, workdir: str) -> dict[str, Any]:
    """Flower's run in a child process (its logging and Ray stay there)."""
    path = os.path.join(workdir, "input.pkl")
    out = tempfile.mkdtemp(dir=workdir)
    with open(path, "wb") as f:
        pickle.dump(data, f)
    script = os.path.join(workdir, "flower_run.py")
    Path(script).write_text(FLOWER_CHILD)
    # the child and its Ray workers import fl_core from this checkout
    imports = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": imports, "RAY_DEDUP_LOGS": "0"}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, script, path, out, "1" if secure else "0"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("FLOWER_SECONDS")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"the Flower run failed (exit {proc.returncode})")
    rounds = len(data["rounds"])
    missing = [r for r in range(1, rounds + 1) if not os.path.isfile(f"{out}/round{r}.npy")]
    if missing:  # Flower logs a failed round and carries on: say which, with its log
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-6000:])
        raise SystemExit(f"the Flower run aggregated no model in rounds {missing} (log above)")
    vectors = [np.load(os.path.join(out, f"round{r}.npy")) for r in range(1, rounds + 1)]
    return {"seconds": float(lines[-1].split()[1]), "wall": wall, "vectors": vectors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", choices=("plain", "secagg"), help="run one aggregation (default: both)"
    )
    args = parser.parse_args()
    n, rounds = args.clients, args.rounds
    print(
        f"## fedmarket vs Flower (bench/vs_flower.py)\n\n{n} head-mode clients x {rounds} "
        f"FedAvg rounds; CPU {model_name()} ({os.cpu_count()} cores), load average at start "
        f"{os.getloadavg()[0]:.1f}.\n\n| aggregation | fedmarket s | Flower s | ratio | "
        "max abs diff of the global model |\n|---|---|---|---|---|",
        flush=True,
    )
    ratio = {}
    with tempfile.TemporaryDirectory(prefix="vs-flower-") as workdir:
        for secure in [s for s in (False, True) if args.only in (None, "secagg" if s else "plain")]:
            ours = run_fedmarket(n, rounds, secure, record=True)
            flower = run_flower(ours["flower_input"], secure, workdir)
            diff = max(
                float(np.max(np.abs(a - b)))
                for a, b in zip(ours["vectors"][1:], flower["vectors"], strict=True)
            )
            if diff > TOLERANCE:
                raise SystemExit(f"aggregates differ by {diff:.2e} > {TOLERANCE:g}")
            # the recording hook deep-copies every client's state: time a clean run as well
            clean = run_fedmarket(n, rounds, secure, record=False)
            ratio[secure] = flower["seconds"] / clean["seconds"]
            name = "SecAgg+" if secure else "plain FedAvg"
            print(
                f"| {name} | {clean['seconds']:.1f} | {flower['seconds']:.1f} | "
                f"{ratio[secure]:.1f}x | {diff:.1e} |",
                flush=True,
            )
    print(f"\nLoad average at end {os.getloadavg()[0]:.1f}.")
    if True in ratio:
        print(f"fedmarket vs Flower: {ratio[True]:.1f}x faster (n={n}, SecAgg+)")


if __name__ == "__main__":
    main()

"""Does head mode learn every built-in task? (issue 30's target: majority + 5 points on each.)

For each task of ``fedmarket datasets`` and each partition (``iid``; ``dirichlet`` with alpha
0.5; ``natural`` where the task names owners), plain FedAvg trains a linear head on frozen
all-MiniLM-L6-v2 embeddings (the default head mode: 128 tokens, lr 5e-2) over 6 clients that
share the whole training pool, for 5 rounds. The ceiling of the frozen embeddings is
measured next to it: a logistic regression trained centrally on the same embeddings of the
whole training pool (``central probe``, its C picked on validation). Tasks named by
``--lora`` (drug reviews, where frozen sentence embeddings carry little of the sentiment)
also run in the default LoRA mode (IID). Reported per task and partition, over seeds:
the final test accuracy, the majority rate of the test set (the accuracy of always
answering the most common class) and the gain over it, each with a 95% t interval.

Writes ``bench/results/tasks.csv`` (one row per run) and ``tasks.md``; prints the table.

    python -m bench.tasks [--seeds 5] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.machine import cpu_summary

RESULTS = Path(__file__).with_name("results")
TARGET_GAIN = 0.05


def partitions(task: str) -> list[str]:
    from fl_core.datasets import task_info

    names = ["iid", "dirichlet"]
    return names + ["natural"] if task_info(task).owner_column else names


def run_one(
    task: str, partition: str, seed: int, rounds: int, clients: int, mode: str = "head"
) -> dict[str, Any]:
    from fl_core import DataConfig, FedAvgConfig, ModelConfig, TrainConfig, run_fedavg

    cfg = FedAvgConfig(
        data=DataConfig(dataset=task),
        model=ModelConfig(mode=mode),
        train=TrainConfig(),
        n_clients=clients,
        rounds=rounds,
        seed=seed,
        partition=partition,
        alpha=0.5,
        samples_per_client=None,
    )
    start = time.perf_counter()
    result = run_fedavg(cfg)
    final = result.rounds.iloc[-1]
    return {
        "task": task,
        "mode": mode,
        "partition": partition,
        "seed": seed,
        "test_accuracy": float(final["test_accuracy"]),
        "val_accuracy": float(final["val_accuracy"]),
        "majority_rate": float(result.extra.get("majority_rate", float("nan"))),
        "seconds": time.perf_counter() - start,
    }


def central_probe(task: str, seed: int) -> dict[str, Any]:
    """The ceiling of frozen embeddings: a logistic regression trained centrally on the whole
    training pool's embeddings (the same cached ones head mode reads), C picked on validation."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig

    task_obj = FederatedTask(
        DataConfig(dataset=task),
        ModelConfig(mode="head"),
        TrainConfig(),
        rng=np.random.default_rng(seed).spawn(4)[0],
    )

    def embeddings(split: str) -> tuple[np.ndarray, np.ndarray]:
        store, data = task_obj.features[split], getattr(task_obj.splits, split)
        index = np.arange(len(data))
        store.ensure(index)
        with torch.inference_mode():
            pooled = store.batch(index).pooled
        assert pooled is not None
        return pooled.numpy(), data.labels

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = map(embeddings, ("train", "val", "test"))
    fits = {
        c: LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train)
        for c in (0.1, 0.3, 1.0, 3.0, 10.0)
    }
    best = max(fits, key=lambda c: fits[c].score(x_val, y_val))
    return {
        "task": task,
        "mode": "central probe",
        "partition": "none",
        "seed": seed,
        "test_accuracy": float(fits[best].score(x_test, y_test)),
        "val_accuracy": float(fits[best].score(x_val, y_val)),
        "seconds": float("nan"),
    }


def majority(task: str) -> float:
    import numpy as np

    from fl_core import DataConfig
    from fl_core.data import load_splits

    return load_splits(DataConfig(dataset=task), np.random.default_rng(0)).majority_rate()


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    from agents.intervals import mean_interval

    rows = []
    for (task, mode, partition), group in runs.groupby(["task", "mode", "partition"], sort=False):
        acc = mean_interval(group["test_accuracy"].to_numpy())
        gain = mean_interval((group["test_accuracy"] - group["majority_rate"]).to_numpy())
        rows.append(
            {
                "task": task,
                "mode": mode,
                "partition": partition,
                "seeds": len(group),
                "test_accuracy": acc,
                "majority_rate": float(group["majority_rate"].iloc[0]),
                "gain": gain,
                "meets_target": bool(gain[1] >= TARGET_GAIN),
            }
        )
    return pd.DataFrame(rows)


def _fmt(interval: Any) -> str:
    mean, low, high = interval
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def markdown(summary: pd.DataFrame, seconds: float, args: argparse.Namespace) -> str:
    lines = [
        "# Head mode on every built-in task (issue 30)",
        "",
        f"Plain FedAvg, a linear head on frozen all-MiniLM-L6-v2 embeddings, {args.clients} "
        f"clients sharing the whole training pool, {args.rounds} rounds, {args.seeds} seeds "
        "(95% t intervals). Gain: test accuracy minus the test set's majority rate; the "
        f"target is a gain of at least {TARGET_GAIN:.2f} whose whole interval clears it. "
        "`central probe`: a logistic regression trained centrally on the same frozen "
        "embeddings of the whole pool (C picked on validation), the ceiling of head mode.",
        "",
        "| task | mode | partition | seeds | test accuracy | majority rate | gain | target met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.itertuples():
        lines.append(
            f"| {row.task} | {row.mode} | {row.partition} | {row.seeds} | "
            f"{_fmt(row.test_accuracy)} | "
            f"{row.majority_rate:.3f} | {_fmt(row.gain)} | {'yes' if row.meets_target else 'no'} |"
        )
    lines += ["", f"CPU: {cpu_summary()}; {seconds:.0f} s in all (embeddings cached once)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--tasks", nargs="+", default=None)
    parser.add_argument(
        "--lora",
        nargs="*",
        default=["drug_reviews"],
        help="tasks also run in LoRA mode (IID): where head mode falls short",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 rounds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.rounds = 2, 2
    from fl_core.datasets import TASKS

    start = time.perf_counter()
    rows = []
    for task in args.tasks or list(TASKS):
        rate = majority(task)
        for partition in partitions(task):
            for seed in range(args.seeds):
                row = run_one(task, partition, seed, args.rounds, args.clients)
                row["majority_rate"] = rate
                rows.append(row)
                print(
                    f"{task} {partition} seed {seed}: test {row['test_accuracy']:.3f} "
                    f"(majority {rate:.3f}, {row['seconds']:.0f} s)",
                    flush=True,
                )
        for seed in range(args.seeds):
            row = central_probe(task, seed)
            row["majority_rate"] = rate
            rows.append(row)
            print(f"{task} central probe seed {seed}: test {row['test_accuracy']:.3f}", flush=True)
        if task in args.lora:
            for seed in range(args.seeds):
                row = run_one(task, "iid", seed, args.rounds, args.clients, mode="lora")
                row["majority_rate"] = rate
                rows.append(row)
                print(f"{task} lora iid seed {seed}: test {row['test_accuracy']:.3f}", flush=True)
    runs = pd.DataFrame(rows)
    summary = summarise(runs)
    text = markdown(summary, time.perf_counter() - start, args)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "tasks.csv", index=False)
    (args.out / "tasks.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

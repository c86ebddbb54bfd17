"""The survey's third experiment: what federated fine-tuning of a foundation model costs.

Each way of fine-tuning pretrained all-MiniLM-L6-v2 runs FedAvg at the same budget (4
clients x 64 examples, IID, 5 rounds of one local epoch, 64 tokens) on two tasks (Amazon
reviews, binary; BBC news, 5 topics):

* ``head``: the frozen encoder's mean-pooled embeddings and a linear head;
* ``LoRA r8 L1`` / ``LoRA r8 L2``: LoRA rank 8 on the top 1 or 2 layers, and the head;
* ``full L1``: full fine-tuning of the top layer's own weights and the head
  (:mod:`fl_core.full_finetune`);
* ``small L3, full L1``: the smaller-model baseline: MiniLM truncated to its bottom 3
  layers, the top one of them fully fine-tuned, and the head.

Each method's learning rate is picked on validation accuracy from a small grid (two values
around its usual range) on a tuning seed (1000) that no reported run uses; the reported
runs use 3 seeds (the seed draws the client shards and every local training stream; the
validation split and the initial weights are those of the tuning seed, so the runs share
their cached frozen prefix). Per run the script measures the final validation and test
accuracy (the whole test split) and the traffic: every client downloads the global
trainable vector and uploads its float32 update each round (upload + download, summed
over clients and rounds). Per method it measures the peak resident memory of the process
that ran it (a fresh interpreter per method and task: torch, the model, the data, the
caches and the training) and a run's wall-clock seconds (training and its evaluations) per
local step (torch on ``--threads`` threads, on a shared machine: indicative).

A distillation baseline is not run: federated distillation (FedMD, FedDF) needs a public
unlabelled transfer set and a teacher-student loss in the clients' local step, which
:mod:`fl_core.training` (cross-entropy on labels only) does not have; adding it is a change
to the training loop, outside this script.

Writes ``resource_costs.csv`` (one row per method x task x seed), ``resource_costs_tuning.csv``,
``resource_costs_summary.csv`` (means and 95% t intervals), ``resource_costs.png``/``.svg``
(test accuracy against megabytes sent and against peak memory, log x, 95% intervals) and
``resource_costs.md`` (the caption, with the numbers).

Budget: 5 methods x 2 tasks x (2 tuning + 3 seeds) runs, about 15-25 minutes on the 2
shared cores of the AMD EPYC.

    python examples/resource_costs.py --out examples/figures
    python examples/resource_costs.py --out /tmp/rc --quick --backbone tiny   # ~1-2 min
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from experiment_common import (  # noqa: E402
    TUNING_SEED,
    Arm,
    Setup,
    build_task,
    cpu_name,
    run_arm,
    save_figure,
    write_csv,
    write_text,
)
from resource_costs_report import caption, plot, summarize  # noqa: E402

TASKS = ("amazon_reviews", "bbc_news")


def methods(quick: bool) -> list[Arm]:
    """The fine-tuning methods and their learning-rate grids."""
    from fl_core.full_finetune import FullFineTuneConfig

    def grid(*lrs: float) -> tuple[float, ...]:
        return lrs[-1:] if quick else lrs

    rows = [
        Arm("head", "pretrained", "head", grid(5e-2, 2e-1)),
        Arm("LoRA r8 L1", "pretrained", "lora", grid(5e-3, 2e-2), lora_rank=8, adapted_layers=1),
        Arm("LoRA r8 L2", "pretrained", "lora", grid(5e-3, 2e-2), lora_rank=8, adapted_layers=2),
        Arm("full L1", "pretrained", "lora", grid(1e-4, 5e-4), full=FullFineTuneConfig(layers=1)),
        Arm(
            "small L3, full L1",
            "pretrained",
            "lora",
            grid(1e-4, 5e-4),
            full=FullFineTuneConfig(layers=1, keep_layers=3),
        ),
    ]
    if quick:  # the tiny backbone has 2 layers
        rows = [rows[0], rows[1], rows[3]]
        rows.append(
            Arm(
                "small L1, full L1",
                "pretrained",
                "lora",
                grid(5e-4),
                full=FullFineTuneConfig(layers=1, keep_layers=1),
            )
        )
    return rows


# ----- one method on one task, in its own process -----
def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Tune the method's lr, then run the seeds; rows, tuning rows and the peak memory."""
    import dataclasses
    import resource

    setup = Setup(**spec["setup"])
    arm = next(m for m in methods(spec["quick"]) if m.name == spec["method"])
    task = build_task(setup, arm, arm.lrs[0], TUNING_SEED)
    base_train = task.train_config
    tuning, rows = [], []
    for lr in arm.lrs:
        task.train_config = dataclasses.replace(base_train, lr=lr)
        run = run_arm(setup, arm, lr, TUNING_SEED, every_round=False, test=False, task=task)
        tuning.append({"lr": lr, "val_accuracy": run.val_accuracy})
    lr = float(max(tuning, key=lambda r: (r["val_accuracy"], -r["lr"]))["lr"])
    task.train_config = dataclasses.replace(base_train, lr=lr)
    for seed in spec["seeds"]:
        started = time.perf_counter()
        steps_before = _steps(setup)
        run = run_arm(setup, arm, lr, seed, every_round=False, task=task)
        seconds = time.perf_counter() - started
        last = run.rounds[-1]
        rows.append(
            {
                "seed": seed,
                "lr": lr,
                "val_accuracy": run.val_accuracy,
                "test_accuracy": run.test_accuracy,
                "trainable_params": run.trainable_params,
                "mb_up": last["bytes_up"] / 1e6,
                "mb_down": last["bytes_down"] / 1e6,
                "mb_sent": (last["bytes_up"] + last["bytes_down"]) / 1e6,
                "run_seconds": seconds,
                "local_steps": steps_before,
                "majority_rate": run.majority_rate,
            }
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"rows": rows, "tuning": tuning, "peak_rss_mb": peak}


def _steps(setup: Setup) -> int:
    """Local optimiser steps of one run (every client, every round, one epoch)."""
    per_client = int(np.ceil(setup.samples_per_client * setup.local_epochs / setup.batch_size))
    return per_client * setup.n_clients * setup.rounds


def run_method(spec: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`worker` in a fresh interpreter (so its peak memory is its own)."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  {spec['setup']['dataset']} {spec['method']}: skipped ({tail})")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/resource_costs"))
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 methods, 2 rounds")
    parser.add_argument(
        "--backbone",
        choices=("minilm", "tiny"),
        default="minilm",
        help="tiny: the random 2-layer test model (for tests)",
    )
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--tasks", nargs="+", default=None)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads per method (1 on a busy machine)"
    )
    parser.add_argument(
        "--replot", action="store_true", help="redraw from --out's resource_costs.csv"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    import dataclasses

    import pandas as pd

    from fl_core.bounds import DATASETS

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    cpu = cpu_name()
    print(f"CPU: {cpu}")
    setup = Setup(
        backbone=args.backbone,
        n_clients=2 if args.quick else 4,
        samples_per_client=32 if args.quick else 64,
        rounds=args.rounds or (2 if args.quick else 5),
        max_length=16 if args.quick else 64,
        val_size=40 if args.quick else 100,
        threads=args.threads,
    )
    if args.replot:
        runs = pd.read_csv(args.out / "resource_costs.csv")
        summary = summarize(runs)
        save_figure(plot(summary, cpu, setup), args.out / "resource_costs")
        seconds = float(runs["run_seconds"].sum())
        threads = int(runs["threads"].iloc[0]) if "threads" in runs else args.threads
        text = caption(summary, setup, cpu, seconds, threads, len(TASKS) * len(methods(False)))
        write_text(args.out / "resource_costs.md", text)
        return
    tasks = [t for t in (args.tasks or TASKS) if t in DATASETS]
    seeds = list(range(args.seeds or (2 if args.quick else 3)))
    rows: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []
    for task in tasks:
        for arm in methods(args.quick):
            spec = {
                "setup": dataclasses.asdict(dataclasses.replace(setup, dataset=task)),
                "method": arm.name,
                "quick": args.quick,
                "seeds": seeds,
            }
            t0 = time.perf_counter()
            result = run_method(spec)
            if result is None:
                continue
            key = {"task": task, "method": arm.name}
            tuning += [{**key, **r} for r in result["tuning"]]
            for r in result["rows"]:
                rows.append({**key, **r, "peak_rss_mb": result["peak_rss_mb"]})
                print(
                    f"  {task:14s} {arm.name:18s} seed {r['seed']}: lr {r['lr']:g} "
                    f"test {r['test_accuracy']:.3f}  {r['mb_sent']:9.2f} MB  "
                    f"{result['peak_rss_mb']:6.0f} MB RSS",
                    flush=True,
                )
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
            write_csv(args.out / "resource_costs.csv", pd.DataFrame(rows))  # partial results
    if not rows:
        raise SystemExit("no method ran; see the notes above")
    runs = pd.DataFrame(rows)
    runs["cpu"], runs["threads"] = cpu, args.threads
    summary = summarize(runs)
    seconds = time.perf_counter() - started
    write_csv(args.out / "resource_costs.csv", runs)
    write_csv(args.out / "resource_costs_tuning.csv", pd.DataFrame(tuning))
    write_csv(args.out / "resource_costs_summary.csv", summary.assign(cpu=cpu))
    save_figure(plot(summary, cpu, setup), args.out / "resource_costs")
    write_text(
        args.out / "resource_costs.md",
        caption(summary, setup, cpu, seconds, args.threads, len(TASKS) * len(methods(False))),
    )
    print(summary[["task", "method", "lr", "test_accuracy", "mb_sent", "peak_rss_mb"]])
    print(f"wrote {args.out}/resource_costs.csv, .png, .svg, .md in {seconds:.0f} s")


if __name__ == "__main__":
    main()

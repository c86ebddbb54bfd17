"""The survey's third experiment: what federated fine-tuning of a foundation model costs.

For each way of fine-tuning (a head on frozen embeddings; LoRA at ranks 2/8/32 on the top 2
layers and on the top 1/2/6 layers at rank 8; full fine-tuning of the top layer) and each
update compression (``none``: dense float32; ``int8``: QSGD 8-bit codes; ``topk``: the
largest 10% of coordinates, values + indices; error feedback on), FedAvg runs the same
rounds over the same IID shards of the Amazon reviews, and the script measures:

* ``bytes_per_client_round``: what one client uploads per round
  (:func:`fl_core.compression.update_bytes`), and ``secagg_bytes_per_client_round``: what a
  masked vector needs under secure aggregation (dense; int8 codes summed in
  ``ceil(log2(254 n + 1))`` bits; top-k refused);
* ``peak_rss_mb``: the peak resident memory of the process that ran that fine-tuning
  method (a fresh subprocess per method, torch and the model included);
* ``seconds_per_step``: wall-clock seconds per local optimiser step, torch on ``--threads`` threads
  (column ``threads``);
* ``final_test_accuracy``: after the last round.

MiniLM always; SmolLM2-135M too when ``model.backbone = "smollm2"`` exists (otherwise its
rows are skipped with a note). Writes ``resource_costs.csv`` and ``resource_costs.png``
(accuracy against bytes and against seconds per step, log x, the Pareto front labelled).

    python examples/resource_costs.py --out examples/figures        # ~10-15 min on 2 cores
    python examples/resource_costs.py --out /tmp/rc --quick         # smoke run, ~1-2 min
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COMPRESSIONS = ("none", "int8", "topk")
TOPK_FRACTION = 0.1
FULL_LR = 1e-3
"""AdamW step for full fine-tuning of the top layer(s) and the head (between LoRA's 5e-3
and the usual 2e-5..1e-4 of full BERT fine-tuning: few rounds, small shards)."""


def methods(backbone: str, quick: bool) -> list[dict[str, Any]]:
    """The fine-tuning methods: a name and the ``ModelConfig`` fields (``full``: layers)."""
    if quick:
        return [
            {"method": "head", "mode": "head"},
            {"method": "lora r2 L1", "mode": "lora", "lora_rank": 2, "adapted_layers": 1},
            {"method": "full L1", "mode": "lora", "lora_rank": 1, "adapted_layers": 1, "full": 1},
        ]
    rows: list[dict[str, Any]] = [{"method": "head", "mode": "head"}]
    rows += [
        {"method": f"lora r{r} L2", "mode": "lora", "lora_rank": r, "adapted_layers": 2}
        for r in (2, 8, 32)
    ]
    rows += [
        {"method": f"lora r8 L{n}", "mode": "lora", "lora_rank": 8, "adapted_layers": n}
        for n in (1, 6)
    ]
    if backbone != "smollm2":  # full fine-tuning reaches into BERT layers (model.bert)
        rows.append(
            {"method": "full L1", "mode": "lora", "lora_rank": 1, "adapted_layers": 1, "full": 1}
        )
    else:
        rows = [r for r in rows if r["method"] in ("head", "lora r8 L2")]
    return rows


def cpu_name() -> str:
    """``lscpu``'s model name and its AVX2/AVX-512 support."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    name = re.search(r"Model name:\s*(.+)", text)
    flags = re.search(r"Flags:\s*(.+)", text)
    have = set(flags.group(1).split()) if flags else set()
    simd = [tag for flag, tag in (("avx2", "AVX2"), ("avx512f", "AVX-512")) if flag in have]
    return f"{name.group(1).strip() if name else 'unknown CPU'} ({', '.join(simd) or 'no AVX2'})"


# ----- one fine-tuning method, in its own process -----
def _full_finetune(task: Any, layers: int) -> None:
    """Train the top ``layers`` encoder layers' own weights (and the head), not adapters.

    The task was built in LoRA mode on those layers (so the frozen prefix below them is
    cached); the adapters are frozen at their zero start (B = 0: no effect) and the base
    weights of the layers are made trainable instead; the flat vector is re-laid out.
    """
    from fl_core.vector import get_vector, layout_of

    model = task.model
    for name, parameter in model.named_parameters():
        if "lora_" in name:
            parameter.requires_grad_(False)
    for layer in model.bert.encoder.layer[model.n_layers - layers :]:
        for name, parameter in layer.named_parameters():
            if "lora_" not in name:
                parameter.requires_grad_(True)
    task.layout = layout_of(model)
    task.initial_vector = get_vector(model)


def worker(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Run FedAvg with every compression for one method; one row per compression."""
    import resource

    import numpy as np
    import torch

    from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig
    from fl_core.compression import compress, secure_update_bytes, update_bytes
    from fl_core.rounds import FedAvgConfig, run_fedavg

    torch.set_num_threads(int(spec.get("threads", 2)))
    fields = {k: v for k, v in spec["model"].items() if k not in ("method", "full")}
    model_cfg = ModelConfig(backbone=spec["backbone"], **fields)
    full = spec["model"].get("full")
    extra: dict[str, Any] = {"lr": FULL_LR, "local_epochs": 1.0} if full else {}
    data = DataConfig(val_size=100, max_length=spec["max_length"])
    task = FederatedTask(
        data,
        model_cfg,
        TrainConfig(device="cpu", **extra),
        rng=np.random.default_rng(spec["seed"]),
    )
    if full:
        _full_finetune(task, int(full))
    d = task.layout.size
    rows = []
    for compression in COMPRESSIONS:
        train = TrainConfig(
            device="cpu", compression=compression, topk_fraction=TOPK_FRACTION, **extra
        )
        task.train_config = train
        cfg = FedAvgConfig(
            data=data,
            model=model_cfg,
            train=train,
            n_clients=spec["clients"],
            rounds=spec["rounds"],
            seed=spec["seed"],
            samples_per_client=spec["shard"],
            samples_per_second=1e6,  # no compute bound: every client runs its local epochs
        )
        result = run_fedavg(cfg, task=task)
        clients = result.clients[~result.clients["straggler"]]
        steps = np.ceil(clients["samples_processed"] / train.batch_size).sum()
        vector = np.random.default_rng(0).standard_normal(d).astype(np.float32)
        started = time.perf_counter()
        compress(vector, compression, topk_fraction=TOPK_FRACTION, rng=np.random.default_rng(0))
        compress_ms = 1e3 * (time.perf_counter() - started)
        secure = (
            secure_update_bytes(d, compression, n_clients=spec["clients"])
            if compression != "topk"
            else float("nan")
        )
        rows.append(
            {
                "backbone": spec["backbone"],
                "method": spec["model"]["method"],
                "compression": compression,
                "trainable_params": d,
                "bytes_per_client_round": update_bytes(d, compression, topk_fraction=TOPK_FRACTION),
                "secagg_bytes_per_client_round": secure,
                "seconds_per_step": float(clients["compute_seconds"].sum() / max(steps, 1)),
                "compress_ms": compress_ms,
                "final_test_accuracy": float(result.rounds["test_accuracy"].iloc[-1]),
                "initial_test_accuracy": float(result.rounds["test_accuracy"].iloc[0]),
                "majority_rate": float(result.rounds["majority_rate"].iloc[0]),
            }
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    for row in rows:
        row["peak_rss_mb"] = peak
    return rows


def run_method(spec: dict[str, Any]) -> list[dict[str, Any]]:
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
        print(f"  {spec['backbone']} {spec['model']['method']}: skipped ({tail})")
        return []
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


# ----- the figure -----
def pareto_front(cost: Any, accuracy: Any) -> list[int]:
    """Positions of the points no other point beats (cost <= and accuracy >=, one strictly)."""
    front = []
    for i in range(len(cost)):
        dominated = any(
            cost[j] <= cost[i]
            and accuracy[j] >= accuracy[i]
            and (cost[j] < cost[i] or accuracy[j] > accuracy[i])
            for j in range(len(cost))
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: cost[i])


def plot(table: Any, path: Path, cpu: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"none": "o", "int8": "s", "topk": "^"}
    threads = int(table["threads"].iloc[0]) if "threads" in table else 2
    labels = [f"{b} {m}" for b, m in zip(table["backbone"], table["method"], strict=True)]
    names = sorted(set(labels), key=labels.index)
    colors = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    panels = (
        ("bytes_per_client_round", "bytes sent per client per round"),
        ("seconds_per_step", f"seconds per local step ({threads} torch threads)"),
    )
    for ax, (column, xlabel) in zip(axes, panels, strict=True):
        for row, label in zip(table.to_dict("records"), labels, strict=True):
            ax.scatter(
                row[column],
                row["final_test_accuracy"],
                s=45,
                color=colors[label],
                marker=markers[row["compression"]],
                edgecolors="black",
                linewidths=0.4,
            )
        cost = table[column].to_numpy()
        acc = table["final_test_accuracy"].to_numpy()
        front = pareto_front(cost, acc)
        ax.plot(cost[front], acc[front], "k--", lw=1, label="Pareto front")
        for i in front:
            ax.annotate(
                f"{labels[i]}, {table['compression'].iloc[i]}",
                (cost[i], acc[i]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
        ax.axhline(
            table["majority_rate"].iloc[0], color="grey", lw=0.8, ls=":", label="majority class"
        )
        ax.set(xscale="log", xlabel=xlabel, ylabel="final test accuracy")
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=n) for n, c in colors.items()]
    handles += [
        plt.Line2D([], [], color="k", marker=m, ls="", mfc="none", label=f"compression {c}")
        for c, m in markers.items()
    ]
    handles += axes[0].get_legend_handles_labels()[0][-2:]
    fig.legend(handles=handles, loc="center right", fontsize=7)
    fig.suptitle(f"Cost of federated fine-tuning vs accuracy (same rounds), {cpu}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/resource_costs"))
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 methods, 2 rounds")
    parser.add_argument(
        "--backbone",
        choices=("minilm", "tiny"),
        default="minilm",
        help="tiny: the random 2-layer test model (for tests)",
    )
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads per method (1 on a busy machine)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    import pandas as pd

    from fl_core.config import BACKBONES

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    cpu = cpu_name()
    print(f"CPU: {cpu}")
    rounds = args.rounds or (2 if args.quick else 5)
    backbones = [args.backbone]
    if args.backbone == "minilm" and not args.quick:
        if "smollm2" in BACKBONES:
            backbones.append("smollm2")
        else:
            print("note: model.backbone = 'smollm2' is not available here; SmolLM2 rows skipped")
    rows = []
    for backbone in backbones:
        for model in methods(backbone, args.quick):
            spec = {
                "backbone": backbone,
                "model": model,
                "rounds": rounds,
                "clients": 2 if args.quick else 4,
                "shard": 32 if args.quick else 64,
                "max_length": 48 if args.quick else 64,
                "seed": args.seed,
                "threads": args.threads,
            }
            t0 = time.perf_counter()
            new = run_method(spec)
            rows += new
            for r in new:
                print(
                    f"  {backbone:8s} {r['method']:11s} {r['compression']:5s} "
                    f"{r['bytes_per_client_round']:>10,d} B  {r['seconds_per_step']:.3f} s/step "
                    f"{r['peak_rss_mb']:6.0f} MB  acc {r['final_test_accuracy']:.3f}"
                )
            print(f"  ({time.perf_counter() - t0:.0f} s)")
            if rows:  # partial results survive an interrupted run
                partial = pd.DataFrame(rows).assign(rounds=rounds, cpu=cpu, threads=args.threads)
                partial.to_csv(args.out / "resource_costs.csv", index=False)
    if not rows:
        raise SystemExit("no method ran; see the notes above")
    table = pd.DataFrame(rows)
    table["rounds"], table["cpu"], table["threads"] = rounds, cpu, args.threads
    table.to_csv(args.out / "resource_costs.csv", index=False)
    plot(table, args.out / "resource_costs.png", cpu)
    print(f"wrote {args.out}/resource_costs.csv, .png in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

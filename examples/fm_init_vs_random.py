"""The seed paper's claim, with real runs: foundation-model initialisation vs random init.

Zhuang et al., "When Foundation Model Meets Federated Learning" (arXiv 2306.15546), argue
that starting federated training from a pretrained foundation model makes it far more robust
to non-IID clients. This script runs FedAvg on two tasks (Amazon reviews, binary; BBC news,
5 topics) under IID shards and Dirichlet label skew alpha in {1, 0.5, 0.1}, over 5 seeds,
with two arms at the same budget (clients, rounds, local epochs, examples):

* ``pretrained LoRA``: all-MiniLM-L6-v2's pretrained weights, LoRA rank 8 on the top layer
  plus the classifier head (what the foundation-model arm of the survey does);
* ``random full``: the same architecture from random weights, every weight trained
  (embeddings, all 6 layers, head: :mod:`fl_core.full_finetune`), not a frozen random body.

Each arm's learning rate is picked per task on validation accuracy from a small grid, on an
IID tuning seed (1000) that no reported run uses. Per run it records the validation accuracy
after every round, the traffic (upload + download, all clients; each client downloads the
global trainable vector and uploads its update every round), the first round whose
validation accuracy reaches the task's target and the bytes spent until then, and the final
test accuracy on a fixed subset of the test split (the same reviews for every run: paired).

Writes ``fm_init.csv`` (one row per run), ``fm_init_rounds.csv`` (one row per run x round),
``fm_init_tuning.csv``, ``fm_init_summary.csv`` (means, 95% t intervals, paired differences),
``fm_init.png``/``.svg`` and ``fm_init.md`` (the caption, with the numbers).

Budget: 2 tasks x 4 partitions x 5 seeds x 2 arms = 80 runs of 4 clients x 16 examples,
4 rounds, 32 tokens, 60 validation examples; the random arm's full fine-tuning of 22.6M
weights dominates (about 30-40 s a run on the 2 shared cores): about 35-40 minutes on the
2-core AMD EPYC. The runs are small because that arm is: a longer budget favours neither
arm by construction, but was not measured here.

    python examples/fm_init_vs_random.py --out examples/figures
    python examples/fm_init_vs_random.py --out /tmp/fm --quick    # tiny model, ~1 minute
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from experiment_common import (  # noqa: E402
    Arm,
    Setup,
    build_task,
    cpu_name,
    fmt_interval,
    rounds_to_target,
    run_arm,
    save_figure,
    tune_lr,
    with_setup,
    write_csv,
    write_text,
)

TASKS = ("amazon_reviews", "bbc_news")
PARTITIONS: tuple[tuple[str, str, float], ...] = (
    ("IID", "iid", float("nan")),
    ("alpha=1", "dirichlet", 1.0),
    ("alpha=0.5", "dirichlet", 0.5),
    ("alpha=0.1", "dirichlet", 0.1),
)
"""(label, partition, Dirichlet alpha): from no skew to strong label skew."""
TARGETS = {"amazon_reviews": 0.70, "bbc_news": 0.60}
"""Validation accuracy a run must reach (fixed before the full runs, from a pilot on the
tuning seed: the pretrained arm's IID curve crosses it within the round budget on bbc_news;
amazon_reviews at 32 tokens learns slowly)."""
TEST_SUBSET = 200
"""Test examples every run is scored on (a fixed draw, the same for every run)."""
TEST_SUBSET_SEED = 20230615
FM = "pretrained LoRA"
RANDOM = "random full"


def arms(quick: bool) -> list[Arm]:
    """The two arms and their learning-rate grids."""
    from fl_core.full_finetune import FullFineTuneConfig

    lora = (5e-3,) if quick else (5e-3, 2e-2)
    full = (1e-3,) if quick else (1e-4, 1e-3)
    return [
        Arm(FM, "pretrained", "lora", lora, lora_rank=8, adapted_layers=1),
        Arm(RANDOM, "random", "lora", full, full=FullFineTuneConfig()),
    ]


def test_subset(n_test: int) -> np.ndarray:
    """The fixed test indices every run is scored on."""
    rng = np.random.default_rng(TEST_SUBSET_SEED)
    return np.sort(rng.permutation(n_test)[: min(TEST_SUBSET, n_test)])


def one_run(setup: Setup, arm: Arm, lr: float, seed: int) -> Any:
    """The arm's run for ``seed``, scored on :func:`test_subset` of the test split."""
    task = build_task(setup, arm, lr, seed)
    return run_arm(setup, arm, lr, seed, test_indices=test_subset(len(task.splits.test)), task=task)


def summarize(runs: Any) -> Any:
    """Mean and 95% interval per task x partition x arm, and the paired difference
    pretrained - random by seed, with its verdict."""
    import pandas as pd

    from agents.intervals import NONE, mean_interval, paired_difference, verdict

    rows = []
    for (task, partition), frame in runs.groupby(["task", "partition"], sort=False):
        by_seed = frame.pivot_table(index="seed", columns="arm", values="test_accuracy")
        for arm, sub in frame.groupby("arm", sort=False):
            acc = mean_interval(sub["test_accuracy"])
            reached = sub["rounds_to_target"].notna()
            rnd = mean_interval(sub["rounds_to_target"])
            byt = mean_interval(sub["bytes_to_target"] / 1e6)
            row: dict[str, Any] = {
                "task": task,
                "partition": partition,
                "arm": arm,
                "seeds": len(sub),
                "lr": float(sub["lr"].iloc[0]),
                "test_accuracy": acc[0],
                "test_low": acc[1],
                "test_high": acc[2],
                "reached_target": int(reached.sum()),
                "rounds_to_target": rnd[0],
                "rounds_low": rnd[1],
                "rounds_high": rnd[2],
                "mb_to_target": byt[0],
                "mb_low": byt[1],
                "mb_high": byt[2],
                "mb_per_round": float(sub["mb_per_round"].iloc[0]),
                "difference": float("nan"),
                "diff_low": float("nan"),
                "diff_high": float("nan"),
                "verdict": "",
            }
            if arm == FM and RANDOM in by_seed:
                diff = paired_difference(by_seed[FM].to_numpy(), by_seed[RANDOM].to_numpy())
                row.update(
                    difference=diff[0],
                    diff_low=diff[1],
                    diff_high=diff[2],
                    verdict=verdict(diff[1], diff[2]) if len(by_seed) > 1 else NONE,
                )
            rows.append(row)
    return pd.DataFrame(rows)


def plot(summary: Any, runs: Any, cpu: str, setup: Setup) -> Any:
    """Top row: final test accuracy by partition, per arm (95% intervals over seeds); bottom
    row: the paired difference pretrained - random (95% interval), per task."""
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(summary["task"]))
    labels = [p[0] for p in PARTITIONS if p[0] in set(summary["partition"])]
    fig = Figure(figsize=(4.6 * len(tasks) + 0.6, 6.4), layout="constrained")
    axes = fig.subplots(2, len(tasks), squeeze=False, sharex=True)
    colors = {FM: "tab:blue", RANDOM: "tab:orange"}
    x = np.arange(len(labels))
    for j, task in enumerate(tasks):
        ax = axes[0, j]
        frame = summary[summary["task"] == task].set_index(["partition", "arm"])
        for k, arm in enumerate((FM, RANDOM)):
            if arm not in frame.index.get_level_values("arm"):
                continue
            sub = frame.xs(arm, level="arm").reindex(labels)
            mean = sub["test_accuracy"].to_numpy() * 100
            low = np.clip(sub["test_low"].to_numpy() * 100, 0, 100)  # accuracy is in [0, 100]
            high = np.clip(sub["test_high"].to_numpy() * 100, 0, 100)
            err = np.vstack([mean - low, high - mean])
            lr = float(sub["lr"].iloc[0])
            ax.errorbar(
                x + (k - 0.5) * 0.12, mean, yerr=np.nan_to_num(err), fmt="o-", capsize=4,
                color=colors[arm], label=f"{arm} (lr {lr:g})",
            )  # fmt: skip
        majority = float(runs.loc[runs["task"] == task, "majority_rate"].iloc[0]) * 100
        ax.axhline(majority, color="grey", ls="--", lw=1, label="majority class")
        ax.set_title(task.replace("_", " "), fontsize=10)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        ax = axes[1, j]
        fm = frame.xs(FM, level="arm").reindex(labels) if FM in frame.index.levels[1] else None
        if fm is not None:
            mean = fm["difference"].to_numpy() * 100
            err = np.vstack(
                [mean - fm["diff_low"].to_numpy() * 100, fm["diff_high"].to_numpy() * 100 - mean]
            )
            ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="s", capsize=4, color="black")
        ax.axhline(0, color="grey", lw=1)
        ax.set_ylabel("pretrained - random,\ntest accuracy (points)")
        ax.set_xticks(x, labels)
        ax.set_xlabel("client partition (Dirichlet label skew; smaller alpha: more skew)")
        ax.grid(alpha=0.3)
    seeds = int(summary["seeds"].max())
    fig.suptitle(
        f"FedAvg, {setup.n_clients} clients x {setup.samples_per_client} examples, "
        f"{setup.rounds} rounds, {setup.max_length} tokens; mean and 95% interval over "
        f"{seeds} seeds; {cpu}",
        fontsize=9,
    )
    return fig


def caption(summary: Any, setup: Setup, cpu: str, seconds: float) -> str:
    """The figure's caption in markdown, with the script's numbers."""
    lines = [
        "# Foundation-model initialisation vs random initialisation (experiment 2)",
        "",
        "![fm_init](fm_init.png)",
        "",
        f"FedAvg on {setup.n_clients} clients x {setup.samples_per_client} examples, "
        f"{setup.rounds} rounds of one local epoch, {setup.max_length} tokens, "
        f"{int(summary['seeds'].max())} seeds per cell; `{FM}`: pretrained all-MiniLM-L6-v2, "
        f"LoRA rank 8 on the top layer and the head; `{RANDOM}`: the same architecture from "
        "random weights with every weight trained (embeddings included). Learning rates "
        "picked on validation accuracy on an IID tuning seed (`fm_init_tuning.csv`). Test "
        f"accuracy on a fixed subset of {TEST_SUBSET} test examples; intervals are 95% "
        "Student-t over seeds; a difference is paired by seed (same shards, same "
        f"validation set). {cpu}, {seconds / 60:.0f} min.",
        "",
        "| task | partition | arm | test accuracy | pretrained - random (points) "
        "| runs reaching target | rounds to target | MB to target (up + down) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.to_dict("records"):
        diff = ""
        if row["arm"] == FM and np.isfinite(row["difference"]):
            diff = fmt_interval(
                row["difference"] * 100, row["diff_low"] * 100, row["diff_high"] * 100, 1
            )
            if row["verdict"] != "significant":
                diff += ": none (inside the noise)"
        target = TARGETS.get(row["task"], float("nan"))
        lines.append(
            f"| {row['task']} | {row['partition']} | {row['arm']} (lr {row['lr']:g}) | "
            f"{fmt_interval(row['test_accuracy'], row['test_low'], row['test_high'])} | {diff} | "
            f"{row['reached_target']} of {row['seeds']} (val >= {target:.2f}) | "
            f"{fmt_interval(row['rounds_to_target'], row['rounds_low'], row['rounds_high'], 1)} | "
            f"{fmt_interval(row['mb_to_target'], row['mb_low'], row['mb_high'], 1)} |"
        )
    lines += ["", "**What to conclude.** " + conclusion(summary), ""]
    planned = len(TASKS) * len(PARTITIONS) * 2
    if len(summary) < planned or summary["seeds"].min() < summary["seeds"].max():
        lines += [
            f"**A partial run**: {len(summary)} of {planned} task x partition x arm cells, "
            f"{summary['seeds'].min()} to {summary['seeds'].max()} seeds per cell "
            "(`fm_init.csv`); the missing cells were not run.",
            "",
        ]
    return "\n".join(lines)


def conclusion(summary: Any) -> str:
    """One paragraph: where the pretrained arm is ahead, and what a round costs each arm."""
    parts = []
    for task, frame in summary[summary["arm"] == FM].groupby("task", sort=False):
        frame = frame[np.isfinite(frame["difference"])]
        if frame.empty:
            parts.append(f"On {task}, the random arm has no finished run: no comparison")
            continue
        ahead = frame[(frame["verdict"] == "significant") & (frame["difference"] > 0)]
        behind = frame[(frame["verdict"] == "significant") & (frame["difference"] < 0)]
        words = f"On {task}, the pretrained arm is ahead in {len(ahead)} of {len(frame)} partitions"
        if len(ahead):
            words += (
                f" (by {ahead['difference'].min() * 100:.1f} to "
                f"{ahead['difference'].max() * 100:.1f} points)"
            )
        if len(behind):
            words += f", behind in {len(behind)}"
        none = len(frame) - len(ahead) - len(behind)
        if none:
            words += f", with no difference inside the noise in {none}"
        parts.append(words)
    traffic = summary.groupby("arm")["mb_per_round"].first()
    text = ". ".join(parts) + "."
    if FM in traffic and RANDOM in traffic:
        text += (
            f" A round costs {traffic[FM]:.2f} MB of traffic (all clients, up + down) for the "
            f"pretrained LoRA arm and {traffic[RANDOM]:.0f} MB for full training of the "
            f"random model ({traffic[RANDOM] / traffic[FM]:.0f}x)."
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/fm_init"))
    parser.add_argument("--quick", action="store_true", help="tiny model, 2 partitions, 2 seeds")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--tasks", nargs="+", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--replot", action="store_true", help="redraw figure and caption from --out's fm_init.csv"
    )
    args = parser.parse_args()
    import pandas as pd

    from fl_core.bounds import DATASETS

    started = time.perf_counter()
    cpu = cpu_name()
    print(f"CPU: {cpu}")
    tasks = [t for t in (args.tasks or TASKS) if t in DATASETS]
    for missing in sorted(set(args.tasks or TASKS) - set(tasks)):
        print(f"note: task {missing!r} is not available here; skipped")
    base = Setup(
        backbone="tiny" if args.quick else "minilm",
        n_clients=4,
        samples_per_client=16,
        rounds=args.rounds or (2 if args.quick else 4),
        max_length=16 if args.quick else 32,
        val_size=40 if args.quick else 60,
        threads=args.threads,
    )
    partitions = (PARTITIONS[0], PARTITIONS[-1]) if args.quick else PARTITIONS
    seeds = list(range(args.seeds or (2 if args.quick else 5)))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        runs = pd.read_csv(args.out / "fm_init.csv")
        seconds = float(runs["seconds"].sum())
        summary = summarize(runs)
        save_figure(plot(summary, runs, cpu, base), args.out / "fm_init")
        write_text(args.out / "fm_init.md", caption(summary, base, cpu, seconds))
        return
    run_rows: list[dict[str, Any]] = []
    round_rows: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []
    for task in tasks:
        for arm in arms(args.quick):
            lr, tried = tune_lr(with_setup(base, dataset=task), arm)
            tuning += [{"task": task, **r, "chosen": r["lr"] == lr} for r in tried]
            print(
                f"{task} {arm.name}: lr {lr:g} ({', '.join(str(r['val_accuracy']) for r in tried)})"
            )
            for label, partition, alpha in partitions:
                setup = with_setup(
                    base, dataset=task, partition=partition, alpha=0.5 if np.isnan(alpha) else alpha
                )
                for seed in seeds:
                    t0 = time.perf_counter()
                    run = one_run(setup, arm, lr, seed)
                    test_acc = run.test_accuracy
                    rounds, spent = rounds_to_target(run.rounds, TARGETS.get(task, 1.0))
                    per_round = (run.rounds[1]["bytes_up"] + run.rounds[1]["bytes_down"]) / 1e6
                    key = {"task": task, "partition": label, "alpha": alpha, "arm": arm.name}
                    run_rows.append(
                        {
                            **key,
                            "seed": seed,
                            "lr": lr,
                            "test_accuracy": test_acc,
                            "final_val_accuracy": run.val_accuracy,
                            "rounds_to_target": rounds,
                            "bytes_to_target": spent,
                            "target": TARGETS.get(task, 1.0),
                            "mb_per_round": per_round,
                            "trainable_params": run.trainable_params,
                            "majority_rate": run.majority_rate,
                            "seconds": time.perf_counter() - t0,
                        }
                    )
                    round_rows += [{**key, "seed": seed, **r} for r in run.rounds]
                    print(
                        f"  {task} {label:9s} {arm.name:15s} seed {seed}: test {test_acc:.3f}, "
                        f"rounds to target {rounds:g} ({time.perf_counter() - t0:.0f} s)",
                        flush=True,
                    )
                # partial results survive an interrupted run (--replot draws them)
                write_csv(args.out / "fm_init.csv", pd.DataFrame(run_rows))
                write_csv(args.out / "fm_init_rounds.csv", pd.DataFrame(round_rows))
                write_csv(args.out / "fm_init_tuning.csv", pd.DataFrame(tuning))
    runs = pd.DataFrame(run_rows)
    summary = summarize(runs)
    seconds = time.perf_counter() - started
    runs["cpu"] = cpu
    write_csv(args.out / "fm_init.csv", runs)
    write_csv(args.out / "fm_init_rounds.csv", pd.DataFrame(round_rows))
    write_csv(args.out / "fm_init_tuning.csv", pd.DataFrame(tuning))
    write_csv(args.out / "fm_init_summary.csv", summary.assign(cpu=cpu))
    save_figure(plot(summary, runs, cpu, base), args.out / "fm_init")
    write_text(args.out / "fm_init.md", caption(summary, base, cpu, seconds))
    print(summary[["task", "partition", "arm", "test_accuracy", "difference", "verdict"]])
    print(f"wrote {args.out}/fm_init.csv, .png, .svg, .md in {seconds:.0f} s")


if __name__ == "__main__":
    main()

"""The survey's first experiment: foundation-model-generated training data, measured.

For each task (Amazon fine-food reviews, 2 classes; drug reviews, 3 sentiments) and seed, a
data-poor client holds 8 real texts per class. SmolLM2-135M-Instruct is asked, through its
chat template, for one new text of each class, shown 3 of the client's texts of that class
(:func:`fl_core.synthesize.sample_completions`; the answer is prefilled with an opening
quote and stops at the closing one). Two prompts:

* ``matched``: the task's own domain (its registry description in the system message, the
  client's texts as examples);
* ``mismatched``: the survey's break condition: the *other* task's description and texts
  as examples, still asking for the target task's classes.

Each raw answer is parsed and filtered (:mod:`fl_core.synthetic_filter`: structure,
near-duplicates, copies of a shown example, in-domain, and label consistency), the last two
on MiniLM embeddings against a real split ``ref``: the nearest similarity to ``ref`` must
reach the 5th percentile of ref texts' own, and a *reference* linear probe trained on
``ref`` must give the class asked for the highest probability, at least 0.5. Then:

* **Usable** (the target: >= 70% of the kept texts): a text is usable when it (a) passes
  the structural checks (6+ words, no meta or chat talk, no markup, mostly letters, not
  repetitive), (b) is in the task's domain by *word counts*: its nearest cosine similarity
  of hashed word 1-2-gram counts to a real split ``judge`` (disjoint from ``ref``) is at
  least the 5th percentile of the same similarity for held-out real texts, and (c) an
  independent *judge*, a linear probe on those word counts trained on ``judge``,
  predicts the class asked for. (b) and (c) share neither the representation (no MiniLM)
  nor the data with the filter; (a) is the filter's structural rule set, so it only
  matters for the raw answers. The same check on held-out real texts with their true
  labels gives the ceiling a perfect generator would reach (the judge is not always right).
* **Similarity** to held-out real texts (MiniLM embeddings): unbiased MMD^2 (median-heuristic
  Gaussian kernel), the classifier two-sample test's AUC (5-fold linear probe) and MAUVE
  (``mauve-text`` on the same features); each also for a second real sample of the same size
  (what "indistinguishable" looks like with this many texts).
* **Usefulness** (head mode: a linear probe on frozen MiniLM embeddings, tested on the
  task's real test set): the client alone, the client plus its kept synthetic texts (the
  augmentation gain, paired per seed), the synthetic texts alone (train on synthetic, test
  on real), as many real texts with the same labels, and the unfiltered parses.
* **Privacy**: a membership-inference attack on the client's texts shown in the prompts
  (score: nearest similarity to any kept synthetic text; non-members: as many unseen real
  texts of the same classes; AUC 0.5 = no leak) and the copying distance (each synthetic
  text's nearest similarity to the shown texts against the unseen ones). Under the
  mismatched prompt the client's texts were never shown: the attack's control.

Every number is a mean over seeds with a 95% Student-t interval (:mod:`agents.intervals`);
differences are paired by seed. Nothing is tuned on the test set: the probes' L2 was chosen
on a validation half of the training pool, and the filter's chat-talk patterns and its
in-domain and confidence steps were added after reading the answers of a pilot (Amazon,
seed 0), before any usefulness number was looked at.

    python examples/synthetic_data.py            # 5 seeds x 2 tasks, about 25 min cold
    python examples/synthetic_data.py --quick --backbone tiny --out /tmp/s   # smoke run

Generations are cached under ``$FEDMARKET_CACHE``: a second run skips them. Writes
``synthetic_runs.csv`` (tidy: task, seed, condition, metric, value),
``synthetic_summary.csv`` (means and intervals), ``synthetic_texts.csv`` (every raw answer,
its parse and fate), ``synthetic_quality.png/.svg``, ``synthetic_usefulness.png/.svg`` and
the captions ``synthetic_data.md`` under ``--out``'s ``figures/`` folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agents.intervals import mean_interval, paired_difference  # noqa: E402
from agents.results_io import atomic_write  # noqa: E402
from agents.study_figures import save  # noqa: E402
from fl_core.datasets import TASKS, load_task  # noqa: E402
from fl_core.linear_probe import LinearProbe, fit_probe  # noqa: E402
from fl_core.synthesize import Domain, sample_completions  # noqa: E402
from fl_core.synthetic_filter import FilterConfig, filter_texts, structural_problem  # noqa: E402
from fl_core.text_features import embed_texts, hashed_ngrams  # noqa: E402
from fl_core.text_similarity import (  # noqa: E402
    mauve,
    membership_auc,
    mmd2,
    nearest_similarity,
    two_sample_auc,
)

if TYPE_CHECKING:
    from fl_core.smollm2 import CausalLM

TASK_NAMES = ("amazon_reviews", "drug_reviews")
OTHER = {"amazon_reviews": "drug_reviews", "drug_reviews": "amazon_reviews"}
CONDITIONS = ("matched", "mismatched")
TARGET_USABLE = 0.70
L2 = 1e-3
"""The MiniLM probes' L2 penalty, picked on a validation half of the Amazon training pool
(never the test set): 1e-4, 1e-3, 1e-2, 1e-1 gave 0.68/0.71/0.67/0.65 with 300 texts."""
BOW_L2 = 1e-4
"""The word-count judge's penalty, picked the same way (0.71/0.70/0.65/0.65 with 300 texts)."""
SHOT_CHARS = 200
USABLE_CHECK = FilterConfig(max_words=10_000)
"""The usability check's structural part: the filter's rules without its length cap (real
drug reviews run long)."""
DOMAIN_QUANTILE = 0.05


@dataclass(frozen=True)
class Plan:
    """What one run generates and measures."""

    seeds: tuple[int, ...]
    tasks: tuple[str, ...]
    shots_per_class: int = 8
    matched_per_class: int = 16
    mismatched_per_class: int = 8
    batch_size: int = 8
    max_new_tokens: int = 48
    backbone: str = "minilm"


def domain_of(task: str) -> Domain:
    """The prompt's domain: the registry's description in the system message."""
    description = TASKS[task].description
    return Domain(
        system=f"You write short, realistic {description}.",
        item="review",
        writers="real people",
        voice="a real person",
    )


def shorten(text: str, limit: int = SHOT_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


@dataclass(frozen=True)
class TaskData:
    texts: list[str]
    labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    class_names: tuple[str, ...]


def task_data(name: str) -> TaskData:
    train, test = load_task(name)
    names = TASKS[name].class_names
    index = {n: i for i, n in enumerate(names)}
    return TaskData(
        list(train.texts),
        np.array([index[x] for x in train.labels], dtype=np.int64),
        list(test.texts),
        np.array([index[x] for x in test.labels], dtype=np.int64),
        names,
    )


@dataclass(frozen=True)
class Split:
    """Disjoint index sets of a training pool for one seed."""

    client: np.ndarray
    nonmember: np.ndarray
    ref: np.ndarray
    judge: np.ndarray
    real_eval: np.ndarray
    reserve: np.ndarray


def split_pool(labels: np.ndarray, shots: int, rng: np.random.Generator) -> Split:
    """Client and non-member sets (``shots`` per class each), then ref, judge, eval, reserve."""
    client, nonmember = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        client.append(members[:shots])
        nonmember.append(members[shots : 2 * shots])
    used = np.concatenate(client + nonmember)
    rest = rng.permutation(np.setdiff1d(np.arange(len(labels)), used))
    n_probe = min(1000, int(0.3 * len(rest)))
    n_eval = min(200, int(0.2 * len(rest)))
    return Split(
        np.concatenate(client),
        np.concatenate(nonmember),
        rest[:n_probe],
        rest[n_probe : 2 * n_probe],
        rest[2 * n_probe : 2 * n_probe + n_eval],
        rest[2 * n_probe + n_eval :],
    )


def same_labels(
    reserve: np.ndarray, labels: np.ndarray, wanted: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Reserve indices with the class counts of ``wanted`` (as many as the reserve has)."""
    picked = []
    for cls, count in zip(*np.unique(wanted, return_counts=True), strict=True):
        pool = reserve[labels[reserve] == cls]
        picked.append(rng.choice(pool, size=min(int(count), len(pool)), replace=False))
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


def accuracy(
    x: np.ndarray, y: np.ndarray, n_classes: int, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """Test accuracy of a probe fitted on ``(x, y)``; NaN with fewer than two classes."""
    if len(y) == 0 or len(np.unique(y)) < 2:
        return float("nan")
    return fit_probe(x, y, n_classes, l2=L2).accuracy(test_x, test_y)


class Embedder:
    """MiniLM (or tiny) embeddings of texts, memoised by text within the run."""

    def __init__(self, backbone: str) -> None:
        self.backbone = backbone
        self.memo: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.memo})
        if missing:
            for text, row in zip(
                missing, embed_texts(missing, backbone=self.backbone), strict=True
            ):
                self.memo[text] = row
        if not texts:
            return np.zeros((0, next(iter(self.memo.values())).shape[0]), dtype=np.float32)
        return np.stack([self.memo[t] for t in texts])


def domain_threshold(held: np.ndarray, refs: np.ndarray) -> float:
    """The :data:`DOMAIN_QUANTILE` quantile of held-out real rows' nearest similarity to
    ``refs``: the in-domain bar that 95% of real texts clear."""
    return float(np.quantile(nearest_similarity(held, refs), DOMAIN_QUANTILE))


@dataclass(frozen=True)
class Judge:
    """The usability check, on word counts only (no MiniLM, no data the filter saw):
    structure, in-domain (nearest word-count similarity to the judge split) and class (a
    word-count probe trained on the judge split)."""

    probe: LinearProbe
    domain_refs: np.ndarray
    threshold: float

    def usable(self, texts: Sequence[str], asked: np.ndarray) -> np.ndarray:
        ok = np.array([structural_problem(t, USABLE_CHECK) is None for t in texts], dtype=bool)
        if not ok.any():
            return ok
        idx = np.flatnonzero(ok)
        features = hashed_ngrams([texts[i] for i in idx])
        near = nearest_similarity(features, self.domain_refs)
        right = self.probe.predict(features) == asked[idx]
        ok[idx] = (near >= self.threshold) & right
        return ok


def build_judge(data: TaskData, split: Split) -> Judge:
    refs = hashed_ngrams([data.texts[i] for i in split.judge])
    probe = fit_probe(refs, data.labels[split.judge], len(data.class_names), l2=BOW_L2)
    held = hashed_ngrams([data.texts[i] for i in split.real_eval])
    return Judge(probe, refs, domain_threshold(held, refs))


def filter_domain(ref_x: np.ndarray, embed: Embedder) -> Callable[[list[str]], np.ndarray]:
    """The filter's in-domain test on MiniLM embeddings: a text's nearest similarity to the
    ``ref`` split must reach the 5th percentile of ref texts' nearest similarity to the
    other ref texts (leave one out)."""
    sims = ref_x @ ref_x.T
    np.fill_diagonal(sims, -np.inf)
    threshold = float(np.quantile(sims.max(axis=1), DOMAIN_QUANTILE))
    return lambda texts: nearest_similarity(embed(texts), ref_x) >= threshold


def generate(
    plan: Plan,
    task: str,
    condition: str,
    data: TaskData,
    split: Split,
    seed: int,
    lm: CausalLM,
    rng: np.random.Generator,
) -> tuple[list[str], np.ndarray, list[str]]:
    """Raw answers, the class each asked for, and the texts shown in the prompts."""
    per_class = plan.matched_per_class if condition == "matched" else plan.mismatched_per_class
    if condition == "matched":
        domain = domain_of(task)
        source = data
        pools = [split.client[data.labels[split.client] == c] for c in range(len(data.class_names))]
    else:
        other = task_data(OTHER[task])
        domain = domain_of(OTHER[task])
        source = other
        picked = rng.choice(len(other.texts), size=plan.shots_per_class, replace=False)
        pools = [picked] * len(data.class_names)
    raw: list[str] = []
    asked: list[int] = []
    shown: set[str] = set()
    for c, pool in enumerate(pools):
        examples = [shorten(source.texts[i]) for i in pool]
        shown.update(source.texts[i] for i in pool)
        answers = sample_completions(
            per_class,
            label=c,
            seed=seed,
            examples=examples,
            shots=3,
            batch_size=plan.batch_size,
            max_new_tokens=plan.max_new_tokens,
            label_names=data.class_names,
            domain=domain,
            lm=lm,
        )
        raw += answers
        asked += [c] * len(answers)
    return raw, np.asarray(asked, dtype=np.int64), sorted(shown)


def run_cell(
    plan: Plan,
    task: str,
    seed: int,
    lm: CausalLM,
    embed: Embedder,
    text_rows: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every metric of one task and seed, as tidy rows."""
    data = task_data(task)
    k = len(data.class_names)
    root = np.random.default_rng([seed, TASK_NAMES.index(task) if task in TASK_NAMES else 9])
    split_rng, gen_rng, draw_rng, test_rng = root.spawn(4)
    split = split_pool(data.labels, plan.shots_per_class, split_rng)
    pool_x = embed(data.texts)
    test_x = embed(data.test_texts)
    ref = fit_probe(pool_x[split.ref], data.labels[split.ref], k, l2=L2)
    judge = build_judge(data, split)
    in_domain = filter_domain(pool_x[split.ref], embed)
    rows: list[dict[str, Any]] = []

    def add(condition: str, metric: str, value: float) -> None:
        rows.append(
            {"task": task, "seed": seed, "condition": condition, "metric": metric, "value": value}
        )

    real_eval_x = pool_x[split.real_eval]
    held = [data.texts[i] for i in split.real_eval]
    real_usable = float(judge.usable(held, data.labels[split.real_eval]).mean())
    add("real", "usable_share", real_usable)
    add("real", "ref_test_accuracy", ref.accuracy(test_x, data.test_labels))
    add(
        "real",
        "judge_test_accuracy",
        judge.probe.accuracy(hashed_ngrams(data.test_texts), data.test_labels),
    )
    client_x, client_y = pool_x[split.client], data.labels[split.client]
    client_only = accuracy(client_x, client_y, k, test_x, data.test_labels)
    add("real", "client_only_accuracy", client_only)
    gen_seed = int(gen_rng.integers(2**31 - 1))
    for condition in CONDITIONS:
        clock = time.perf_counter()
        raw, asked, shown = generate(plan, task, condition, data, split, gen_seed, lm, draw_rng)
        add(condition, "generation_seconds", time.perf_counter() - clock)
        result = filter_texts(
            raw,
            asked,
            predict=lambda texts: ref.predict_proba(embed(texts)),
            in_domain=in_domain,
            shown=shown,
        )
        usable_raw = judge.usable(list(result.parsed), asked)
        kept = result.kept_mask
        for i, text in enumerate(raw):
            text_rows.append(
                {
                    "task": task,
                    "seed": seed,
                    "condition": condition,
                    "asked": data.class_names[asked[i]],
                    "raw": text,
                    "parsed": result.parsed[i],
                    "fate": result.reason[i],
                    "detail": result.detail[i],
                    "usable": bool(usable_raw[i]),
                }
            )
        add(condition, "raw_count", float(len(raw)))
        add(condition, "kept_count", float(kept.sum()))
        add(condition, "kept_share", result.share_kept)
        for reason, count in result.counts().items():
            if reason != "kept":
                add(condition, f"dropped_{reason}_share", count / max(len(raw), 1))
        add(condition, "usable_share_raw", float(usable_raw.mean()) if len(raw) else float("nan"))
        usable_kept = float(usable_raw[kept].mean()) if kept.any() else float("nan")
        add(condition, "usable_share_kept", usable_kept)
        add(condition, "usable_kept_vs_real", usable_kept / real_usable)
        syn_texts, syn_y = result.texts, result.labels
        parsed_ok = [i for i, t in enumerate(result.parsed) if t]
        unf_texts = [result.parsed[i] for i in parsed_ok]
        unf_y = asked[parsed_ok]
        syn_x = embed(syn_texts) if syn_texts else np.zeros((0, pool_x.shape[1]))
        unf_x = embed(unf_texts) if unf_texts else np.zeros((0, pool_x.shape[1]))
        enough = len(syn_texts) >= 5
        twin = same_labels(split.reserve, data.labels, syn_y, test_rng) if enough else None
        if enough and twin is not None and len(twin) >= 5:
            sim_rng = np.random.default_rng([seed, 7])
            add(condition, "mmd2", mmd2(real_eval_x, syn_x))
            add(condition, "two_sample_auc", two_sample_auc(real_eval_x, syn_x, sim_rng))
            add(condition, "mauve", mauve(real_eval_x, syn_x, seed=seed))
            twin_x = pool_x[twin]
            add(condition, "mmd2_real_baseline", mmd2(real_eval_x, twin_x))
            add(
                condition,
                "two_sample_auc_real_baseline",
                two_sample_auc(real_eval_x, twin_x, sim_rng),
            )
            add(condition, "mauve_real_baseline", mauve(real_eval_x, twin_x, seed=seed))
            add(
                condition,
                "real_same_n_accuracy",
                accuracy(twin_x, data.labels[twin], k, test_x, data.test_labels),
            )
        add(
            condition,
            "synthetic_only_accuracy",
            accuracy(syn_x, syn_y, k, test_x, data.test_labels),
        )
        add(
            condition,
            "unfiltered_only_accuracy",
            accuracy(unf_x, unf_y, k, test_x, data.test_labels),
        )
        augmented = accuracy(
            np.concatenate([client_x, syn_x]),
            np.concatenate([client_y, syn_y]),
            k,
            test_x,
            data.test_labels,
        )
        unfiltered_aug = accuracy(
            np.concatenate([client_x, unf_x]),
            np.concatenate([client_y, unf_y]),
            k,
            test_x,
            data.test_labels,
        )
        add(condition, "augmented_accuracy", augmented)
        add(condition, "augmentation_gain", augmented - client_only)
        add(condition, "unfiltered_augmentation_gain", unfiltered_aug - client_only)
        if len(syn_texts) >= 1:
            members = client_x
            nonmembers = pool_x[split.nonmember]
            add(condition, "membership_auc", membership_auc(members, nonmembers, syn_x))
            to_client = nearest_similarity(syn_x, members)
            to_unseen = nearest_similarity(syn_x, nonmembers)
            add(condition, "nn_similarity_client", float(to_client.mean()))
            add(condition, "nn_similarity_unseen", float(to_unseen.mean()))
            add(condition, "copying_gap", float((to_client - to_unseen).mean()))
        if len(unf_texts) >= 1:
            add(
                condition,
                "membership_auc_unfiltered",
                membership_auc(client_x, pool_x[split.nonmember], unf_x),
            )
    return rows


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval per task, condition and metric (over seeds)."""
    out = []
    for (task, condition, metric), frame in runs.groupby(
        ["task", "condition", "metric"], sort=False
    ):
        mean, low, high = mean_interval(frame["value"].to_numpy())
        out.append(
            {
                "task": task,
                "condition": condition,
                "metric": metric,
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "seeds": int(np.isfinite(frame["value"].to_numpy(dtype=float)).sum()),
            }
        )
    return pd.DataFrame(out)


def paired(
    runs: pd.DataFrame, task: str, a: tuple[str, str], b: tuple[str, str]
) -> tuple[float, float, float]:
    """Paired-by-seed difference ``a - b`` of two (condition, metric) cells of ``task``."""
    frame = runs[runs["task"] == task]

    def series(cell: tuple[str, str]) -> pd.Series:
        rows = frame[(frame["condition"] == cell[0]) & (frame["metric"] == cell[1])]
        return rows.set_index("seed")["value"]

    left, right = series(a).align(series(b), join="inner")
    return paired_difference(left.to_numpy(), right.to_numpy())


LABELS = {
    "usable_share_kept": "usable, after the filter",
    "usable_share_raw": "usable, raw answers",
    "kept_share": "kept by the filter",
}


def _cell(
    summary: pd.DataFrame, task: str, condition: str, metric: str
) -> tuple[float, float, float]:
    row = summary[
        (summary["task"] == task)
        & (summary["condition"] == condition)
        & (summary["metric"] == metric)
    ]
    if row.empty:
        return float("nan"), float("nan"), float("nan")
    r = row.iloc[0]
    return float(r["mean"]), float(r["ci_low"]), float(r["ci_high"])


LEGEND: dict[str, Any] = {
    "fontsize": 7,
    "loc": "upper center",
    "bbox_to_anchor": (0.5, -0.12),
    "ncols": 2,
    "frameon": False,
}
"""Legends below each panel: never over a bar or an interval."""


def _bars(
    ax: Any,
    summary: pd.DataFrame,
    tasks: Sequence[str],
    series: Sequence[tuple[str, str, str]],
    *,
    ylabel: str,
    title: str,
) -> None:
    """Grouped bars (one group per task, one bar per (condition, metric, label)) with 95% CIs."""
    width = 0.8 / len(series)
    for j, (condition, metric, label) in enumerate(series):
        xs, means, lows, highs = [], [], [], []
        for i, task in enumerate(tasks):
            mean, low, high = _cell(summary, task, condition, metric)
            xs.append(i - 0.4 + width * (j + 0.5))
            means.append(mean)
            lows.append(mean - low if np.isfinite(low) else 0.0)
            highs.append(high - mean if np.isfinite(high) else 0.0)
        ax.bar(xs, means, width=width * 0.9, label=label, yerr=[lows, highs], capsize=3)
        for x, mean in zip(xs, means, strict=True):
            if not np.isfinite(mean):  # too few kept texts in every seed: say so, not 0
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(range(len(tasks)), [t.replace("_", " ") for t in tasks])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)


def quality_figure(summary: pd.DataFrame, tasks: Sequence[str]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 7.6), layout="constrained")
    axes = fig.subplots(2, 2)
    _bars(
        axes[0, 0],
        summary,
        tasks,
        [
            ("matched", "kept_share", "matched: kept by filter"),
            ("matched", "usable_share_raw", "matched: usable, raw"),
            ("matched", "usable_share_kept", "matched: usable, kept"),
            ("mismatched", "usable_share_kept", "mismatched: usable, kept"),
            ("real", "usable_share", "real texts (ceiling)"),
        ],
        ylabel="share of texts (0-1)",
        title="usable texts (independent judge)",
    )
    axes[0, 0].axhline(TARGET_USABLE, color="k", ls=":", lw=1, label="target 0.70")
    axes[0, 0].set_ylim(0, 1)
    axes[0, 0].legend(**LEGEND)
    pairs = [
        ("mmd2", "MMD$^2$ to held-out real (MiniLM, Gaussian kernel)", "MMD$^2$ (unitless)", None),
        (
            "two_sample_auc",
            "two-sample classifier AUC (0.5: indistinguishable)",
            "AUC (0-1)",
            (0.0, 1.0),
        ),
        ("mauve", "MAUVE (1: same distribution)", "MAUVE (0-1)", (0.0, 1.05)),
    ]
    for ax, (metric, title, ylabel, ylim) in zip(axes.ravel()[1:], pairs, strict=True):
        _bars(
            ax,
            summary,
            tasks,
            [
                ("matched", metric, "matched prompt"),
                ("mismatched", metric, "mismatched prompt (break)"),
                ("matched", f"{metric}_real_baseline", "real vs real, same n"),
            ],
            ylabel=ylabel,
            title=title,
        )
        if ylim is not None:
            ax.set_ylim(*ylim)
        if metric == "two_sample_auc":
            ax.axhline(0.5, color="k", ls=":", lw=1)
        ax.legend(**LEGEND)
    fig.suptitle(
        "SmolLM2-135M-Instruct texts: usable share and similarity to real texts "
        "(mean, 95% t-interval over seeds)",
        fontsize=11,
    )
    return fig


def usefulness_figure(summary: pd.DataFrame, tasks: Sequence[str]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    _bars(
        axes[0],
        summary,
        tasks,
        [
            ("real", "client_only_accuracy", "client's real texts only"),
            ("matched", "augmented_accuracy", "client + matched synthetic"),
            ("mismatched", "augmented_accuracy", "client + mismatched synthetic"),
            ("matched", "synthetic_only_accuracy", "matched synthetic only"),
            ("matched", "real_same_n_accuracy", "as many real texts"),
            ("real", "majority_rate", "majority class rate"),
        ],
        ylabel="test accuracy (real test set, 0-1)",
        title="usefulness (MiniLM head)",
    )
    axes[0].set_ylim(0, 1)
    axes[0].legend(**LEGEND)
    _bars(
        axes[1],
        summary,
        tasks,
        [
            ("matched", "membership_auc", "shown (matched), kept texts"),
            ("matched", "membership_auc_unfiltered", "shown (matched), unfiltered"),
            ("mismatched", "membership_auc", "never shown (control), kept"),
            ("mismatched", "membership_auc_unfiltered", "never shown (control), unfiltered"),
        ],
        ylabel="membership-inference AUC (0.5: no leak)",
        title="membership inference on the few-shot examples",
    )
    axes[1].axhline(0.5, color="k", ls=":", lw=1)
    axes[1].set_ylim(0, 1)
    axes[1].legend(**LEGEND)
    _bars(
        axes[2],
        summary,
        tasks,
        [
            ("matched", "nn_similarity_client", "to the shown texts"),
            ("matched", "nn_similarity_unseen", "to as many unseen real texts"),
        ],
        ylabel="nearest cosine similarity (MiniLM, -1 to 1)",
        title="copying distance of matched synthetic texts",
    )
    axes[2].set_ylim(0, 1)
    axes[2].legend(**LEGEND)
    return fig


def _fmt(cell: tuple[float, float, float], digits: int = 2) -> str:
    mean, low, high = cell
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _says(diff: tuple[float, float, float], up: str, down: str, none: str = "none") -> str:
    """``up``/``down`` when the paired interval lies above/below 0, else ``none``."""
    _, low, high = diff
    if np.isfinite(low) and low > 0:
        return up
    if np.isfinite(high) and high < 0:
        return down
    return none if none != "none" else "no measurable change in"


def captions(
    runs: pd.DataFrame, summary: pd.DataFrame, plan: Plan, seconds: float, cpu: str
) -> str:
    tasks = plan.tasks

    def c(t: str, cond: str, metric: str, digits: int = 2) -> str:
        """A summary cell as text, with its seed count when some seeds had no value."""
        text = _fmt(_cell(summary, t, cond, metric), digits)
        row = summary[
            (summary["task"] == t) & (summary["condition"] == cond) & (summary["metric"] == metric)
        ]
        seeds = int(row["seeds"].iloc[0]) if not row.empty else 0
        if 0 < seeds < len(plan.seeds):
            text += f" ({seeds} of {len(plan.seeds)} seeds)"
        return text

    lines = [
        "# Experiment 1: foundation-model-generated data (examples/synthetic_data.py)",
        "",
        f"{len(plan.seeds)} seeds x {len(tasks)} tasks, {plan.matched_per_class} matched and "
        f"{plan.mismatched_per_class} mismatched answers per class and seed, "
        f"{plan.shots_per_class} client texts per class; {seconds:.0f} s on {cpu}, of which "
        f"{runs[runs['metric'] == 'generation_seconds']['value'].sum():.0f} s generating "
        "(answers already in the cache take none). "
        "Means with 95% Student-t intervals over seeds (with 2-5 seeds they may reach past "
        "[0, 1]); differences paired by seed.",
        "",
        "**Usable** (measured independently of the filter, which works on MiniLM embeddings "
        "and a real 'ref' split): passes the structural checks (6+ words, no meta or chat "
        "talk, no markup, mostly letters, not repetitive), lies in the task's domain by word "
        "counts (nearest hashed 1-2-gram similarity to a disjoint real 'judge' split at least "
        "the 5th percentile of held-out real texts'), and a word-count linear probe trained "
        "on the judge split predicts the class asked for. Real held-out texts with their "
        "true labels pass this check at the 'real texts' rate (the judge errs too).",
        "",
        "![quality](synthetic_quality.png)",
        "",
    ]
    quality = []
    for t in tasks:
        lift = paired(runs, t, ("matched", "usable_share_kept"), ("matched", "usable_share_raw"))
        vs_real = paired(
            runs, t, ("matched", "two_sample_auc"), ("matched", "two_sample_auc_real_baseline")
        )
        usable = _cell(summary, t, "matched", "usable_share_kept")
        meets = (
            "cannot be compared with"
            if not np.isfinite(usable[0])
            else "meets"
            if usable[1] >= TARGET_USABLE
            else "misses"
            if usable[2] < TARGET_USABLE
            else "is not distinguishable from"
        )
        rise = _says(lift, "a measurable rise", "a measurable fall", "inside the noise")
        kept_brk = paired(runs, t, ("matched", "kept_share"), ("mismatched", "kept_share"))
        mauve_note = (
            " MAUVE does not separate even two real samples at these sizes (real vs real "
            f"{c(t, 'matched', 'mauve_real_baseline')}), so it is reported but not read."
            if _cell(summary, t, "matched", "mauve_real_baseline")[0] < 0.5
            else ""
        )
        quality.append(
            f"**{t}**: the filter keeps {c(t, 'matched', 'kept_share')} of the raw matched "
            f"answers; the usable share goes from {c(t, 'matched', 'usable_share_raw')} of raw "
            f"answers to {c(t, 'matched', 'usable_share_kept')} of kept ones (difference "
            f"{_fmt(lift)}: {rise}), which {meets} the {TARGET_USABLE:.2f} target; real "
            f"held-out texts score {c(t, 'real', 'usable_share')} on the same check "
            "(the judge's test accuracy "
            f"{c(t, 'real', 'judge_test_accuracy')}), so kept texts reach "
            f"{c(t, 'matched', 'usable_kept_vs_real')} of the real texts' rate. Kept texts are "
            f"{_says(vs_real, 'easier', 'harder', 'not measurably easier')} to tell from real "
            f"ones than real texts are (two-sample AUC {c(t, 'matched', 'two_sample_auc')} vs "
            f"{c(t, 'matched', 'two_sample_auc_real_baseline')}; MMD^2 "
            f"{c(t, 'matched', 'mmd2', 3)} vs {c(t, 'matched', 'mmd2_real_baseline', 3)})."
            f"{mauve_note} Break condition (the other task's domain and texts in the prompt): "
            f"the filter keeps {c(t, 'mismatched', 'kept_share')} of the answers (matched minus "
            f"mismatched {_fmt(kept_brk)}: "
            f"{_says(kept_brk, 'fewer survive', 'more survive', 'no measurable change')}), "
            f"too few for the similarity measures (5 kept texts needed); usable among raw "
            f"answers {c(t, 'mismatched', 'usable_share_raw')}."
        )
    lines.append("**What to conclude.** " + " ".join(quality))
    lines += ["", "![usefulness and privacy](synthetic_usefulness.png)", ""]
    use = []
    for t in tasks:
        gain = paired(runs, t, ("matched", "augmented_accuracy"), ("real", "client_only_accuracy"))
        unf = paired(
            runs, t, ("matched", "unfiltered_augmentation_gain"), ("matched", "augmentation_gain")
        )
        mis = paired(
            runs, t, ("matched", "augmented_accuracy"), ("mismatched", "augmented_accuracy")
        )
        tos = paired(
            runs, t, ("matched", "synthetic_only_accuracy"), ("matched", "real_same_n_accuracy")
        )
        gap = abs(
            _cell(summary, t, "matched", "synthetic_only_accuracy")[0]
            - _cell(summary, t, "real", "majority_rate")[0]
        )
        at_majority = "within 0.02 of" if gap < 0.02 else "away from"
        leak = paired(
            runs,
            t,
            ("matched", "membership_auc_unfiltered"),
            ("mismatched", "membership_auc_unfiltered"),
        )
        use.append(
            f"**{t}**: the client alone scores {c(t, 'real', 'client_only_accuracy')}; adding "
            f"its kept synthetic texts gives {c(t, 'matched', 'augmented_accuracy')}, a gain of "
            f"{_fmt(gain, 3)} ({_says(gain, 'it helps', 'it hurts', 'no measurable effect')}); "
            f"unfiltered texts instead change the gain by {_fmt(unf, 3)}, mismatched ones by "
            f"{_fmt(mis, 3)} (matched minus mismatched). Train on synthetic, test on real: "
            f"{c(t, 'matched', 'synthetic_only_accuracy')} against "
            f"{c(t, 'matched', 'real_same_n_accuracy')} for as many real texts of the same "
            f"classes (difference {_fmt(tos, 3)}; majority rate "
            f"{c(t, 'real', 'majority_rate')}: train-on-synthetic is {at_majority} the rate "
            "of always answering the majority class). Membership inference on the shown "
            "examples: "
            f"AUC {c(t, 'matched', 'membership_auc_unfiltered')} from the unfiltered texts "
            f"against {c(t, 'mismatched', 'membership_auc_unfiltered')} when they were never "
            f"shown (difference {_fmt(leak, 3)}: "
            f"{_says(leak, 'a measurable leak', 'below the control', 'no measurable leak')}), "
            f"{c(t, 'matched', 'membership_auc')} from the kept ones (control "
            f"{c(t, 'mismatched', 'membership_auc')}); "
            f"a synthetic text's nearest MiniLM similarity to the shown texts "
            f"{c(t, 'matched', 'nn_similarity_client')} vs "
            f"{c(t, 'matched', 'nn_similarity_unseen')} to unseen ones (gap "
            f"{c(t, 'matched', 'copying_gap', 3)}); answers dropped as verbatim copies "
            f"(a shared 8-word sequence) {c(t, 'matched', 'dropped_copy_share', 3)}."
        )
    lines.append(
        "**What to conclude.** An interval that holds 0 means no measurable effect at this "
        "many seeds. " + " ".join(use)
    )
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("examples"),
        help="folder; files go to its figures/ subfolder",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument(
        "--backbone",
        default="minilm",
        choices=("minilm", "tiny"),
        help="embedding model (tiny: random weights and a random generator, for tests)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 seeds, 8 matched and 8 mismatched answers per class"
    )
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds: needs at least 2 for an interval")
    plan = Plan(
        seeds=tuple(range(2 if args.quick else args.seeds)),
        tasks=tuple(args.tasks),
        matched_per_class=8 if args.quick else 16,
        mismatched_per_class=8,
        backbone=args.backbone,
    )
    from bench.machine import cpu_name
    from fl_core.smollm2 import load_smollm2, tiny_causal_lm

    started = time.perf_counter()
    lm = tiny_causal_lm(0) if args.backbone == "tiny" else load_smollm2()
    embed = Embedder(args.backbone)
    rows: list[dict[str, Any]] = []
    text_rows: list[dict[str, Any]] = []
    for task in plan.tasks:
        for seed in plan.seeds:
            t0 = time.perf_counter()
            cell = run_cell(plan, task, seed, lm, embed, text_rows)
            rows += cell
            got = {r["metric"]: r["value"] for r in cell if r["condition"] == "matched"}
            print(
                f"{task} seed {seed}: kept {got.get('kept_share', float('nan')):.2f}, usable "
                f"kept {got.get('usable_share_kept', float('nan')):.2f}, "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    for task in plan.tasks:
        data = task_data(task)
        rate = float(np.bincount(data.test_labels).max() / len(data.test_labels))
        for seed in plan.seeds:
            rows.append(
                {
                    "task": task,
                    "seed": seed,
                    "condition": "real",
                    "metric": "majority_rate",
                    "value": rate,
                }
            )
    runs = pd.DataFrame(rows)
    summary = summarise(runs)
    seconds = time.perf_counter() - started
    folder = args.out / "figures"
    write_csv(folder / "synthetic_runs.csv", runs)
    write_csv(folder / "synthetic_summary.csv", summary)
    write_csv(folder / "synthetic_texts.csv", pd.DataFrame(text_rows))
    save(quality_figure(summary, plan.tasks), args.out, "synthetic_quality")
    save(usefulness_figure(summary, plan.tasks), args.out, "synthetic_usefulness")
    cpu = f"{cpu_name()} ({os.cpu_count()} cores)"
    write_text(folder / "synthetic_data.md", captions(runs, summary, plan, seconds, cpu))
    print(summary.round(3).to_string())
    print(f"wrote {folder}/synthetic_*.csv/png/svg and synthetic_data.md in {seconds:.0f} s")


if __name__ == "__main__":
    main()

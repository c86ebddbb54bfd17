"""Experiment 1's set-up: the plan, each task's data and splits, the embedder, the
independent judge of usable texts, the domain filter and the generation step
(:mod:`synthetic_data` is the entry point).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from fl_core.datasets import TASKS, load_task  # noqa: E402
from fl_core.linear_probe import LinearProbe, fit_probe  # noqa: E402
from fl_core.synthesize import Domain, sample_completions  # noqa: E402
from fl_core.synthetic_filter import FilterConfig, structural_problem  # noqa: E402
from fl_core.text_features import embed_texts, hashed_ngrams  # noqa: E402
from fl_core.text_similarity import (  # noqa: E402
    nearest_similarity,
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

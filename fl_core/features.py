"""Cached inputs of the trainable suffix: tokens, frozen-prefix hidden states, embeddings.

Tokenisation is done once per dataset with the backbone's tokenizer and kept on disk (keyed
by tokenizer, max length and the data's fingerprint). The frozen prefix of the network
(embeddings and layers below the first adapted layer; the whole encoder plus mean pooling in
head mode) does not change during training, so its output is computed once, lazily for the
examples actually used, and reused by every local step and every coalition evaluation. In
eval mode this is exact: the suffix sees the very tensors the full forward pass would
compute. Head-mode sentence embeddings are also cached on disk, keyed by model and, row by
row, by a digest of each text: a text embedded once is read back for every later split,
seed and subset (a new seed's validation draw no longer re-embeds the pool).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fl_core.classifier import SentenceClassifier
from fl_core.hub import cache_dir
from fl_core.tokenizer import load_tokenizer

if TYPE_CHECKING:  # an annotation only: importing fl_core.data would import pandas
    from fl_core.data import TextDataset


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``path`` via a temp file, fsync and rename: never a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (POSIX ``flock``) for the ``with`` block, so
    processes sharing the cache do not drop each other's rows; a no-op where there is none."""
    try:
        import fcntl
    except ImportError:  # not POSIX: last writer wins (rows are recomputed, never wrong)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Tokens:
    input_ids: torch.Tensor  # (N, T) int64
    attention_mask: torch.Tensor  # (N, T) int64

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def tokenize(
    dataset: TextDataset, max_length: int, use_disk: bool = True, *, backbone: str = "minilm"
) -> Tokens:
    """Token ids of ``backbone``'s tokenizer, right-padded to ``max_length``, cached on disk
    by tokenizer and data fingerprint."""
    tokenizer = load_tokenizer(backbone)
    key = hashlib.sha256(
        f"{tokenizer.name_or_path}|{tokenizer.vocab_size}|{max_length}|{dataset.fingerprint()}".encode()
    ).hexdigest()[:20]
    path = cache_dir() / f"tokens-{key}.npz"
    if use_disk and path.exists():
        try:
            with np.load(path) as stored:
                ids, mask = stored["input_ids"], stored["attention_mask"]
            if ids.shape[0] == len(dataset):
                return Tokens(
                    torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask.astype(np.int64))
                )
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is rebuilt below
    encoded = tokenizer(
        list(dataset.texts),
        truncation=True,
        max_length=max_length,
        padding="max_length",
        return_tensors="np",
    )
    ids = encoded["input_ids"].astype(np.int32)
    mask = encoded["attention_mask"].astype(np.int8)
    if use_disk:
        atomic_save_npz(path, input_ids=ids, attention_mask=mask)
    return Tokens(torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask.astype(np.int64)))


@dataclass
class Batch:
    """What the trainable suffix consumes for a set of examples."""

    hidden: torch.Tensor | None = None  # (B, T', H) prefix states, trimmed to the longest
    mask: torch.Tensor | None = None  # (B, T') attention mask
    pooled: torch.Tensor | None = None  # (B, H) sentence embeddings (head mode)
    input_ids: torch.Tensor | None = None  # plain path only

    def logits(self, model: SentenceClassifier) -> torch.Tensor:
        """The model's logits, computed on the model's device (cached inputs live on CPU)."""
        device = model.device
        if self.pooled is not None:
            return model.forward_pooled(self.pooled.to(device))
        assert self.mask is not None
        mask = self.mask.to(device)
        if self.hidden is not None:
            return model.forward_hidden(self.hidden.to(device), mask)
        assert self.input_ids is not None
        return model.forward_tokens(self.input_ids.to(device), mask)

    @classmethod
    def of_rows(
        cls,
        idx: torch.Tensor,
        lengths: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        pooled: torch.Tensor | None,
        hidden: torch.Tensor | None,
        input_ids: torch.Tensor | None,
    ) -> Batch:
        """Rows ``idx`` of whichever input is given, first of ``pooled``, ``hidden`` and
        ``input_ids`` (the last two with the mask, trimmed to the rows' longest example)."""
        if pooled is not None:
            return cls(pooled=pooled[idx])
        width = max(int(lengths[idx].max()), 1)
        mask = attention_mask[idx, :width]
        if hidden is not None:
            return cls(hidden=hidden[idx, :width], mask=mask)
        assert input_ids is not None
        return cls(input_ids=input_ids[idx, :width], mask=mask)


class FeatureStore:
    """Lazily computed, memoised frozen-prefix outputs of one split.

    ``kind="hidden"`` keeps the hidden states entering the first adapted layer (LoRA mode);
    ``kind="pooled"`` keeps mean-pooled embeddings of the frozen encoder (head mode), which
    are also stored on disk under ``disk_key``; ``kind="tokens"`` is the plain path that
    runs the whole network every time (the baseline the cache is measured against).

    On the CPU the prefix is computed by ``workers`` single-threaded workers, each on its own
    batches (default: one per torch thread): the same numbers as one multi-threaded pass,
    without torch's thread-pool barrier per op (``bench/encode.py``).
    """

    def __init__(
        self,
        model: SentenceClassifier,
        tokens: Tokens,
        kind: str,
        *,
        batch_size: int = 64,
        disk_key: str | None = None,
        workers: int | None = None,
        row_keys: np.ndarray | None = None,
    ) -> None:
        if kind not in ("hidden", "pooled", "tokens"):
            raise ValueError(f"kind: unknown feature kind {kind!r}")
        self.model = model
        self.tokens = tokens
        self.kind = kind
        self.batch_size = batch_size
        if workers is not None and workers < 1:
            raise ValueError(f"workers: must be at least 1, got {workers}")
        self.workers = workers
        self.lengths = tokens.attention_mask.sum(1)
        n = len(tokens)
        self._done = np.zeros(n, dtype=bool)
        self._pooled: torch.Tensor | None = None
        self._hidden: torch.Tensor | None = None
        self._path: Path | None = None
        if row_keys is not None and len(row_keys) != len(tokens):
            raise ValueError(f"row_keys: {len(row_keys)} keys for {len(tokens)} rows")
        self._row_keys = row_keys
        if kind == "pooled":
            width = model.width
            self._pooled = torch.zeros((n, width), dtype=torch.float32)
            if disk_key is not None:
                self._path = cache_dir() / f"embeddings-{disk_key}.npz"
                self._load_disk()
        elif kind == "hidden":
            width = model.width
            self._hidden = torch.empty((n, tokens.input_ids.shape[1], width), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.tokens)

    def _read_keyed(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The keyed on-disk cache: (row keys, embeddings), or ``None`` when absent/unreadable."""
        assert self._path is not None
        try:
            with np.load(self._path) as stored:
                keys, pooled = stored["keys"], stored["pooled"]
        except (OSError, ValueError, KeyError):
            return None  # absent or damaged: recomputed and rewritten
        if pooled.ndim != 2 or len(keys) != len(pooled):
            return None
        return keys, pooled

    def _load_disk(self) -> None:
        assert self._path is not None and self._pooled is not None
        if not self._path.exists():
            return
        if self._row_keys is not None:
            stored = self._read_keyed()
            if stored is None or stored[1].shape[1] != self._pooled.shape[1]:
                return
            position = {key: i for i, key in enumerate(stored[0].tolist())}
            rows = [(r, position.get(key)) for r, key in enumerate(self._row_keys.tolist())]
            found = np.array([r for r, at in rows if at is not None], dtype=np.int64)
            at = np.array([at for _, at in rows if at is not None], dtype=np.int64)
            if len(found):
                self._pooled[torch.from_numpy(found)] = torch.from_numpy(stored[1][at])
                self._done[found] = True
            return
        try:
            with np.load(self._path) as stored_rows:
                pooled, done = stored_rows["pooled"], stored_rows["done"]
        except (OSError, ValueError, KeyError):
            return  # unreadable cache: recomputed and rewritten
        if pooled.shape == tuple(self._pooled.shape):
            self._pooled.copy_(torch.from_numpy(pooled))
            self._done = done.astype(bool)

    def _save_disk(self) -> None:
        """Persist the computed embeddings: by row, or merged by key into what is on disk
        (another process may have added rows since this store was opened)."""
        assert self._path is not None and self._pooled is not None
        if self._row_keys is None:
            atomic_save_npz(self._path, pooled=self._pooled.numpy(), done=self._done)
            return
        done = np.flatnonzero(self._done)
        keys, pooled = self._row_keys[done], self._pooled.numpy()[done]
        with _locked(self._path.with_suffix(".lock")):  # read, merge, replace: one writer
            stored = self._read_keyed()
            if stored is not None and stored[1].shape[1] == pooled.shape[1]:
                new = ~np.isin(keys, stored[0])
                keys = np.concatenate([stored[0], keys[new]])
                pooled = np.concatenate([stored[1], pooled[new]])
            _, first = np.unique(keys, return_index=True)  # a text repeated in the data: once
            first.sort()
            atomic_save_npz(self._path, keys=keys[first], pooled=pooled[first])

    def ensure(
        self,
        indices: np.ndarray,
        progress: bool = False,
        persist: bool = True,
        on_progress: Callable[[int, int, str], None] | None = None,
    ) -> None:
        """Compute the prefix for the given examples that are not cached yet.

        ``persist=False`` skips rewriting the on-disk embedding cache (used per batch).
        ``progress`` shows a tqdm bar; ``on_progress(done, total, label)`` is called after
        every batch (e.g. for a UI), in batches of this store.
        """
        if self.kind == "tokens":
            return
        missing = np.asarray(indices, dtype=np.int64)
        missing = np.unique(missing[~self._done[missing]])
        if len(missing) == 0:
            return
        # sort by length so that batches are trimmed tightly
        missing = missing[np.argsort(self.lengths[missing].numpy(), kind="stable")]
        chunks = [missing[i : i + self.batch_size] for i in range(0, len(missing), self.batch_size)]
        iterator = chunks
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(chunks, desc=f"caching frozen {self.kind}", unit="batch", leave=False)
        device = self.model.device  # computed there, kept in (CPU) memory
        # the frozen prefix is defined in eval mode: filled lazily from inside a training
        # step (model.train()), it would otherwise carry the encoder's dropout noise
        training = self.model.training
        self.model.eval()
        label = f"caching frozen {self.kind}"

        def encode(chunk: np.ndarray) -> tuple[torch.Tensor, int]:
            with torch.inference_mode():  # thread-local: entered in each worker
                idx = torch.from_numpy(chunk)
                width = int(self.lengths[idx].max())
                ids = self.tokens.input_ids[idx, :width].to(device)
                mask = self.tokens.attention_mask[idx, :width].to(device)
                if self.kind == "pooled":
                    return self.model.encode_pooled(ids, mask).cpu(), width
                return self.model.encode_prefix(ids, mask).cpu(), width

        def store(chunk: np.ndarray, out: torch.Tensor, width: int) -> None:
            idx = torch.from_numpy(chunk)
            if self.kind == "pooled":
                assert self._pooled is not None
                self._pooled[idx] = out
            else:
                assert self._hidden is not None
                self._hidden[idx, :width] = out
                self._hidden[idx, width:] = 0.0  # padding never read as garbage

        threads = torch.get_num_threads()
        workers = min(self.workers or threads, len(chunks)) if device.type == "cpu" else 1
        try:
            with ExitStack() as stack:
                outputs: Iterator[tuple[torch.Tensor, int]] = map(encode, chunks)
                if workers > 1:
                    # see the class docstring
                    torch.set_num_threads(1)
                    outputs = stack.enter_context(ThreadPoolExecutor(workers)).map(encode, chunks)
                pairs = zip(iterator, outputs, strict=True)
                for done, (chunk, (out, width)) in enumerate(pairs, start=1):
                    store(chunk, out, width)
                    if on_progress is not None:
                        on_progress(done, len(chunks), label)
        finally:
            torch.set_num_threads(threads)
            self.model.train(training)
        self._done[missing] = True
        if self._path is not None and persist:
            self._save_disk()

    def batch(self, indices: np.ndarray) -> Batch:
        """Inputs of the trainable part for these examples (computed on demand)."""
        idx_np = np.asarray(indices, dtype=np.int64)
        self.ensure(idx_np, persist=False)
        return Batch.of_rows(
            torch.from_numpy(idx_np),
            self.lengths,
            self.tokens.attention_mask,
            pooled=self._pooled,
            hidden=self._hidden,
            input_ids=self.tokens.input_ids,
        )

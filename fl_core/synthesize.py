"""Labelled synthetic reviews from a generative foundation model (the FM as data generator).

A data-poor client tops up its shard with reviews that SmolLM2-135M-Instruct writes when
asked, through its chat template, for a review of the wanted sentiment, optionally shown a
few of the client's own reviews as style examples (few-shot prompting, Brown et al. 2020;
FM-generated training data as in Ye et al. 2022, "ZeroGen", arXiv 2202.07922). Sampling
(temperature, nucleus; Holtzman et al. 2020) is seeded per batch, so a call is reproducible
for a seed and independent of what ran before; results are cached on disk under
``$FEDMARKET_CACHE`` like the embeddings. Batches are always full, so the reviews for ``n``
are the first ``n`` of those for any larger count (same seed and settings): one cache file
serves every top-up level of an experiment.

:func:`sample_completions` is the measured path of the synthetic-data experiment
(``examples/synthetic_data.py``): raw answers, nothing cleaned or dropped, for any
:class:`Domain` (system message and the kind of text asked for), with the assistant's turn
prefilled by an opening quote so that the answer starts with the text itself; parsing and
filtering are :mod:`fl_core.synthetic_filter`'s job, which reports the share kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fl_core.config import RANDOM_BACKBONES
from fl_core.hub import cache_dir
from fl_core.smollm2 import CausalLM, load_smollm2, tiny_causal_lm

PROMPT_VERSION = 1
"""Bump when the prompt or the cleaning changes: it is part of the cache key."""
LABEL_NAMES = ("negative", "positive")
"""What label 0 and 1 ask for (the Amazon fine-food pool: 1 is ``score == "great"``)."""
SYSTEM = "You write short, realistic customer reviews of food products bought on Amazon."
MAX_CHARS = 400


@dataclass(frozen=True)
class Generation:
    """One batch of sampled completions and how many new tokens were generated."""

    texts: list[str]
    new_tokens: int


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block (restored after).

    Decoding is a chain of small matmuls: on the shared 2-core machine one thread measured
    5x faster than two (0.38 s against 4.8 s per decoding step of 4 sequences under load).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Domain:
    """What the generator is told it writes: the system message, the kind of text asked
    for and who wrote the examples. The default is the Amazon fine-food pool's."""

    system: str = SYSTEM
    item: str = "review of a food product"
    writers: str = "customers"
    voice: str = "a customer"

    def __post_init__(self) -> None:
        for name in ("system", "item", "writers", "voice"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"domain.{name}: must be a non-empty string, got {value!r}")


FOOD = Domain()


def prompt(
    label: int,
    shots: Sequence[str] = (),
    label_names: Sequence[str] = LABEL_NAMES,
    domain: Domain = FOOD,
) -> str:
    """The user message asking for one text of class ``label`` in ``domain``."""
    sentiment = label_names[label]
    text = ""
    if shots:
        listed = "\n".join(f"- {s.strip()[:MAX_CHARS]}" for s in shots)
        text = f"Here are some reviews written by {domain.writers}:\n{listed}\n\n"
    return (
        f"{text}Write one new {sentiment} {domain.item}, one or two sentences, "
        f"in the voice of {domain.voice}. Reply with the review only."
    )


def clean(text: str) -> str:
    """First non-empty line of a completion, without quotes or a 'Review:' prefix."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = (lines[0] if lines else "").strip('"').strip()
    first = re.sub(r"^(review|customer review)\s*:\s*", "", first, flags=re.IGNORECASE)
    return first.strip().strip('"').strip()[:MAX_CHARS]


def chat_texts(
    tokenizer: Any, messages: Sequence[str], *, system: str = SYSTEM, prefill: str = ""
) -> list[str]:
    """The model's input for each user message: the chat template with ``system``, the
    assistant's turn opened and ``prefill`` appended."""
    return [
        tokenizer.apply_chat_template(
            [{"role": "system", "content": system}, {"role": "user", "content": m}],
            tokenize=False,
            add_generation_prompt=True,
        )
        + prefill
        for m in messages
    ]


def generate(
    lm: CausalLM,
    messages: Sequence[str],
    *,
    seed: int,
    max_new_tokens: int = 48,
    temperature: float = 0.9,
    top_p: float = 0.95,
    threads: int = 1,
    system: str = SYSTEM,
    prefill: str = "",
    stop: str | None = None,
) -> Generation:
    """Sample one completion per user message (left-padded batch), seeded by ``seed``.

    ``prefill`` is appended to the assistant's turn before sampling (e.g. an opening quote,
    so the answer starts with the text itself rather than a preamble); it is not part of the
    returned completion. ``stop`` ends a sequence once it appears in its new text (the
    batch ends when every sequence has stopped; text after it is left to the caller).
    """
    tokenizer = lm.tokenizer
    chats = chat_texts(tokenizer, messages, system=system, prefill=prefill)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = tokenizer(
        chats, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
    )
    width = encoded["input_ids"].shape[1]
    with torch.random.fork_rng(devices=[]), torch_threads(threads), torch.inference_mode():
        torch.manual_seed(seed)
        out = lm.model.generate(
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
            **({"stop_strings": [stop], "tokenizer": tokenizer} if stop else {}),
        )
    new = out[:, width:]
    stops = {t for t in (tokenizer.eos_token_id, pad) if t is not None}
    n_tokens = 0
    for row in new.tolist():
        n_tokens += next((i for i, t in enumerate(row) if t in stops), len(row))
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    return Generation(texts=[str(t) for t in texts], new_tokens=n_tokens)


def generator_for(backbone: str) -> CausalLM:
    """The generator a scenario uses: a tiny random Llama for the tiny test backbones
    (fast, offline, meaningless text), SmolLM2-135M-Instruct for every real backbone."""
    return tiny_causal_lm(0) if backbone in RANDOM_BACKBONES else load_smollm2()


def _cache_path(lm: CausalLM, settings: dict[str, object]) -> Path:
    key = json.dumps({"model": lm.name, "version": PROMPT_VERSION, **settings}, sort_keys=True)
    return cache_dir() / f"synthetic-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def _save_json(path: Path, texts: list[str]) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(texts, file, ensure_ascii=False)
    os.replace(tmp, path)


def synthesize(
    n: int,
    *,
    label: int,
    seed: int,
    examples: Sequence[str] | None = None,
    shots: int = 3,
    batch_size: int = 8,
    max_new_tokens: int = 48,
    temperature: float = 0.9,
    top_p: float = 0.95,
    label_names: Sequence[str] = LABEL_NAMES,
    lm: CausalLM | None = None,
    use_disk: bool = True,
    progress: bool = False,
) -> list[str]:
    """``n`` distinct synthetic reviews of class ``label``, reproducible for ``seed``.

    Args:
        n: reviews wanted (>= 0).
        label: the class asked for, an index into ``label_names``.
        seed: seeds the sampling of every batch and the choice of few-shot examples.
        examples: the client's own reviews; each prompt shows ``shots`` of them, drawn at
            random (``None`` or empty: zero-shot).
        batch_size: prompts decoded together.
        lm: the generator; SmolLM2-135M-Instruct (:func:`fl_core.smollm2.load_smollm2`)
            when omitted.
        use_disk: read and write the on-disk cache.
        progress: show a tqdm bar over generated reviews.

    Raises:
        ValueError: a bad argument (one line naming it), or a model that keeps producing
            empty or repeated text.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n: must be a non-negative integer, got {n!r}")
    if not isinstance(label, (int, np.integer)) or not 0 <= int(label) < len(label_names):
        raise ValueError(f"label: must be in [0, {len(label_names) - 1}], got {label!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: must be a positive integer, got {batch_size!r}")
    label = int(label)
    pool = [str(e) for e in (examples or ()) if str(e).strip()]
    settings: dict[str, object] = {
        "label": label,
        "batch_size": batch_size,
        "seed": int(seed),
        "examples": hashlib.sha256("\x00".join(pool).encode()).hexdigest(),
        "shots": shots,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "label_names": list(label_names),
    }
    if n == 0:
        return []
    lm = lm if lm is not None else load_smollm2()
    path = _cache_path(lm, settings)
    if use_disk and path.exists():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(cached, list) and len(cached) >= n:
                return [str(t) for t in cached[:n]]
        except (OSError, ValueError):
            pass  # a damaged cache file is regenerated
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"synthesizing label {label}", unit="review", leave=False)
    texts: list[str] = []
    seen: set[str] = set()
    max_batches = 4 + 4 * -(-n // batch_size)
    for batch in range(max_batches):
        if len(texts) >= n:
            break
        rng = np.random.default_rng([int(seed), label, batch])
        size = batch_size  # always full batches: a call for n is a prefix of one for more
        messages = []
        for _ in range(size):
            k = min(shots, len(pool))
            picked = rng.choice(len(pool), size=k, replace=False).tolist() if k else []
            messages.append(prompt(label, [pool[i] for i in picked], label_names))
        batch_seed = int(rng.integers(2**31 - 1))
        result = generate(
            lm,
            messages,
            seed=batch_seed,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
        )
        for raw in result.texts:
            text = clean(raw)
            if text and text not in seen:
                seen.add(text)
                texts.append(text)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    if len(texts) < n:
        raise ValueError(
            f"n: the model gave only {len(texts)} distinct non-empty reviews out of {n} in "
            f"{max_batches} batches; raise temperature or max_new_tokens"
        )
    if use_disk:
        _save_json(path, texts)  # every distinct review of the batches: serves any n' <= it
    return texts[:n]


def sample_completions(
    n: int,
    *,
    label: int,
    seed: int,
    examples: Sequence[str] | None = None,
    shots: int = 3,
    batch_size: int = 8,
    max_new_tokens: int = 48,
    temperature: float = 0.9,
    top_p: float = 0.95,
    label_names: Sequence[str] = LABEL_NAMES,
    domain: Domain = FOOD,
    prefill: str = '"',
    lm: CausalLM | None = None,
    use_disk: bool = True,
) -> list[str]:
    """``n`` raw completions asking for class ``label`` in ``domain``, reproducible for ``seed``.

    Unlike :func:`synthesize`, nothing is cleaned or dropped: every sampled answer is
    returned as the model wrote it (after ``prefill``, by default an opening quote, and up to
    the matching closing quote, where sampling of that sequence stops), so that a filter
    (:mod:`fl_core.synthetic_filter`) can parse it and report the share it keeps. Each prompt
    shows ``shots`` of ``examples`` drawn at random (seeded per batch). Batches are always
    full: the completions for ``n`` are the first ``n`` of those for any larger count.

    Raises:
        ValueError: a bad argument, one line naming it.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n: must be a non-negative integer, got {n!r}")
    if not isinstance(label, (int, np.integer)) or not 0 <= int(label) < len(label_names):
        raise ValueError(f"label: must be in [0, {len(label_names) - 1}], got {label!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: must be a positive integer, got {batch_size!r}")
    if not isinstance(shots, int) or shots < 0:
        raise ValueError(f"shots: must be a non-negative integer, got {shots!r}")
    label = int(label)
    pool = [str(e) for e in (examples or ()) if str(e).strip()]
    if n == 0:
        return []
    stop = prefill if prefill in ('"', "'") else None
    settings: dict[str, object] = {
        "kind": "raw",
        "label": label,
        "batch_size": batch_size,
        "seed": int(seed),
        "examples": hashlib.sha256("\x00".join(pool).encode()).hexdigest(),
        "shots": shots,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "label_names": list(label_names),
        "domain": [domain.system, domain.item, domain.writers, domain.voice],
        "prefill": prefill,
    }
    lm = lm if lm is not None else load_smollm2()
    path = _cache_path(lm, settings)
    if use_disk and path.exists():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(cached, list) and len(cached) >= n:
                return [str(t) for t in cached[:n]]
        except (OSError, ValueError):
            pass  # a damaged cache file is regenerated
    texts: list[str] = []
    for batch in range(-(-n // batch_size)):
        rng = np.random.default_rng([int(seed), label, batch])
        messages = []
        for _ in range(batch_size):
            k = min(shots, len(pool))
            picked = rng.choice(len(pool), size=k, replace=False).tolist() if k else []
            messages.append(prompt(label, [pool[i] for i in picked], label_names, domain))
        result = generate(
            lm,
            messages,
            seed=int(rng.integers(2**31 - 1)),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            system=domain.system,
            prefill=prefill,
            stop=stop,
        )
        texts += result.texts
    if use_disk:
        _save_json(path, texts)
    return texts[:n]

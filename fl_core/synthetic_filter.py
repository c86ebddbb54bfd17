"""Parse and filter a generator's raw answers into usable labelled texts.

A small instruction model asked for "one review" often answers with a preamble ("Here is a
new positive review:"), a fragment ("Customer Feedback:"), chat talk, markup, a copy of a
shown example, or a text of the wrong class. :func:`parse` extracts the text itself from one
raw answer; :func:`filter_texts` then drops, in this order and each for a named reason:

1. ``structure`` (:func:`structural_problem`): too short or long, meta or chat talk,
   markup, mostly non-letters, or repetitive;
2. ``duplicate``: the same words as an earlier kept text, or word 3-gram Jaccard
   similarity >= ``max_jaccard`` with one (near duplicates, Broder 1997);
3. ``copy``: shares a word ``copy_ngram``-gram with an example shown in the prompts
   (a verbatim leak of the client's own text);
4. ``domain``: an in-domain test says the text is unlike the task's real texts (the caller's
   callable, e.g. nearest-neighbour similarity to a real reference split);
5. ``label``: a reference classifier (trained on real data the evaluation never uses)
   gives the class asked for a probability under ``min_confidence`` or another class a
   higher one (label-consistency filtering as in ZeroGen's noise-robust variants, Ye et
   al. 2022, arXiv 2202.07922).

The result keeps every raw answer's fate, so the share kept and the reasons are reported.
Pure Python and numpy: the classifier enters as a callable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

REASONS = ("kept", "structure", "duplicate", "copy", "domain", "label")
"""Every raw answer's fate, in the order the checks run."""

_PREAMBLE = re.compile(
    r"^(here('s| is| are)\b|sure\b|certainly\b|okay\b|ok\b|(new |one |a )?(customer |patient )?"
    r"(review|feedback|response|answer|text)s?\b[^:]{0,40}:|[^.!?]{0,60}:\s*$)",
    re.IGNORECASE,
)
_LABEL_PREFIX = re.compile(
    r"^((new |customer |patient |positive |negative |neutral )*(review|feedback)|customer|"
    r"patient|user)\s*:\s*",
    re.IGNORECASE,
)
_META = re.compile(
    r"\b(here('s| is) (a|an|the|my|one)\b|as an ai\b|language model|i hope (this|that) helps|"
    r"let me know|rewritten|revised (version|response)|the (above|following) review|"
    r"(your|this) review\b|write a review|in the voice of|one or two sentences|"
    r"reply with|i'm glad (you|to hear)|sorry (to hear|for)|misunderstanding|"
    r"^(hi|hello|hey|howdy|dear|thanks|thank you)\b|^[a-z][\w .]{0,20}:|^[a-z]+ - )",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"(\*\*|__|\[[^\]]*\]|^#|<[a-z/][^>]*>|https?://)", re.IGNORECASE | re.M)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
"""An HTML line break (real Amazon reviews carry them): read as a space, not as markup."""
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class FilterConfig:
    """Thresholds of the filter, fixed before any measurement (never tuned on test data).

    Attributes:
        min_words, max_words: the length a usable text has, in words.
        max_jaccard: word 3-gram Jaccard similarity above which a text near-duplicates an
            earlier kept one.
        copy_ngram: length of a word n-gram shared with a shown example that makes a copy
            (0: no copy check).
        min_confidence: the reference classifier's least probability for the class asked
            for (it must also be the most probable class).
    """

    min_words: int = 6
    max_words: int = 150
    max_jaccard: float = 0.5
    copy_ngram: int = 8
    min_confidence: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.min_words, int) or self.min_words < 1:
            raise ValueError(f"min_words: must be a positive integer, got {self.min_words!r}")
        if not isinstance(self.max_words, int) or self.max_words < self.min_words:
            raise ValueError(f"max_words: must be an integer >= min_words, got {self.max_words!r}")
        if not 0 < float(self.max_jaccard) <= 1:
            raise ValueError(f"max_jaccard: must be in (0, 1], got {self.max_jaccard!r}")
        if not isinstance(self.copy_ngram, int) or self.copy_ngram < 0:
            raise ValueError(f"copy_ngram: must be a non-negative integer, got {self.copy_ngram!r}")
        if not 0 <= float(self.min_confidence) <= 1:
            raise ValueError(f"min_confidence: must be in [0, 1], got {self.min_confidence!r}")


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters, digits, apostrophes)."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """The set of word ``n``-grams of ``tokens`` (empty when shorter than ``n``)."""
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    """Jaccard similarity of two sets (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def parse(completion: str, *, quoted: bool = True) -> str:
    """The text itself in one raw answer, ``""`` when there is none.

    ``quoted``: the answer was prefilled with an opening quote, so the text ends at the
    first closing quote. Preamble lines ("Here is a new review:", "Customer Feedback:") are
    skipped, a "Review:" label is stripped, whitespace is collapsed, and an unfinished last
    sentence (sampling stopped at the token limit) is cut when a finished one precedes it.
    """
    text = completion.replace("\r", "")
    if quoted and '"' in text:
        text = text.split('"', 1)[0]
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    while lines and _PREAMBLE.match(lines[0]) and (len(lines) > 1 or lines[0].endswith(":")):
        lines = lines[1:]
    if not lines:
        return ""
    body = lines[0] if quoted else " ".join(lines)
    body = _LABEL_PREFIX.sub("", body).strip().strip("\"'“”").strip()
    body = " ".join(body.split())
    if body and body[-1] not in ".!?":
        ends = [m.end() for m in re.finditer(r"[.!?](\s|$)", body)]
        if ends:
            body = body[: ends[-1]].strip()
    return body


def structural_problem(text: str, config: FilterConfig | None = None) -> str | None:
    """Why ``text`` is not a usable text on its own, or ``None``.

    One of ``"empty"``, ``"too short"``, ``"too long"``, ``"meta"`` (talks about the task
    or to the user), ``"markup"``, ``"not text"`` (under 70% letters and spaces),
    ``"repetitive"`` (under half of its words distinct, with at least 12 words). HTML line
    breaks count as spaces.
    """
    config = config or FilterConfig()
    text = _BREAK.sub(" ", text)
    tokens = words(text)
    if not text.strip():
        return "empty"
    if len(tokens) < config.min_words:
        return "too short"
    if len(tokens) > config.max_words:
        return "too long"
    if _META.search(text):
        return "meta"
    if _MARKUP.search(text):
        return "markup"
    letters = sum(c.isalpha() or c.isspace() for c in text)
    if letters < 0.7 * len(text):
        return "not text"
    if len(tokens) >= 12 and len(set(tokens)) < 0.5 * len(tokens):
        return "repetitive"
    return None


def copies(text: str, shown: Sequence[str], n: int) -> bool:
    """Whether ``text`` shares a word ``n``-gram with one of the ``shown`` texts."""
    grams = ngrams(words(text), n)
    return bool(grams) and any(grams & ngrams(words(s), n) for s in shown)


@dataclass(frozen=True)
class FilterResult:
    """Every raw answer's parse and fate, and the kept texts with their asked labels.

    Attributes:
        parsed: :func:`parse` of each raw answer.
        asked: the class each answer was asked for.
        reason: each answer's fate, one of :data:`REASONS`.
        detail: the structural problem where ``reason == "structure"``, else ``""``.
    """

    parsed: tuple[str, ...]
    asked: np.ndarray
    reason: tuple[str, ...]
    detail: tuple[str, ...]

    @property
    def kept_mask(self) -> np.ndarray:
        return np.array([r == "kept" for r in self.reason], dtype=bool)

    @property
    def texts(self) -> list[str]:
        """The kept texts, in generation order."""
        return [t for t, r in zip(self.parsed, self.reason, strict=True) if r == "kept"]

    @property
    def labels(self) -> np.ndarray:
        """The asked labels of the kept texts."""
        return self.asked[self.kept_mask]

    @property
    def share_kept(self) -> float:
        return float(self.kept_mask.mean()) if len(self.reason) else float("nan")

    def counts(self) -> dict[str, int]:
        """How many raw answers met each fate."""
        return {r: sum(1 for x in self.reason if x == r) for r in REASONS}


def filter_texts(
    completions: Sequence[str],
    asked: Sequence[int] | np.ndarray,
    *,
    predict: Callable[[list[str]], np.ndarray] | None,
    in_domain: Callable[[list[str]], np.ndarray] | None = None,
    shown: Sequence[str] = (),
    config: FilterConfig | None = None,
    quoted: bool = True,
) -> FilterResult:
    """Parse ``completions`` and keep the usable ones (see the module docstring).

    Args:
        completions: raw answers of the generator.
        asked: the class index each was asked for.
        predict: the reference classifier: texts -> class probabilities ``(n, k)``
            (``None``: no label check).
        in_domain: texts -> a boolean mask of those like the task's real texts (``None``:
            no domain check).
        shown: the examples shown in the prompts (the copy check's reference).
        quoted: the answers were prefilled with an opening quote (see :func:`parse`).

    Raises:
        ValueError: ``asked`` and ``completions`` differ in length, or ``predict`` or
            ``in_domain`` returns the wrong number of rows.
    """
    config = config or FilterConfig()
    asked_arr = np.asarray(asked, dtype=np.int64)
    if asked_arr.shape != (len(completions),):
        raise ValueError(
            f"asked: {asked_arr.size} labels for {len(completions)} completions; give one each"
        )
    parsed = [parse(c, quoted=quoted) for c in completions]
    reason = ["kept"] * len(parsed)
    detail = [""] * len(parsed)
    shown_grams = [ngrams(words(s), config.copy_ngram) for s in shown] if config.copy_ngram else []
    kept_keys: set[tuple[str, ...]] = set()
    kept_grams: list[set[tuple[str, ...]]] = []
    for i, text in enumerate(parsed):
        problem = structural_problem(text, config)
        if problem is not None:
            reason[i], detail[i] = "structure", problem
            continue
        tokens = words(text)
        grams = ngrams(tokens, 3)
        if tuple(tokens) in kept_keys or any(
            jaccard(grams, g) >= config.max_jaccard for g in kept_grams
        ):
            reason[i] = "duplicate"
            continue
        if config.copy_ngram:
            mine = ngrams(tokens, config.copy_ngram)
            if mine and any(mine & g for g in shown_grams):
                reason[i] = "copy"
                continue
        kept_keys.add(tuple(tokens))
        kept_grams.append(grams)
    if in_domain is not None:
        candidates = [i for i, r in enumerate(reason) if r == "kept"]
        if candidates:
            inside = np.asarray(in_domain([parsed[i] for i in candidates]), dtype=bool)
            if inside.shape != (len(candidates),):
                raise ValueError(
                    f"in_domain: returned {inside.size} values for {len(candidates)} texts"
                )
            for i, ok in zip(candidates, inside.tolist(), strict=True):
                if not ok:
                    reason[i] = "domain"
    if predict is not None:
        candidates = [i for i, r in enumerate(reason) if r == "kept"]
        if candidates:
            proba = np.asarray(predict([parsed[i] for i in candidates]), dtype=np.float64)
            if proba.ndim != 2 or proba.shape[0] != len(candidates):
                raise ValueError(
                    f"predict: returned shape {proba.shape} for {len(candidates)} texts; "
                    "give one row of class probabilities each"
                )
            for row, i in enumerate(candidates):
                wanted = int(asked_arr[i])
                p = proba[row]
                if p.argmax() != wanted or p[wanted] < config.min_confidence:
                    reason[i] = "label"
    return FilterResult(tuple(parsed), asked_arr, tuple(reason), tuple(detail))

"""fl_core.synthetic_filter: parsing a generator's answers and keeping the usable ones.

Every property is checked by :func:`_check_filter`, which also runs against deliberately
broken filters (one that keeps everything, one without the label check, one without the
near-duplicate check, one without the copy check, one below the confidence bar) and must
reject each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_core.synthetic_filter import (
    REASONS,
    FilterConfig,
    FilterResult,
    filter_texts,
    jaccard,
    ngrams,
    parse,
    structural_problem,
    words,
)

SHOWN = [
    "These crackers are crunchy and salty and my kids ask for them every single day.",
    "The coffee arrived stale and tasted like cardboard, I will not order it again.",
]
GOOD = [
    "I loved the rich dark chocolate flavour and the bag stayed fresh for weeks.",
    "The tea was weak and bitter, and half of the bags were torn when they arrived.",
    "Great value for the price, the almonds are crisp and perfectly roasted every time.",
]


def _sentiment(texts: list[str]) -> np.ndarray:
    """A stand-in reference classifier's probabilities: class 0 for texts with a negative
    word (0.9), else class 1 (0.8)."""
    bad = {"weak", "bitter", "stale", "torn", "not", "cardboard"}
    return np.array([[0.9, 0.1] if bad & set(words(t)) else [0.2, 0.8] for t in texts])


def _food(texts: list[str]) -> np.ndarray:
    """A stand-in in-domain test: the text names a food."""
    food = {"tea", "coffee", "chocolate", "almonds", "crackers", "chips", "biscuits"}
    return np.array([bool(food & set(words(t))) for t in texts])


def _check_filter(
    result: FilterResult,
    shown: Sequence[str],
    predict: Callable[[list[str]], np.ndarray],
    config: FilterConfig,
) -> None:
    """What any correct filter's output satisfies."""
    kept = result.texts
    assert all(structural_problem(t, config) is None for t in kept), "a kept text is malformed"
    grams = [ngrams(words(t), 3) for t in kept]
    for i in range(len(kept)):
        for j in range(i):
            assert jaccard(grams[i], grams[j]) < config.max_jaccard, "near duplicates kept"
    shown_grams = [ngrams(words(s), config.copy_ngram) for s in shown]
    for t in kept:
        mine = ngrams(words(t), config.copy_ngram)
        assert not any(mine & g for g in shown_grams), "a copy of a shown example kept"
    if kept:
        proba = predict(kept)
        right = proba.argmax(1) == result.labels
        sure = proba[np.arange(len(kept)), result.labels] >= config.min_confidence
        assert np.all(right & sure), "a text of the wrong class kept"
    assert set(result.reason) <= set(REASONS)
    assert sum(result.counts().values()) == len(result.parsed)


def _batch() -> tuple[list[str], list[int]]:
    raw = [
        GOOD[0] + '" she said.',  # quoted answer: ends at the closing quote
        "Here is a new positive review of a food product:\n\n" + GOOD[2],
        "Customer Feedback:",  # a fragment
        GOOD[0],  # exact duplicate of the first
        GOOD[0].replace("weeks", "months"),  # near duplicate
        SHOWN[0],  # a copy of a shown example
        GOOD[1],  # asked positive, reads negative
        "**Review:** [Product name] is great",  # markup
        "Sure! Here's a review you can use: nice.",
        "My new car drives smoothly and the seats are very comfortable indeed.",  # off domain
    ]
    asked = [1] * len(raw)
    return raw, asked


def test_parse_drops_preambles_labels_and_unfinished_sentences() -> None:
    assert parse("Here is a new positive review of a food product:\n\nTasty chips.") == (
        "Tasty chips."
    )
    assert parse("Customer Feedback:") == ""
    assert parse('Review: Tasty chips, great value." - Anna') == "Tasty chips, great value."
    assert parse("Tasty chips. Would buy again but the", quoted=False) == "Tasty chips."
    assert parse("Tasty chips\nwith salt", quoted=False) == "Tasty chips with salt"
    # no closing quote: the whole first line is the text
    assert (
        parse("Crunchy and fresh, my favourite snack.") == "Crunchy and fresh, my favourite snack."
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("Tasty.", "too short"),
        ("Here is a review of the chips that I really enjoyed a lot.", "meta"),
        ("I'm glad you enjoyed the product, thanks for your kind words!", "meta"),
        ("Hi there! I just love how sweet these little cookies are.", "meta"),
        ("Me: I absolutely love this boiled prawn sauce so much.", "meta"),
        ("**Great** chips that I would buy again and again for sure.", "markup"),
        ("1234 5678 9012 3456 7890 1234 5678 9012 3456 7890 ab cd ef gh", "not text"),
        ("so good so good so good so good so good so good so good", "repetitive"),
        (GOOD[0], None),
        ("Lovely tea.<br /><br />I would buy it again for my mother.", None),
    ],
)
def test_structural_problems(text: str, problem: str | None) -> None:
    assert structural_problem(text) == problem


def test_filter_keeps_only_usable_texts_and_reports_every_fate() -> None:
    raw, asked = _batch()
    config = FilterConfig()
    result = filter_texts(
        raw, asked, predict=_sentiment, in_domain=_food, shown=SHOWN, config=config
    )
    _check_filter(result, SHOWN, _sentiment, config)
    assert result.texts == [GOOD[0], GOOD[2]]
    assert result.reason == (
        "kept",
        "kept",
        "structure",
        "duplicate",
        "duplicate",
        "copy",
        "label",
        "structure",
        "structure",
        "domain",
    )
    assert result.share_kept == pytest.approx(2 / 10)
    assert result.detail[2] == "empty"  # "Customer Feedback:" is all preamble


def test_broken_filters_fail_the_check() -> None:
    raw, asked = _batch()
    config = FilterConfig()
    parsed = tuple(parse(r) for r in raw)
    keep_all = FilterResult(parsed, np.array(asked), ("kept",) * len(raw), ("",) * len(raw))
    with pytest.raises(AssertionError):
        _check_filter(keep_all, SHOWN, _sentiment, config)
    no_label = filter_texts(raw, asked, predict=None, shown=SHOWN, config=config)
    with pytest.raises(AssertionError, match="wrong class"):
        _check_filter(no_label, SHOWN, _sentiment, config)
    no_dedup = filter_texts(
        raw, asked, predict=_sentiment, shown=SHOWN, config=FilterConfig(max_jaccard=1.0)
    )
    with pytest.raises(AssertionError, match="duplicates"):
        _check_filter(no_dedup, SHOWN, _sentiment, config)
    no_copy = filter_texts(
        raw, asked, predict=_sentiment, shown=SHOWN, config=FilterConfig(copy_ngram=0)
    )
    with pytest.raises(AssertionError, match="copy"):
        _check_filter(no_copy, SHOWN, _sentiment, config)
    # a confidence bar the kept texts do not reach: the check sees the missing bar
    unsure = filter_texts(raw, asked, predict=_sentiment, shown=SHOWN, config=config)
    with pytest.raises(AssertionError, match="wrong class"):
        _check_filter(unsure, SHOWN, _sentiment, FilterConfig(min_confidence=0.85))
    strict = filter_texts(
        raw, asked, predict=_sentiment, shown=SHOWN, config=FilterConfig(min_confidence=0.85)
    )
    assert strict.texts == []


_WORDS = st.sampled_from(
    "the tea coffee chips were fresh stale great bitter sweet and I love it not good".split()
)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.lists(_WORDS, min_size=0, max_size=16).map(" ".join), max_size=12),
    seed=st.integers(0, 2**16),
)
def test_filter_properties_hold_for_any_batch(texts: list[str], seed: int) -> None:
    asked = np.random.default_rng(seed).integers(0, 2, size=len(texts))
    config = FilterConfig(copy_ngram=4)
    shown = ["the tea were fresh and I love it", "coffee stale not good"]
    result = filter_texts(texts, asked, predict=_sentiment, shown=shown, config=config)
    _check_filter(result, shown, _sentiment, config)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="^asked:"):
        filter_texts(["a b c"], [0, 1], predict=None)
    with pytest.raises(ValueError, match="^predict:"):
        filter_texts(GOOD, [1, 1, 1], predict=lambda t: np.zeros(1))
    with pytest.raises(ValueError, match="^in_domain:"):
        filter_texts(GOOD, [1, 1, 1], predict=None, in_domain=lambda t: np.ones(1))
    with pytest.raises(ValueError, match="^min_confidence:"):
        FilterConfig(min_confidence=1.5)
    with pytest.raises(ValueError, match="^min_words:"):
        FilterConfig(min_words=0)
    with pytest.raises(ValueError, match="^max_jaccard:"):
        FilterConfig(max_jaccard=0.0)
    with pytest.raises(ValueError, match="^copy_ngram:"):
        FilterConfig(copy_ngram=-1)

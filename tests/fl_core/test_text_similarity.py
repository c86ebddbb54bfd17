"""fl_core.text_similarity, fl_core.linear_probe and fl_core.text_features on oracles.

Mutations each test catches: MMD^2 with the kernel's diagonal kept (biased: positive for one
distribution, test_mmd2_is_unbiased); a two-sample test scored in-sample instead of
out-of-fold (above 0.5 on one distribution, test_two_sample_auc_is_half_on_one_distribution);
ties counted as wins (test_rank_auc_counts_ties_half); a membership score that ignores the
released set (test_membership_auc_sees_copies).
"""

from __future__ import annotations

import numpy as np
import pytest

from fl_core.linear_probe import fit_probe
from fl_core.text_features import embed_texts, hashed_ngrams
from fl_core.text_similarity import (
    mauve,
    median_bandwidth,
    membership_auc,
    mmd2,
    nearest_similarity,
    rank_auc,
    two_sample_auc,
)


def _biased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The V-statistic (diagonal kept): what a broken estimator would return."""
    sigma = median_bandwidth(x, y)

    def k(a: np.ndarray, b: np.ndarray) -> float:
        d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return float(np.exp(-d / (2 * sigma**2)).mean())

    return k(x, x) + k(y, y) - 2 * k(x, y)


def test_mmd2_is_unbiased() -> None:
    rng = np.random.default_rng(0)
    draws = [mmd2(rng.normal(size=(20, 4)), rng.normal(size=(20, 4))) for _ in range(200)]
    mean, se = np.mean(draws), np.std(draws, ddof=1) / np.sqrt(len(draws))
    assert abs(mean) < 3 * se + 1e-3
    biased = [_biased_mmd2(rng.normal(size=(20, 4)), rng.normal(size=(20, 4))) for _ in range(50)]
    assert np.mean(biased) > 3 * se + 1e-3  # the mutation is caught by the bound above


def test_mmd2_grows_with_the_shift() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    near = mmd2(x, rng.normal(size=(60, 4)) + 0.3)
    far = mmd2(x, rng.normal(size=(60, 4)) + 3.0)
    assert 0 < near < far
    assert mmd2(x, x.copy(), bandwidth=1.0) == pytest.approx(
        2 * (np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / 2).sum() - 60) / (60 * 59)
        - 2 * np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / 2).mean()
    )


def test_two_sample_auc_is_half_on_one_distribution() -> None:
    rng = np.random.default_rng(2)
    aucs = [
        two_sample_auc(rng.normal(size=(40, 8)), rng.normal(size=(40, 8)), rng) for _ in range(20)
    ]
    assert abs(np.mean(aucs) - 0.5) < 0.06
    x = rng.normal(size=(40, 8))
    y = rng.normal(size=(40, 8))
    y[:, 0] += 4.0
    assert two_sample_auc(x, y, rng) > 0.97
    # the same rng state gives the same folds and the same AUC
    a = two_sample_auc(x, y, np.random.default_rng(5))
    assert a == two_sample_auc(x, y, np.random.default_rng(5))


def test_rank_auc_counts_ties_half() -> None:
    assert rank_auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    assert rank_auc(np.array([2.0, 3.0]), np.array([1.0, 0.0])) == 1.0
    assert rank_auc(np.array([2.0, 0.0]), np.array([1.0])) == 0.5
    with pytest.raises(ValueError, match="^scores:"):
        rank_auc(np.array([]), np.array([1.0]))


def test_membership_auc_sees_copies() -> None:
    rng = np.random.default_rng(3)
    members, nonmembers = rng.normal(size=(30, 16)), rng.normal(size=(30, 16))
    copies = members[:20] + 0.01 * rng.normal(size=(20, 16))
    assert membership_auc(members, nonmembers, copies) > 0.8
    unrelated = rng.normal(size=(20, 16))
    aucs = [
        membership_auc(rng.normal(size=(30, 16)), rng.normal(size=(30, 16)), unrelated)
        for _ in range(30)
    ]
    assert abs(np.mean(aucs) - 0.5) < 0.06
    assert nearest_similarity(members[:3], members).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_mauve_separates_distributions() -> None:
    pytest.importorskip("mauve")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 8))
    same = mauve(x, rng.normal(size=(100, 8)), seed=0)
    far = mauve(x, rng.normal(size=(100, 8)) + 5.0, seed=0)
    assert far < 0.3 < 0.6 < same  # small samples: MAUVE of one distribution stays below 1


def test_bad_rows_name_the_field() -> None:
    with pytest.raises(ValueError, match="^x:"):
        mmd2(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="^y:"):
        mmd2(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="^folds:"):
        two_sample_auc(np.zeros((5, 3)), np.ones((5, 3)), np.random.default_rng(0), folds=1)
    with pytest.raises(ValueError, match="^queries:"):
        nearest_similarity(np.full((2, 2), np.nan), np.zeros((2, 2)))


def test_probe_fits_separable_data_deterministically() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(90, 5))
    y = np.argmax(x[:, :3], axis=1)
    probe = fit_probe(x, y, 3, l2=1e-4)
    assert probe.accuracy(x, y) > 0.95
    again = fit_probe(x, y, 3, l2=1e-4)
    assert np.array_equal(probe.weights, again.weights)
    proba = probe.predict_proba(x)
    assert np.allclose(proba.sum(1), 1.0)
    # a heavy penalty shrinks the weights towards 0 (the L2 term is applied)
    assert np.abs(fit_probe(x, y, 3, l2=10.0).weights).max() < np.abs(probe.weights).max()
    with pytest.raises(ValueError, match="^y:"):
        fit_probe(x, y[:-1], 3)
    with pytest.raises(ValueError, match="^y:"):
        fit_probe(x, y + 1, 3)
    with pytest.raises(ValueError, match="^n_classes:"):
        fit_probe(x, y, 1)


def test_hashed_ngrams_are_unit_rows_of_words() -> None:
    rows = hashed_ngrams(["good tea", "good tea", "bad coffee", ""], dim=64)
    assert rows.shape == (4, 64)
    assert np.allclose(np.linalg.norm(rows[:3], axis=1), 1.0)
    assert np.array_equal(rows[0], rows[1]) and not np.array_equal(rows[0], rows[2])
    assert not rows[3].any()
    with pytest.raises(ValueError, match="^dim:"):
        hashed_ngrams(["a"], dim=1)


def test_embed_texts_on_the_tiny_backbone() -> None:
    texts = ["good tea and biscuits", "the coffee was stale", "good tea and biscuits"]
    rows = embed_texts(texts, backbone="tiny")
    assert rows.shape[0] == 3 and np.allclose(np.linalg.norm(rows, axis=1), 1.0)
    assert np.allclose(rows[0], rows[2]) and not np.allclose(rows[0], rows[1])
    assert np.array_equal(embed_texts(texts, backbone="tiny"), rows)  # from the disk cache
    with pytest.raises(ValueError, match="^texts:"):
        embed_texts(["fine", " "], backbone="tiny")

"""Membership-inference metrics (privacy.membership) on synthetic scores with known answers.

Oracles: the AUC's pairwise definition (``P(member > non-member) + P(tie) / 2``), TPR at FPR
by a brute-force search over every threshold, and LiRA on a planted per-example shift that
the loss threshold cannot see past. Broken variants (ties broken by position, swapped labels,
a ``>=`` threshold, IN/OUT swapped) are shown to fail the same checks.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from privacy.membership import (
    LOSS_FLOOR,
    MembershipAudit,
    auc,
    auc_interval,
    audit,
    balanced_keep,
    lira_scores,
    loss_threshold_scores,
    scaled_confidence,
    to_frame,
    tpr_at_fpr,
)

small_ints = st.lists(st.integers(-3, 3), min_size=1, max_size=25)


def pairwise_auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    m, n = np.asarray(members, float)[:, None], np.asarray(nonmembers, float)[None, :]
    return float(((m > n) + 0.5 * (m == n)).mean())


def best_tpr(members: np.ndarray, nonmembers: np.ndarray, fpr: float) -> float:
    """The largest TPR of any threshold ``score > t`` whose FPR is at most ``fpr``."""
    m, n = np.asarray(members, float), np.asarray(nonmembers, float)
    best = 0.0
    for t in np.concatenate([m, n, [-np.inf]]):
        if np.sum(n > t) <= fpr * len(n) + 1e-9:
            best = max(best, float(np.mean(m > t)))
    return best


def ordinal_auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """Broken: ranks ties by position (as argsort does), so tied pairs are not halved."""
    pooled = np.concatenate([members, nonmembers])
    ranks = stats.rankdata(pooled, method="ordinal")
    u = ranks[: len(members)].sum() - len(members) * (len(members) + 1) / 2
    return float(u / (len(members) * len(nonmembers)))


@given(members=small_ints, nonmembers=small_ints)
@settings(max_examples=200, deadline=None)
def test_auc_is_the_pairwise_probability_with_ties_halved(
    members: list[int], nonmembers: list[int]
) -> None:
    m, n = np.array(members), np.array(nonmembers)
    assert auc(m, n) == pytest.approx(pairwise_auc(m, n), abs=1e-12)
    assert auc(n, m) == pytest.approx(1.0 - auc(m, n), abs=1e-12)  # swapping the labels


def test_broken_variants_fail_the_auc_checks() -> None:
    m, n = np.array([1.0, 1.0, 2.0]), np.array([1.0, 0.0, 1.0])
    assert auc(m, n) == pytest.approx(pairwise_auc(m, n))
    assert ordinal_auc(m, n) != pytest.approx(pairwise_auc(m, n))  # ignores ties
    separable = (np.arange(10.0) + 100, np.arange(10.0))
    assert auc(*separable) == 1.0
    assert auc(separable[1], separable[0]) == 0.0  # labels swapped: the check would catch it


def test_auc_is_half_on_identical_distributions_within_its_interval() -> None:
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        m, n = rng.normal(size=150), rng.normal(size=150)
        low, high = auc_interval(m, n, rng=rng, n_bootstrap=300)
        assert low < auc(m, n) < high
        covered += low <= 0.5 <= high
    assert covered >= 34  # a 95% interval: 38 of 40 expected


def test_auc_and_tpr_are_one_on_separable_scores() -> None:
    rng = np.random.default_rng(0)
    result = audit("oracle", rng.uniform(2, 3, 50), rng.uniform(0, 1, 60), rng=rng)
    assert result.auc == 1.0 and result.auc_ci_low == 1.0
    assert result.tpr_at_fpr == {0.01: 1.0, 0.1: 1.0}
    assert (result.n_members, result.n_nonmembers) == (50, 60)


@given(
    members=small_ints,
    nonmembers=st.lists(st.integers(-3, 3), min_size=1, max_size=120),
    fpr=st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.5, 1.0]),
)
@settings(max_examples=200, deadline=None)
def test_tpr_at_fpr_is_the_best_threshold_within_the_rate(
    members: list[int], nonmembers: list[int], fpr: float
) -> None:
    m, n = np.array(members), np.array(nonmembers)
    assert tpr_at_fpr(m, n, fpr) == pytest.approx(best_tpr(m, n, fpr))


def test_tpr_at_fpr_on_a_hand_computed_case_and_a_broken_threshold() -> None:
    nonmembers = np.arange(100.0)  # 0..99: at FPR 1% only 99 may be flagged
    members = np.array([99.5, 98.5, 98.0, 50.0])
    assert tpr_at_fpr(members, nonmembers, 0.01) == 0.5  # 99.5 and 98.5 exceed 98
    assert tpr_at_fpr(members, nonmembers, 0.1) == 0.75  # threshold 89
    # broken: flag scores >= the threshold; with ties at it the FPR exceeds the target
    tied = np.array([5.0] * 10 + [1.0] * 90)
    threshold = np.sort(tied)[::-1][int(0.01 * len(tied))]
    assert np.mean(tied >= threshold) > 0.01
    assert np.mean(tied > threshold) <= 0.01
    assert tpr_at_fpr(np.array([5.0]), tied, 0.01) == 0.0  # a tie is not flagged


def test_scaled_confidence_is_the_logit_of_the_true_label_probability() -> None:
    p = np.array([1e-6, 0.1, 0.5, 0.9, 1 - 1e-9])
    assert scaled_confidence(-np.log(p)) == pytest.approx(np.log(p / (1 - p)), rel=1e-6)
    capped = scaled_confidence(np.array([0.0, LOSS_FLOOR, 800.0]))
    assert np.isfinite(capped).all() and capped[0] == capped[1] == pytest.approx(36.84, 1e-3)
    assert capped[2] == pytest.approx(-800.0)
    assert loss_threshold_scores([0.5, 0.0]).tolist() == [-0.5, -0.0]


def _planted(seed: int, n: int = 1000, shadows: int = 16) -> dict[str, np.ndarray]:
    """Examples of very unequal difficulty; training raises an example's phi by 1."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 3.0, n)
    member = rng.random(n) < 0.5
    keep = balanced_keep(shadows, n, rng)
    return {
        "member": member,
        "keep": keep,
        "shadow": difficulty + 1.0 * keep + rng.normal(0, 0.5, (shadows, n)),
        "out_only": difficulty + rng.normal(0, 0.5, (shadows, n)),  # offline: no IN shadow
        "target": difficulty + 1.0 * member + rng.normal(0, 0.5, n),
    }


def test_lira_finds_a_per_example_shift_the_loss_threshold_misses() -> None:
    data = _planted(0)
    member, rng = data["member"], np.random.default_rng(1)
    losses = np.log1p(np.exp(-data["target"]))  # cross-entropy of a binary true label
    assert scaled_confidence(losses) == pytest.approx(data["target"], abs=1e-9)
    loss = audit("loss_threshold", *_split(loss_threshold_scores(losses), member), rng=rng)
    online, variant = lira_scores(data["target"], data["shadow"], data["keep"])
    assert variant == "online"
    lira = audit("lira", *_split(online, member), rng=rng)
    assert lira.auc_ci_low > loss.auc_ci_high and lira.auc > 0.85 and loss.auc < 0.7
    assert lira.tpr_at_fpr[0.01] > 5 * loss.tpr_at_fpr[0.01] + 0.05
    offline, variant = lira_scores(data["target"], data["out_only"], np.zeros_like(data["keep"]))
    assert variant == "offline"
    assert auc(*_split(offline, member)) > loss.auc + 0.1
    # broken: IN and OUT swapped turns the attack around
    swapped, _ = lira_scores(data["target"], data["shadow"], ~data["keep"])
    assert auc(*_split(swapped, member)) < 0.3


def _split(scores: np.ndarray, member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return scores[member], scores[~member]


def test_lira_on_shadows_that_never_change_scores_every_example_alike() -> None:
    keep = balanced_keep(4, 30, np.random.default_rng(0))
    scores, _ = lira_scores(np.zeros(30), np.zeros((4, 30)), keep)
    assert np.all(scores == scores[0])
    assert auc(scores[:15], scores[15:]) == 0.5


def test_balanced_keep_puts_each_example_in_half_the_shadows() -> None:
    keep = balanced_keep(8, 500, np.random.default_rng(3))
    assert keep.shape == (8, 500) and keep.dtype == np.bool_
    assert (keep.sum(axis=0) == 4).all()
    assert 200 < keep.sum(axis=1).min() <= keep.sum(axis=1).max() < 300
    assert not np.array_equal(keep, balanced_keep(8, 500, np.random.default_rng(4)))


def test_the_result_table_has_one_row_per_attack() -> None:
    a = MembershipAudit("loss_threshold", 0.6, {0.1: 0.2, 0.01: 0.05}, 10, 12, 0.5, 0.7)
    b = MembershipAudit("lira", 0.7, {0.1: 0.3, 0.01: 0.1}, 10, 12, variant="online")
    frame = to_frame([a, b])
    assert list(frame.columns) == [
        "attack",
        "variant",
        "auc",
        "auc_ci_low",
        "auc_ci_high",
        "tpr_at_fpr_0.01",
        "tpr_at_fpr_0.1",
        "n_members",
        "n_nonmembers",
    ]
    assert frame["attack"].tolist() == ["loss_threshold", "lira"]
    assert a.to_frame().iloc[0]["tpr_at_fpr_0.01"] == 0.05
    assert to_frame([]).empty


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: auc([], [1.0]), "members"),
        (lambda: auc([1.0], [np.nan]), "nonmembers"),
        (lambda: tpr_at_fpr([1.0], [0.0], 1.5), "fpr"),
        (lambda: auc_interval([1.0], [0.0], rng=np.random.default_rng(), n_bootstrap=2), "n_boot"),
        (lambda: audit("", [1.0], [0.0]), "attack"),
        (lambda: scaled_confidence([-1.0]), "losses"),
        (lambda: lira_scores([0.0, 1.0], np.zeros((3, 3)), np.zeros((3, 3), bool)), "shadow_phi"),
        (lambda: lira_scores([0.0], np.zeros((2, 1)), np.zeros((2, 1))), "shadow_in"),
        (lambda: lira_scores([0.0], np.zeros((1, 1)), np.ones((1, 1), bool)), "OUT shadow"),
        (
            lambda: lira_scores([0.0, 1.0], np.zeros((2, 2)), np.array([[1, 0], [0, 0]], bool)),
            "IN shadow",
        ),
        (lambda: balanced_keep(1, 5, np.random.default_rng()), "shadows"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_the_field(call: object, field: str) -> None:
    with pytest.raises(ValueError, match=field) as error:
        call()  # type: ignore[operator]
    assert "\n" not in str(error.value)

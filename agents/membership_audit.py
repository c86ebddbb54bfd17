"""An empirical membership-inference audit of a run's final global model.

What differential privacy buys, measured: after a run, an attacker holding the released
model and a pool of records tries to tell the participants' training examples (members)
from records the federation never trained on (non-members). Two attacks
(:mod:`privacy.membership`): the loss threshold (Yeom et al. 2018) and LiRA (Carlini et al.
2022) with shadow models trained by the run's own procedure
(:func:`fl_core.membership_data.train_shadows`, head mode). An AUC near 0.5 and a TPR near
the FPR mean the attacks learn nothing; DP with a small epsilon bounds both (a model that is
(epsilon, delta)-DP per example caps TPR at ``e^epsilon * FPR + delta``).

Members: the distinct real (not synthetic) examples of the participants that train and were
included in at least one round, scored against the label each trained on. Non-members: real
training-pool examples no participant was given (never trained on, and never used for
validation or the reported test accuracy), sampled to the members' count; when there are
fewer, the members are subsampled instead, so both sides are equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fl_core.membership_data import Aggregate, example_losses, train_shadows
from privacy.dp import clip_l2
from privacy.membership import (
    DEFAULT_FPRS,
    MembershipAudit,
    audit,
    lira_scores,
    loss_threshold_scores,
    scaled_confidence,
    to_frame,
)

if TYPE_CHECKING:
    from agents.model import MarketModel
    from agents.participants import ParticipantAgent

MEMBERS = ("included", "allocated")
"""Who counts as a member: participants included at least once, or every one that trains."""


@dataclass(frozen=True)
class AuditRecords:
    """The examples an audit scores (training-pool indices and labels), equal in number.

    Attributes:
        members, member_labels: trained-on examples and the labels they were trained with.
        nonmembers, nonmember_labels: never-trained examples and their own labels.
        trainers: how many participants the members come from (each shadow has as many
            clients).
        trained: the distinct real examples they trained on (``members`` is a sample of them).
        speed: the median training pace (samples per second) of those participants.
    """

    members: np.ndarray
    member_labels: np.ndarray
    nonmembers: np.ndarray
    nonmember_labels: np.ndarray
    trainers: int
    trained: int
    speed: float


def _trainers(model: MarketModel, members: str) -> list[ParticipantAgent]:
    """The participants whose shards count as members (by ``pid``)."""
    trainers = sorted((p for p in model.participants if p.trains), key=lambda p: p.pid)
    if members == "allocated":
        return list(trainers)
    table = model.participants_table()
    included = set(table.loc[table["included"].astype(bool), "participant"].astype(int))
    return [p for p in trainers if p.pid in included]


def audit_records(
    model: MarketModel,
    rng: np.random.Generator,
    *,
    members: str = "included",
    max_examples: int | None = None,
) -> AuditRecords:
    """Members and non-members of ``model``'s run, ``min(members, non-members,
    max_examples)`` of each, sampled with ``rng``.

    Raises:
        ValueError: an unknown ``members``, a bad ``max_examples``, no member (nobody that
            trains was included) or no never-trained example left in the training pool.
    """
    if members not in MEMBERS:
        raise ValueError(f"members: unknown {members!r}; use one of {MEMBERS}")
    if max_examples is not None and (
        not isinstance(max_examples, int) or isinstance(max_examples, bool) or max_examples < 1
    ):
        raise ValueError(f"max_examples: must be a positive integer or None, got {max_examples!r}")
    real = int(model.n_real_examples)
    labels_of: dict[int, int] = {}
    trainers = _trainers(model, members)
    for p in trainers:  # an example two participants hold keeps the first one's label
        for index, label in zip(p.shard.tolist(), p.labels.tolist(), strict=True):
            if index < real:
                labels_of.setdefault(int(index), int(label))
    if not labels_of:
        raise ValueError(
            f"members: no training example of a participant that trains ({members}); "
            "nobody was included, so audit with members='allocated'"
        )
    held = np.unique(np.concatenate([p.shard for p in model.participants]))
    unused = np.setdiff1d(np.arange(real), held)
    if not len(unused):
        fix = (
            "use data.partition = 'allocate' (natural hands out the whole pool)"
            if model.scenario.data.partition == "natural"
            else "lower the participants' data_size"
        )
        raise ValueError(
            f"nonmembers: every training-pool example was given to a participant; {fix}"
        )
    member_idx = np.array(sorted(labels_of), dtype=np.int64)
    n = min(len(member_idx), len(unused), max_examples or len(member_idx))
    member_idx = np.sort(rng.choice(member_idx, size=n, replace=False))
    nonmember_idx = np.sort(rng.choice(unused, size=n, replace=False))
    train_labels = np.asarray(model.task.splits.train.labels, dtype=np.int64)
    speeds = [float(p.samples_per_second) for p in trainers]
    return AuditRecords(
        members=member_idx,
        member_labels=np.array([labels_of[int(i)] for i in member_idx], dtype=np.int64),
        nonmembers=nonmember_idx,
        nonmember_labels=train_labels[nonmember_idx],
        trainers=len(trainers),
        trained=len(labels_of),
        speed=float(np.median(speeds)),
    )


def dp_fedavg(noise_multiplier: float, clip: float) -> Aggregate:
    """DP-FedAvg as a run aggregates with ``[privacy.dp]`` (:mod:`agents.access`): each delta
    held to L2 norm ``clip`` and weighted by ``weight / max weight``, the sum noised with std
    ``noise_multiplier * clip`` (the clients' shares together), scaled back to a mean."""
    if not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier: must be >= 0, got {noise_multiplier!r}")
    if not clip > 0:
        raise ValueError(f"clip: must be > 0, got {clip!r}")

    def combine(
        deltas: Sequence[np.ndarray], weights: Sequence[float], rng: np.random.Generator
    ) -> np.ndarray:
        scale = max(weights)
        total = np.sum(
            [clip_l2(d, clip) * (w / scale) for d, w in zip(deltas, weights, strict=True)], axis=0
        )
        total = total + rng.normal(0.0, noise_multiplier * clip, total.shape)
        return np.asarray(total * scale / sum(weights), dtype=np.float32)

    return combine


def run_aggregate(model: MarketModel) -> Aggregate | None:
    """How ``model``'s run combines updates, for shadows: its DP-FedAvg (``None``: FedAvg)."""
    dp = model.plan.dp
    return None if dp is None else dp_fedavg(dp.noise_multiplier, dp.clip)


def audit_run(
    model: MarketModel,
    *,
    rng: np.random.Generator,
    shadows: int = 16,
    members: str = "included",
    max_examples: int | None = None,
    fprs: Sequence[float] = DEFAULT_FPRS,
    n_bootstrap: int = 1000,
    aggregate: Aggregate | None = None,
    vector: np.ndarray | None = None,
) -> pd.DataFrame:
    """Membership-inference audit of ``model``'s global vector after its rounds.

    Args:
        model: a :class:`~agents.model.MarketModel` after ``agents.run(scenario, model=model)``
            (or before: the initial model, which trained on nothing).
        rng: every draw (the records, the shadows, the bootstrap).
        shadows: LiRA's shadow models (0: the loss-threshold attack only; head mode only
            otherwise). Each trains ``model.round`` rounds on half the records, split over as
            many clients as the members came from, at their median pace scaled so that an
            example is seen as often as in the run, combined by ``aggregate``.
        members: ``"included"`` (participants included in some round) or ``"allocated"``
            (every participant that trains, e.g. to audit the initial model).
        max_examples: at most this many members (and as many non-members).
        fprs: false-positive rates to report the TPR at.
        n_bootstrap: bootstrap resamples of the AUC's 95% interval.
        aggregate: how shadow rounds combine their clients (default: as the run did, FedAvg
            or, with ``[privacy.dp]``, :func:`dp_fedavg` at the run's noise and clip).
        vector: the model to audit (default: ``model.global_vector``).

    Returns:
        One row per attack (``loss_threshold``, then ``lira`` when ``shadows``): ``attack``,
        ``variant``, ``auc``, ``auc_ci_low``, ``auc_ci_high``, ``tpr_at_fpr_<fpr>`` per rate,
        ``n_members``, ``n_nonmembers``.

    Raises:
        ValueError: a bad argument (one line naming it), no member or non-member, or
            ``shadows`` outside head mode.
    """
    if not isinstance(shadows, int) or isinstance(shadows, bool) or shadows < 0 or shadows == 1:
        raise ValueError(f"shadows: must be 0 or an integer >= 2, got {shadows!r}")
    if shadows and model.scenario.model.mode != "head":
        raise ValueError(
            f"shadows: LiRA's shadow models need model.mode = 'head', not "
            f"{model.scenario.model.mode!r}; pass shadows=0 for the loss threshold alone"
        )
    record_rng, shadow_rng, boot_rng = rng.spawn(3)
    records = audit_records(model, record_rng, members=members, max_examples=max_examples)
    pool = np.concatenate([records.members, records.nonmembers])
    labels = np.concatenate([records.member_labels, records.nonmember_labels])
    is_member = np.arange(len(pool)) < len(records.members)
    target = model.global_vector if vector is None else np.asarray(vector, dtype=np.float32)
    losses = example_losses(model.task, [target], pool, labels=labels)[0]
    threshold = loss_threshold_scores(losses)
    results: list[MembershipAudit] = [
        audit(
            "loss_threshold",
            threshold[is_member],
            threshold[~is_member],
            rng=boot_rng,
            fprs=fprs,
            n_bootstrap=n_bootstrap,
        )
    ]
    if shadows:
        shadow_set = train_shadows(
            model.task,
            pool,
            labels,
            shadows=shadows,
            rng=shadow_rng,
            rounds=int(model.round),
            clients=records.trainers,
            # each shadow trains on len(members) examples, the federation on `trained`: the
            # pace is scaled so that an example is seen as often as in the run
            samples_per_second=records.speed * len(records.members) / records.trained,
            aggregate=aggregate or run_aggregate(model),
        )
        scores, variant = lira_scores(scaled_confidence(losses), shadow_set.phi, shadow_set.keep)
        results.append(
            audit(
                "lira",
                scores[is_member],
                scores[~is_member],
                rng=boot_rng,
                fprs=fprs,
                n_bootstrap=n_bootstrap,
                variant=variant,
            )
        )
    return to_frame(results)


__all__ = ["MEMBERS", "AuditRecords", "audit_records", "audit_run", "dp_fedavg", "run_aggregate"]

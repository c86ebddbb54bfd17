"""The membership-inference audit of a run (agents.membership_audit) on the tiny model.

One owner overfits 60 reviews (an MLP head, 100 local epochs a round, 3 rounds): both attacks
must see it (the loss threshold's 95% interval above 0.5; measured 0.59 to 0.73 over seeds
0-5). The same model before any round, audited against the examples it was given, must not:
its loss-threshold interval covers 0.5 and LiRA's shadows, which trained on nothing either,
score every example alike (AUC exactly 0.5).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agents import MarketModel, ParticipantGroup, run
from agents.membership_audit import audit_records, audit_run, dp_fedavg, run_aggregate
from agents.scenario import ModelSection, TrainSection
from agents.scenario.dp_section import DPSection
from tests.agents.conftest import tiny_scenario

COLUMNS = [
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


@pytest.fixture(scope="module")
def overfit() -> MarketModel:
    scenario = dataclasses.replace(
        tiny_scenario(ParticipantGroup("owner", count=1, data_size=60, speed=1e4), rounds=3),
        model=ModelSection(backbone="tiny", mode="head", head_hidden=64),
        train=TrainSection(lr=0.02, local_epochs=100, max_update_norm=1e6),
    )
    return MarketModel(scenario)


def test_an_untrained_model_leaks_nothing_and_an_overfit_one_does(overfit: MarketModel) -> None:
    before = audit_run(overfit, rng=np.random.default_rng(0), shadows=4, members="allocated")
    assert list(before.columns) == COLUMNS
    assert before["attack"].tolist() == ["loss_threshold", "lira"]
    loss, lira = before.iloc[0], before.iloc[1]
    assert loss["auc_ci_low"] < 0.5 < loss["auc_ci_high"]
    assert lira["variant"] == "online" and lira["auc"] == 0.5
    again = audit_run(overfit, rng=np.random.default_rng(0), shadows=4, members="allocated")
    assert again.equals(before)  # seeded
    with pytest.raises(ValueError, match="members"):  # nobody was included yet
        audit_run(overfit, rng=np.random.default_rng(0))

    run(overfit.scenario, model=overfit)
    after = audit_run(overfit, rng=np.random.default_rng(0), shadows=4)
    loss, lira = after.iloc[0], after.iloc[1]
    assert loss["auc_ci_low"] > 0.5 and loss["auc"] > before.iloc[0]["auc_ci_high"]
    assert lira["auc"] > 0.6
    assert (after["n_members"] == 60).all() and (after["n_nonmembers"] == 60).all()
    rates = after[["tpr_at_fpr_0.01", "tpr_at_fpr_0.1"]].to_numpy()
    assert ((rates >= 0) & (rates <= 1)).all() and (rates[:, 0] <= rates[:, 1]).all()
    capped = audit_run(overfit, rng=np.random.default_rng(1), shadows=0, max_examples=20)
    assert capped["attack"].tolist() == ["loss_threshold"]
    assert capped.iloc[0]["n_members"] == capped.iloc[0]["n_nonmembers"] == 20


def test_members_are_trained_examples_and_nonmembers_never_given_out(
    overfit: MarketModel,
) -> None:
    records = audit_records(overfit, np.random.default_rng(2), members="allocated")
    (owner,) = list(overfit.participants)
    assert set(records.members) == set(owner.shard.tolist())
    labels = dict(zip(owner.shard.tolist(), owner.labels.tolist(), strict=True))
    assert records.member_labels.tolist() == [labels[i] for i in records.members]
    assert not set(records.nonmembers) & set(owner.shard.tolist())
    assert len(records.nonmembers) == len(records.members)
    assert records.nonmembers.max() < overfit.n_real_examples


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"shadows": 1}, "shadows"),
        ({"members": "everyone"}, "members"),
        ({"max_examples": 0}, "max_examples"),
    ],
)
def test_bad_audit_settings_are_one_line_errors(
    overfit: MarketModel, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=field) as error:
        audit_run(overfit, rng=np.random.default_rng(), **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(error.value)


def test_dp_fedavg_clips_weights_and_noises_like_the_run() -> None:
    deltas = [np.full(4, 10.0), np.zeros(4), np.full(4, -0.5)]
    weights = [2.0, 1.0, 1.0]
    exact = dp_fedavg(0.0, 100.0)(deltas, weights, np.random.default_rng(0))
    assert exact == pytest.approx(np.average(deltas, axis=0, weights=weights))
    clipped = dp_fedavg(0.0, 1.0)(deltas, weights, np.random.default_rng(0))
    assert clipped == pytest.approx((2 * np.full(4, 0.5) + np.full(4, -0.5)) / 4)
    noisy = np.stack(
        [dp_fedavg(2.0, 1.0)(deltas, weights, np.random.default_rng(s)) for s in range(400)]
    )
    # the noise on the sum has std z * clip; the mean divides it by sum(w) / max(w) = 2
    assert noisy.std(axis=0) == pytest.approx(np.full(4, 1.0), rel=0.15)
    for field, args in (("noise_multiplier", (-1.0, 1.0)), ("clip", (1.0, 0.0))):
        with pytest.raises(ValueError, match=field):
            dp_fedavg(*args)


def test_a_dp_run_is_audited_with_shadows_trained_under_its_noise() -> None:
    base = tiny_scenario(ParticipantGroup("honest", count=3, data_size=30), rounds=2)
    dp = DPSection(enabled=True, epsilon=4.0, clip=1.0)
    scenario = dataclasses.replace(base, privacy=dataclasses.replace(base.privacy, dp=dp))
    model = MarketModel(scenario)
    run(scenario, model=model)
    assert run_aggregate(model) is not None
    frame = audit_run(model, rng=np.random.default_rng(0), shadows=4, n_bootstrap=100)
    assert frame["attack"].tolist() == ["loss_threshold", "lira"]
    assert frame["auc"].between(0, 1).all() and (frame["n_members"] == 90).all()

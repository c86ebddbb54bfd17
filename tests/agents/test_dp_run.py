"""Differential privacy in a run: the epsilon in the tables is the accountant library's for
the releases that happened, the noise comes from the run's seed, and the scenario refuses
what DP cannot cover."""

from __future__ import annotations

import dataclasses

import dp_accounting
import pandas as pd
import pytest

from agents import ParticipantGroup, Scenario, ScenarioError
from agents.model import MarketModel
from agents.run import run
from agents.scenario.dp_section import DPSection
from tests.agents.conftest import tiny_scenario

DELTA = 1e-5


def _dp_scenario(
    *, secure: bool = False, access: str = "plaintext", rounds: int = 3, **dp: object
) -> Scenario:
    base = tiny_scenario(ParticipantGroup("honest", count=4, data_size=60), rounds=rounds)
    section = DPSection(enabled=True, **{"epsilon": 8.0, "delta": DELTA, **dp})  # type: ignore[arg-type]
    privacy = dataclasses.replace(
        base.privacy, secure_aggregation=secure, access=access, dp=section
    )
    return dataclasses.replace(base, privacy=privacy)


def _library_epsilon(multipliers: list[float]) -> float:
    accountant = dp_accounting.pld.PLDAccountant()
    events = [dp_accounting.GaussianDpEvent(z) for z in multipliers]
    accountant.compose(dp_accounting.ComposedDpEvent(events))
    return float(accountant.get_epsilon(DELTA))


@pytest.mark.parametrize(
    ("secure", "access"),
    [(False, "plaintext"), (True, "trusted_evaluator"), (True, "secure_coalitions")],
)
def test_each_epsilon_in_the_tables_is_the_library_accountants(secure: bool, access: str) -> None:
    scenario = _dp_scenario(secure=secure, access=access)
    model = MarketModel(scenario)
    threshold = []
    for _ in range(scenario.rounds):
        model.step()
        included = [p for p in model.participants if p.included]
        n = len(included)
        threshold.append(model.plan.access.noise_divisor(n))
    rounds, parts = model.tables()
    z = model.plan.dp.noise_multiplier
    # exact Shapley scoring evaluates every coalition: each included update is determined,
    # so each round is a Gaussian mechanism of multiplier z / sqrt(t) for its members
    for pid, rows in parts.groupby("participant"):
        joined = rows.sort_values("round")
        multipliers = [z / threshold[r - 1] ** 0.5 for r in joined.loc[joined["included"], "round"]]
        assert multipliers, "every honest participant is included at least once"
        assert joined["dp_epsilon"].iloc[-1] == pytest.approx(
            _library_epsilon(multipliers), rel=0.01
        ), pid
    # a participant included in every round spends exactly the target
    always = parts.groupby("participant")["included"].all()
    assert always.any()
    final = parts[parts["round"] == scenario.rounds].set_index("participant")["dp_epsilon"]
    assert final[always].to_numpy() == pytest.approx(8.0, rel=0.01)
    assert rounds["dp_epsilon"].iloc[-1] == pytest.approx(final.max())
    assert (rounds["dp_noise_std"].iloc[1:] > 0).all()


def test_budget_for_the_model_alone_reports_what_scoring_spent_on_top() -> None:
    scenario = _dp_scenario(budget_covers="model")
    result = run(scenario)
    # the target holds for the model's sums, but exact scoring releases every coalition sum
    assert result.summary["dp_epsilon"] > 8.0 * 1.2
    assert result.summary["dp_delta"] == DELTA


def test_same_seed_same_tables_whatever_the_keys() -> None:
    scenario = _dp_scenario(secure=True, access="secure_coalitions")
    first, second = run(scenario), run(scenario)  # keys and masks: fresh from the OS each time
    for a, b in ((first.rounds, second.rounds), (first.participants, second.participants)):
        keep = [c for c in a if not c.endswith("seconds")]
        pd.testing.assert_frame_equal(a[keep], b[keep])
    other = run(scenario.replace("seed", 1))
    assert not other.rounds["test_loss"].equals(first.rounds["test_loss"])


def test_noise_changes_the_model_and_more_noise_changes_it_more() -> None:
    plain = run(_dp_scenario().replace("privacy.dp.enabled", False))
    mild = run(_dp_scenario(noise_multiplier=0.01))
    strong = run(_dp_scenario(noise_multiplier=50.0))
    base = plain.rounds["test_loss"].iloc[-1]
    assert plain.summary["dp_epsilon"] == 0.0
    assert abs(mild.rounds["test_loss"].iloc[-1] - base) < abs(
        strong.rounds["test_loss"].iloc[-1] - base
    )
    assert strong.summary["dp_epsilon"] < mild.summary["dp_epsilon"]


def test_what_dp_cannot_cover_is_refused_with_the_field_named() -> None:
    scenario = _dp_scenario()
    with pytest.raises(ScenarioError, match="^train.aggregator: "):
        scenario.replace("train.aggregator", "median")
    with pytest.raises(ScenarioError, match="^market.scoring: "):
        scenario.replace("market.scoring", "cosine")
    with pytest.raises(ScenarioError, match=r"^privacy\.dp\.epsilon: "):
        scenario.replace("privacy.dp.epsilon", 0)
    with pytest.raises(ScenarioError, match=r"^privacy\.dp\.budget_covers: "):
        scenario.replace("privacy.dp.budget_covers", "nothing")


def test_a_resumed_dp_run_gives_the_uninterrupted_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agents import checkpoint

    scenario = _dp_scenario(secure=True, access="trusted_evaluator", rounds=4)
    whole = run(scenario)
    model = MarketModel(scenario)
    model.step()
    model.step()
    checkpoint.save(model, tmp_path)
    resumed = run(scenario, checkpoint_dir=tmp_path, resume=True)
    for a, b in ((whole.rounds, resumed.rounds), (whole.participants, resumed.participants)):
        keep = [c for c in a if not c.endswith("seconds")]
        pd.testing.assert_frame_equal(a[keep], b[keep])
    assert resumed.summary["dp_epsilon"] == pytest.approx(whole.summary["dp_epsilon"])


def test_the_cli_says_what_dp_guaranteed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.conftest import fedmarket

    path = tmp_path / "dp.toml"
    path.write_text(_dp_scenario(secure=True, access="trusted_evaluator").to_toml())
    done = fedmarket("run", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("differential privacy:"))
    assert "epsilon spent 8.00 at most" in line and "before masking" in line
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert "dp_epsilon" in summary.columns or "dp_epsilon" in set(summary.iloc[:, 0])


def test_the_noise_shares_enter_the_valuations_standard_errors() -> None:
    # exact Banzhaf (2^4 coalitions within the budget) has no sampling error, so every
    # standard error a DP run reports is what the noise put into the values
    scenario = _dp_scenario(rounds=1).replace("market.mechanism", "pooled_value")
    noised = MarketModel(scenario)
    noised.step()
    clear = MarketModel(scenario.replace("privacy.dp.enabled", False))
    clear.step()
    assert set(noised.platform.scores.stderr) == set(clear.platform.scores.stderr)
    assert all(v == 0.0 for v in clear.platform.scores.stderr.values())
    assert all(v > 0.0 for v in noised.platform.scores.stderr.values())
    assert noised.platform.scores.gain is not None and noised.platform.scores.gain[1] > 0.0
    # the redraws are post-processing: no sum released twice, the accounting unchanged
    assert noised.tables()[0]["dp_epsilon"].iloc[-1] <= 8.0 * 1.01


def test_noise_stderr_recovers_a_linear_valuations_noise() -> None:
    import numpy as np

    from agents.dp import DifferentialPrivacy
    from agents.dp_scoring import noise_stderr

    dp = DifferentialPrivacy(noise_multiplier=1.0, clip=1.0, delta=DELTA)
    noise = dp.round_noise([0, 1], [1.0, 1.0], 1, 400, np.random.default_rng(0))
    deltas = [noise.shares[0].astype(np.float32), noise.shares[1].astype(np.float32)]

    def valuate(ds, aggregate, rng):  # type: ignore[no-untyped-def]
        values = np.array([float(np.sum(d)) for d in ds])  # sd of each: std * sqrt(400)
        return values, float(values.sum())

    values, gain = valuate(deltas, None, None)
    se, gain_se = noise_stderr(
        valuate,
        deltas,
        None,
        noise=noise,
        pids=[0, 1],
        weights=[1.0, 1.0],
        scoring_rng=np.random.default_rng(1),
        values=values,
        gain=gain,
        rng=np.random.default_rng(2),
    )
    expected = noise.std * 20.0
    assert np.all((se > 0.2 * expected) & (se < 3 * expected))
    assert 0.2 * expected * 2**0.5 < gain_se < 3 * expected * 2**0.5


def test_membership_audit_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.agents.conftest import fedmarket

    path = tmp_path / "dp.toml"
    path.write_text(_dp_scenario(rounds=2).to_toml())
    out = tmp_path / "audit"
    done = fedmarket("membership-audit", str(path), "--out", str(out), "--shadows", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "membership_audit.csv")
    assert set(table["attack"]) == {"loss_threshold", "lira"}
    assert table["auc"].between(0, 1).all()
    assert "epsilon 8.00 at delta 1e-05" in done.stdout
    lora = tmp_path / "lora.toml"
    lora.write_text(_dp_scenario(rounds=2).replace("model.mode", "lora").to_toml())
    refused = fedmarket("membership-audit", str(lora), "--out", str(out))
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("error: shadows: ")


def test_scorings_own_noise_keeps_the_model_accurate_within_the_same_budget() -> None:
    shared = _dp_scenario(rounds=3)
    split = shared.replace("privacy.dp.scoring_share", 0.2)
    model = MarketModel(split)
    dp = model.plan.dp
    assert dp is not None and dp.scoring_multiplier is not None
    # the model's noise is far below the shared plan's, scoring's far above
    shared_z = MarketModel(shared).plan.dp.noise_multiplier  # type: ignore[union-attr]
    assert dp.noise_multiplier < shared_z / 1.5 < shared_z * 1.5 < dp.scoring_multiplier
    for _ in range(split.rounds):
        model.step()
    rounds, parts = model.tables()
    # each member's spend is the two families composed: the model's sum alone (h = 1/n)
    # and scoring's coalition sums (exact Shapley determines each update, h = 1)
    for _pid, rows in parts.groupby("participant"):
        multipliers = []
        for r in rows.loc[rows["included"], "round"]:
            n = int(rounds.loc[rounds["round"] == r, "included"].iloc[0])
            multipliers += [dp.noise_multiplier, dp.scoring_multiplier / n**0.5]
        assert rows["dp_epsilon"].iloc[-1] == pytest.approx(_library_epsilon(multipliers), rel=0.01)
    always = parts.groupby("participant")["included"].all()
    final = parts[parts["round"] == split.rounds].set_index("participant")["dp_epsilon"]
    assert final[always].to_numpy() == pytest.approx(8.0, rel=0.01)
    with pytest.raises(ScenarioError, match=r"^privacy\.dp\.scoring_share: "):
        split.replace("privacy.dp.noise_multiplier", 2.0)


def test_a_smaller_clip_factor_is_accounted_with_the_grid_rounding() -> None:
    import numpy as np

    from agents.dp import DifferentialPrivacy

    dp = DifferentialPrivacy(noise_multiplier=2.0, clip=1.0, delta=DELTA)
    d, step = 10_000, 1e-3  # rounding can move an update by sqrt(d) * step / 2 = 0.05
    noise = dp.round_noise([0, 1], [0.25, 1.0], 2, d, np.random.default_rng(0), step=step)
    noise.release([0])
    noise.release([1])
    e = 0.05
    spent = noise.mu_squared([0, 1])
    assert noise.std == pytest.approx(2.0 * (1.0 + e) / 2**0.5)
    assert spent[0] == pytest.approx(2 * ((0.25 + e) / (2.0 * (1.0 + e))) ** 2)
    assert spent[1] == pytest.approx(2 * (1 / 2.0) ** 2)
    # broken variant: c^2 alone would understate what the rounded small update reveals
    assert spent[0] > 2 * (0.25 / 2.0) ** 2 * 1.2


def test_settings_dp_cannot_honour_are_refused_with_the_field_named() -> None:
    secure = _dp_scenario(secure=True, access="trusted_evaluator")
    with pytest.raises(ScenarioError, match=r"^privacy\.clip: .*grid"):
        MarketModel(secure.replace("privacy.clip", 1e6).replace("privacy.dp.clip", 1e-3))
    with pytest.raises(ScenarioError, match=r"^privacy\.dp\.delta: "):
        secure.replace("participants.honest.count", 20).replace("privacy.dp.delta", 0.06)
    with pytest.raises(ScenarioError, match=r"^privacy\.dp\.menu: "):
        secure.replace("privacy.dp.enabled", False).replace("privacy.dp.menu", [0.5, 1.0])

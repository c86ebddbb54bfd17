"""Studies: mechanisms x settings x seeds, their tables, report, validation and rankings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from agents import ParticipantGroup, ScenarioError
from agents import intervals as intervals_module
from agents.cli import app
from agents.intervals import NONE, mean_interval, paired_difference, rank_mechanisms
from agents.study import StudyPlan, StudyResult, load_study, parse_seeds, study
from agents.study_metrics import ACCURACY, comparison
from agents.study_report import write_report

from .conftest import tiny_scenario

MECHANISMS = ("flat", "proportional")
SETTINGS = {"even": {}, "size_skew": {"participants.rich.data_size": 120}}
FIGURES = ("participation", "accuracy_vs_budget", "fairness", "individual_rationality")


def _base():  # type: ignore[no-untyped-def]
    return tiny_scenario(
        ParticipantGroup("honest", count=2, data_size=40),
        ParticipantGroup("rich", count=1, data_size=60),
        ParticipantGroup("riders", count=1, data_size=40, strategy="free_rider"),
        rounds=2,
    )


def _plan(**changes: Any) -> StudyPlan:
    fields = {"mechanisms": MECHANISMS, "settings": SETTINGS, "seeds": (0, 1), "backend": "serial"}
    return StudyPlan(name="tiny study", base=_base(), **{**fields, **changes})


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    timing = [c for c in frame if c.endswith("seconds")]
    return frame.drop(columns=timing).reset_index(drop=True)


def _study_file(folder: Path, **raw: Any) -> Path:
    spec = {
        "name": "tiny",
        "base": "base.toml",
        "seeds": [0, 1],
        "backend": "serial",
        "mechanisms": list(MECHANISMS),
        "settings": SETTINGS,
        **raw,
    }
    (folder / "base.toml").write_text(_base().to_toml())
    path = folder / "study.toml"
    path.write_text(tomli_w.dumps({k: v for k, v in spec.items() if v is not None}))
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudyResult, Path, list[Any]]:
    out = tmp_path_factory.mktemp("study")
    arrived: list[Any] = []
    result = study(_plan(), out=out, on_run=lambda params, summary: arrived.append(summary))
    return result, out, arrived


# ----- running and writing -----
def test_a_study_writes_tables_figures_and_a_report(
    written: tuple[StudyResult, Path, list[Any]],
) -> None:
    result, out, arrived = written
    runs = result.runs
    assert len(runs) == 2 * 2 * 2 == len(arrived)
    assert list(runs.columns[:3]) == ["mechanism", "setting", "seed"]
    assert not runs.duplicated(["mechanism", "setting", "seed"]).any()
    for summary in arrived:  # every summary key is a column
        assert set(summary) <= set(runs.columns)
    assert set(runs["setting"]) == set(SETTINGS) and set(runs["mechanism"]) == set(MECHANISMS)
    rounds = result.rounds
    assert len(rounds) == len(runs) * 3  # rounds 0, 1, 2
    assert {"round", "test_accuracy", "budget_paid", "participation"} <= set(rounds.columns)
    # the rich group (60 examples against 40) makes two data-size levels
    assert {"participation_data_size_low", "participation_data_size_high"} <= set(rounds)
    for name in ("runs", "rounds"):
        on_disk = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(on_disk, getattr(result, name))
        assert len(pd.read_csv(out / f"{name}.csv")) == len(on_disk)
    report = (out / "report.md").read_text()
    for stem in (*FIGURES, "exploitability"):  # the free riders make exploitability defined
        for fmt in ("png", "svg"):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 0
        assert f"(figures/{stem}.png)" in report and f"(figures/{stem}.svg)" in report
    assert report.count("*Figure ") == 5
    assert "| rank | mechanism |" in report and "free_rider" in report
    assert not list(out.rglob("*.tmp"))  # every file was renamed into place


def test_same_seeds_give_the_same_tables(written: tuple[StudyResult, Path, list[Any]]) -> None:
    first, _, _ = written
    again = study(_plan())
    pd.testing.assert_frame_equal(_stable(first.runs), _stable(again.runs))
    pd.testing.assert_frame_equal(_stable(first.rounds), _stable(again.rounds))


def test_the_study_file_and_the_cli(tmp_path: Path) -> None:
    path = _study_file(tmp_path, seeds=3, settings={"even": {}})
    plan = load_study(path)
    assert plan.seeds == (0, 1, 2) and plan.base == _base() and plan.mechanisms == MECHANISMS
    assert plan.settings == {"even": {}}
    out = tmp_path / "out"
    done = CliRunner().invoke(app, ["study", str(path), "--out", str(out), "--seeds", "1"])
    assert done.exit_code == 0, done.output
    assert f"report: {out / 'report.md'}" in done.stdout
    assert len(pd.read_csv(out / "runs.csv")) == 2  # 2 mechanisms x 1 setting x 1 seed


def test_the_report_leaves_out_what_the_runs_lack(tmp_path: Path) -> None:
    """Only the headline numbers (an older summary): figures and captions that need more are
    left out with a line that says so, the rest is drawn."""
    rng = np.random.default_rng(0)
    runs = pd.DataFrame(
        [
            {
                "mechanism": m,
                "setting": "even",
                "seed": seed,
                "final_test_accuracy": 0.7 + 0.01 * rng.standard_normal(),
                "total_paid": 100.0,
                "mean_participation": 1.0,
            }
            for m in MECHANISMS
            for seed in (0, 1, 2)
        ]
    )
    rounds = runs[["mechanism", "setting", "seed"]].assign(round=1, participation=1.0)
    plan = _plan(settings={"even": {}}, seeds=(0, 1, 2))
    report = write_report(plan, runs, rounds, tmp_path).read_text()
    assert "Not drawn: no run reports the share of honest contributors" in report
    assert "Not drawn: no setting has a non-honest strategy" in report
    assert (tmp_path / "figures" / "accuracy_vs_budget.svg").exists()
    assert not (tmp_path / "figures" / "fairness.png").exists()


# ----- validation -----
@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"colour": "blue"}, "study.colour"),
        ({"mechanisms": ["flat", "lottery"]}, "study.mechanisms"),
        ({"mechanisms": []}, "study.mechanisms"),
        ({"settings": {"skew": {"participants.rich.nope": 1}}}, "study.settings.skew"),
        ({"settings": {"skew": {"market.nope": 1}}}, "study.settings.skew.market.nope"),
        ({"settings": {"skew": {"participants.poor.cost": 1.0}}}, "study.settings.skew"),
        ({"settings": {"skew": {"participants.rich.cost": -1.0}}}, "study.settings.skew"),
        ({"settings": {"skew": {"market.mechanism": "flat"}}}, "study.settings.skew"),
        ({"settings": {"skew": 3}}, "study.settings.skew"),
        ({"seeds": [-1]}, "study.seeds"),
        ({"seeds": [1, 1]}, "study.seeds"),
        ({"seeds": 0}, "study.seeds"),
        ({"seeds": "all"}, "study.seeds"),
        ({"backend": "cloud"}, "study.backend"),
        ({"workers": 0}, "study.workers"),
        ({"base": "missing.toml"}, "study.base"),
    ],
)
def test_a_bad_study_file_is_one_line_naming_the_field(
    tmp_path: Path, raw: dict[str, Any], path: str
) -> None:
    spec = _study_file(tmp_path, **raw)
    with pytest.raises(ScenarioError) as error:
        load_study(spec)
    assert error.value.path.startswith(path), error.value
    assert "\n" not in str(error.value)
    done = CliRunner().invoke(app, ["study", str(spec), "--out", str(tmp_path / "o")])
    assert done.exit_code == 2
    assert done.stderr.strip().splitlines() == [f"error: {error.value}"]
    assert not (tmp_path / "o").exists()  # nothing ran


def test_seed_overrides() -> None:
    assert parse_seeds("3") == (0, 1, 2) and parse_seeds("0,4,7") == (0, 4, 7)
    for bad in ("0", "1,1", "a", "2,", "-1"):
        with pytest.raises(ScenarioError, match="seeds"):
            parse_seeds(bad)


# ----- intervals and rankings -----
def _synthetic(lead: float, noise: float, seeds: int = 10) -> pd.DataFrame:
    """Runs where the seed moves both mechanisms a lot (shared data and initial model) and
    ``better`` is ahead of ``worse`` by ``lead``, plus independent noise."""
    rng = np.random.default_rng(1)
    shared = 0.1 * rng.standard_normal(seeds)
    rows = []
    for mechanism, offset in (("worse", 0.0), ("better", lead)):
        values = 0.6 + shared + offset + noise * rng.standard_normal(seeds)
        rows += [
            {"mechanism": mechanism, "setting": "s", "seed": s, "acc": v}
            for s, v in enumerate(values)
        ]
    return pd.DataFrame(rows)


def _unpaired(a: Any, b: Any, level: float = 0.95) -> tuple[float, float, float]:
    """A broken variant: the difference of means with an interval that ignores the pairing."""
    from scipy import stats

    x, y = np.asarray(a, float), np.asarray(b, float)
    se = np.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    half = float(stats.t.ppf(0.5 + level / 2, x.size + y.size - 2) * se)
    diff = float(x.mean() - y.mean())
    return diff, diff - half, diff + half


def _verdict(table: pd.DataFrame) -> str:
    """The verdict on the runner-up's difference to the best."""
    return str(table.set_index("rank").loc[2, "verdict"])


def test_a_clear_lead_is_significant_and_an_equal_pair_is_none() -> None:
    clear = rank_mechanisms(_synthetic(lead=0.03, noise=0.005), "acc")
    assert list(clear["mechanism"]) == ["better", "worse"]
    assert list(clear["verdict"]) == ["best", "significant"]
    assert clear.loc[1, "diff_high"] < 0  # worse - better, the whole interval below 0
    equal = rank_mechanisms(_synthetic(lead=0.0, noise=0.005), "acc")
    assert _verdict(equal) == NONE
    cheaper = rank_mechanisms(_synthetic(lead=0.03, noise=0.005), "acc", higher_is_better=False)
    assert list(cheaper["mechanism"]) == ["worse", "better"]


def test_captions_say_what_the_numbers_say() -> None:
    clear = comparison(rank_mechanisms(_synthetic(0.03, 0.005), "acc"), ACCURACY, "s")
    assert "**better** has the highest final test accuracy" in clear
    assert "significant over every other mechanism" in clear
    equal = comparison(rank_mechanisms(_synthetic(0.0, 0.005), "acc"), ACCURACY, "s")
    assert "inside the noise" in equal and "none is better here" in equal
    same = _synthetic(0.0, 0.0)
    assert "the same final test accuracy in every seed" in comparison(
        rank_mechanisms(same, "acc"), ACCURACY, "s"
    )


def test_broken_rankings_fail_one_of_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignoring the pairing loses the clear lead (the seed's spread swamps it); ignoring the
    interval (the sign of the mean difference alone) calls an equal pair significant."""
    clear, equal = _synthetic(lead=0.03, noise=0.005), _synthetic(lead=0.0, noise=0.005)
    with monkeypatch.context() as patch:
        patch.setattr(intervals_module, "paired_difference", _unpaired)
        assert _verdict(rank_mechanisms(clear, "acc")) == NONE  # the check above would fail
    with monkeypatch.context() as patch:
        patch.setattr(
            intervals_module,
            "verdict",
            lambda low, high: "significant" if (low + high) / 2 != 0 else NONE,
        )
        assert _verdict(rank_mechanisms(equal, "acc")) == "significant"  # would fail too


def test_intervals_are_student_t_and_paired() -> None:
    from scipy import stats

    values = np.array([0.61, 0.64, 0.58, 0.66, 0.6])
    mean, low, high = mean_interval(values)
    expected = stats.t.interval(0.95, 4, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean())
    assert (low, high) == pytest.approx(expected)
    assert np.isnan(mean_interval([0.5])[1]) and np.isnan(mean_interval([])[0])
    diff, d_low, d_high = paired_difference(values + 0.01, values)
    assert diff == pytest.approx(0.01) and d_low == pytest.approx(0.01)  # no spread at all
    with pytest.raises(ValueError, match="length"):
        paired_difference([1.0, 2.0], [1.0])


@pytest.mark.parametrize("name", ["incentives", "incentives_lora"])
def test_the_shipped_studies_load_and_answer_the_question_they_claim(name: str) -> None:
    """The shipped studies compare >= 6 mechanisms (or the LoRA variant's 3) on the
    heterogeneity they name, with enough seeds for intervals."""
    from agents.study import load_study

    plan = load_study(name)
    if name == "incentives":
        assert {"flat", "proportional", "shapley_fair", "auction", "banzhaf_cover"} <= set(
            plan.mechanisms
        )
        assert len(plan.mechanisms) >= 6 and len(plan.seeds) >= 10
        assert set(plan.settings) == {"data_size_skew", "label_skew", "compute_cost_skew"}
        assert plan.base.model.mode == "head" and len(plan.runs()) >= 180
    else:
        assert plan.base.model.mode == "lora" and len(plan.seeds) >= 5
    assert plan.base.economics.join_policy == "ewa"

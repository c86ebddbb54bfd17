"""``verified_value`` in a run: one valuation in every report, pay tied to the verified gain."""

from __future__ import annotations

import numpy as np
import pytest

from agents import ParticipantGroup, checkpoint, run
from agents.model import MarketModel
from agents.scenario import ScenarioError
from tests.agents.conftest import tiny_scenario


def scenario(**market: object):  # type: ignore[no-untyped-def]
    return tiny_scenario(
        ParticipantGroup("honest", count=3, data_size=60),
        ParticipantGroup("flip", count=1, data_size=60, strategy="poisoner", poison_scale=-1.0),
        rounds=3,
        **{"mechanism": "verified_value", **market},
    )


def test_pay_stays_within_the_pot_and_the_reports_show_the_paid_valuation() -> None:
    result = run(scenario())
    rows = result.participants[result.participants["included"]]
    # one valuation: the contribution column is what the mechanism paid on
    assert np.allclose(rows["contribution"], rows["payment_value"])
    assert (result.rounds["budget_paid"] <= 100.0 + 1e-9).all()
    flipper = result.participants[result.participants["group"] == "flip"]
    assert flipper["reward"].sum() == 0.0


def test_a_huge_full_budget_gain_pays_almost_nothing() -> None:
    """The pot follows the validated gain: asking 1000x the gain for the budget pays ~0."""
    cheap = run(scenario(full_budget_gain=1e3))
    assert cheap.rounds["budget_paid"].sum() <= 1.0


def test_carry_keeps_what_a_round_did_not_pay_across_a_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = MarketModel(scenario(unspent="carry"))
    model.step()
    paid = float(model.record.budget_paid)
    held = float(np.sum(model.platform.ledger.held))  # earmarked for unverified identities
    assert model.platform.reserve == pytest.approx(100.0 - paid - held)
    checkpoint.save(model, tmp_path)
    again = MarketModel(model.scenario, task=model.task)
    again.load_state_dict(checkpoint.load(tmp_path, model.scenario))
    assert again.platform.reserve == pytest.approx(model.platform.reserve)


def test_bad_market_settings_name_the_field() -> None:
    with pytest.raises(ScenarioError, match="market.unspent"):
        scenario(unspent="keep")
    with pytest.raises(ScenarioError, match="market.full_budget_gain"):
        scenario(full_budget_gain=0.0)
    with pytest.raises(ScenarioError, match="market.confidence"):
        scenario(confidence=1.0)


def test_declaring_more_data_buys_no_aggregation_weight() -> None:
    """Weights are the metered samples processed: a 3x size claim changes nothing."""

    def market(factor: float):  # type: ignore[no-untyped-def]
        return tiny_scenario(
            ParticipantGroup("a", count=2, data_size=60),
            ParticipantGroup("b", count=1, data_size=60, size_factor=factor),
            rounds=1,
        )

    honest, claims = run(market(1.0)), run(market(3.0))
    assert claims.rounds["val_loss"].tolist() == honest.rounds["val_loss"].tolist()
    assert claims.participants["reward"].tolist() == honest.participants["reward"].tolist()


def test_an_update_backed_by_no_training_is_rejected() -> None:
    copies = run(
        tiny_scenario(
            ParticipantGroup("honest", count=3, data_size=60),
            ParticipantGroup("copycat", count=1, data_size=60, strategy="copycat"),
            rounds=2,
        )
    )
    rows = copies.participants[copies.participants["group"] == "copycat"]
    copied = rows[rows["round"] == 2]
    assert (copied["samples"] == 0).all()
    assert copied["rejected_reason"].str.startswith("no metered training").all()
    assert rows["reward"].sum() == 0.0


def test_the_same_data_under_a_second_identity_is_refused_at_registration() -> None:
    def market(**market: object):  # type: ignore[no-untyped-def]
        return tiny_scenario(
            ParticipantGroup("honest", count=2, data_size=60),
            ParticipantGroup("copy", count=1, data_size=60, strategy="plagiarist"),
            rounds=1,
            **market,
        )

    rows = run(market()).participants
    copy = rows[rows["group"] == "copy"]
    assert copy["rejected_reason"].str.startswith("refused at registration: 100%").all()
    assert not copy["selected"].any() and copy["reward"].sum() == 0.0
    # the broken variant: with the check off, the copy is paid
    off = run(market(max_data_overlap=1.0)).participants
    assert off[off["group"] == "copy"]["included"].all()
    honest = rows[rows["group"] == "honest"]
    assert (honest["rejected_reason"] == "").all() and honest["included"].all()

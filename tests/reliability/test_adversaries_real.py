"""Adversaries on real runs: what each one is paid, Sybil resistance, robust aggregation.

Issue 8, item 4. Frozen MiniLM embeddings with a federated head (``data.max_length = 64``),
where the head really learns, so contributions mean something. One task is shared by all
runs (same data, model and train sections as ``tests/slow/test_fairness_real.py``, so the
embedding cache is shared too). The payoffs are printed (``pytest -s``); the assertions pin
what holds across the seeds we measured (0-3 for the payoffs, 0-5 for the Sybil split):

* under the default market (``pooled_value`` on ``adaptive`` scores), the free rider is paid
  nothing (its empty update is screened out), a sign-flipped poisoner earns less than every
  honest participant and a label flipper less than the honest mean;
* under the ``auction`` mechanism an owner split into 3 identities earns at most
  ``1 + SYBIL_TOLERANCE`` times what the same owner earns unsplit (seeds 0, 3, 4; the
  release rules tried before the one adopted, and what each earned, are in
  ``AUCTION_SPLIT_TRIED``); ``flat`` pays the split owner exactly its k shares;
* with a sign-flipped poisoner in the clear, the coordinate-wise median keeps the final
  accuracy closer to the honest-only run than FedAvg does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents import MarketModel, ParticipantGroup, RunResult, Scenario, run
from agents.scenario import DataSection, TrainSection
from fl_core import FederatedTask
from tests.agents.conftest import head_scenario

pytestmark = pytest.mark.slow

SYBIL_TOLERANCE = 0.05
"""Measured with exact Shapley scores (4 rounds, 4 honest owners of 200 examples, one owner of
300 split into 3) under the auction's cumulative release: split / unsplit at most 0.98 over
seeds 0-11 (see ``AUCTION_SPLIT_TRIED``); the 5% covers the reputation noise of the other
owners. The tolerance is stated for exact scores only (sampled scores add estimator noise)."""


def scenario(
    *groups: ParticipantGroup,
    rounds: int = 4,
    seed: int = 0,
    aggregator: str = "fedavg",
    **market: object,
) -> Scenario:
    return head_scenario(  # updates in the clear (median)
        "adversaries",
        groups,
        backbone="minilm",
        data=DataSection(val_size=300, max_length=64, utility_subset=300),
        train=TrainSection(lr=0.01, aggregator=aggregator),
        rounds=rounds,
        seed=seed,
        **{"exploration": 0.0, **market},
    )


@pytest.fixture(scope="module")
def task() -> FederatedTask:
    return MarketModel(scenario(ParticipantGroup("honest", count=1, data_size=10))).task


def _run(s: Scenario, task: FederatedTask) -> RunResult:
    return run(s, model=MarketModel(s, task=task))


ADVERSARIES = (
    ParticipantGroup("honest", count=4, data_size=200),
    ParticipantGroup("free_rider", count=1, data_size=200, strategy="free_rider"),
    ParticipantGroup("label_flipper", count=1, data_size=200, strategy="noisy", flip_rate=1.0),
    ParticipantGroup("scaled", count=1, data_size=200, strategy="poisoner", poison_scale=3.0),
    ParticipantGroup(
        "sign_flipped", count=1, data_size=200, strategy="poisoner", poison_scale=-3.0
    ),
    ParticipantGroup("sybil", count=1, data_size=200, strategy="sybil", sybil_identities=3),
)


@pytest.mark.parametrize("seed", [0, 1])
def test_default_mechanism_payoff_to_each_adversary_type(task: FederatedTask, seed: int) -> None:
    # Prepare: the market section's defaults (mechanism and scoring method)
    s = scenario(*ADVERSARIES, seed=seed)
    assert (s.market.mechanism, s.market.scoring) == ("pooled_value", "adaptive")
    # Execute
    result = _run(s, task)
    # Report
    summary = result.summary
    strategies = sorted(k.removeprefix("reward_share_") for k in summary if "reward_share_" in k)
    print(f"\ndefault mechanism (pooled_value, adaptive scores), seed {seed}, 4 rounds")
    for strategy in strategies:
        print(
            f"  {strategy:11s} reward share {summary[f'reward_share_{strategy}']:.3f}, "
            f"mean profit per owner {summary[f'mean_profit_{strategy}']:+.2f}"
        )
    parts = result.participants
    by_group = parts.groupby("group").agg(
        reward=("reward", "sum"), cost=("cost", "sum"), rounds_joined=("joined", "sum")
    )
    print(by_group.round(2).to_string())
    # Assert
    assert set(strategies) == {"honest", "free_rider", "noisy", "poisoner", "sybil"}
    assert sum(summary[f"reward_share_{s}"] for s in strategies) <= 1 + 1e-9
    honest = parts[parts["group"] == "honest"].groupby("participant")["reward"].sum()
    paid = parts.groupby("group")["reward"].sum()
    # nothing for nothing: the free rider's empty update is screened out
    assert paid["free_rider"] == 0.0
    # a sign-flipped poisoner harms the model: it earns less than every honest participant
    assert paid["sign_flipped"] < honest.min()
    # a label flipper earns less than the honest participants on average
    assert paid["label_flipper"] < honest.mean()


AUCTION_SPLIT_TRIED = """Release rules tried against seeds 0-5 (split / unsplit owner reward,
exact Shapley scores, 4 rounds; ``theta`` the share of its declared share of the value at
which an identity's full escrow is released):

* per round, ``theta = 1`` (``min(e_i, E * d_i)``, the rule before): 0.95 0.84 0.73 1.11 2.73
  0.98 (seed 3 split 33.6 vs 30.4, seed 4 64.3 vs 23.6); these were strict xfails;
* per round on grand-coalition marginals ``max(u(N) - u(N - i), 0)``: seed 4 0.00 vs 24.60,
  seed 3 18.71 vs 9.09, seed 0 28.78 vs 1.92, and honest owner 0 paid 0 over the run on all
  three (at n = 5 with 300 validation examples a marginal is mostly noise);
* per round on Banzhaf values: seed 4 9.88 vs 47.82, seed 3 22.31 vs 19.52, seed 0 44.09 vs
  24.32;
* cumulative (the run's totals, ``market.PaymentLedger``), ``theta = 1``: 0.62 0.75 0.85 2.06
  2.39 1.01: worse, the cause is not only late-round noise: in round 1 the 3 pieces' Shapley
  values summed 1.7-2.8x the whole's (seed 4: 0.030 vs 0.012), and were carried forward;
* per round, ``theta = 0.25``: 0.83 0.84 0.48 0.86 1.42 0.70 (seed 4 fails);
* cumulative, ``theta = 0.5``: seed 3 1.45, seed 4 1.12 (fail);
* adopted, cumulative with ``theta = 0.25``: 0.48 0.89 0.67 0.94 0.81 0.71, and 0.77 0.82
  0.92 0.98 0.90 0.82 on seeds 6-11 (``theta`` 0.2 and 0.3 also hold on seeds 0-5).

See ``market/mechanisms/auction.py`` for the argument."""


def _owner_reward(result: RunResult, strategy: str) -> float:
    parts = result.participants
    return float(parts[parts["strategy"] == strategy]["reward"].sum())


def _sybil_runs(task: FederatedTask, seed: int, **market: object) -> tuple[float, float]:
    rewards = []
    for k in (1, 3):
        s = scenario(
            ParticipantGroup("honest", count=4, data_size=200),
            ParticipantGroup("sybil", count=1, data_size=300, strategy="sybil", sybil_identities=k),
            seed=seed,
            **market,
        )
        rewards.append(_owner_reward(_run(s, task), "sybil"))
    return rewards[0], rewards[1]


@pytest.mark.parametrize("seed", [0, 3, 4])
def test_a_sybil_earns_no_more_than_unsplit_under_the_auction(
    task: FederatedTask, seed: int
) -> None:
    unsplit, split = _sybil_runs(task, seed, mechanism="auction", scoring="exact")
    print(f"\nauction, seed {seed}: unsplit {unsplit:.2f}, 3 identities {split:.2f}")
    assert unsplit > 0
    assert split <= (1 + SYBIL_TOLERANCE) * unsplit


def test_flat_pays_a_sybil_its_k_shares(task: FederatedTask) -> None:
    # everyone joins every round (no cost), so flat pays budget / heads per round
    unsplit, split = _sybil_runs(task, 0, mechanism="flat", scoring="loo")
    rounds, budget = 4, 100.0
    print(f"\nflat: unsplit {unsplit:.2f}, 3 identities {split:.2f}")
    assert unsplit == pytest.approx(rounds * budget / 5)
    assert split == pytest.approx(rounds * budget * 3 / 7)


def test_median_keeps_accuracy_closer_to_honest_than_fedavg(task: FederatedTask) -> None:
    # Prepare: a sign-flipped poisoner that keeps attacking (it does not care about profit)
    honest = ParticipantGroup("honest", count=4, data_size=200, cost=0.0)
    poisoner = ParticipantGroup(
        "sign_flipped", count=1, data_size=200, strategy="poisoner", poison_scale=-3.0, cost=0.0
    )
    runs = {
        "honest only": scenario(honest, rounds=5, scoring="loo"),
        "fedavg": scenario(honest, poisoner, rounds=5, scoring="loo"),
        "median": scenario(honest, poisoner, rounds=5, scoring="loo", aggregator="median"),
    }
    # Execute
    results = {name: _run(s, task) for name, s in runs.items()}
    # Assert
    accuracy = {name: r.summary["final_test_accuracy"] for name, r in results.items()}
    print("\nfinal test accuracy:", {k: round(v, 3) for k, v in accuracy.items()})
    for name in ("fedavg", "median"):  # the poisoner is aggregated, not screened out
        parts = results[name].participants
        assert parts[parts["strategy"] == "poisoner"]["included"].all()
    gap_median = abs(accuracy["median"] - accuracy["honest only"])
    gap_fedavg = abs(accuracy["fedavg"] - accuracy["honest only"])
    assert gap_median < gap_fedavg
    assert accuracy["fedavg"] < accuracy["honest only"]
    curves = pd.DataFrame({n: r.rounds["test_accuracy"] for n, r in results.items()})
    print(curves.round(3).to_string())
    assert np.isfinite(curves.to_numpy()).all()

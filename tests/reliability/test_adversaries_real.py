"""Adversaries on real runs: what each one is paid, Sybil resistance, robust aggregation.

Issue 8, item 4. Frozen MiniLM embeddings with a federated head (``data.max_length = 64``),
where the head really learns, so contributions mean something. One task is shared by all
runs (same data, model and train sections as ``tests/slow/test_fairness_real.py``, so the
embedding cache is shared too). The payoffs are printed (``pytest -s``); the assertions pin
what holds across the seeds we measured (0-3 for the payoffs, 0-5 for the Sybil split):

* under the default market (``banzhaf_cover`` on ``adaptive`` scores), the free rider is paid
  nothing (its empty update is screened out), a sign-flipped poisoner earns less than every
  honest participant and a label flipper less than the honest mean;
* under the ``auction`` mechanism an owner split into 3 identities should earn at most
  ``1 + SYBIL_TOLERANCE`` times what the same owner earns unsplit; since the auction pays
  against delivered contribution (escrow) this holds on seed 0 but not on seeds 3 and 4
  (strict expected failures: per-identity positive parts of noisy late-round values; the
  marginal and Banzhaf releases tried did not fix it, see ``AUCTION_SPLIT_TRIED``); ``flat``
  pays the split owner exactly its k shares;
* with a sign-flipped poisoner in the clear, the coordinate-wise median keeps the final
  accuracy closer to the honest-only run than FedAvg does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents import MarketModel, ParticipantGroup, RunResult, Scenario, run
from agents.scenario import (
    DataSection,
    MarketSection,
    ModelSection,
    PrivacySection,
    TrainSection,
)
from fl_core import FederatedTask

pytestmark = pytest.mark.slow

SYBIL_TOLERANCE = 0.05
"""Measured with exact Shapley scores over seeds 0-5 (4 rounds, 4 honest owners of 200
examples, one owner of 300 split into 3): split / unsplit = 0.83, 0.92, 0.84, 1.002, 0.98,
0.86. Splitting lowers each piece's contribution and so its reputation, which weights its
value; the 5% covers the reputation noise of the other owners. With sampled scores (gtg, loo)
the same auction reached 1.09-1.15: the tolerance is stated for exact scores only."""


def scenario(
    *groups: ParticipantGroup,
    rounds: int = 4,
    seed: int = 0,
    aggregator: str = "fedavg",
    **market: object,
) -> Scenario:
    return Scenario(
        name="adversaries",
        rounds=rounds,
        seed=seed,
        model=ModelSection(backbone="minilm", mode="head"),
        data=DataSection(val_size=300, max_length=64, utility_subset=300),
        train=TrainSection(lr=0.01, aggregator=aggregator),
        privacy=PrivacySection(secure_aggregation=False),  # updates in the clear (median)
        market=MarketSection(**{"exploration": 0.0, **market}),  # type: ignore[arg-type]
        participants=groups,
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
    assert (s.market.mechanism, s.market.scoring) == ("banzhaf_cover", "adaptive")
    # Execute
    result = _run(s, task)
    # Report
    summary = result.summary
    strategies = sorted(k.removeprefix("reward_share_") for k in summary if "reward_share_" in k)
    print(f"\ndefault mechanism (banzhaf_cover, adaptive scores), seed {seed}, 4 rounds")
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


AUCTION_SPLIT_NOISE = (
    "split 33.6 vs 30.4 (seed 3), 64.3 vs 23.6 (seed 4): the release min(e_i, E * d_i) pays "
    "each identity on its own positive part, and by rounds 3-4 the values (~0.001) are within "
    "the noise; measured on seed 4: the unsplit owner's value was -0.0014 and -0.0018 in "
    "rounds 3-4 (paid 0), while each round some of the 3 pieces came out positive; see "
    "AUCTION_SPLIT_TRIED"
)
AUCTION_SPLIT_TRIED = """Rules tried against seeds 0, 3, 4 (unsplit vs split reward, exact scores):

* escrow released on grand-coalition marginals ``max(u(N) - u(N - i), 0)`` (as
  ``banzhaf_cover``'s surplus): seed 4 0.00 vs 24.60, seed 3 18.71 vs 9.09, seed 0 28.78 vs
  1.92; at n = 5 with 300 validation examples a marginal is mostly noise, and honest owner 0
  was paid 0 over the whole run on all three seeds: not adopted;
* escrow released on Banzhaf values: seed 4 9.88 vs 47.82, seed 3 22.31 vs 19.52, seed 0
  44.09 vs 24.32: seed 4 still fails, not adopted.

What is left is the one-round noise of the delivered value: a single-seed ratio cannot test
split resistance here; the default mechanism's split gain is measured over 20 seeds in
``tests/agents/test_trust_defaults.py``."""


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


@pytest.mark.parametrize(
    "seed",
    [
        0,
        pytest.param(3, marks=pytest.mark.xfail(strict=True, reason=AUCTION_SPLIT_NOISE)),
        pytest.param(4, marks=pytest.mark.xfail(strict=True, reason=AUCTION_SPLIT_NOISE)),
    ],
)
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

"""Scoring methods: budgets, honesty, convergence, errors, reproducibility."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import market
from market.games import AdditiveGame, WeightedVotingGame, fl_game
from market.scoring import DEFAULT_BUDGET, DEFAULT_METHOD
from market.scoring.surrogate.families import DEFAULT_FAMILIES


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Relative L2 error."""
    return float(np.linalg.norm(estimate - truth) / np.linalg.norm(truth))


SAMPLING = ["permutation", "tmc", "gtg", "surrogate"]
UTILITY_METHODS = ["adaptive", "exact", "permutation", "tmc", "gtg", "loo", "banzhaf", "surrogate"]
MINIMUM: dict[str, Callable[[int], int]] = {
    "adaptive": lambda n: n + 1,
    "exact": lambda n: 2**n,
    "permutation": lambda n: n + 1,
    "tmc": lambda n: n + 1,
    "gtg": lambda n: n + 1,
    "loo": lambda n: n + 1,
    "banzhaf": lambda n: 2,
    "surrogate": lambda n: min(2**n, 2 * n + 2),
}


class CountingUtility:
    """Wraps a table; records every distinct coalition the estimator asked for."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.seen: set[frozenset[int]] = set()
        self.calls = 0

    def __call__(self, coalition: frozenset[int]) -> float:
        self.seen.add(coalition)
        self.calls += 1
        return float(self.table[sum(1 << i for i in coalition)])


def test_registry_lists_every_method() -> None:
    assert set(UTILITY_METHODS) | {"cgsv"} == set(market.METHODS)
    assert market.BEST_METHOD in market.METHODS
    from market.scoring import DEFAULT_BUDGET, DEFAULT_METHOD

    assert DEFAULT_METHOD in market.METHODS and DEFAULT_BUDGET >= 2**10


@pytest.mark.parametrize("method", UTILITY_METHODS)
@pytest.mark.parametrize("budget_fraction", [0.0, 0.1, 0.5, 1.0])
def test_never_exceeds_budget_and_reports_honestly(method: str, budget_fraction: float) -> None:
    # Prepare
    n = 8
    table = fl_game(n, np.random.default_rng(0)).table()
    minimum = MINIMUM[method](n)
    budget = max(minimum, int(budget_fraction * 2**n))
    utility = CountingUtility(table)
    # Execute
    result = market.estimate(utility, n, method, budget=budget, rng=np.random.default_rng(1))
    # Assert
    assert result.evaluations <= budget
    assert result.evaluations == len(utility.seen) == utility.calls  # memoised, honest
    assert result.values.shape == (n,)
    assert result.method == method


@pytest.mark.parametrize("method", UTILITY_METHODS)
def test_budget_below_minimum_is_refused(method: str) -> None:
    n = 5
    with pytest.raises(ValueError, match=f"minimum {MINIMUM[method](n)}"):
        market.estimate(lambda s: 0.0, n, method, budget=MINIMUM[method](n) - 1)


@pytest.mark.parametrize("method", UTILITY_METHODS)
def test_nan_utility_is_a_value_error(method: str) -> None:
    with pytest.raises(ValueError, match="must be finite"):
        market.estimate(lambda s: float("nan") if len(s) == 4 else 0.0, 4, method, budget=16)


def test_bad_method_and_options() -> None:
    with pytest.raises(ValueError, match="unknown method 'shapely'"):
        market.estimate(lambda s: 0.0, 3, "shapely")
    with pytest.raises(ValueError, match="bad options"):
        market.estimate(lambda s: 0.0, 3, "tmc", not_an_option=1)
    with pytest.raises(ValueError, match="truncation"):
        market.estimate(lambda s: 0.0, 3, "tmc", truncation=2.0)
    with pytest.raises(ValueError, match="needs a utility"):
        market.estimate(None, 3, "exact")


@pytest.mark.parametrize("method", SAMPLING + ["banzhaf"])
def test_same_seed_same_result(method: str, fl10_table: np.ndarray) -> None:
    a = market.estimate(fl10_table, 10, method, budget=120, rng=np.random.default_rng(9))
    b = market.estimate(fl10_table, 10, method, budget=120, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("method", SAMPLING)
def test_approximators_converge_as_budget_grows(method: str) -> None:
    # Prepare: three game instances, three seeds each
    errors: dict[int, list[float]] = {40: [], 300: [], 1024: []}
    for instance in range(3):
        game = fl_game(10, np.random.default_rng(100 + instance), noise=0.005)
        table = game.table()
        truth = market.shapley_from_table(table)
        for seed in range(3):
            for budget in errors:
                # Execute
                est = market.estimate(
                    table, 10, method, budget=budget, rng=np.random.default_rng(seed)
                )
                errors[budget].append(relative_error(est.values, truth))
    # Assert
    medians = {b: float(np.median(e)) for b, e in errors.items()}
    assert medians[40] > medians[300] > medians[1024] or medians[1024] < 1e-9, medians
    if method == "surrogate":
        assert medians[1024] < 1e-9  # every coalition evaluated: exact


def test_surrogate_imputation_beats_permutation_sampling_at_15_percent() -> None:
    ours, baseline = [], []
    for instance in range(4):
        table = fl_game(10, np.random.default_rng(200 + instance)).table()
        truth = market.shapley_from_table(table)
        for seed in range(2):
            rng = np.random.default_rng(seed)
            ours.append(
                relative_error(
                    market.estimate(
                        table, 10, "surrogate", budget=153, rng=rng, control_variate=False
                    ).values,
                    truth,
                )
            )
            rng = np.random.default_rng(seed)
            baseline.append(
                relative_error(
                    market.estimate(table, 10, "permutation", budget=153, rng=rng).values, truth
                )
            )
    assert np.median(ours) < 0.25 * np.median(baseline)


def test_surrogate_small_and_large_n() -> None:
    assert market.estimate(lambda s: float(len(s)), 1, "surrogate").values.tolist() == [1.0]
    with pytest.raises(ValueError, match="n_players <= 20"):
        market.estimate(lambda s: 0.0, 21, "surrogate", budget=100)


def test_loo_is_exact() -> None:
    game = AdditiveGame(np.array([1.0, -2.0, 0.5]), offset=4.0)
    result = market.estimate(game, 3, "loo")
    np.testing.assert_allclose(result.values, [1.0, -2.0, 0.5])
    assert result.evaluations == 4
    assert result.index == "loo"


def test_msr_banzhaf_converges_to_exact_banzhaf() -> None:
    table = fl_game(8, np.random.default_rng(3), noise=0.0).table()
    truth = market.banzhaf_from_table(table)
    small = market.estimate(table, 8, "banzhaf", budget=30, rng=np.random.default_rng(0))
    large = market.estimate(table, 8, "banzhaf", budget=256, rng=np.random.default_rng(0))
    assert small.index == "banzhaf"
    assert relative_error(large.values, truth) < relative_error(small.values, truth)
    assert relative_error(large.values, truth) < 0.1


def test_gtg_between_round_skip_is_an_option_not_the_default() -> None:
    # u(N) = u(empty) but the values are (.3, .3, -.6): the skip would pay nobody
    game = AdditiveGame(np.array([0.3, 0.3, -0.6]))
    default = market.estimate(game, 3, "gtg", budget=8)
    np.testing.assert_allclose(default.values, [0.3, 0.3, -0.6], atol=1e-9)
    skipped = market.estimate(game, 3, "gtg", skip_tol=1e-3)
    assert skipped.evaluations == 2 and skipped.info["skipped"] == 1
    np.testing.assert_array_equal(skipped.values, np.zeros(3))
    assert not skipped.converged  # a biased shortcut is never reported converged


def test_gtg_guided_rounds_untruncated_converge(fl10_table: np.ndarray) -> None:
    result = market.estimate(
        fl10_table, 10, "gtg", budget=1024, rng=np.random.default_rng(0), truncation=0.0
    )
    assert result.converged
    assert int(result.info["permutations"]) % 10 == 0  # whole guided rounds
    truth = market.shapley_from_table(fl10_table)
    assert relative_error(result.values, truth) < 0.2


def test_harmful_player_is_not_hidden_by_the_default() -> None:
    # additive game A = +1, B = +0.5, P = -0.5: truncation gives B = +0.33, P = -0.33
    game = AdditiveGame(np.array([1.0, 0.5, -0.5]))
    default = market.estimate(game, 3, DEFAULT_METHOD, budget=DEFAULT_BUDGET)
    np.testing.assert_allclose(default.values, [1.0, 0.5, -0.5], atol=1e-12)
    sampled = market.estimate(game, 3, DEFAULT_METHOD, budget=7)  # below 2**3: sampling
    np.testing.assert_allclose(sampled.values, [1.0, 0.5, -0.5], atol=1e-12)
    # mutation: the truncated estimator does hide it, and never claims convergence
    tmc = market.estimate(game, 3, "tmc", budget=8, truncation=0.4, rng=np.random.default_rng(0))
    assert abs(tmc.values[2] + 0.5) > 0.05 and not tmc.converged


def test_converged_is_reported_only_within_tolerance() -> None:
    # Prepare: games and seeds at budgets that sometimes meet the tolerance
    claims, misses = 0, []
    for instance in range(4):
        table = fl_game(10, np.random.default_rng(400 + instance), noise=0.005).table()
        truth = market.shapley_from_table(table)
        for method in ("permutation", "tmc", "gtg", "adaptive"):
            for budget in (200, 600):
                # Execute
                est = market.estimate(
                    table, 10, method, budget=budget, rng=np.random.default_rng(instance),
                    tolerance=0.05,
                )  # fmt: skip
                if est.converged:
                    claims += 1
                    misses += [relative_error(est.values, truth)] * (
                        relative_error(est.values, truth) > 3 * 0.05
                    )
                    assert est.relative_stderr <= 0.05
    # Assert: some runs claim convergence, and none of them is off by more than 3 tolerances
    assert claims > 0 and not misses, (claims, misses)


def test_truncation_saves_evaluations() -> None:
    # Prepare: saturates after any two players, so long prefixes are not worth evaluating
    def utility(s: frozenset[int]) -> float:
        return min(len(s), 2) / 2

    n = 12
    # Execute
    tmc = market.estimate(utility, n, "tmc", budget=4096, max_permutations=50, tolerance=0)
    plain = market.estimate(
        utility, n, "permutation", budget=4096, max_permutations=50, tolerance=0
    )
    # Assert
    assert tmc.evaluations < plain.evaluations / 3
    np.testing.assert_allclose(tmc.values, np.full(n, 1 / n), atol=0.05)


def test_cosine_contribution() -> None:
    updates = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    result = market.cosine_contribution(updates)
    assert result.evaluations == 0
    assert result.index == "cosine"
    assert result.values[0] == result.values[1] > 0
    assert result.values[2] == 0.0
    assert result.values[3] == -result.values[0]
    same = market.estimate(None, 5, "cgsv", updates=updates)
    np.testing.assert_array_equal(same.values, result.values)
    with pytest.raises(ValueError, match="needs updates"):
        market.estimate(None, 5, "cgsv")
    with pytest.raises(ValueError, match="n_players=4"):
        market.estimate(None, 4, "cgsv", updates=updates)


def latent_update_table(n: int, rng: np.random.Generator) -> np.ndarray:
    """A FedAvg game in a latent space: a coalition's model is the start model plus the
    size-weighted mean of its members' updates, and its accuracy follows how well that model
    points along the good direction (the last member pushes the other way)."""
    updates = np.column_stack([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.8, (n, 2))])
    updates[-1, 0] = -2.0
    sizes = rng.uniform(50, 300, n)
    members = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    mass = np.maximum(members @ sizes, 1e-12)[:, None]
    model = np.array([0.2, 0.5, 0.0]) + (members * sizes) @ updates / mass
    cosine = model[:, 0] / np.linalg.norm(model, axis=1)
    accuracy: np.ndarray = 0.5 + 0.4 / (1.0 + np.exp(-3.0 * cosine))
    return accuracy


def test_surrogate_learns_the_geometry_of_averaged_updates() -> None:
    # Prepare: games whose utility is the alignment of the summed updates (cos3's family)
    errors: dict[str, list[float]] = {"all": [], "without FedAvg families": []}
    older = ("additive", "pairwise", "link2", "link3", "link4")
    for instance in range(3):
        table = latent_update_table(10, np.random.default_rng(300 + instance))
        truth = market.shapley_from_table(table)
        for label, options in (
            ("all", {"families": (*DEFAULT_FAMILIES, "cos3"), "control_variate": False}),
            ("without FedAvg families", {"families": older, "control_variate": False}),
        ):
            # Execute: a 15% budget
            est = market.estimate(
                table, 10, "surrogate", budget=153, rng=np.random.default_rng(instance), **options
            )
            errors[label].append(relative_error(est.values, truth))
    # Assert: the latent-update family more than halves the error of the older families
    assert np.median(errors["all"]) < 0.1, errors
    assert np.median(errors["all"]) < 0.5 * np.median(errors["without FedAvg families"]), errors


@pytest.mark.parametrize("method", ["permutation", "tmc", "gtg"])
def test_walks_spend_no_evaluation_they_throw_away(method: str) -> None:
    # Prepare: n = 6, a budget of 16 (GTG's walks cost 5 new evaluations after 2)
    table = fl_game(6, np.random.default_rng(7)).table()
    # Execute: the budget, then exactly the evaluations it used
    full = market.estimate(table, 6, method, budget=16, rng=np.random.default_rng(1))
    used = market.estimate(table, 6, method, budget=full.evaluations, rng=np.random.default_rng(1))
    # Assert: the unused remainder bought nothing, so it was not spent
    np.testing.assert_array_equal(full.values, used.values)
    if method == "gtg":
        assert full.evaluations == 12  # 2 + 2 whole walks of 5; a third cannot finish


@pytest.mark.parametrize("method", UTILITY_METHODS)
def test_planned_coalitions_are_evaluated_and_fit_the_budget(method: str) -> None:
    # Prepare
    n = 6
    estimator = market.make_estimator(method)
    budget = estimator.effective_budget(n, 20)
    planned = estimator.planned_coalitions(n, budget)
    utility = CountingUtility(fl_game(n, np.random.default_rng(0)).table())
    # Execute
    estimator.estimate(utility, n, budget=budget, rng=np.random.default_rng(0))
    # Assert: every planned coalition is one the estimator asked for
    assert len(planned) <= budget
    assert set(planned) <= utility.seen


def test_effective_budget() -> None:
    assert market.make_estimator("exact").effective_budget(5, 3) == 32
    assert market.make_estimator("permutation").effective_budget(5, 3) == 6
    assert market.make_estimator("adaptive").effective_budget(5, 100) == 100
    assert len(market.make_estimator("adaptive").planned_coalitions(5, 32)) == 32
    assert len(market.make_estimator("loo").planned_coalitions(5, 6)) == 6


def test_banzhaf_values_every_player_of_a_wide_game() -> None:
    """Above 63 players a coalition mask no longer fits int64: every player is still valued.

    Mutation this fails on (measured): masks built as ``bits @ (1 << arange(n))`` in int64
    overflow, so every player from index 63 on got 0 with an infinite standard error.
    """
    n = 100
    weights = np.linspace(0.5, 1.5, n)
    result = market.estimate(
        lambda s: float(weights[list(s)].sum()),
        n,
        "banzhaf",
        budget=400,
        rng=np.random.default_rng(0),
    )
    assert np.all(np.isfinite(result.stderr))
    # additive game: Banzhaf = Shapley = the weights, up to sampling error
    assert np.all(np.abs(result.values - weights) <= 6 * result.stderr + 1e-9)
    assert abs(result.values[63:].mean() - weights[63:].mean()) < 0.2


def test_default_above_ten_identities_is_the_surrogate_and_beats_permutation_sampling() -> None:
    # Prepare: a 12-player weighted voting game with a null player, at the default budget
    # (25% of the coalitions), and the sampler the default used before (permutation)
    weights = (6, 5, 4, 3, 3, 2, 1, 1, 2, 4, 5, 0)
    table = WeightedVotingGame(weights, 19).table()
    truth = market.shapley_from_table(table)
    errors: dict[str, list[float]] = {"adaptive": [], "permutation": []}
    for seed in range(4):
        for method in errors:
            # Execute
            est = market.estimate(
                table, 12, method, budget=DEFAULT_BUDGET, rng=np.random.default_rng(seed)
            )
            errors[method].append(relative_error(est.values, truth))
            if method == "adaptive":
                # Assert: the surrogate ran, within budget, with the axioms payments rest on
                assert est.info["inner"] == "surrogate" and est.evaluations <= DEFAULT_BUDGET
                assert est.values[-1] == 0.0
                assert est.values.sum() == pytest.approx(table[-1] - table[0], abs=1e-12)
    # Assert: well under half the permutation sampler's error (0.03-0.05 vs 0.24-0.36)
    assert np.median(errors["adaptive"]) < 0.5 * np.median(errors["permutation"]), errors


def test_default_falls_back_to_permutation_sampling_where_the_surrogate_cannot_run() -> None:
    # Prepare: 21 players (beyond the surrogate), and 12 below its minimum budget 2n + 2
    game = fl_game(21, np.random.default_rng(0), noise=0.0)
    small = fl_game(12, np.random.default_rng(0), noise=0.0).table()
    # Execute
    above = market.estimate(game, 21, "adaptive", budget=400, rng=np.random.default_rng(0))
    below = market.estimate(small, 12, "adaptive", budget=20, rng=np.random.default_rng(0))
    # Assert: the unbiased permutation sampler, within budget
    assert above.info["inner"] == below.info["inner"] == "permutation"
    assert above.evaluations <= 400 and below.evaluations <= 20
    assert len(market.make_estimator("adaptive").planned_coalitions(12, 1024)) == 26

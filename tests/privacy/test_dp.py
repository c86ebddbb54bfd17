"""Client-level DP (privacy.dp): accounting against the dp-accounting library, leverages,
and noise shares that reach a secure sum only inside the clients' masked inputs."""

from __future__ import annotations

import dp_accounting
import numpy as np
import pytest

import privacy
from privacy import dp, quantization
from privacy.accounting import Ledger
from privacy.messages import MaskedInput
from privacy.server import SecAggServer
from privacy.simulation import build_round, run_round

DELTA = 1e-5


def _pld_epsilon(multipliers: list[float], delta: float = DELTA) -> float:
    """The library's own PLD accountant over the composed Gaussian events."""
    accountant = dp_accounting.pld.PLDAccountant()
    accountant.compose(
        dp_accounting.ComposedDpEvent([dp_accounting.GaussianDpEvent(z) for z in multipliers])
    )
    return float(accountant.get_epsilon(delta))


@pytest.mark.parametrize(("epsilon", "rounds"), [(1.0, 5), (8.0, 10), (8.0, 1), (16.0, 40)])
def test_the_solved_noise_spends_the_target_by_the_library_accountant(
    epsilon: float, rounds: int
) -> None:
    z = dp.noise_multiplier_for(epsilon, DELTA, rounds)
    assert _pld_epsilon([z] * rounds) == pytest.approx(epsilon, rel=0.01)


def test_mixed_rounds_compose_exactly_as_the_library_says() -> None:
    multipliers = [0.9, 1.7, 3.0, 1.1, 5.0]
    mu_squared = sum(1 / z**2 for z in multipliers)
    assert dp.epsilon_of(mu_squared, DELTA) == pytest.approx(_pld_epsilon(multipliers), rel=0.01)
    # broken variant: adding up the per-round epsilons (basic composition) overstates it
    naive = sum(dp.epsilon_of(1 / z**2, DELTA) for z in multipliers)
    assert naive > 1.2 * _pld_epsilon(multipliers)
    assert dp.epsilon_of(0.0, DELTA) == 0.0


def test_leverage_is_what_the_releases_determine() -> None:
    n = 5
    grand = frozenset(range(n))
    np.testing.assert_allclose(dp.leverages([grand], n), np.full(n, 1 / n))
    # the total and the total without player 4 determine player 4's noised update
    h = dp.leverages([grand, frozenset(range(4))], n)
    assert h[4] == pytest.approx(1.0) and np.allclose(h[:4], 0.25)
    # a permutation's prefixes determine everyone (Shapley-style scoring)
    prefixes = [frozenset(range(k)) for k in range(1, n + 1)]
    np.testing.assert_allclose(dp.leverages(prefixes, n), np.ones(n))
    assert dp.leverages([], n).tolist() == [0.0] * n
    # mu^2 = h t (c / z)^2: the model's sum of n >= t clients is at most 1/z-GDP
    mu2 = dp.round_mu_squared([grand], n, z=2.0, t=3, clip_factors=[1, 1, 1, 1, 0.5])
    np.testing.assert_allclose(mu2, [0.15, 0.15, 0.15, 0.15, 0.0375])


def test_clip_holds_the_l2_norm() -> None:
    x = np.full(100, 1.0)
    assert np.linalg.norm(dp.clip_l2(x, 2.0)) == pytest.approx(2.0)
    np.testing.assert_array_equal(dp.clip_l2(x * 0.01, 2.0), x * 0.01)


def test_bad_targets_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="^epsilon: "):
        dp.noise_multiplier_for(0.0, DELTA, 3)
    with pytest.raises(ValueError, match="^delta: "):
        dp.noise_multiplier_for(1.0, 1.5, 3)
    with pytest.raises(ValueError, match="^rounds: "):
        dp.noise_multiplier_for(1.0, DELTA, 0)


def _server_view(updates, shares, std, *, threshold=3):
    """Run the real protocol and return what the server unmasked and every masked input."""
    prepared = build_round(
        updates, threshold=threshold, clip=1.0, bits=32, noise=shares, noise_std=std
    )
    server = SecAggServer(prepared.config, record_view=True)
    ids = sorted(prepared.clients)
    total, _ = run_round(server, prepared.clients, {}, Ledger(ids, prepared.config.stages))
    summands = prepared.config.n_summands
    unmasked = quantization.dequantize(total, clip=1.0, bits=32, n_summands=summands)
    return unmasked, server


@pytest.mark.parametrize("with_noise", [True, False])
def test_the_server_only_ever_unmasks_a_noised_sum(with_noise: bool) -> None:
    rng = np.random.default_rng(7)
    n, d, std = 6, 4000, 0.05
    updates = {i: dp.clip_l2(rng.normal(0, 0.01, d), 0.5) for i in range(n)}
    shares = {i: rng.normal(0, std, d) for i in range(n)}
    unmasked, server = _server_view(updates, shares if with_noise else None, std)
    exact = np.sum(list(updates.values()), axis=0)
    residual = unmasked - exact
    if not with_noise:  # the broken variant: clients that add nothing leave the sum bare
        assert np.abs(residual).max() < 1e-6
        return
    # what the server unmasked is the exact sum plus every client's share, nothing less
    np.testing.assert_allclose(residual, np.sum(list(shares.values()), axis=0), atol=1e-6)
    assert residual.std() == pytest.approx(std * np.sqrt(n), rel=0.1)
    # and no masked input it received shows a client's update, noised or not
    inputs = [m for m in server.view if isinstance(m, MaskedInput)]
    assert len(inputs) == n
    summands = server.config.n_summands
    for message in inputs:
        plain = quantization.quantize(
            updates[message.sender], clip=1.0, bits=32, n_summands=summands
        )
        noised = quantization.add_noise(
            plain.copy(), shares[message.sender], clip=1.0, bits=32, n_summands=summands
        )
        assert np.mean(message.vector == plain) < 0.01
        assert np.mean(message.vector == noised) < 0.01


def test_noise_shares_need_a_declared_scale() -> None:
    updates = {i: np.zeros(3) for i in range(3)}
    with pytest.raises(ValueError, match="^noise_std: "):
        privacy.secure_aggregate(updates, threshold=2, noise={i: np.ones(3) for i in range(3)})
    with pytest.raises(ValueError, match="^noise: "):
        privacy.secure_aggregate(updates, threshold=2, noise={0: np.ones(3)}, noise_std=1.0)

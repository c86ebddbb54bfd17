"""One noise-aware valuation per round: Banzhaf values with standard errors, and the gain.

The coalition utility is a mean over validation examples, ``u(S) = mean_e u_e(S)``, and the
Banzhaf value is linear in ``u``, so it is the mean of per-example Banzhaf values,
``phi_i = mean_e phi_i(e)``. Their spread over the examples gives the standard error of
``phi_i`` as an estimate of its value on the population the validation examples are drawn
from: how much it would move on another validation sample of the same size. The same holds
for the round's gain ``u(N) - u(empty)``. Data Banzhaf (Wang & Jia 2023, "Data Banzhaf: a
robust data valuation framework for machine learning", AISTATS) is the semivalue whose
ranking is most stable under such noise; without normalisation it is robust to replication
on submodular games (Han et al. 2022, "Replication robust payoff allocation in submodular
cooperative games", IEEE TAI).

What the standard error does not cover: the randomness of training itself (another run of
the same participant would send another update). Every round is scored on the same
validation examples, so rounds' errors are not independent: a mechanism sums the rounds'
per-example values first and takes the error of the sum
(:attr:`market.mechanisms.PaymentLedger.examples`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.checks import vector_pair
from market.types import FloatArray

MAX_EXACT_PLAYERS = 12
"""Largest round whose per-example Banzhaf table (``2**n`` rows) is built in full."""
CONFIDENCE_Z = 1.645
"""One-sided 95% normal quantile: a value is *significantly positive* when
``value - CONFIDENCE_Z * stderr > 0``."""


@dataclass(frozen=True, eq=False)
class RoundValuation:
    """One round's valuation of its included participants.

    Attributes:
        values: Banzhaf value per participant (in the utility's units).
        stderr: its standard error: over the validation examples, plus, for a sampled
            estimate, the sampling error (``>= 0``).
        gain: the round's utility gain ``u(N) - u(empty)`` of all included updates.
        gain_stderr: its standard error over the validation examples.
        per_example: ``(n, E)`` per-example values (their row means are ``values``), so
            rounds scored on the same examples can be summed before the error is taken.
        sampling_stderr: the part of ``stderr`` due to sampling coalitions (0 if exact).
    """

    values: FloatArray
    stderr: FloatArray
    gain: float
    gain_stderr: float
    per_example: FloatArray | None = None
    sampling_stderr: FloatArray | None = None

    def __post_init__(self) -> None:
        values, stderr = vector_pair(
            self.values,
            self.stderr,
            "values and stderr must be 1-D arrays of equal shape",
            copy=False,
        )
        if not (np.all(np.isfinite(values)) and np.all(stderr >= 0)):
            raise ValueError("values must be finite and stderr >= 0")
        if not (np.isfinite(self.gain) and self.gain_stderr >= 0):
            raise ValueError("gain must be finite and gain_stderr >= 0")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "stderr", stderr)

    @property
    def gain_lower(self) -> float:
        """The gain's one-sided 95% lower confidence bound."""
        return float(self.gain - CONFIDENCE_Z * self.gain_stderr)


def banzhaf_matrix(n_players: int) -> FloatArray:
    """``A`` with ``phi = A @ table`` for a table indexed by bitmask: ``A[i, S] =
    (+1 if i in S else -1) / 2**(n - 1)``."""
    if not 1 <= n_players <= MAX_EXACT_PLAYERS:
        raise ValueError(f"n_players must be in 1..{MAX_EXACT_PLAYERS}, got {n_players}")
    masks = np.arange(1 << n_players)
    bits = (masks[None, :] >> np.arange(n_players)[:, None]) & 1
    out: FloatArray = ((2.0 * bits - 1.0) / float(1 << (n_players - 1))).astype(np.float64)
    return out


def _mean_and_stderr(per_example: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Row means and their standard errors over the columns (examples)."""
    count = per_example.shape[-1]
    mean: FloatArray = per_example.mean(axis=-1)
    if count < 2:
        return mean, np.zeros_like(mean)
    stderr: FloatArray = per_example.std(axis=-1, ddof=1) / np.sqrt(count)
    return mean, stderr


def banzhaf_valuation(example_table: FloatArray) -> RoundValuation:
    """Exact Banzhaf values, their standard errors and the gain, from per-example utilities.

    Args:
        example_table: ``(2**n, E)``: row ``S`` (a bitmask, bit ``i`` = player ``i``) holds
            ``u_e(S)`` for each of the ``E`` validation examples.
    """
    table = np.asarray(example_table, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[0] & (table.shape[0] - 1):
        raise ValueError("example_table must have 2**n rows (one per coalition) and 2-D shape")
    if not np.all(np.isfinite(table)):
        raise ValueError("example_table must be finite")
    n = int(table.shape[0]).bit_length() - 1
    per_example = banzhaf_matrix(n) @ table
    values, stderr = _mean_and_stderr(per_example)
    gain, gain_se = _mean_and_stderr(table[-1] - table[0])
    return RoundValuation(values, stderr, float(gain), float(gain_se), per_example, np.zeros(n))


def sample_coalitions(n_players: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``(count, n)`` membership rows, each player in with probability 1/2 (MSR sampling)."""
    rows: np.ndarray = rng.random((count, n_players)) < 0.5
    return rows


def banzhaf_msr(
    rows: np.ndarray, example_table: FloatArray, grand: FloatArray, empty: FloatArray
) -> RoundValuation:
    """Banzhaf values estimated by maximum sample reuse (Wang & Jia 2023): ``phi_i =
    mean(u(S) | i in S) - mean(u(S) | i not in S)`` over uniformly sampled coalitions, per
    validation example; the standard error adds the spread over the examples and the
    sampling error of the two means.

    Args:
        rows: ``(K, n)`` bool membership of the sampled coalitions.
        example_table: ``(K, E)`` per-example utilities of those coalitions.
        grand, empty: ``(E,)`` per-example utilities of the grand and the empty coalition.
    """
    members = np.asarray(rows, dtype=bool)
    table = np.asarray(example_table, dtype=np.float64)
    if members.ndim != 2 or table.shape[0] != members.shape[0]:
        raise ValueError("rows and example_table must have one row per sampled coalition")
    inside = members.sum(axis=0).astype(np.float64)
    outside = members.shape[0] - inside
    if np.any(inside < 2) or np.any(outside < 2):
        raise ValueError("every player must be in and out of at least 2 sampled coalitions")
    weights = members.T / inside[:, None] - (~members).T / outside[:, None]
    per_example = weights @ table
    values, example_se = _mean_and_stderr(per_example)
    mean_u = table.mean(axis=1)
    var_in = np.array([mean_u[members[:, i]].var(ddof=1) for i in range(members.shape[1])])
    var_out = np.array([mean_u[~members[:, i]].var(ddof=1) for i in range(members.shape[1])])
    sampling = np.sqrt(var_in / inside + var_out / outside)
    gain, gain_se = _mean_and_stderr(np.asarray(grand, np.float64) - np.asarray(empty, np.float64))
    stderr = np.sqrt(example_se**2 + sampling**2)
    return RoundValuation(values, stderr, float(gain), float(gain_se), per_example, sampling)


def lower_bound(value: FloatArray, variance: FloatArray, z: float = CONFIDENCE_Z) -> FloatArray:
    """The one-sided lower confidence bound ``value - z * sqrt(variance)`` (95% by default)."""
    out: FloatArray = np.asarray(value, np.float64) - z * np.sqrt(
        np.clip(np.asarray(variance, np.float64), 0.0, None)
    )
    return out


__all__ = [
    "CONFIDENCE_Z",
    "MAX_EXACT_PLAYERS",
    "RoundValuation",
    "banzhaf_matrix",
    "banzhaf_valuation",
    "banzhaf_msr",
    "lower_bound",
    "sample_coalitions",
]

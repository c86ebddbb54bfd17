"""Server-side aggregation of flat update vectors (pure numpy).

FedAvg (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
Decentralized Data"): the sample-weighted mean of the client deltas, applied with a server
step size. FedProx (Li et al. 2020) changes only the clients' local objective (see
``training.py``); its server step is this same weighted mean. The robust coordinate-wise
median and trimmed mean (Yin et al. 2018) need plaintext updates. :data:`AGGREGATORS` is the
registry every caller picks from by name (:func:`make_aggregator`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import numpy as np


def fedavg(deltas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted mean of ``deltas`` (float64 accumulation, float32 result).

    An empty coalition has no update: the result is the zero vector only if the caller
    passes one, so callers must handle ``len(deltas) == 0`` themselves (see ``utility``).
    """
    if len(deltas) == 0:
        raise ValueError("deltas: FedAvg needs at least one update")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(deltas),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights: need one non-negative weight per update, with a positive sum")
    total = np.zeros(np.shape(deltas[0]), dtype=np.float64)
    for delta, weight in zip(deltas, w, strict=True):
        total += weight * np.asarray(delta, dtype=np.float64)
    return (total / w.sum()).astype(np.float32)


def coordinate_median(deltas: Sequence[np.ndarray]) -> np.ndarray:
    """Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning").

    Robust to a minority of arbitrary updates, but it needs every individual update in the
    clear: it cannot run under secure aggregation, which reveals only the sum.
    """
    if len(deltas) == 0:
        raise ValueError("deltas: the median needs at least one update")
    return np.median(np.stack(deltas).astype(np.float64), axis=0).astype(np.float32)


def trimmed_mean(deltas: Sequence[np.ndarray], trim_fraction: float = 0.2) -> np.ndarray:
    """Coordinate-wise mean after dropping the ``trim_fraction`` largest and smallest values
    (Yin et al. 2018). Needs plaintext updates, like :func:`coordinate_median`."""
    if len(deltas) == 0:
        raise ValueError("deltas: the trimmed mean needs at least one update")
    if not 0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction: must be in [0, 0.5), got {trim_fraction}")
    stacked = np.sort(np.stack(deltas).astype(np.float64), axis=0)
    k = int(np.floor(trim_fraction * len(deltas)))
    kept = stacked[k : len(deltas) - k] if len(deltas) - 2 * k > 0 else stacked
    return kept.mean(axis=0).astype(np.float32)


def weighted_sum(deltas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """``sum_i w_i * delta_i``: what a secure aggregation of pre-weighted updates returns."""
    total = np.zeros(np.shape(deltas[0]), dtype=np.float64)
    for delta, weight in zip(deltas, weights, strict=True):
        total += float(weight) * np.asarray(delta, dtype=np.float64)
    return total


def apply_update(
    global_vector: np.ndarray, aggregate_delta: np.ndarray, server_lr: float = 1.0
) -> np.ndarray:
    """New global vector: ``global + server_lr * aggregate``."""
    return (
        np.asarray(global_vector, dtype=np.float32)
        + np.float32(server_lr) * np.asarray(aggregate_delta, dtype=np.float32)
    ).astype(np.float32)


Aggregator = Callable[..., np.ndarray]
"""``aggregate(deltas, weights, **options) -> delta``: one call per round (or coalition)."""


def _fedavg(deltas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    return fedavg(deltas, weights)


def _median(deltas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    _check_weights(deltas, weights)
    return coordinate_median(deltas)


def _trimmed_mean(
    deltas: Sequence[np.ndarray], weights: Sequence[float], *, trim_fraction: float = 0.2
) -> np.ndarray:
    _check_weights(deltas, weights)
    return trimmed_mean(deltas, trim_fraction)


def _check_weights(deltas: Sequence[np.ndarray], weights: Sequence[float]) -> None:
    if len(weights) != len(deltas):
        raise ValueError(f"weights: need one weight per update ({len(deltas)}), got {len(weights)}")


AGGREGATORS: Mapping[str, Aggregator] = MappingProxyType(
    {"fedavg": _fedavg, "median": _median, "trimmed_mean": _trimmed_mean}
)
"""Every server aggregator by name, one signature: ``(deltas, weights, **options)``.
``median`` and ``trimmed_mean`` ignore the weights (they are robust to a minority of
arbitrary updates by treating every update alike)."""

LINEAR_AGGREGATORS = frozenset({"fedavg"})
"""Aggregators that are a weighted sum of the updates, so secure aggregation (which reveals
only the sum) can compute them; the others need every update in the clear."""


def make_aggregator(name: str, **options: float) -> Callable[..., np.ndarray]:
    """``aggregate(deltas, weights) -> delta`` for ``name`` with its options bound.

    Raises:
        ValueError: an unknown name, or an option the aggregator does not take (one line).
    """
    if name not in AGGREGATORS:
        raise ValueError(f"aggregator: unknown {name!r}; use one of {tuple(AGGREGATORS)}")
    function = AGGREGATORS[name]
    allowed = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    for option in options:
        if option not in allowed:
            raise ValueError(
                f"aggregator: {name!r} takes no option {option!r}; its options: {allowed or 'none'}"
            )
    if "trim_fraction" in options:
        fraction = options["trim_fraction"]
        if not 0 <= fraction < 0.5:
            raise ValueError(f"trim_fraction: must be in [0, 0.5), got {fraction!r}")
    return functools.partial(function, **options) if options else function

"""Frozen dataclasses of per-identity arrays (:class:`market.mechanisms.PaymentLedger`,
:class:`market.reputation.ReputationState`): read-only fields and plain-array checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt


def freeze(instance: object, **arrays: npt.NDArray[Any]) -> None:
    """Make each array read-only and set it on the frozen dataclass ``instance``."""
    for name, array in arrays.items():
        array.flags.writeable = False
        object.__setattr__(instance, name, array)


def array_copies(instance: object, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Copies of the named array fields of ``instance`` that are set (for a checkpoint)."""
    fields = ((name, getattr(instance, name)) for name in names)
    return {name: array.copy() for name, array in fields if array is not None}


def stored_fields(
    label: str,
    arrays: Mapping[str, np.ndarray],
    required: Iterable[str],
    optional: Iterable[str],
) -> dict[str, Any]:
    """The constructor arguments of a state written by :func:`array_copies`: every
    ``required`` array (else ``ValueError``) and each ``optional`` one, ``None`` if absent."""
    required = tuple(required)
    missing = set(required) - set(arrays)
    if missing:
        raise ValueError(f"{label} arrays lack {sorted(missing)}")
    return {name: arrays.get(name) for name in (*required, *optional)}

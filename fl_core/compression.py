"""Update compression: what a client puts on the wire instead of its dense float32 update.

Three modes (``train.compression``):

* ``none``: the dense float32 vector, ``4 * d`` bytes.
* ``int8``: 8-bit quantisation per chunk of :data:`INT8_CHUNK` coordinates, one float32
  scale ``max|x| / 127`` per chunk, codes in [-127, 127]. Rounding is stochastic from the
  client's rng (unbiased: QSGD, Alistarh et al., NeurIPS 2017, "QSGD: Communication-Efficient
  SGD via Gradient Quantization and Encoding"; |error| < scale per coordinate) or to the
  nearest code (|error| <= scale / 2). ``d + 4 * ceil(d / INT8_CHUNK)`` bytes.
* ``topk``: the ``k = ceil(topk_fraction * d)`` coordinates of largest magnitude, as float32
  values plus uint32 indices (Aji & Heafield, EMNLP 2017, "Sparse Communication for
  Distributed Gradient Descent"). ``8 * k`` bytes.

Error feedback (Stich, Cordonnier & Jaggi, NeurIPS 2018, "Sparsified SGD with Memory";
Karimireddy et al. 2019): the client adds what compression dropped last round to this
round's update before compressing, so nothing is lost for good, only delayed. The residual
lives in the client's ``optimizer_state`` under :data:`RESIDUAL_KEY`, which travels and is
checkpointed with it (and is stripped before the optimiser sees the state).

Secure aggregation (Bonawitz et al. 2017) masks every coordinate in a finite ring, so what
it carries is a dense vector whatever the plaintext mode: int8 codes on a *shared* scale sum
to at most ``n * 254`` in magnitude and fit :func:`privacy.quantization.sum_bits` bits a
coordinate; top-k sends a different index set per client, which per-coordinate masks cannot
hide unless the index set is shared, so ``topk`` with secure aggregation is refused (see
:func:`agents.scenario.core.check_compatible`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fl_core.config import COMPRESSIONS, TrainConfig

if TYPE_CHECKING:  # no torch import at module level: agents read the byte formulas
    from fl_core.training import LocalResult

INT8_CHUNK = 512
"""Coordinates per int8 scale (QSGD's bucket size d = 512)."""
INT8_LEVEL = 127
"""Largest int8 code: codes are symmetric in [-127, 127]."""
RESIDUAL_KEY = "compression_residual"
"""Key of the error-feedback residual in a client's ``optimizer_state``."""


@dataclass(frozen=True)
class CompressedUpdate:
    """What one client sends: the payload arrays of one compression mode.

    Attributes:
        method: ``none``, ``int8`` or ``topk``.
        length: coordinates of the dense update.
        values: float32 dense vector (none), int8 codes (int8) or float32 kept values (topk).
        scales: float32 scale per chunk (int8 only).
        indices: uint32 positions of ``values`` (topk only).
    """

    method: str
    length: int
    values: np.ndarray
    scales: np.ndarray | None = None
    indices: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: the sum of the payload arrays' sizes."""
        arrays = (self.values, self.scales, self.indices)
        return int(sum(a.nbytes for a in arrays if a is not None))


def topk_count(length: int, fraction: float) -> int:
    """``k = ceil(fraction * length)``, at least 1 and at most ``length``."""
    return max(1, min(length, math.ceil(fraction * length)))


def update_bytes(length: int, method: str, *, topk_fraction: float = 0.1) -> int:
    """Bytes one client sends for a ``length``-coordinate update in plaintext ``method``."""
    if method == "none":
        return 4 * length
    if method == "int8":
        return length + 4 * math.ceil(length / INT8_CHUNK)
    if method == "topk":
        return 8 * topk_count(length, topk_fraction)
    raise ValueError(f"train.compression: unknown {method!r}; use one of {COMPRESSIONS}")


def quantize_int8(
    delta: np.ndarray, *, rng: np.random.Generator | None = None, chunk: int = INT8_CHUNK
) -> CompressedUpdate:
    """Per-chunk int8 codes of ``delta``: stochastic rounding with ``rng``, else nearest."""
    x = np.asarray(delta, dtype=np.float32).reshape(-1)
    n = x.size
    pad = (-n) % chunk
    blocks = np.concatenate([x, np.zeros(pad, np.float32)]).reshape(-1, chunk)
    scales = (np.abs(blocks).max(axis=1) / INT8_LEVEL).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0))
    scaled = (blocks / safe[:, None]).astype(np.float64)
    if rng is None:
        codes = np.rint(scaled)
    else:
        codes = np.floor(scaled + rng.random(scaled.shape))
    codes = np.clip(codes, -INT8_LEVEL, INT8_LEVEL).astype(np.int8).reshape(-1)[:n]
    return CompressedUpdate("int8", n, codes, scales=scales)


def sparsify_topk(delta: np.ndarray, *, fraction: float) -> CompressedUpdate:
    """The ``topk_count(d, fraction)`` coordinates of largest |value| (ties: lower index)."""
    x = np.asarray(delta, dtype=np.float32).reshape(-1)
    k = topk_count(x.size, fraction)
    order = np.argsort(-np.abs(x), kind="stable")[:k]
    indices = np.sort(order).astype(np.uint32)
    return CompressedUpdate("topk", x.size, x[indices].copy(), indices=indices)


def compress(
    delta: np.ndarray,
    method: str,
    *,
    topk_fraction: float = 0.1,
    rng: np.random.Generator | None = None,
) -> CompressedUpdate:
    """``delta`` in compression ``method`` (``rng``: stochastic int8 rounding, else nearest)."""
    if method == "none":
        x = np.asarray(delta, dtype=np.float32).reshape(-1)
        return CompressedUpdate("none", x.size, x.copy())
    if method == "int8":
        return quantize_int8(delta, rng=rng)
    if method == "topk":
        return sparsify_topk(delta, fraction=topk_fraction)
    raise ValueError(f"train.compression: unknown {method!r}; use one of {COMPRESSIONS}")


def decompress(update: CompressedUpdate) -> np.ndarray:
    """The dense float32 vector the server reads from ``update``."""
    if update.method == "none":
        return update.values.astype(np.float32, copy=True)
    if update.method == "int8":
        if update.scales is None:
            raise ValueError("update.scales: an int8 update needs its chunk scales")
        scales = np.repeat(update.scales, INT8_CHUNK)[: update.length]
        return (update.values.astype(np.float32) * scales).astype(np.float32)
    if update.method == "topk":
        if update.indices is None:
            raise ValueError("update.indices: a top-k update needs its indices")
        dense = np.zeros(update.length, dtype=np.float32)
        dense[update.indices.astype(np.int64)] = update.values
        return dense
    raise ValueError(f"update.method: unknown {update.method!r}; use one of {COMPRESSIONS}")


def strip_residual(
    state: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """``(optimizer state without the residual, residual)``; the input is not changed."""
    if state is None or RESIDUAL_KEY not in state:
        return state, None
    rest = {k: v for k, v in state.items() if k != RESIDUAL_KEY}
    return (rest or None), np.asarray(state[RESIDUAL_KEY], dtype=np.float32)


def compress_result(
    result: LocalResult,
    cfg: TrainConfig,
    rng: np.random.Generator,
    residual: np.ndarray | None = None,
) -> LocalResult:
    """``result`` with its delta replaced by what the server decodes from the wire.

    ``compression = "none"`` returns ``result`` untouched (no rng draw). Otherwise the delta
    (plus ``residual`` under error feedback) is compressed, int8 with stochastic rounding
    from ``rng`` (the client's stream); the new residual goes into ``optimizer_state``. A
    straggler sends nothing and keeps its residual.
    """
    if cfg.compression == "none":
        return result
    state = result.optimizer_state
    if result.delta is None:
        if residual is not None and cfg.error_feedback:
            state = {**(state or {}), RESIDUAL_KEY: residual}
        return dataclasses.replace(result, optimizer_state=state)
    target = result.delta.astype(np.float32)
    if cfg.error_feedback and residual is not None and residual.shape == target.shape:
        target = target + residual
    sent = decompress(compress(target, cfg.compression, topk_fraction=cfg.topk_fraction, rng=rng))
    if cfg.error_feedback:
        state = {**(state or {}), RESIDUAL_KEY: (target - sent).astype(np.float32)}
    return dataclasses.replace(result, delta=sent, optimizer_state=state)


def sent_bytes(length: int, cfg: TrainConfig) -> int:
    """Bytes a client that trained sends in plaintext under ``cfg`` (see :func:`update_bytes`)."""
    return update_bytes(length, cfg.compression, topk_fraction=cfg.topk_fraction)


def secure_update_bytes(length: int, method: str, *, n_clients: int, ring_bits: int = 32) -> int:
    """Bytes of the masked vector one client sends under secure aggregation.

    Masks cover every coordinate, so the vector is dense whatever the plaintext mode.
    ``none``: ``ring_bits`` a coordinate (``privacy.bits``). ``int8``: the codes on a scale all
    clients share, summed in a ring of :func:`privacy.quantization.sum_bits` bits for
    ``n_clients`` summands (this simulator still masks the decoded floats at ``ring_bits``:
    this is the size a protocol built for int8 codes would carry). ``topk``: refused.
    """
    from privacy.quantization import sum_bits

    if method == "none":
        return math.ceil(length * ring_bits / 8)
    if method == "int8":
        return math.ceil(length * sum_bits(n_summands=n_clients) / 8)
    if method == "topk":
        raise ValueError(
            "train.compression: 'topk' cannot be masked per coordinate without a shared index "
            "set; use 'int8' or 'none' with privacy.secure_aggregation = true"
        )
    raise ValueError(f"train.compression: unknown {method!r}; use one of {COMPRESSIONS}")

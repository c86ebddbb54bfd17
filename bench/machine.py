"""The machine a benchmark ran on: CPU model, SIMD level, core count, load average.

One helper for the benches that name their CPU next to a figure; each keeps its own wording,
built from :func:`model_name` and :func:`simd_short` or :func:`simd_level`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

SIMD_FLAGS = ("avx2", "avx512f")
"""The ``/proc/cpuinfo`` flags that matter for torch's CPU kernels."""


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def model_name(default: str | None = None) -> str:
    """The CPU's ``model name`` (what ``lscpu`` shows), else ``default``, else the platform's."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    if default is not None:
        return default
    return platform.processor() or platform.machine() or "unknown CPU"


def simd_flags() -> list[str] | None:
    """Which of :data:`SIMD_FLAGS` the CPU has, in that order (``None``: flags unknown)."""
    text = _cpuinfo()
    if not text:
        return None
    flags = set(text.split())
    return [f for f in SIMD_FLAGS if f in flags]


def cpu_name() -> str:
    """``"<model> (avx2, avx512f)"``, or ``"<model> (no AVX2)"``."""
    return f"{model_name()} ({', '.join(simd_flags() or []) or 'no AVX2'})"


def simd_level() -> str:
    """``"AVX-512"``, ``"AVX2, no AVX-512"``, ``"no AVX2"`` or ``"flags unknown"``."""
    flags = simd_flags()
    if flags is None:
        return "flags unknown"
    if "avx512f" in flags:
        return "AVX-512"
    return "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"


def simd_short() -> str:
    """The widest of :data:`SIMD_FLAGS`: ``"AVX-512"``, ``"AVX2"`` or ``"no AVX2"``."""
    flags = simd_flags() or []
    return "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")


def cpu_summary() -> str:
    """``"<model> (AVX-512 | AVX2 | no AVX2), <n> logical cores"``."""
    return f"{model_name(default='?')} ({simd_short()}), {os.cpu_count()} logical cores"


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()


__all__ = [
    "cpu_name",
    "cpu_summary",
    "load_average",
    "model_name",
    "simd_flags",
    "simd_level",
    "simd_short",
]

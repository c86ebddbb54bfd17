"""Where torch computes: ``train.device`` resolved to a ``torch.device``."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or ``"cuda"``.

    Raises:
        ValueError: an unknown name, or ``"cuda"`` on a machine without a usable CUDA GPU
            (one line naming ``train.device`` and the fix).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "train.device: 'cuda' but torch sees no CUDA GPU on this machine "
                f"(torch {torch.__version__}); use 'auto' or 'cpu'"
            )
        return torch.device("cuda")
    raise ValueError(f"train.device: unknown {name!r}; use one of ('auto', 'cpu', 'cuda')")


def seed_torch(seed: int, device: torch.device) -> None:
    """Seed the generator that ``device``'s random ops draw from (dropout), only that one.

    Equivalent to ``torch.manual_seed`` for every op on ``device`` (which seeds the CPU
    generator and every CUDA generator too), without touching the others.
    """
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)  # the current device's generator
    else:
        torch.default_generator.manual_seed(seed)

"""The flat update vector: the only thing that travels between clients and server.

Layout (stable, documented): the trainable tensors of the model in ``named_parameters``
registration order -- for LoRA mode the ``lora_A`` then ``lora_B`` matrices of each adapted
module from the lowest adapted layer up (query before value), then the head's weight and
bias; for head mode the head's layers -- each flattened in row-major (C) order and
concatenated into one float32 vector. :class:`ParameterLayout` records name, shape and
offset of every block, so a vector can be read without the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ParameterBlock:
    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class ParameterLayout:
    """Where each trainable tensor lives in the flat vector."""

    blocks: tuple[ParameterBlock, ...]

    @property
    def size(self) -> int:
        return sum(block.size for block in self.blocks)

    @property
    def nbytes(self) -> int:
        return 4 * self.size

    def as_rows(self) -> list[dict[str, object]]:
        return [
            {"name": b.name, "shape": b.shape, "offset": b.offset, "size": b.size}
            for b in self.blocks
        ]


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def layout_of(model: nn.Module) -> ParameterLayout:
    blocks = []
    offset = 0
    for name, parameter in trainable_parameters(model):
        block = ParameterBlock(name, tuple(parameter.shape), offset)
        blocks.append(block)
        offset += block.size
    return ParameterLayout(tuple(blocks))


def get_vector(model: nn.Module) -> np.ndarray:
    """The trainable weights as one float32 vector (a copy)."""
    parts = [p.detach().reshape(-1) for _, p in trainable_parameters(model)]
    return torch.cat(parts).cpu().numpy().astype(np.float32, copy=True)


def set_vector(model: nn.Module, vector: np.ndarray) -> None:
    """Write a flat vector into the trainable weights (in place)."""
    params = trainable_parameters(model)
    expected = sum(p.numel() for _, p in params)
    flat = np.asarray(vector, dtype=np.float32)
    if flat.shape != (expected,):
        raise ValueError(f"vector: expected shape ({expected},), got {flat.shape}")
    source = torch.from_numpy(np.ascontiguousarray(flat))
    if params and params[0][1].device != source.device:
        source = source.to(params[0][1].device)
    offset = 0
    with torch.no_grad():
        for _, parameter in params:
            n = parameter.numel()
            parameter.copy_(source[offset : offset + n].view_as(parameter))
            offset += n

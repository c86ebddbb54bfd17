"""Reading the classifier's frozen weights and the vector's blocks (peft introspection).

The fast evaluators do not run the model's modules: they read, once, which frozen weights
each layer holds and where each trainable tensor lives in the flat vector, then compute on
those tensors directly. Anything they do not implement (a merged or non-vanilla LoRA
adapter, a trainable encoder weight, a decoder layer, a head part other than Linear/ReLU)
raises :class:`~fl_core.evaluators.base.UnsupportedModel`, and the factory falls back to
the plain evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fl_core.evaluators.base import UnsupportedModel
from fl_core.vector import ParameterBlock, ParameterLayout

HeadStep = tuple[ParameterBlock, ParameterBlock] | str
"""A head linear as ``(weight block, bias block)``, or ``"relu"``."""


@dataclass(frozen=True)
class LinearSpec:
    """A frozen linear map, optionally with a LoRA term whose weights live in the vector."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    lora_a: ParameterBlock | None = None
    lora_b: ParameterBlock | None = None
    scaling: float = 1.0


@dataclass(frozen=True)
class NormSpec:
    """A frozen LayerNorm."""

    shape: tuple[int, ...]
    weight: torch.Tensor | None
    bias: torch.Tensor | None
    eps: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.layer_norm(x, self.shape, self.weight, self.bias, self.eps)


@dataclass(frozen=True)
class LayerSpec:
    query: LinearSpec
    key: LinearSpec
    value: LinearSpec
    attention_out: LinearSpec
    intermediate: LinearSpec
    output: LinearSpec
    norm_attention: NormSpec
    norm_output: NormSpec
    activation: Callable[[torch.Tensor], torch.Tensor]
    heads: int
    head_size: int
    scale: float


def parameter_names(model: nn.Module) -> dict[int, str]:
    """``id(parameter) -> name`` of every parameter of ``model``."""
    return {id(p): name for name, p in model.named_parameters()}


def block_of(layout: ParameterLayout, names: dict[int, str], param: torch.Tensor) -> ParameterBlock:
    name = names.get(id(param))
    for block in layout.blocks:
        if block.name == name:
            return block
    raise UnsupportedModel(f"model: parameter {name!r} is not in the vector layout")


def _frozen(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach().to(device)


def linear_spec(
    module: Any, layout: ParameterLayout, names: dict[int, str], device: torch.device
) -> LinearSpec:
    """Read a frozen ``nn.Linear`` or a vanilla peft LoRA ``Linear`` wrapping one."""
    if isinstance(module, nn.Linear):
        if module.weight.requires_grad:
            raise UnsupportedModel("model: a trainable encoder linear is not supported")
        return LinearSpec(module.weight.detach().to(device), _frozen(module.bias, device))
    base = getattr(module, "base_layer", None)
    lora_a = getattr(module, "lora_A", None)
    lora_b = getattr(module, "lora_B", None)
    if not isinstance(base, nn.Linear) or lora_a is None or lora_b is None:
        raise UnsupportedModel(f"model: unsupported module {type(module).__name__}")
    active = list(getattr(module, "active_adapters", []))
    if (
        len(active) != 1
        or getattr(module, "merged", False)
        or getattr(module, "disable_adapters", False)
        or active[0] in getattr(module, "lora_variant", {})
        or lora_a[active[0]].bias is not None
        or lora_b[active[0]].bias is not None
    ):
        raise UnsupportedModel("model: only a single vanilla, unmerged LoRA adapter is supported")
    name = active[0]
    return LinearSpec(
        base.weight.detach().to(device),
        _frozen(base.bias, device),
        block_of(layout, names, lora_a[name].weight),
        block_of(layout, names, lora_b[name].weight),
        float(module.scaling[name]),
    )


def _norm_spec(norm: Any, device: torch.device) -> NormSpec:
    if not isinstance(norm, nn.LayerNorm):
        raise UnsupportedModel(f"model: unsupported norm {type(norm).__name__}")
    return NormSpec(
        tuple(norm.normalized_shape),
        _frozen(norm.weight, device),
        _frozen(norm.bias, device),
        float(norm.eps),
    )


def layer_spec(
    layer: Any, layout: ParameterLayout, names: dict[int, str], device: torch.device
) -> LayerSpec:
    """The frozen weights and LoRA blocks of one BERT encoder layer."""
    attention = layer.attention.self
    if getattr(attention, "is_decoder", False):
        raise UnsupportedModel("model: decoder layers are not supported")
    return LayerSpec(
        query=linear_spec(attention.query, layout, names, device),
        key=linear_spec(attention.key, layout, names, device),
        value=linear_spec(attention.value, layout, names, device),
        attention_out=linear_spec(layer.attention.output.dense, layout, names, device),
        intermediate=linear_spec(layer.intermediate.dense, layout, names, device),
        output=linear_spec(layer.output.dense, layout, names, device),
        norm_attention=_norm_spec(layer.attention.output.LayerNorm, device),
        norm_output=_norm_spec(layer.output.LayerNorm, device),
        activation=layer.intermediate.intermediate_act_fn,
        heads=int(attention.num_attention_heads),
        head_size=int(attention.attention_head_size),
        scale=float(attention.scaling),
    )


def head_spec(head: nn.Module, layout: ParameterLayout, names: dict[int, str]) -> list[HeadStep]:
    """The head as a list of ``(weight block, bias block)`` linears and ``"relu"`` steps."""
    modules: list[Any] = list(head) if isinstance(head, nn.Sequential) else [head]
    steps: list[HeadStep] = []
    for module in modules:
        if isinstance(module, nn.Linear) and module.bias is not None:
            steps.append(
                (block_of(layout, names, module.weight), block_of(layout, names, module.bias))
            )
        elif isinstance(module, nn.ReLU):
            steps.append("relu")
        else:
            raise UnsupportedModel(f"model: unsupported head part {type(module).__name__}")
    return steps


def blocks(vectors: torch.Tensor, block: ParameterBlock) -> torch.Tensor:
    """``(K, *block.shape)`` slices of a ``(K, d)`` stack of vectors (torch)."""
    part = vectors[:, block.offset : block.offset + block.size]
    return part.reshape(vectors.shape[0], *block.shape)


def blocks_np(vectors: np.ndarray, block: ParameterBlock) -> np.ndarray:
    """``(K, *block.shape)`` slices of a ``(K, d)`` stack of vectors (numpy)."""
    part = vectors[:, block.offset : block.offset + block.size]
    return part.reshape(vectors.shape[0], *block.shape)

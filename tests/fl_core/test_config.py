"""fl_core's configs are the single source of every bound: one line naming ``section.field``.

Mutation tried: widening ``model.lora_rank`` back to [1, 256] makes the ``65`` case below
construct without error, and the test fails.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_core.config import (
    DEFAULT_LOCAL_EPOCHS,
    DEFAULT_LR,
    DataConfig,
    ModelConfig,
    TrainConfig,
)

CLASSES = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

BAD: list[tuple[str, str, object]] = [
    ("data", "dataset", "imdb"),
    ("data", "val_size", 19),
    ("data", "val_size", 100_001),
    ("data", "val_size", True),
    ("data", "test_fraction", 1.0),
    ("data", "test_fraction", math.nan),
    ("data", "max_length", 7),
    ("data", "max_length", 513),
    ("data", "text_column", ""),
    ("data", "positive_label", 1.5),
    ("model", "backbone", "gpt"),
    ("model", "mode", "full"),
    ("model", "lora_rank", 0),
    ("model", "lora_rank", 65),
    ("model", "lora_alpha", 0),
    ("model", "lora_dropout", 1.0),
    ("model", "target_modules", ()),
    ("model", "target_modules", ("query", "mlp")),
    ("model", "adapted_layers", 0),
    ("model", "adapted_layers", 7),
    ("model", "head_hidden", -1),
    ("model", "head_hidden", 1025),
    ("train", "lr", 0.0),
    ("train", "lr", 1.0),
    ("train", "lr", math.inf),
    ("train", "lr", True),
    ("train", "head_lr", 0.0),
    ("train", "head_lr", 1.0),
    ("train", "head_lr", math.nan),
    ("train", "batch_size", 0),
    ("train", "batch_size", 1025),
    ("train", "local_epochs", 0.0),
    ("train", "local_epochs", 100.5),
    ("train", "local_epochs", math.nan),
    ("train", "deadline_s", 1e8),
    ("train", "deadline_s", 0.0),
    ("train", "min_samples", 0),
    ("train", "prox_mu", -0.1),
    ("train", "prox_mu", math.nan),
    ("train", "server_lr", 0.0),
    ("train", "weight_decay", -1.0),
    ("train", "eval_batch_size", 0),
    ("train", "aggregator", "krum"),
    ("train", "trim_fraction", 0.5),
    ("train", "device", "tpu"),
]


@pytest.mark.parametrize(("section", "field", "value"), BAD)
def test_a_bad_value_is_one_line_naming_section_and_field(
    section: str, field: str, value: object
) -> None:
    with pytest.raises(ValueError) as error:
        CLASSES[section](**{field: value})
    message = str(error.value)
    assert message.startswith(f"{section}.{field}:") and "\n" not in message


@settings(max_examples=60, deadline=None)
@given(
    rank=st.integers(1, 64),
    hidden=st.integers(0, 1024),
    layers=st.one_of(st.none(), st.integers(1, 6)),
    val=st.integers(20, 100_000),
    lr=st.one_of(st.none(), st.floats(1e-6, 0.999)),
)
def test_every_value_inside_the_bounds_is_accepted(
    rank: int, hidden: int, layers: int | None, val: int, lr: float | None
) -> None:
    ModelConfig(lora_rank=rank, head_hidden=hidden, adapted_layers=layers)
    DataConfig(val_size=val)
    TrainConfig(lr=lr)


def test_learning_rate_and_epochs_default_by_mode() -> None:
    cfg = TrainConfig()
    assert cfg.resolved_lr("lora") == DEFAULT_LR["lora"] == 5e-3
    assert cfg.resolved_lr("head") == DEFAULT_LR["head"] == 5e-2
    assert cfg.resolved_local_epochs("head") == DEFAULT_LOCAL_EPOCHS["head"]
    assert TrainConfig(lr=0.01, local_epochs=2).resolved_lr("head") == 0.01
    assert TrainConfig(lr=0.01, local_epochs=2).resolved_local_epochs("head") == 2.0
    with pytest.raises(ValueError, match=r"^model\.mode:"):
        cfg.resolved_lr("full")
    # the head in LoRA mode: head_lr, else the adapters' rate
    assert cfg.resolved_head_lr() == DEFAULT_LR["lora"]
    assert TrainConfig(lr=0.01).resolved_head_lr() == 0.01
    assert TrainConfig(lr=0.01, head_lr=0.2).resolved_head_lr() == 0.2


def test_target_modules_from_a_toml_array_stay_hashable() -> None:
    cfg = ModelConfig(target_modules=["query", "key"])  # type: ignore[arg-type]  # TOML list
    assert cfg.target_modules == ("query", "key") and hash(cfg)


def test_importing_the_configs_imports_neither_torch_nor_pandas() -> None:
    # a fresh interpreter: the CLI must reject a bad scenario without paying for torch
    code = (
        "import sys; import fl_core.config; from fl_core import TrainConfig, CoalitionUtility; "
        "print(sorted(m for m in ('torch', 'pandas', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_lazy_package_exports_what_all_lists() -> None:
    import fl_core

    for name in fl_core.__all__:
        assert getattr(fl_core, name) is not None
    with pytest.raises(AttributeError, match="nope"):
        fl_core.nope  # noqa: B018  # the attribute access is the test

"""fl_core: real federated LoRA fine-tuning of a pretrained transformer on real text.

Data (:mod:`fl_core.data`, :mod:`fl_core.partition`), the model and its flat update vector
(:mod:`fl_core.model`, :mod:`fl_core.vector`), cached frozen features
(:mod:`fl_core.features`), local training (:mod:`fl_core.training`), the aggregator registry
(:mod:`fl_core.aggregation`), coalition evaluators (:mod:`fl_core.evaluators`), coalition
utility for contribution scoring (:mod:`fl_core.utility`) and plain FedAvg rounds
(:mod:`fl_core.rounds`). torch, transformers and peft are imported only inside this package,
and only when a name that needs them is first used: ``from fl_core import TrainConfig`` (or
``import fl_core.config``) imports neither torch nor pandas (PEP 562 lazy attributes).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# torch's CPU build runs its parallel regions on GNU OpenMP, whose idle threads spin by
# default. Beside one other busy process on 2 cores, two spinning threads trained 1.33x
# slower than two sleeping ones (PASSIVE), which cost 5% on the idle machine
# (bench/omp_wait.py, bench/results/omp_wait.md). It must be set before torch loads OpenMP,
# so it is set here, before any module of this package imports torch; a value the user set
# is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS: dict[str, str] = {
    "AGGREGATORS": "fl_core.aggregation",
    "Aggregator": "fl_core.aggregation",
    "LINEAR_AGGREGATORS": "fl_core.aggregation",
    "apply_update": "fl_core.aggregation",
    "coordinate_median": "fl_core.aggregation",
    "fedavg": "fl_core.aggregation",
    "make_aggregator": "fl_core.aggregation",
    "trimmed_mean": "fl_core.aggregation",
    "weighted_sum": "fl_core.aggregation",
    "DataConfig": "fl_core.config",
    "ModelConfig": "fl_core.config",
    "TrainConfig": "fl_core.config",
    "DataError": "fl_core.data",
    "DataSplits": "fl_core.data",
    "TextDataset": "fl_core.data",
    "load_splits": "fl_core.data",
    "Metrics": "fl_core.metrics",
    "VectorEvaluator": "fl_core.evaluators",
    "make_evaluator": "fl_core.evaluators",
    "allocate": "fl_core.partition",
    "dirichlet_partition": "fl_core.partition",
    "flip_labels": "fl_core.partition",
    "iid_partition": "fl_core.partition",
    "quantity_skew_partition": "fl_core.partition",
    "FedAvgConfig": "fl_core.rounds",
    "FedAvgResult": "fl_core.rounds",
    "run_fedavg": "fl_core.rounds",
    "FederatedTask": "fl_core.task",
    "LocalResult": "fl_core.training",
    "synthesize": "fl_core.synthesize",
    "sample_budget": "fl_core.training",
    "CoalitionUtility": "fl_core.utility",
    "stratified_subset": "fl_core.utility",
}

__all__ = [
    "AGGREGATORS",
    "Aggregator",
    "CoalitionUtility",
    "DataConfig",
    "DataError",
    "DataSplits",
    "FedAvgConfig",
    "FedAvgResult",
    "FederatedTask",
    "LINEAR_AGGREGATORS",
    "LocalResult",
    "Metrics",
    "ModelConfig",
    "TextDataset",
    "TrainConfig",
    "VectorEvaluator",
    "allocate",
    "apply_update",
    "coordinate_median",
    "dirichlet_partition",
    "fedavg",
    "flip_labels",
    "iid_partition",
    "load_splits",
    "make_aggregator",
    "make_evaluator",
    "quantity_skew_partition",
    "run_fedavg",
    "sample_budget",
    "stratified_subset",
    "synthesize",
    "trimmed_mean",
    "weighted_sum",
]

if TYPE_CHECKING:  # the static view of the lazy attributes below
    from fl_core.aggregation import (
        AGGREGATORS,
        LINEAR_AGGREGATORS,
        Aggregator,
        apply_update,
        coordinate_median,
        fedavg,
        make_aggregator,
        trimmed_mean,
        weighted_sum,
    )
    from fl_core.config import DataConfig, ModelConfig, TrainConfig
    from fl_core.data import DataError, DataSplits, TextDataset, load_splits
    from fl_core.evaluators import VectorEvaluator, make_evaluator
    from fl_core.metrics import Metrics
    from fl_core.partition import (
        allocate,
        dirichlet_partition,
        flip_labels,
        iid_partition,
        quantity_skew_partition,
    )
    from fl_core.rounds import FedAvgConfig, FedAvgResult, run_fedavg
    from fl_core.synthesize import synthesize
    from fl_core.task import FederatedTask
    from fl_core.training import LocalResult, sample_budget
    from fl_core.utility import CoalitionUtility, stratified_subset


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fl_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

"""fl_core: real federated LoRA fine-tuning of a pretrained transformer on real text.

Data (:mod:`fl_core.data`, :mod:`fl_core.partition`), the model and its flat update vector
(:mod:`fl_core.model`, :mod:`fl_core.vector`), cached frozen features
(:mod:`fl_core.features`), local training (:mod:`fl_core.training`), FedAvg
(:mod:`fl_core.aggregation`), coalition utility for contribution scoring
(:mod:`fl_core.utility`) and plain FedAvg rounds (:mod:`fl_core.rounds`).
torch, transformers and peft are imported only inside this package.
"""

from fl_core.aggregation import (
    apply_update,
    coordinate_median,
    fedavg,
    trimmed_mean,
    weighted_sum,
)
from fl_core.config import DataConfig, ModelConfig, TrainConfig
from fl_core.data import DataError, DataSplits, TextDataset, load_splits
from fl_core.evaluation import Metrics
from fl_core.partition import (
    allocate,
    dirichlet_partition,
    flip_labels,
    iid_partition,
    quantity_skew_partition,
)
from fl_core.rounds import FedAvgConfig, FedAvgResult, run_fedavg
from fl_core.task import FederatedTask
from fl_core.training import LocalResult, sample_budget
from fl_core.utility import CoalitionUtility, stratified_subset

__all__ = [
    "CoalitionUtility",
    "DataConfig",
    "DataError",
    "DataSplits",
    "FedAvgConfig",
    "FedAvgResult",
    "FederatedTask",
    "LocalResult",
    "Metrics",
    "ModelConfig",
    "TextDataset",
    "TrainConfig",
    "allocate",
    "apply_update",
    "coordinate_median",
    "dirichlet_partition",
    "fedavg",
    "flip_labels",
    "iid_partition",
    "load_splits",
    "quantity_skew_partition",
    "run_fedavg",
    "sample_budget",
    "stratified_subset",
    "trimmed_mean",
    "weighted_sum",
]

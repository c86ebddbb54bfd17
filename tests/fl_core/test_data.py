"""Data loading: the embedded reviews, the user's own files, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fl_core import DataConfig, load_splits
from fl_core.data import DataError


def test_default_reviews_splits() -> None:
    splits = load_splits(DataConfig(val_size=500), np.random.default_rng(0))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3500, 500, 1000)
    assert splits.majority_rate("test") == pytest.approx(0.658)
    # stratified validation keeps the class balance of the pool (65% "great")
    assert abs(splits.val.labels.mean() - 0.65) < 0.01


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_own_file_loads(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {"body": [f"text number {i}" for i in range(60)], "y": ["pos", "neg"] * 30}
    )
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    cfg = DataConfig(
        dataset="file",
        path=str(path),
        text_column="body",
        label_column="y",
        positive_label="pos",
        val_size=20,
    )
    splits = load_splits(cfg, np.random.default_rng(0))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 60
    assert set(np.unique(splits.train.labels)) == {0, 1}


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    cfg = DataConfig(dataset="file", path=str(tmp_path / "absent.csv"))
    with pytest.raises(DataError) as error:
        load_splits(cfg, np.random.default_rng(0))
    assert "absent.csv" in _one_line(error) and "data.path" in _one_line(error)


def test_missing_column_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 0]}).to_csv(path, index=False)
    cfg = DataConfig(
        dataset="file",
        path=str(path),
        text_column="review",
        label_column="label",
        positive_label=None,
    )
    with pytest.raises(DataError) as error:
        load_splits(cfg, np.random.default_rng(0))
    assert "data.text_column" in _one_line(error) and "'review'" in _one_line(error)


def test_unparseable_and_wrong_type_files(tmp_path: Path) -> None:
    bad = tmp_path / "d.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(DataError) as error:
        load_splits(DataConfig(dataset="file", path=str(bad)), np.random.default_rng(0))
    assert "d.jsonl" in _one_line(error)
    other = tmp_path / "d.xlsx"
    other.write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        load_splits(DataConfig(dataset="file", path=str(other)), np.random.default_rng(0))


def test_bad_config_values_name_the_field() -> None:
    with pytest.raises(ValueError, match="data.max_length"):
        DataConfig(max_length=2)
    with pytest.raises(ValueError, match="data.path"):
        DataConfig(dataset="file")

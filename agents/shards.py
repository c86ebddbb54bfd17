"""Each identity's data: the owners' shards (size, class mix, label noise, a strategy's own
labels), synthetic top-ups, and the split of an owner's shard over its identities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents.scenario import ScenarioError
from fl_core import allocate, flip_labels
from fl_core.partition import natural_partition

if TYPE_CHECKING:
    from agents.compile import RunPlan
    from fl_core import FederatedTask


@dataclass
class IdentityData:
    """Every identity's shard (indices into the task's training pool) and labels.

    Attributes:
        shards, labels: per identity, in ``pid`` order.
        quality: the share of each identity's labels that are right.
        replaced: whether the shards were drawn with replacement (honest owners may share
            examples, so the data registry is off).
        n_real_examples: the pool's size before synthetic examples were added.
    """

    shards: list[np.ndarray]
    labels: list[np.ndarray]
    quality: list[float]
    replaced: bool
    n_real_examples: int


def allocate_identity_data(
    plan: RunPlan, task: FederatedTask, data_rng: np.random.Generator, *, progress: bool = False
) -> IdentityData:
    """Allocate each owner's shard (Dirichlet class mix, label noise, its strategy's labels
    and data), add synthetic examples, and split each shard over the owner's identities."""
    labels = task.train_labels
    n_classes = task.n_classes
    prior = np.bincount(labels, minlength=n_classes) / len(labels)
    mix_rng, alloc_rng, noise_rng = data_rng.spawn(3)
    mixes = np.array(
        [
            mix_rng.dirichlet(g.class_alpha * prior * n_classes) if g.class_alpha > 0 else prior
            for g in plan.owners
        ]
    )
    sizes = [g.data_size for g in plan.owners]
    if plan.scenario.data.partition == "natural":  # whole natural owners; sizes ignored
        owners = task.splits.train.owners
        assert owners is not None  # DataSection checked the task has owners
        replace = False
        named = len(set(owners))
        if named < len(plan.owners):  # one line naming the setting, not a traceback
            raise ScenarioError(
                "data.partition",
                f"natural gives each owner whole natural owners, but the training pool holds "
                f"{named} of them for {len(plan.owners)} owners (this seed's validation draw "
                "included); lower the participants' counts or use data.partition = 'allocate'",
            )
        shards = natural_partition(owners, len(plan.owners), alloc_rng)
    else:
        replace = plan.scenario.data.replace or sum(sizes) > len(labels)
        shards = allocate(labels, sizes, mixes, alloc_rng, replace=replace)
    owner_labels = []
    for group, behaviour, shard in zip(plan.owners, plan.strategies, shards, strict=True):
        own = labels[shard]
        if group.label_noise > 0:
            own = flip_labels(own, group.label_noise, n_classes, noise_rng)
        owner_labels.append(behaviour.labels(own, n_classes, noise_rng))
    for owner, behaviour in enumerate(plan.strategies):  # the same data, another identity
        if behaviour.copies_data_of_first_owner() and owner > 0:
            shards[owner] = shards[0].copy()
            owner_labels[owner] = owner_labels[0].copy()
    n_real = len(labels)  # pool indices from here on are synthetic
    if any(g.synthetic_examples for g in plan.owners):
        add_synthetic(plan, task, shards, owner_labels, data_rng.spawn(1)[0], progress=progress)
    id_shards, id_labels = [], []
    for spec in plan.identities:
        order = plan.strategies[spec.owner].identity_order(owner_labels[spec.owner])
        part = np.array_split(order, spec.parts)[spec.part]
        id_shards.append(shards[spec.owner][part])
        id_labels.append(owner_labels[spec.owner][part])
    true_labels = task.train_labels
    quality = [
        float(np.mean(own == true_labels[shard])) if len(shard) else 1.0
        for shard, own in zip(id_shards, id_labels, strict=True)
    ]
    return IdentityData(id_shards, id_labels, quality, replace, n_real)


def add_synthetic(
    plan: RunPlan,
    task: FederatedTask,
    shards: list[np.ndarray],
    owner_labels: list[np.ndarray],
    rng: np.random.Generator,
    *,
    progress: bool = False,
) -> None:
    """Top up each owner's shard with ``synthetic_examples`` generated reviews (in place).

    The labels are the prompted ones, split evenly over the classes (the first classes
    get the remainder), whatever the owner's own class mix: a top-up that evens out
    label skew. Each prompt shows a few of the owner's own reviews of that class (all
    its reviews when it has none of it). The generator is SmolLM2-135M-Instruct, or a
    tiny random Llama for the ``tiny`` test backbone.
    """
    from fl_core.synthesize import LABEL_NAMES, generator_for, synthesize

    pool = task.splits.train
    n_classes = task.n_classes
    names = LABEL_NAMES if n_classes == 2 else pool.class_names
    lm = generator_for(plan.scenario.model.backbone)
    texts: list[str] = []
    labels: list[int] = []
    owners: list[int] = []
    for owner, (group, shard) in enumerate(zip(plan.owners, shards, strict=True)):
        n = group.synthetic_examples
        seed = int(rng.integers(2**31 - 1))
        if n == 0:
            continue
        counts = np.full(n_classes, n // n_classes)
        counts[: n % n_classes] += 1
        own = pool.labels[shard]
        for label, count in enumerate(counts):
            if count == 0:
                continue
            same = shard[own == label] if np.any(own == label) else shard
            new = synthesize(
                int(count),
                label=label,
                seed=seed + label,
                examples=[pool.texts[i] for i in same],
                label_names=names,
                lm=lm,
                progress=progress,
            )
            texts += new
            labels += [label] * len(new)
            owners += [owner] * len(new)
    added = task.add_examples(texts, np.asarray(labels, dtype=np.int64))
    owner_of = np.asarray(owners)
    label_arr = np.asarray(labels, dtype=np.int64)
    for owner in range(len(shards)):
        mine = owner_of == owner
        if np.any(mine):
            shards[owner] = np.concatenate([shards[owner], added[mine]])
            owner_labels[owner] = np.concatenate([owner_labels[owner], label_arr[mine]])

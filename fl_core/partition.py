"""Partitioners: how the training pool is split across clients.

All return a list of index arrays into the training pool, one per client, drawn from the
given ``numpy.random.Generator``. Shards are disjoint unless ``replace=True`` is asked of
:func:`allocate` (needed when clients ask for more data than the pool holds).

- :func:`iid_partition`: uniform random split into (near) equal shards.
- :func:`dirichlet_partition`: label skew, class proportions per client drawn from
  Dir(alpha) (Hsu et al. 2019, "Measuring the Effects of Non-Identical Data Distribution").
- :func:`quantity_skew_partition`: shard sizes from a log-normal (sigma), labels IID.
- :func:`natural_partition`: each client holds whole natural owners' data (a drug review's
  medical condition), the feature and label skew of real federated data (LEAF, Caldas et
  al. 2018).
- :func:`allocate`: per-client sizes and class proportions given explicitly (used by the
  agent-based simulator, where each participant has its own data profile).
- :func:`flip_labels`: per-client label noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_clients(n_items: int, n_clients: int) -> None:
    if not isinstance(n_clients, (int, np.integer)) or n_clients < 1:
        raise ValueError(f"n_clients: must be a positive integer, got {n_clients!r}")
    if n_items < n_clients:
        raise ValueError(
            f"n_clients: {n_clients} clients cannot share {n_items} examples; use fewer clients"
        )


def iid_partition(n_items: int, n_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Split ``range(n_items)`` uniformly at random into ``n_clients`` near-equal shards."""
    _check_clients(n_items, n_clients)
    order = rng.permutation(n_items)
    return [np.sort(part) for part in np.array_split(order, n_clients)]


def quantity_skew_partition(
    n_items: int, n_clients: int, rng: np.random.Generator, sigma: float = 1.0
) -> list[np.ndarray]:
    """Shard sizes proportional to log-normal(0, sigma) draws; every client gets >= 1 item."""
    _check_clients(n_items, n_clients)
    if sigma < 0:
        raise ValueError(f"sigma: must be >= 0, got {sigma}")
    weights = rng.lognormal(0.0, sigma, size=n_clients)
    sizes = 1 + np.floor(weights / weights.sum() * (n_items - n_clients)).astype(np.int64)
    sizes[np.argmax(weights)] += n_items - sizes.sum()
    order = rng.permutation(n_items)
    bounds = np.cumsum(sizes)[:-1]
    return [np.sort(part) for part in np.split(order, bounds)]


def dirichlet_partition(
    labels: np.ndarray,
    n_clients: int,
    alpha: float,
    rng: np.random.Generator,
    min_size: int = 1,
) -> list[np.ndarray]:
    """Label-skewed split: for each class, its examples go to clients in Dir(alpha) shares.

    Small ``alpha`` (0.1) gives clients dominated by one class; large ``alpha`` (100)
    approaches IID.
    """
    labels = np.asarray(labels)
    _check_clients(len(labels), n_clients)
    if not alpha > 0:
        raise ValueError(f"alpha: the Dirichlet concentration must be > 0, got {alpha}")
    if min_size * n_clients > len(labels):
        raise ValueError(f"min_size: {min_size} x {n_clients} clients exceeds {len(labels)} items")
    shards: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        shares = rng.dirichlet(np.full(n_clients, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
        for client, part in enumerate(np.split(members, cuts)):
            shards[client].append(part)
    result = [rng.permutation(np.concatenate(parts)) for parts in shards]
    # Very small alpha leaves some clients empty: they take examples from the largest shard
    # (the skew of everyone else is kept), so that every client has min_size examples.
    for client in range(n_clients):
        while len(result[client]) < min_size:
            donor = int(np.argmax([len(r) for r in result]))
            need = min(min_size - len(result[client]), len(result[donor]) - min_size)
            result[client] = np.concatenate([result[client], result[donor][:need]])
            result[donor] = result[donor][need:]
    return [np.sort(r) for r in result]


def natural_partition(
    owners: Sequence[str], n_clients: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Split by natural owner: every owner's examples stay together on one client.

    The ``n_clients`` largest owners each found a client; every further owner, largest
    first, joins the client that holds the fewest examples so far (greedy
    longest-processing-time packing), so no example is dropped and client sizes stay as
    even as whole owners allow. ``rng`` breaks ties between owners of equal size and then
    numbers the clients at random, so the first client is not always the one holding the
    largest owner. With fewer owners than clients the split is refused (one line naming
    ``n_clients``).
    """
    keys = np.asarray(owners, dtype=object)
    _check_clients(len(keys), n_clients)
    names, inverse, counts = np.unique(keys.astype(str), return_inverse=True, return_counts=True)
    if len(names) < n_clients:
        raise ValueError(
            f"n_clients: the data has {len(names)} natural owners, fewer than {n_clients} "
            "clients; use at most that many clients or another partition"
        )
    tiebreak = rng.permutation(len(names))
    order = np.lexsort((tiebreak, -counts))  # largest first, ties in random order
    held = np.zeros(n_clients, dtype=np.int64)
    client_of = np.empty(len(names), dtype=np.int64)
    for rank, owner in enumerate(order):
        client = rank if rank < n_clients else int(np.argmin(held))
        client_of[owner] = client
        held[client] += counts[owner]
    client_of = rng.permutation(n_clients)[client_of]  # who gets the largest owner: random
    example_client = client_of[inverse]
    return [np.flatnonzero(example_client == k) for k in range(n_clients)]


def allocate(
    labels: np.ndarray,
    sizes: Sequence[int],
    class_proportions: np.ndarray | None,
    rng: np.random.Generator,
    replace: bool = False,
) -> list[np.ndarray]:
    """Give client k ``sizes[k]`` examples with class mix ``class_proportions[k]``.

    Without replacement, a class that runs out is topped up from the classes that still
    have examples, so sizes are always met while the pool lasts. ``class_proportions=None``
    draws each client's examples uniformly from what is left.
    """
    labels = np.asarray(labels)
    sizes_arr = np.asarray(sizes, dtype=np.int64)
    if (sizes_arr < 1).any():
        raise ValueError("sizes: every client needs at least 1 example")
    if not replace and sizes_arr.sum() > len(labels):
        raise ValueError(
            f"sizes: clients ask for {int(sizes_arr.sum())} examples but the pool holds "
            f"{len(labels)}; lower the data sizes or allow sampling with replacement"
        )
    classes = np.unique(labels)
    members = {int(c): np.flatnonzero(labels == c) for c in classes}  # once, not per client
    pools = {int(c): rng.permutation(members[int(c)]) for c in classes}
    used = dict.fromkeys(pools, 0)  # a pool's first ``used[c]`` entries are handed out
    shards: list[np.ndarray] = []
    for k, size in enumerate(sizes_arr):
        if class_proportions is None:
            mix = np.array([len(pools[int(c)]) - used[int(c)] for c in classes], dtype=float)
            mix = mix / mix.sum() if mix.sum() > 0 else np.full(len(classes), 1 / len(classes))
        else:
            mix = np.asarray(class_proportions[k], dtype=float)
        counts = rng.multinomial(int(size), mix / mix.sum())
        chosen: list[np.ndarray] = []
        if replace:
            for c, count in zip(classes, counts, strict=True):
                chosen.append(rng.choice(members[int(c)], size=int(count), replace=True))
        else:
            shortfall = 0
            for c, count in zip(classes, counts, strict=True):
                start = used[int(c)]
                take = min(int(count), len(pools[int(c)]) - start)
                chosen.append(pools[int(c)][start : start + take])
                used[int(c)] += take
                shortfall += int(count) - take
            for c in rng.permutation(classes):
                start = used[int(c)]
                take = min(shortfall, len(pools[int(c)]) - start)
                chosen.append(pools[int(c)][start : start + take])
                used[int(c)] += take
                shortfall -= take
        shards.append(np.sort(np.concatenate(chosen).astype(np.int64, copy=False)))
    return shards


def flip_labels(
    labels: np.ndarray, rate: float, n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Return a copy where a ``rate`` share of labels is replaced by a different class."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"label_noise: must be in [0, 1], got {rate}")
    noisy = np.array(labels, copy=True)
    flip = rng.random(len(noisy)) < rate
    shift = rng.integers(1, n_classes, size=int(flip.sum())) if n_classes > 1 else 0
    noisy[flip] = (noisy[flip] + shift) % n_classes
    return noisy

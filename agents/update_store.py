"""The round's submitted updates, read only as the privacy access mode declares, every read counted.

Each access mode (``privacy.access``, :mod:`agents.access`) declares who may read an
individual update:

* ``plaintext``: the server (the platform) reads them;
* ``trusted_evaluator``: the trusted evaluator (e.g. a TEE enclave) reads them to screen,
  group replicas and score; the server receives only its verdicts and scalar utilities;
* ``secure_coalitions``: nobody. The server sees the coalition sums that secure
  aggregation releases; a client checks its own update before masking.

:class:`UpdateStore` holds the updates the clients submitted in one round and hands one out
only to a reader the mode declares; any other read raises :class:`UndeclaredRead`, so a
phase that would need a plaintext update under ``secure_coalitions`` has to run on what the
server may see or be off. Reads are recorded per reader and distinct client: the rounds
table's ``server_reads`` and ``evaluator_reads``, and ``exposed_clients`` counts every
client the server read. What a client feeds the secure-aggregation protocol
(:meth:`UpdateStore.secure_inputs`) goes to the simulated clients' masking, not to a reader.

Threat model: the simulator stands in for the network between clients and the platform, so
this store is a discipline the platform's code is held to (and a test checks, per mode, that
the platform reads nothing else), not a cryptographic barrier. Under ``trusted_evaluator``
whoever runs or breaks the evaluator reads every update; under ``plaintext`` the server does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

SERVER = "server"
EVALUATOR = "evaluator"
DECLARED_READER: dict[str, str | None] = {
    "plaintext": SERVER,
    "trusted_evaluator": EVALUATOR,
    "secure_coalitions": None,
}
"""Who may read an individual update under each access mode (``None``: nobody)."""


class UndeclaredRead(PermissionError):
    """A phase asked for an individual update its access mode does not let anyone read."""


class UpdateStore:
    """One round's submitted updates (``pid -> update``) behind the access mode's declaration."""

    def __init__(self, access: str, updates: Mapping[int, np.ndarray]) -> None:
        if access not in DECLARED_READER:
            raise ValueError(f"privacy.access: unknown access mode {access!r}")
        self.access = access
        self._updates = {int(pid): update for pid, update in updates.items()}
        self._reads: dict[str, set[int]] = {SERVER: set(), EVALUATOR: set()}

    @property
    def reader(self) -> str | None:
        """Who reads individual updates under this mode (``None``: nobody)."""
        return DECLARED_READER[self.access]

    @property
    def readable(self) -> bool:
        """Whether any party may read an individual update under this mode."""
        return self.reader is not None

    def __contains__(self, pid: object) -> bool:
        return pid in self._updates

    def read(self, pid: int, *, purpose: str) -> np.ndarray:
        """The update of ``pid`` for the mode's declared reader (recorded as a read).

        Raises:
            UndeclaredRead: the mode lets nobody read an individual update.
        """
        reader = self.reader
        if reader is None:
            raise UndeclaredRead(
                f"{purpose}: privacy.access = {self.access!r} lets nobody read client "
                f"{pid}'s update"
            )
        self._reads[reader].add(int(pid))
        return self._updates[int(pid)]

    def read_many(self, pids: Iterable[int], *, purpose: str) -> list[np.ndarray]:
        """:meth:`read` for each of ``pids``."""
        return [self.read(pid, purpose=purpose) for pid in pids]

    def read_updates(self, pids: Iterable[int], purpose: str) -> list[np.ndarray]:
        """:meth:`read_many` as float32 arrays (what aggregation and scoring compute on)."""
        return [np.asarray(u, dtype=np.float32) for u in self.read_many(pids, purpose=purpose)]

    def secure_inputs(self, pids: Iterable[int]) -> dict[int, np.ndarray]:
        """What each of ``pids`` feeds the secure-aggregation protocol (its own update).

        Only the simulated clients of :func:`privacy.secure_aggregate` receive these: the
        clients mask their own inputs, and the server gets the protocol's messages. Not a read.
        """
        return {int(pid): self._updates[int(pid)] for pid in pids}

    def discard(self, pid: int) -> None:
        """Drop a rejected update: nothing later in the round may use it."""
        self._updates.pop(int(pid), None)

    def reads(self, reader: str) -> frozenset[int]:
        """The distinct clients ``reader`` (:data:`SERVER` or :data:`EVALUATOR`) has read."""
        return frozenset(self._reads[reader])

"""Communication and time accounting of a secure-aggregation round.

Bytes are the `wire_size()` of each message (see `privacy.messages`), booked per client and
stage: what the client sent to the server and what the server sent back to it in that stage.
Seconds are wall-clock time the simulator spent in a stage, clients (one after another) and
server together, so they are total compute, not the latency of a deployed round.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

from privacy.types import STAGES, ClientId, Stage


class Ledger:
    """Running totals for one round; every (stage, client) starts at zero.

    `stages` are the rows created up front (the semi-honest four by default); a stage first
    booked later (the malicious model's consistency_check) gets its row then.
    """

    def __init__(self, clients: Collection[ClientId], stages: Sequence[Stage] = STAGES) -> None:
        self.clients = tuple(sorted(clients))
        self.bytes_sent: dict[Stage, dict[ClientId, int]] = {}
        self.bytes_received: dict[Stage, dict[ClientId, int]] = {}
        self.seconds: dict[Stage, float] = {}
        self.server_seconds: dict[Stage, float] = {}
        for stage in stages:
            self._add(stage)

    def _add(self, stage: Stage) -> None:
        if stage not in self.seconds:
            self.bytes_sent[stage] = dict.fromkeys(self.clients, 0)
            self.bytes_received[stage] = dict.fromkeys(self.clients, 0)
            self.seconds[stage] = 0.0
            self.server_seconds[stage] = 0.0

    def sent(self, stage: Stage, client: ClientId, nbytes: int) -> None:
        """Book `nbytes` sent by `client` to the server in `stage`."""
        self._add(stage)
        self.bytes_sent[stage][client] += nbytes

    def received(self, stage: Stage, client: ClientId, nbytes: int) -> None:
        """Book `nbytes` sent by the server to `client` in `stage`."""
        self._add(stage)
        self.bytes_received[stage][client] += nbytes

    @contextmanager
    def timed(self, stage: Stage, *, server: bool = False) -> Iterator[None]:
        """Add the time spent inside the block to `stage` (and to its server share)."""
        self._add(stage)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[stage] += elapsed
            if server:
                self.server_seconds[stage] += elapsed

"""`run_round`: carry one round's messages between the clients and the server, and book them.

The router is the network of the simulation. Each stage, the still active clients send, the
server answers, and the replies go back to their addressees; every message is booked in a
`privacy.accounting.Ledger` by its `wire_size()`. Threat model: the server object is handed
the protocol messages of its stage and nothing else (no client object, key or input), so what
it learns is exactly what a real server would receive (`privacy.protocol`); a dropout is a
client that stops sending from its stage on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Protocol, TypeVar, cast

from privacy.accounting import Ledger
from privacy.client import SecAggClient
from privacy.messages import SurvivorSet, UnmaskRequest
from privacy.server import SecAggServer
from privacy.types import ClientId, RingVector, Stage


def run_round(
    server: SecAggServer,
    clients: Mapping[ClientId, SecAggClient],
    drop_stage: Mapping[ClientId, Stage],
    ledger: Ledger,
) -> tuple[RingVector, dict[Stage, frozenset[ClientId]]]:
    """Route one round's messages between `clients` and `server`.

    A client with `drop_stage[u] = s` sends nothing from stage s on. Returns the server's ring
    sum and the senders of each stage; raises `SecAggAborted` when the server must abort.
    """
    stages = server.config.stages
    last = {u: stages.index(drop_stage[u]) if u in drop_stage else len(stages) for u in clients}
    senders: dict[Stage, frozenset[ClientId]] = {}

    def exchange(
        stage: Stage,
        previous: Collection[ClientId],
        send: Callable[[ClientId], _SentT],
        serve: Callable[[list[_SentT]], _AnswerT],
    ) -> _AnswerT:
        """One stage: the still active clients of `previous` send, then the server answers;
        both parts are timed and what the clients sent is booked."""
        index = stages.index(stage)
        with ledger.timed(stage):
            chosen = [u for u in sorted(previous) if last[u] > index]
            senders[stage] = frozenset(chosen)
            sent = [send(u) for u in chosen]
        with ledger.timed(stage, server=True):
            answer = serve(sent)
        for message in sent:
            ledger.sent(stage, message.sender, message.wire_size())
        return answer

    rosters = exchange(
        "advertise_keys", clients, lambda u: clients[u].advertise_keys(), server.advertise_keys
    )
    _book_replies(ledger, "advertise_keys", rosters)
    inboxes = exchange(
        "share_keys", rosters, lambda u: clients[u].share_keys(rosters[u]), server.share_keys
    )
    _book_replies(ledger, "share_keys", inboxes)
    replies = exchange(
        "masked_input", inboxes, lambda u: clients[u].masked_input(inboxes[u]), server.masked_input
    )
    _book_replies(ledger, "masked_input", replies)
    if server.config.malicious:
        announced = cast("dict[ClientId, SurvivorSet]", replies)
        requests = exchange(
            "consistency_check",
            announced,
            lambda u: clients[u].consistency_check(announced[u]),
            server.consistency_check,
        )
        _book_replies(ledger, "consistency_check", requests)
    else:
        requests = cast("dict[ClientId, UnmaskRequest]", replies)
    total = exchange(
        "unmasking", requests, lambda u: clients[u].unmasking(requests[u]), server.unmasking
    )
    return total, senders


def _book_replies(ledger: Ledger, stage: Stage, replies: Mapping[ClientId, _Reply]) -> None:
    for client, reply in replies.items():
        ledger.received(stage, client, reply.wire_size())


class _Reply(Protocol):
    def wire_size(self) -> int: ...


class _Message(_Reply, Protocol):
    @property
    def sender(self) -> ClientId: ...


_SentT = TypeVar("_SentT", bound=_Message)
_AnswerT = TypeVar("_AnswerT")

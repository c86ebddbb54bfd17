"""Typed aborts of a secure-aggregation round (Bonawitz et al. 2017, Fig. 4 "abort").

Every way a round can stop is a subclass of `SecAggAborted`, so a caller records one exception
type and can still tell the reasons apart (`reason`): too few parties, survivors that are not
connected in the SecAgg+ graph, a tampered or malformed share, or a server caught lying by a
client's own checks. The message always starts with "secure aggregation aborted".
"""

from __future__ import annotations

from typing import Literal, TypeAlias

AbortReason: TypeAlias = Literal[
    "too_few_survivors", "disconnected_survivors", "invalid_share", "server_misbehaved"
]


class SecAggAborted(RuntimeError):
    """A secure-aggregation round stopped without releasing anything.

    Attributes:
        stage: the stage at which the round stopped.
        reason: one of `AbortReason`.
        survived: parties left for the check that failed (None when not a count).
        needed: parties needed (the Shamir threshold t; None when not a count).
    """

    reason: AbortReason = "too_few_survivors"

    def __init__(
        self, stage: str, detail: str, *, survived: int | None = None, needed: int | None = None
    ) -> None:
        self.stage = stage
        self.survived = survived
        self.needed = needed
        super().__init__(f"secure aggregation aborted at stage {stage!r}: {detail}")


class TooFewSurvivors(SecAggAborted):
    """Fewer than t clients answered a stage, or a needed secret has fewer than t holders."""

    reason: AbortReason = "too_few_survivors"

    def __init__(self, stage: str, survived: int, needed: int, what: str = "clients") -> None:
        super().__init__(
            stage,
            f"{survived} {what} survived, {needed} needed (threshold)",
            survived=survived,
            needed=needed,
        )


class DisconnectedSurvivors(SecAggAborted):
    """The included clients are not connected in the neighbour graph (SecAgg+).

    Unmasking would release the sum of every connected component, not only the total
    (Bell et al. 2020 require the graph of surviving clients to be connected).
    """

    reason: AbortReason = "disconnected_survivors"

    def __init__(self, stage: str, components: list[list[int]]) -> None:
        self.components = components
        sizes = sorted(len(c) for c in components)
        super().__init__(
            stage,
            f"the included clients form {len(components)} disconnected groups (sizes {sizes}); "
            "unmasking would reveal each group's sum",
        )


class InvalidShare(SecAggAborted):
    """A revealed share is malformed, or the secret rebuilt from the shares is wrong."""

    reason: AbortReason = "invalid_share"

    def __init__(self, stage: str, owner: int, detail: str) -> None:
        self.owner = owner
        super().__init__(stage, f"shares of client {owner}'s secret: {detail}")


class ServerMisbehaved(SecAggAborted):
    """A client's check of Bonawitz et al. (2017) Fig. 4 failed: it stops answering."""

    reason: AbortReason = "server_misbehaved"

    def __init__(self, stage: str, client: int, detail: str) -> None:
        self.client = client
        super().__init__(stage, f"client {client} refuses: {detail}")

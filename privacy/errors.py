"""Typed aborts of a secure-aggregation round (Bonawitz et al. 2017, Fig. 4 "abort").

Every way a round can stop is a subclass of `SecAggAborted`, so a caller records one exception
type and can still tell the reasons apart (`reason`): too few parties, survivors that are not
connected in the SecAgg+ graph, a tampered or malformed share, or a server caught lying by a
client's own checks. The message always starts with "secure aggregation aborted".

`reason` is a stable string code (one of `AbortReason`) on every instance, and `graph` is the
round's neighbour graph (a networkx graph set by `privacy.secure_aggregate`, None when the round
stopped before one was built), so a caller can record why a round stopped and on which graph.
The client checks of the malicious-server model (`threat_model="malicious"`) raise subclasses
of `ServerMisbehaved` with their own codes: "bad_signature" (key substitution),
"inconsistent_survivors" (split or implausible survivor sets), "withheld_ciphertext",
"forged_ciphertext" (a redirected, replayed or tampered share ciphertext),
"too_few_signatures" and "bad_unmask_request".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    import networkx as nx

AbortReason: TypeAlias = Literal[
    "too_few_survivors",
    "disconnected_survivors",
    "invalid_share",
    "server_misbehaved",
    "bad_signature",
    "inconsistent_survivors",
    "withheld_ciphertext",
    "forged_ciphertext",
    "too_few_signatures",
    "bad_unmask_request",
]


class SecAggAborted(RuntimeError):
    """A secure-aggregation round stopped without releasing anything.

    Attributes:
        stage: the stage at which the round stopped.
        reason: one of `AbortReason`: a stable code to record (the message is for people).
        survived: parties left for the check that failed (None when not a count).
        needed: parties needed (the Shamir threshold t; None when not a count).
        graph: the round's neighbour graph (networkx), or None when none was built.
    """

    reason: AbortReason = "too_few_survivors"

    def __init_subclass__(cls, *, reason: AbortReason | None = None, **kwargs: Any) -> None:
        """A subclass states its code in its header: `class X(SecAggAborted, reason="...")`."""
        super().__init_subclass__(**kwargs)
        if reason is not None:
            cls.reason = reason

    def __init__(
        self, stage: str, detail: str, *, survived: int | None = None, needed: int | None = None
    ) -> None:
        self.stage = stage
        self.survived = survived
        self.needed = needed
        self.graph: nx.Graph | None = None
        super().__init__(f"secure aggregation aborted at stage {stage!r}: {detail}")


class TooFewSurvivors(SecAggAborted, reason="too_few_survivors"):
    """Fewer than t clients answered a stage, or a needed secret has fewer than t holders."""

    def __init__(self, stage: str, survived: int, needed: int, what: str = "clients") -> None:
        super().__init__(
            stage,
            f"{survived} {what} survived, {needed} needed (threshold)",
            survived=survived,
            needed=needed,
        )


class DisconnectedSurvivors(SecAggAborted, reason="disconnected_survivors"):
    """The included clients are not connected in the neighbour graph (SecAgg+).

    Unmasking would release the sum of every connected component, not only the total
    (Bell et al. 2020 require the graph of surviving clients to be connected).
    """

    def __init__(self, stage: str, components: list[list[int]]) -> None:
        self.components = components
        sizes = sorted(len(c) for c in components)
        super().__init__(
            stage,
            f"the included clients form {len(components)} disconnected groups (sizes {sizes}); "
            "unmasking would reveal each group's sum",
        )


class InvalidShare(SecAggAborted, reason="invalid_share"):
    """A revealed share is malformed, or the secret rebuilt from the shares is wrong."""

    def __init__(self, stage: str, owner: int, detail: str) -> None:
        self.owner = owner
        super().__init__(stage, f"shares of client {owner}'s secret: {detail}")


class ServerMisbehaved(SecAggAborted, reason="server_misbehaved"):
    """A client's check of Bonawitz et al. (2017) Fig. 4 failed: it stops answering."""

    def __init__(self, stage: str, client: int, detail: str) -> None:
        self.client = client
        super().__init__(stage, f"client {client} refuses: {detail}")


class BadSignature(ServerMisbehaved, reason="bad_signature"):
    """An advertised key set carries no valid signature of its owner (key substitution)."""


class InconsistentSurvivors(ServerMisbehaved, reason="inconsistent_survivors"):
    """The survivor set U3 is implausible or differs from the one the client signed."""


class WithheldCiphertext(ServerMisbehaved, reason="withheld_ciphertext"):
    """Too few share ciphertexts reached the client (its input would be under-masked)."""


class ForgedCiphertext(ServerMisbehaved, reason="forged_ciphertext"):
    """A share ciphertext fails authentication: forged, redirected, replayed or tampered."""


class TooFewSignatures(ServerMisbehaved, reason="too_few_signatures"):
    """Fewer valid consistency-check signatures on the client's U3 than the quorum."""


class BadUnmaskRequest(ServerMisbehaved, reason="bad_unmask_request"):
    """The unmasking request asks for shares the protocol does not release."""

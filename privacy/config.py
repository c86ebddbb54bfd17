"""The public parameters of a secure-aggregation round, known to every party before it starts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from privacy import quantization
from privacy.signatures import VERIFICATION_KEY_BYTES
from privacy.types import MALICIOUS_STAGES, STAGES, THREAT_MODELS, ClientId, Stage, ThreatModel

SESSION_BYTES = 16
"""Length of the random round (session) id bound into signatures and ciphertexts."""


def check_threat_model(value: object) -> ThreatModel:
    """`value` if it is a supported threat model, else a one-line ValueError naming the field."""
    if value not in THREAT_MODELS:
        raise ValueError(f"threat_model: must be 'semi_honest' or 'malicious', got {value!r}")
    return value  # narrowed to ThreatModel by the membership test above


@dataclass(frozen=True, eq=False)
class SecAggConfig:
    """The public parameters of a round.

    Attributes:
        threshold: Shamir threshold t, at least 2 (t = 1 hands a secret to any one holder).
        bits: the ring is Z_2^bits.
        clip: each coordinate is clipped to [-clip, clip] before quantisation.
        length: number of coordinates of every input.
        neighbors: the (symmetric) neighbour graph as adjacency sets over all client ids.
        threat_model: "semi_honest" (the server follows the protocol; four stages) or
            "malicious" (the server may deviate: signed keys and the consistency-check round
            of Bonawitz et al. 2017, Sec. 4.2; five stages).
        session: the round's random id (from the OS), bound into every signature and share
            ciphertext so that nothing can be replayed from another round.
        verification_keys: the PKI (trusted setup, before the server sees anything): client id
            -> raw Ed25519 verification key; required for every client in malicious mode.
        noise_headroom: extra summands the quantiser leaves room for, so that the clients'
            differential-privacy noise shares (:mod:`privacy.dp`) never wrap the ring.
    """

    threshold: int
    bits: int
    clip: float
    length: int
    neighbors: Mapping[ClientId, frozenset[ClientId]]
    threat_model: ThreatModel = "semi_honest"
    session: bytes = field(default_factory=lambda: os.urandom(SESSION_BYTES))
    verification_keys: Mapping[ClientId, bytes] = field(default_factory=dict)
    noise_headroom: int = 0
    _holders: dict[ClientId, tuple[ClientId, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for u, adjacent in self.neighbors.items():
            if u in adjacent or any(u not in self.neighbors.get(v, ()) for v in adjacent):
                raise ValueError("neighbors: must be a symmetric graph without self-loops")
        holders = {u: tuple(sorted(adjacent | {u})) for u, adjacent in self.neighbors.items()}
        object.__setattr__(self, "_holders", holders)
        if not holders:
            raise ValueError("neighbors: need at least one client")
        fewest = min(len(h) for h in holders.values())
        if not 2 <= self.threshold <= fewest:
            raise ValueError(
                f"threshold: must be in 2..{fewest} (the smallest set of share holders), "
                f"got {self.threshold}"
            )
        if self.noise_headroom < 0:
            raise ValueError(f"noise_headroom: must be >= 0, got {self.noise_headroom}")
        summands = len(holders) + self.noise_headroom
        quantization.levels(bits=self.bits, n_summands=summands)
        quantization.step(clip=self.clip, bits=self.bits, n_summands=summands)
        if self.length < 1:
            raise ValueError(f"length: inputs need at least one coordinate, got {self.length}")
        check_threat_model(self.threat_model)
        if self.malicious and (
            set(self.verification_keys) != set(holders)
            or any(len(k) != VERIFICATION_KEY_BYTES for k in self.verification_keys.values())
        ):
            raise ValueError(
                "verification_keys: the malicious model needs a 32-byte Ed25519 key per client"
            )

    @property
    def malicious(self) -> bool:
        """Whether the server is modelled as malicious (signatures, consistency check)."""
        return self.threat_model == "malicious"

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages of the round in order (the consistency check only in malicious mode)."""
        return MALICIOUS_STAGES if self.malicious else STAGES

    def stage_after(self, stage: Stage) -> Stage | Literal["finished"]:
        """The stage that follows `stage` in this round, or "finished" after the last one.

        Client and server both step through `stages` with it and refuse any other stage: after
        unmasking a party is finished, so a replayed batch or a second unmasking request is
        refused, never answered again.
        """
        index = self.stages.index(stage)
        return self.stages[index + 1] if index + 1 < len(self.stages) else "finished"

    def quorum(self, client: ClientId) -> int:
        """Holders of `client` needed in the round: t, or in malicious mode the larger of t and
        a strict majority of holders(client).

        In the malicious model a client needs this many peers' keys and ciphertexts, and this
        many holders of a client must have signed U3 before a share of it is revealed: two
        different survivor sets can then never both be signed by a majority of one client's
        holders, since an honest client signs one set only (`privacy.protocol`).
        """
        if not self.malicious:
            return self.threshold
        return max(self.threshold, len(self._holders[client]) // 2 + 1)

    @property
    def n_clients(self) -> int:
        """All clients of the round (the largest possible number of summands)."""
        return len(self.neighbors)

    @property
    def n_summands(self) -> int:
        """What the quantiser is sized for: every client plus the noise headroom."""
        return len(self.neighbors) + self.noise_headroom

    def holders(self, client: ClientId) -> tuple[ClientId, ...]:
        """holders(u) = {u} + N(u), sorted; the share for holders(u)[k] has x = k + 1."""
        return self._holders[client]


def associated_data(sender: ClientId, receiver: ClientId, session: bytes = b"") -> bytes:
    """The AEAD associated data binding a share ciphertext to its sender, receiver and round."""
    return sender.to_bytes(8, "big") + receiver.to_bytes(8, "big") + session


def pair_sign(u: ClientId, v: ClientId) -> int:
    """u adds PRG(s_uv) when u < v and subtracts it when u > v."""
    return 1 if u < v else -1

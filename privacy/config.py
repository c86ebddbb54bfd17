"""The public parameters of a secure-aggregation round, known to every party before it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from privacy import quantization
from privacy.types import ClientId


@dataclass(frozen=True, eq=False)
class SecAggConfig:
    """The public parameters of a round.

    Attributes:
        threshold: Shamir threshold t, at least 2 (t = 1 hands a secret to any one holder).
        bits: the ring is Z_2^bits.
        clip: each coordinate is clipped to [-clip, clip] before quantisation.
        length: number of coordinates of every input.
        neighbors: the (symmetric) neighbour graph as adjacency sets over all client ids.
    """

    threshold: int
    bits: int
    clip: float
    length: int
    neighbors: Mapping[ClientId, frozenset[ClientId]]
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
        quantization.levels(bits=self.bits, n_summands=len(holders))
        quantization.step(clip=self.clip, bits=self.bits, n_summands=len(holders))
        if self.length < 1:
            raise ValueError(f"length: inputs need at least one coordinate, got {self.length}")

    @property
    def n_clients(self) -> int:
        """All clients of the round (the largest possible number of summands)."""
        return len(self.neighbors)

    def holders(self, client: ClientId) -> tuple[ClientId, ...]:
        """holders(u) = {u} + N(u), sorted; the share for holders(u)[k] has x = k + 1."""
        return self._holders[client]


def associated_data(sender: ClientId, receiver: ClientId) -> bytes:
    """The AEAD associated data binding a share ciphertext to its sender and receiver."""
    return sender.to_bytes(8, "big") + receiver.to_bytes(8, "big")


def pair_sign(u: ClientId, v: ClientId) -> int:
    """u adds PRG(s_uv) when u < v and subtracts it when u > v."""
    return 1 if u < v else -1

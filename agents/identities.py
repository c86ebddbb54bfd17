"""The identities the platform sees: one per data owner, or several for a Sybil owner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.scenario import ParticipantGroup
    from agents.strategies import Strategy


@dataclass(frozen=True)
class IdentitySpec:
    """One identity the platform sees.

    Attributes:
        pid: identity number ``0 .. n_identities - 1``.
        owner: the data owner behind it (a Sybil owner has several identities).
        group: the owner's participant group.
        part, parts: this identity's share of the owner's data (``part`` of ``parts``).
        speed, cost: the owner's compute and cost, split evenly over its identities.
    """

    pid: int
    owner: int
    group: ParticipantGroup
    part: int
    parts: int
    speed: float
    cost: float


def identities_of(
    owners: Sequence[ParticipantGroup], strategies: Sequence[Strategy]
) -> tuple[IdentitySpec, ...]:
    """Every identity of ``owners`` (with their ``strategies``), numbered in order."""
    out: list[IdentitySpec] = []
    for owner, (group, behaviour) in enumerate(zip(owners, strategies, strict=True)):
        heads = group.identities
        # a replicating Sybil shows all its data under every identity (and trains once)
        parts = behaviour.identity_parts(heads)
        for part in range(heads):
            out.append(
                IdentitySpec(
                    pid=len(out),
                    owner=owner,
                    group=group,
                    part=part % parts,
                    parts=parts,
                    speed=group.speed / parts,
                    cost=group.cost / parts,
                )
            )
    return tuple(out)

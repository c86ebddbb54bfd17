"""The messages of one secure-aggregation round, with their size on the wire.

Everything the server object ever receives is one of the client messages below; everything a
client receives from the server is one of the server messages. `wire_size()` is the length of
a plain binary encoding: ids as 8-byte integers, counts as 4-byte integers, keys, ciphertexts
and shares as raw bytes, and a masked vector as ceil(bits / 8) bytes per coordinate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from privacy.types import ClientId, RingVector

ID_BYTES: Final = 8
COUNT_BYTES: Final = 4


@dataclass(frozen=True)
class PublicKeys:
    """advertise_keys, client -> server: the client's two X25519 public keys, and in the
    malicious model its Ed25519 signature of them (`privacy.signatures.keys_message`)."""

    sender: ClientId
    c_public: bytes
    s_public: bytes
    signature: bytes = b""

    def wire_size(self) -> int:
        return ID_BYTES + len(self.c_public) + len(self.s_public) + len(self.signature)


@dataclass(frozen=True)
class KeyRoster:
    """advertise_keys, server -> client: the public keys of its neighbours that advertised."""

    keys: Mapping[ClientId, PublicKeys]

    def wire_size(self) -> int:
        return COUNT_BYTES + sum(k.wire_size() for k in self.keys.values())


@dataclass(frozen=True)
class EncryptedShares:
    """share_keys, client -> server: one ciphertext of (b-share, sk-share) per share holder."""

    sender: ClientId
    ciphertexts: Mapping[ClientId, bytes]

    def wire_size(self) -> int:
        return ID_BYTES + COUNT_BYTES + sum(ID_BYTES + len(c) for c in self.ciphertexts.values())


@dataclass(frozen=True)
class ShareInbox:
    """share_keys, server -> client: the ciphertexts addressed to it, keyed by sender."""

    ciphertexts: Mapping[ClientId, bytes]

    def wire_size(self) -> int:
        return COUNT_BYTES + sum(ID_BYTES + len(c) for c in self.ciphertexts.values())


@dataclass(frozen=True, eq=False)
class MaskedInput:
    """masked_input, client -> server: y_u = x_u + PRG(b_u) + sum_v +-PRG(s_uv) mod 2^bits."""

    sender: ClientId
    vector: RingVector
    bits: int

    def wire_size(self) -> int:
        return ID_BYTES + self.vector.size * ((self.bits + 7) // 8)


@dataclass(frozen=True)
class SurvivorSet:
    """masked_input, server -> client (malicious model): U3, the clients whose masked input
    arrived, for the client to check and sign."""

    survivors: frozenset[ClientId]

    def wire_size(self) -> int:
        return COUNT_BYTES + ID_BYTES * len(self.survivors)


@dataclass(frozen=True)
class SurvivorSignature:
    """consistency_check, client -> server (malicious model): its signature of (session, U3)."""

    sender: ClientId
    signature: bytes

    def wire_size(self) -> int:
        return ID_BYTES + len(self.signature)


@dataclass(frozen=True)
class UnmaskRequest:
    """masked_input (semi-honest) or consistency_check (malicious), server -> client: whose
    b-shares (masked input arrived) and whose sk-shares (dropped neighbours) the server asks
    this client for; in the malicious model also U3 and the signatures of it it collected."""

    self_mask_owners: frozenset[ClientId]
    secret_key_owners: frozenset[ClientId]
    survivors: frozenset[ClientId] | None = None
    signatures: Mapping[ClientId, bytes] | None = None

    def wire_size(self) -> int:
        size = 2 * COUNT_BYTES + ID_BYTES * (
            len(self.self_mask_owners) + len(self.secret_key_owners)
        )
        if self.survivors is not None:
            size += COUNT_BYTES + ID_BYTES * len(self.survivors)
        if self.signatures is not None:
            size += COUNT_BYTES + sum(ID_BYTES + len(s) for s in self.signatures.values())
        return size


@dataclass(frozen=True)
class RevealedShares:
    """unmasking, client -> server: the requested shares, keyed by the secret's owner."""

    sender: ClientId
    self_mask_shares: Mapping[ClientId, bytes]
    secret_key_shares: Mapping[ClientId, bytes]

    def wire_size(self) -> int:
        shares = [*self.self_mask_shares.values(), *self.secret_key_shares.values()]
        return ID_BYTES + 2 * COUNT_BYTES + sum(ID_BYTES + len(s) for s in shares)

"""Ed25519 signatures for the malicious-server model: a PKI, signed keys, signed survivor sets.

Bonawitz et al. (2017), Sec. 4.2 and Fig. 4 (active-adversary variant): every client holds a
long-term signing key, and a PKI gives every client the verification keys of all others. A
client signs its advertised public keys (so the server cannot substitute its own and unmask
the client) and, in the consistency-check round, the survivor set U3 it was told (so the
server cannot tell different clients different survivor sets).

Threat model: the PKI is a trusted setup completed before the server sees any message; the
server does not control identity registration, so Sybil identities registered by the server
are out of scope. Signing keys come from the OS CSPRNG (`Ed25519PrivateKey.generate`). Every
signed message starts with a domain-separation label and the round's session id, so a
signature can be neither replayed in another round nor used for the other message type.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privacy.types import ClientId

SIGNATURE_BYTES: Final = 64
VERIFICATION_KEY_BYTES: Final = 32
KEYS_LABEL: Final = b"fedmarket/secagg/advertise-keys\x00"
SURVIVORS_LABEL: Final = b"fedmarket/secagg/consistency-check\x00"


def trusted_setup(
    clients: Collection[ClientId],
) -> tuple[dict[ClientId, Ed25519PrivateKey], dict[ClientId, bytes]]:
    """A fresh signing key per client (from the OS) and the PKI: id -> raw verification key."""
    signing = {u: Ed25519PrivateKey.generate() for u in sorted(clients)}
    return signing, {u: k.public_key().public_bytes_raw() for u, k in signing.items()}


def keys_message(session: bytes, client: ClientId, c_public: bytes, s_public: bytes) -> bytes:
    """What a client signs in advertise_keys: (label, session, its id, both public keys)."""
    return KEYS_LABEL + session + client.to_bytes(8, "big") + c_public + s_public


def survivors_message(session: bytes, survivors: Collection[ClientId]) -> bytes:
    """What a client signs in consistency_check: (label, session, the sorted ids of U3)."""
    ids = sorted(survivors)
    body = b"".join(u.to_bytes(8, "big") for u in ids)
    return SURVIVORS_LABEL + session + len(ids).to_bytes(4, "big") + body


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of `message`."""
    return key.sign(message)


def verify(verification_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is a valid signature of `message` under `verification_key`."""
    if len(verification_key) != VERIFICATION_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(verification_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def valid_signers(
    pki: Mapping[ClientId, bytes], signatures: Mapping[ClientId, bytes], message: bytes
) -> frozenset[ClientId]:
    """The clients of the PKI whose signature of `message` is valid (others are ignored)."""
    return frozenset(
        u for u, sig in signatures.items() if u in pki and verify(pki[u], sig, message)
    )

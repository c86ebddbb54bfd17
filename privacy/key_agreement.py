"""X25519 key agreement with HKDF-SHA256 key derivation.

Bonawitz et al. (2017), Sec. 3.2 "Key agreement": two parties that exchanged public keys
derive the same 32-byte secret. Each client holds two pairs: c (for encrypting Shamir
shares) and s (for pairwise masks); `info` separates the two uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES: Final = 32
"""Length of public keys, private keys and derived keys."""

MASK_INFO: Final = b"fedmarket/secagg/pairwise-mask"
"""HKDF `info` for the pairwise-mask seed s_uv."""

ENCRYPTION_INFO: Final = b"fedmarket/secagg/share-encryption"
"""HKDF `info` for the authenticated-encryption key c_uv."""


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair: the private key stays with its owner, `public` is advertised."""

    private: X25519PrivateKey
    public: bytes

    def private_bytes(self) -> bytes:
        """The raw 32-byte private key (the secret that SecAgg Shamir-shares)."""
        return self.private.private_bytes_raw()


def generate_key_pair() -> KeyPair:
    """A fresh key pair; the private key comes from the OS CSPRNG (`os.urandom`), never a seed."""
    return load_key_pair(os.urandom(KEY_BYTES))


def load_key_pair(private_bytes: bytes) -> KeyPair:
    """The key pair whose raw private key is `private_bytes` (e.g. one rebuilt from shares)."""
    if len(private_bytes) != KEY_BYTES:
        raise ValueError(f"private_bytes: expected {KEY_BYTES} bytes, got {len(private_bytes)}")
    private = X25519PrivateKey.from_private_bytes(private_bytes)
    return KeyPair(private=private, public=private.public_key().public_bytes_raw())


def agree(private: X25519PrivateKey, peer_public: bytes, *, info: bytes) -> bytes:
    """The 32-byte key shared with the owner of `peer_public`: HKDF-SHA256(X25519(sk, pk)).

    Both ends get the same bytes: agree(sk_u, pk_v) == agree(sk_v, pk_u).
    """
    if len(peer_public) != KEY_BYTES:
        raise ValueError(f"peer_public: expected {KEY_BYTES} bytes, got {len(peer_public)}")
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(shared)

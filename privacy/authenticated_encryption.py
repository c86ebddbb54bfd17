"""Authenticated encryption of Shamir shares between two clients (AES-256-GCM).

Bonawitz et al. (2017), Sec. 3.2: client u sends its shares for v through the server encrypted
under c_uv = KA(c_u^SK, c_v^PK), so the server only relays ciphertexts. The sender and
receiver ids are bound as associated data, so a ciphertext cannot be re-routed to another pair.
Wire format: 12-byte nonce, then ciphertext, then the 16-byte tag.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
OVERHEAD_BYTES: Final = NONCE_BYTES + TAG_BYTES


def encrypt(
    key: bytes,
    plaintext: bytes,
    *,
    associated_data: bytes,
) -> bytes:
    """nonce || AES-256-GCM(key, nonce, plaintext, associated_data); the nonce is from the OS."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"key: expected {KEY_BYTES} bytes, got {len(key)}")
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, ciphertext: bytes, *, associated_data: bytes) -> bytes:
    """The plaintext of `encrypt(key, plaintext, associated_data=...)`; ValueError if forged."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"key: expected {KEY_BYTES} bytes, got {len(key)}")
    if len(ciphertext) < OVERHEAD_BYTES:
        raise ValueError(f"ciphertext: shorter than the {OVERHEAD_BYTES}-byte nonce and tag")
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, body, associated_data)
    except InvalidTag:
        raise ValueError(
            "ciphertext: authentication failed (wrong key, wrong ids, or tampered bytes)"
        ) from None

"""Data commitments: register keyed tags of one's examples, so the same data cannot enrol twice.

At registration every identity sends the registrar one tag per training example,
``HMAC-SHA256(key, normalised text)`` truncated to :data:`TAG_BYTES`, under a consortium key
the registrar draws from the OS (:func:`new_registration_key`). The registrar keeps the tags
of the identities it has admitted and refuses an identity whose examples it has mostly seen
(:func:`overlap_share` at least the registry's threshold): the same data under a second
identity, which coalition scoring would otherwise pay twice (the gym's ``plagiarist``).

Threat model: the key is a consortium secret the participants share (drawn from the OS,
distributed over their authenticated channels) and the platform does not hold; the
platform, as registrar, sees only tags. It cannot test a guessed text against them (it lacks
the key), and a participant, who holds the key, never sees the registry. A registrar that
colludes with any participant can run a dictionary attack on the tags: stopping that needs
a private set intersection protocol instead. The tags must come from the same trusted meter
that attests the training (:func:`agents.metering.metered_weight`) and be bound to the
examples it trains on; tags a participant computes itself could be of anything. Only
duplicates after normalisation (Unicode, case, punctuation, whitespace) are caught: a
paraphrased or
augmented copy is not; a copy padded with enough new examples to stay under the threshold is
admitted (its copied examples still weigh in aggregation); an owner who registers first
with another's data gets the honest owner refused (first come, first registered); and a
refusal tells the refused party that most of its data is held by someone (a membership
signal: a registry should rate-limit and require a minimum dataset size). A key serves one
registry and is never reused. (The simulator holds the key inside :class:`DataRegistry`,
standing in for the participants' tagging.)
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes, hmac

TAG_BYTES = 16
"""Bytes kept of each HMAC-SHA256 tag (128 bits: no accidental collision among 10^12 tags)."""
KEY_BYTES = 32


def new_registration_key() -> bytes:
    """A fresh 256-bit registry key from the OS (never derived from the simulation seed)."""
    return os.urandom(KEY_BYTES)


def normalise(text: str) -> bytes:
    """What a tag is computed on: NFKC-normalised, case-folded, the words only (letters and
    digits, punctuation and whitespace dropped), UTF-8."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = "".join(c if c.isalnum() else " " for c in folded).split()
    return " ".join(words).encode("utf-8")


def commit(texts: Iterable[str], key: bytes) -> frozenset[bytes]:
    """The tags of ``texts`` under ``key`` (a set: duplicates inside one dataset count once)."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"key: a registry key is {KEY_BYTES} bytes, got {len(key)}")
    tags = set()
    for text in texts:
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(normalise(text))
        tags.add(mac.finalize()[:TAG_BYTES])
    return frozenset(tags)


def overlap_share(tags: frozenset[bytes], registered: frozenset[bytes] | set[bytes]) -> float:
    """The share of ``tags`` already registered (0 for an empty dataset)."""
    if not tags:
        return 0.0
    return len(tags & registered) / len(tags)


class DataRegistry:
    """The registrar: admits identities whose data are mostly new.

    Args:
        max_overlap: the largest share of an identity's examples that may already be
            registered, in (0, 1]; 1 admits everyone (the check is off).
    """

    def __init__(self, max_overlap: float = 0.5) -> None:
        if not 0 < max_overlap <= 1:
            raise ValueError(f"max_overlap must be in (0, 1], got {max_overlap!r}")
        self.max_overlap = float(max_overlap)
        self._key = new_registration_key()
        self._tags: set[bytes] = set()
        self._owner: dict[bytes, int] = {}

    def register(self, identity: int, texts: Iterable[str]) -> tuple[bool, float, int | None]:
        """Try to admit ``identity`` with its examples' ``texts``.

        Returns:
            ``(admitted, overlap, earlier)``: whether it was admitted, the share of its
            examples already registered, and the identity that registered most of them
            first (``None`` when there is no overlap).
        """
        tags = commit(texts, self._key)
        share = overlap_share(tags, self._tags)
        earlier = None
        if share > 0:
            counts: dict[int, int] = {}
            for tag in tags & self._tags:
                counts[self._owner[tag]] = counts.get(self._owner[tag], 0) + 1
            earlier = max(sorted(counts), key=lambda k: counts[k])
        admitted = self.max_overlap >= 1 or share < self.max_overlap
        if admitted:
            for tag in tags - self._tags:
                self._owner[tag] = identity
            self._tags |= tags
        return admitted, share, earlier


__all__ = [
    "KEY_BYTES",
    "TAG_BYTES",
    "DataRegistry",
    "commit",
    "new_registration_key",
    "normalise",
    "overlap_share",
]

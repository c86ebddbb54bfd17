"""A secure-aggregation client (Bonawitz et al. 2017, Fig. 4), with the client-side checks.

The client aborts (`ServerMisbehaved`) instead of answering a server that lies, as in Fig. 4:
too few neighbours' keys (< t - 1 besides its own: "enough keys"), ciphertexts from clients it
never got keys of or too few of them ("enough ciphertexts": with none, its input would carry
only its self mask), an unmasking request that asks for both secrets of one client, for its own
mask key, for shares it does not hold, or that names fewer than t surviving holders ("enough
survivors"). It answers one unmasking request only. These checks bound what a lying server
gets; they do not stop a server that lies consistently (see `privacy.protocol`).

Keys, self-mask seeds, Shamir coefficients and nonces come from the OS CSPRNG, never a seed.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy.typing as npt

from privacy import authenticated_encryption, key_agreement, prg, quantization, shamir
from privacy.config import SecAggConfig, associated_data, pair_sign
from privacy.errors import ServerMisbehaved
from privacy.key_agreement import KeyPair
from privacy.messages import (
    EncryptedShares,
    KeyRoster,
    MaskedInput,
    PublicKeys,
    RevealedShares,
    ShareInbox,
    UnmaskRequest,
)
from privacy.types import STAGES, ClientId, Stage


class SecAggClient:
    """One client: call the four stage methods in order with what the server sent."""

    def __init__(self, client_id: ClientId, update: npt.ArrayLike, config: SecAggConfig) -> None:
        """Args:
        client_id: this client's id (a node of `config.neighbors`).
        update: its input; clipped and quantised at the masked_input stage.
        config: the public round parameters.
        """
        if client_id not in config.neighbors:
            raise ValueError(f"client_id: {client_id} is not a node of config.neighbors")
        self.id = client_id
        self._update = update
        self._config = config
        self._next: Stage | Literal["finished"] = STAGES[0]
        self._c_keys: KeyPair | None = None
        self._s_keys: KeyPair | None = None
        self._seed = b""
        self._roster: dict[ClientId, PublicKeys] = {}
        self._encryption_keys: dict[ClientId, bytes] = {}
        self._held: dict[ClientId, tuple[bytes, bytes]] = {}

    def _advance(self, stage: Stage) -> None:
        if self._next != stage:
            raise RuntimeError(f"client {self.id}: stage {stage!r} called, {self._next!r} expected")
        index = STAGES.index(stage)
        # after unmasking the client is finished: a second request is refused, so a server
        # that asks twice can never collect both shares of another client's secrets
        self._next = STAGES[index + 1] if index + 1 < len(STAGES) else "finished"

    def _refuse(self, stage: Stage, detail: str) -> ServerMisbehaved:
        self._next = "finished"
        return ServerMisbehaved(stage, self.id, detail)

    def advertise_keys(self) -> PublicKeys:
        """Stage 1: generate the c and s key pairs and advertise their public halves."""
        self._advance("advertise_keys")
        self._c_keys = key_agreement.generate_key_pair()
        self._s_keys = key_agreement.generate_key_pair()
        return PublicKeys(self.id, self._c_keys.public, self._s_keys.public)

    def share_keys(self, roster: KeyRoster) -> EncryptedShares:
        """Stage 2: draw b_u, share b_u and s_u^SK among the holders, encrypt each pair."""
        self._advance("share_keys")
        assert self._c_keys is not None and self._s_keys is not None  # set by advertise_keys
        t = self._config.threshold
        if not set(roster.keys) <= self._config.neighbors[self.id]:
            raise self._refuse("share_keys", "the roster holds keys of non-neighbours")
        if len(roster.keys) + 1 < t:
            raise self._refuse("share_keys", f"{len(roster.keys)} neighbours' keys, t - 1 needed")
        publics = [k for m in roster.keys.values() for k in (m.c_public, m.s_public)]
        publics += [self._c_keys.public, self._s_keys.public]
        if len(set(publics)) != len(publics):
            raise self._refuse("share_keys", "the roster repeats a public key")
        self._roster = dict(roster.keys)
        self._seed = os.urandom(prg.SEED_BYTES)
        holders = self._config.holders(self.id)
        b_shares = shamir.create_shares(self._seed, threshold=t, n_shares=len(holders))
        sk_shares = shamir.create_shares(
            self._s_keys.private_bytes(), threshold=t, n_shares=len(holders)
        )
        ciphertexts: dict[ClientId, bytes] = {}
        for holder, b_share, sk_share in zip(holders, b_shares, sk_shares, strict=True):
            if holder == self.id:
                self._held[self.id] = (b_share, sk_share)
            elif holder in self._roster:
                key = key_agreement.agree(
                    self._c_keys.private,
                    self._roster[holder].c_public,
                    info=key_agreement.ENCRYPTION_INFO,
                )
                self._encryption_keys[holder] = key
                ciphertexts[holder] = authenticated_encryption.encrypt(
                    key, b_share + sk_share, associated_data=associated_data(self.id, holder)
                )
        return EncryptedShares(self.id, ciphertexts)

    def masked_input(self, inbox: ShareInbox) -> MaskedInput:
        """Stage 3: keep the shares addressed to u, send the doubly masked quantised input."""
        self._advance("masked_input")
        assert self._s_keys is not None  # set by advertise_keys
        if len(inbox.ciphertexts) + 1 < self._config.threshold:
            raise self._refuse(
                "masked_input", f"{len(inbox.ciphertexts)} ciphertexts, t - 1 needed"
            )
        for sender, ciphertext in inbox.ciphertexts.items():
            if sender not in self._encryption_keys:
                raise self._refuse("masked_input", f"a ciphertext from {sender}, not in the roster")
            try:
                plaintext = authenticated_encryption.decrypt(
                    self._encryption_keys[sender],
                    ciphertext,
                    associated_data=associated_data(sender, self.id),
                )
            except ValueError:
                forged = f"the ciphertext from {sender} is forged"
                raise self._refuse("masked_input", forged) from None
            if len(plaintext) != 2 * shamir.SHARE_BYTES:
                raise self._refuse("masked_input", f"the shares from {sender} are malformed")
            self._held[sender] = (plaintext[: shamir.SHARE_BYTES], plaintext[shamir.SHARE_BYTES :])
        cfg = self._config
        vector = quantization.quantize(
            self._update, clip=cfg.clip, bits=cfg.bits, n_summands=cfg.n_clients
        ).reshape(-1)
        if vector.size != cfg.length:
            raise ValueError(
                f"update: client {self.id} has {vector.size} coordinates, expected {cfg.length}"
            )
        peers = sorted(inbox.ciphertexts)
        pair_keys = [
            key_agreement.agree(
                self._s_keys.private, self._roster[v].s_public, info=key_agreement.MASK_INFO
            )
            for v in peers
        ]
        signs = [1] + [pair_sign(self.id, v) for v in peers]
        prg.mask_many(vector, [self._seed, *pair_keys], signs, bits=cfg.bits)
        return MaskedInput(self.id, vector, cfg.bits)

    def unmasking(self, request: UnmaskRequest) -> RevealedShares:
        """Stage 4: reveal the requested shares after the checks; never both of one client."""
        self._advance("unmasking")
        seeds, keys = request.self_mask_owners, request.secret_key_owners
        if seeds & keys:
            raise self._refuse(
                "unmasking", f"asked for both shares of clients {sorted(seeds & keys)}"
            )
        if self.id in keys or self.id not in seeds:
            raise self._refuse("unmasking", "told that its own masked input did not arrive")
        if not (seeds | keys) <= set(self._held):
            raise self._refuse("unmasking", "asked for shares it does not hold")
        if len(seeds) < self._config.threshold:
            raise self._refuse("unmasking", f"{len(seeds)} surviving holders, t needed")
        b_shares = {u: self._held[u][0] for u in sorted(seeds)}
        sk_shares = {u: self._held[u][1] for u in sorted(keys)}
        return RevealedShares(self.id, b_shares, sk_shares)

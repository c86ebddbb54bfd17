"""A secure-aggregation client (Bonawitz et al. 2017, Fig. 4), with the client-side checks.

The client aborts (a `ServerMisbehaved` subclass with a typed `reason`) instead of answering a
server that lies, as in Fig. 4: too few neighbours' keys (< t - 1 besides its own: "enough
keys"), ciphertexts from clients it never got keys of, forged or redirected ones, or too few of
them ("enough ciphertexts": with none, its input would carry only its self mask), an unmasking
request that asks for both secrets of one client, for its own mask key, for shares it does not
hold, or that names fewer than t surviving holders ("enough survivors"). It answers one
unmasking request only. In the semi-honest model these checks bound what a lying server gets;
they do not stop a server that lies consistently (see `privacy.protocol`).

Malicious model (`config.threat_model == "malicious"`, Bonawitz et al. Sec. 4.2): the client
also signs its public keys and verifies every roster entry against the PKI (`BadSignature`:
key substitution); before signing the survivor set U3 it checks that it is in U3, that U3 is
connected in the public graph and holds no neighbour whose shares it never got
(`InconsistentSurvivors`); before revealing any share it checks that the request carries the
U3 it signed, that `config.quorum(w)` holders (a strict majority) of every client w whose
share it reveals, and of every neighbour of a client whose mask-key share it reveals,
validly signed that U3 (`TooFewSignatures`), and that it asks exactly for the shares that U3
implies (`BadUnmaskRequest`). Trust assumption: the PKI
(`config.verification_keys`) was set up before the server saw anything.

Keys, self-mask seeds, Shamir coefficients and nonces come from the OS CSPRNG, never a seed.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privacy import (
    authenticated_encryption,
    key_agreement,
    messages,
    prg,
    quantization,
    shamir,
    signatures,
)
from privacy.config import SecAggConfig, associated_data, pair_sign
from privacy.errors import (
    BadSignature,
    BadUnmaskRequest,
    ForgedCiphertext,
    InconsistentSurvivors,
    ServerMisbehaved,
    TooFewSignatures,
    WithheldCiphertext,
)
from privacy.graph import components
from privacy.key_agreement import KeyPair
from privacy.types import ClientId, Stage


class SecAggClient:
    """One client: call the four stage methods in order with what the server sent."""

    def __init__(
        self,
        client_id: ClientId,
        update: npt.ArrayLike,
        config: SecAggConfig,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        noise: npt.ArrayLike | None = None,
    ) -> None:
        """Args:
        client_id: this client's id (a node of `config.neighbors`).
        update: its input; clipped and quantised at the masked_input stage.
        config: the public round parameters.
        signing_key: its long-term Ed25519 key, whose verification key is
            `config.verification_keys[client_id]` (required in the malicious model).
        noise: its differential-privacy noise share (:mod:`privacy.dp`), in the update's
            units; rounded to the quantisation grid and added to its input in the ring
            *before* masking, so no message and no unmasked sum is free of it.
        """
        if client_id not in config.neighbors:
            raise ValueError(f"client_id: {client_id} is not a node of config.neighbors")
        if config.malicious and (
            signing_key is None
            or signing_key.public_key().public_bytes_raw() != config.verification_keys[client_id]
        ):
            raise ValueError(f"signing_key: client {client_id} needs the key registered in the PKI")
        self.id = client_id
        self._update = update
        self._noise = noise
        self._config = config
        self._signing_key = signing_key
        self._next: Stage | Literal["finished"] = config.stages[0]
        self._c_keys: KeyPair | None = None
        self._s_keys: KeyPair | None = None
        self._seed = b""
        self._roster: dict[ClientId, messages.PublicKeys] = {}
        self._encryption_keys: dict[ClientId, bytes] = {}
        self._held: dict[ClientId, tuple[bytes, bytes]] = {}
        self._peers: frozenset[ClientId] = frozenset()
        self._signed: frozenset[ClientId] | None = None

    def _advance(self, stage: Stage) -> None:
        if self._next != stage:
            raise RuntimeError(f"client {self.id}: stage {stage!r} called, {self._next!r} expected")
        # after unmasking the client is finished: a second request is refused, so a server
        # that asks twice can never collect both shares of another client's secrets
        self._next = self._config.stage_after(stage)

    def _refuse(
        self, stage: Stage, detail: str, kind: type[ServerMisbehaved] = ServerMisbehaved
    ) -> ServerMisbehaved:
        self._next = "finished"
        return kind(stage, self.id, detail)

    def _needed(self) -> str:
        """How many peers' keys or ciphertexts the client needs, in words."""
        q = self._config.quorum(self.id)
        return "t - 1" if q == self._config.threshold else f"{q - 1} (a majority of holders)"

    def advertise_keys(self) -> messages.PublicKeys:
        """Stage 1: generate the c and s key pairs and advertise their public halves."""
        self._advance("advertise_keys")
        self._c_keys = key_agreement.generate_key_pair()
        self._s_keys = key_agreement.generate_key_pair()
        signature = b""
        if self._signing_key is not None and self._config.malicious:
            message = signatures.keys_message(
                self._config.session, self.id, self._c_keys.public, self._s_keys.public
            )
            signature = signatures.sign(self._signing_key, message)
        return messages.PublicKeys(self.id, self._c_keys.public, self._s_keys.public, signature)

    def share_keys(self, roster: messages.KeyRoster) -> messages.EncryptedShares:
        """Stage 2: draw b_u, share b_u and s_u^SK among the holders, encrypt each pair."""
        self._advance("share_keys")
        assert self._c_keys is not None and self._s_keys is not None  # set by advertise_keys
        t = self._config.threshold
        if not set(roster.keys) <= self._config.neighbors[self.id]:
            raise self._refuse("share_keys", "the roster holds keys of non-neighbours")
        if self._config.malicious:
            self._verify_roster(roster)
        if len(roster.keys) + 1 < self._config.quorum(self.id):
            count = len(roster.keys)
            raise self._refuse("share_keys", f"{count} neighbours' keys, {self._needed()} needed")
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
                    key,
                    b_share + sk_share,
                    associated_data=associated_data(self.id, holder, self._config.session),
                )
        return messages.EncryptedShares(self.id, ciphertexts)

    def _verify_roster(self, roster: messages.KeyRoster) -> None:
        """Malicious model: every roster entry is signed by its owner (no key substitution)."""
        pki, session = self._config.verification_keys, self._config.session
        for owner, keys in sorted(roster.keys.items()):
            message = signatures.keys_message(session, owner, keys.c_public, keys.s_public)
            if keys.sender != owner or not signatures.verify(pki[owner], keys.signature, message):
                detail = f"the keys advertised for client {owner} are not signed by it"
                raise self._refuse("share_keys", detail, BadSignature)

    def masked_input(self, inbox: messages.ShareInbox) -> messages.MaskedInput:
        """Stage 3: keep the shares addressed to u, send the doubly masked quantised input."""
        self._advance("masked_input")
        assert self._s_keys is not None  # set by advertise_keys
        if len(inbox.ciphertexts) + 1 < self._config.quorum(self.id):
            count = len(inbox.ciphertexts)
            detail = f"{count} ciphertexts, {self._needed()} needed"
            raise self._refuse("masked_input", detail, WithheldCiphertext)
        for sender, ciphertext in inbox.ciphertexts.items():
            if sender not in self._encryption_keys:
                detail = f"a ciphertext from {sender}, not in the roster"
                raise self._refuse("masked_input", detail, ForgedCiphertext)
            try:
                plaintext = authenticated_encryption.decrypt(
                    self._encryption_keys[sender],
                    ciphertext,
                    associated_data=associated_data(sender, self.id, self._config.session),
                )
            except ValueError:
                forged = f"the ciphertext from {sender} is forged"
                raise self._refuse("masked_input", forged, ForgedCiphertext) from None
            if len(plaintext) != 2 * shamir.SHARE_BYTES:
                detail = f"the shares from {sender} are malformed"
                raise self._refuse("masked_input", detail, ForgedCiphertext)
            self._held[sender] = (plaintext[: shamir.SHARE_BYTES], plaintext[shamir.SHARE_BYTES :])
        cfg = self._config
        vector = quantization.quantize(
            self._update, clip=cfg.clip, bits=cfg.bits, n_summands=cfg.n_summands
        ).reshape(-1)
        if vector.size != cfg.length:
            raise ValueError(
                f"update: client {self.id} has {vector.size} coordinates, expected {cfg.length}"
            )
        if self._noise is not None:
            vector = quantization.add_noise(
                vector, self._noise, clip=cfg.clip, bits=cfg.bits, n_summands=cfg.n_summands
            )
        peers = sorted(inbox.ciphertexts)
        self._peers = frozenset(peers)
        pair_keys = [
            key_agreement.agree(
                self._s_keys.private, self._roster[v].s_public, info=key_agreement.MASK_INFO
            )
            for v in peers
        ]
        signs = [1] + [pair_sign(self.id, v) for v in peers]
        prg.mask_many(vector, [self._seed, *pair_keys], signs, bits=cfg.bits)
        return messages.MaskedInput(self.id, vector, cfg.bits)

    def consistency_check(self, announced: messages.SurvivorSet) -> messages.SurvivorSignature:
        """Stage 4 of the malicious model: check the survivor set U3, then sign (session, U3).

        An honest client signs one U3 only; it refuses a U3 that leaves it out, is smaller than
        t, is not connected in the public graph, or names a neighbour whose shares it never
        received (a server that withheld them to under-mask it).
        """
        self._advance("consistency_check")
        assert self._signing_key is not None  # checked in __init__ for the malicious model
        cfg, survivors = self._config, frozenset(announced.survivors)
        if self.id not in survivors:
            detail = "told that its own masked input did not arrive"
            raise self._refuse("consistency_check", detail, InconsistentSurvivors)
        problem = ""
        if not survivors <= set(cfg.neighbors):
            problem = "U3 names clients outside the round"
        elif len(survivors) < cfg.threshold:
            problem = f"U3 has {len(survivors)} clients, t = {cfg.threshold} needed"
        elif not survivors & cfg.neighbors[self.id] <= self._peers:
            strangers = sorted(survivors & cfg.neighbors[self.id] - self._peers)
            problem = f"U3 names neighbours {strangers} whose shares it never received"
        elif len(components(cfg.neighbors, survivors)) > 1:
            problem = "U3 is not connected in the graph (it would reveal partial sums)"
        if problem:
            raise self._refuse("consistency_check", problem, InconsistentSurvivors)
        self._signed = survivors
        message = signatures.survivors_message(cfg.session, survivors)
        return messages.SurvivorSignature(self.id, signatures.sign(self._signing_key, message))

    def unmasking(self, request: messages.UnmaskRequest) -> messages.RevealedShares:
        """The last stage: reveal the requested shares after the checks; never both of one
        client (in the malicious model, only what the signed U3 implies)."""
        self._advance("unmasking")
        seeds, keys = request.self_mask_owners, request.secret_key_owners
        if self._config.malicious:
            self._check_signed_request(request)
        if seeds & keys:
            detail = f"asked for both shares of clients {sorted(seeds & keys)}"
            raise self._refuse("unmasking", detail, BadUnmaskRequest)
        if self.id in keys or self.id not in seeds:
            detail = "told that its own masked input did not arrive"
            raise self._refuse("unmasking", detail, BadUnmaskRequest)
        if not (seeds | keys) <= set(self._held):
            raise self._refuse("unmasking", "asked for shares it does not hold", BadUnmaskRequest)
        if len(seeds) < self._config.threshold:
            detail = f"{len(seeds)} surviving holders, t needed"
            raise self._refuse("unmasking", detail, BadUnmaskRequest)
        b_shares = {u: self._held[u][0] for u in sorted(seeds)}
        sk_shares = {u: self._held[u][1] for u in sorted(keys)}
        return messages.RevealedShares(self.id, b_shares, sk_shares)

    def _check_signed_request(self, request: messages.UnmaskRequest) -> None:
        """Malicious model: the request carries the U3 this client signed, enough valid
        signatures of it, and asks exactly for the shares U3 implies."""
        cfg, signed = self._config, self._signed
        assert signed is not None  # set by consistency_check, which precedes unmasking
        if request.survivors is None or frozenset(request.survivors) != signed:
            detail = "the unmasking request names another U3 than the one it signed"
            raise self._refuse("unmasking", detail, InconsistentSurvivors)
        seeds = frozenset(u for u in cfg.holders(self.id) if u in signed)
        keys = frozenset(self._held) - signed
        if request.self_mask_owners != seeds or request.secret_key_owners != keys:
            detail = "the request asks for other shares than U3 implies"
            raise self._refuse("unmasking", detail, BadUnmaskRequest)
        # a majority of the holders of every client whose share is revealed, and of every
        # neighbour of a mask-key owner, signed this U3: no other U3 can have been signed by
        # a majority of them, so no other client reveals the b-share of the same client or of
        # a neighbour whose pairwise mask this key would remove
        owners = seeds | keys | {w for u in keys for w in cfg.neighbors[u]}
        groups = {cfg.holders(owner) for owner in owners}
        message = signatures.survivors_message(cfg.session, signed)
        sigs, pki = request.signatures or {}, cfg.verification_keys
        # verify lazily, members of many groups first, each group only up to its quorum; this
        # client's own vote counts without a check (it signed this very U3)
        valid: dict[ClientId, bool] = {self.id: True}
        member_of: dict[ClientId, int] = {}
        for group in groups:
            for w in group:
                member_of[w] = member_of.get(w, 0) + 1
        counted: dict[tuple[ClientId, ...], int] = {}
        for owner in sorted(owners):
            group, needed = cfg.holders(owner), cfg.quorum(owner)
            if group not in counted:
                count = sum(valid.get(w, False) for w in group)
                for w in sorted(group, key=lambda w: (-member_of[w], w)):
                    if count >= needed:
                        break
                    if w not in valid and w in signed and w in sigs:
                        valid[w] = signatures.verify(pki[w], sigs[w], message)
                        count += valid[w]
                counted[group] = count
            if counted[group] < needed:
                detail = f"{counted[group]} holders of client {owner} signed U3, {needed} needed"
                raise self._refuse("unmasking", detail, TooFewSignatures)

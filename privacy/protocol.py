"""Client and server state machines of secure aggregation.

Bonawitz et al. (2017), "Practical Secure Aggregation for Privacy-Preserving Machine Learning",
Fig. 4 (the honest-but-curious protocol), on the sparse neighbour graph of SecAgg+ (Bell et al.
2020, "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead"). Four stages:

1. advertise_keys: client u sends two X25519 public keys (c_u for encryption, s_u for masks).
2. share_keys: u draws the self-mask seed b_u, Shamir-shares b_u and s_u^SK t-of-|holders(u)|
   among holders(u) = {u} + N(u), and sends each neighbour's share pair encrypted under
   c_uv = KA(c_u, c_v). The server relays ciphertexts it cannot read.
3. masked_input: u sends y_u = x_u + PRG(b_u) + sum_{v in N(u) alive} sign(u, v) PRG(s_uv)
   mod 2^bits, with sign(u, v) = +1 if u < v else -1, so every pairwise mask cancels in the sum.
4. unmasking: each surviving client reveals, for every client whose shares it holds, either
   the b-share (that client's masked input arrived) or the sk-share (that client dropped, and
   a surviving neighbour masked with it), never both. The server rebuilds the seeds, removes
   PRG(b_u) of every included client and the orphaned pairwise masks of dropped clients.

Double masking means a client whose masked input is late is never unmasked twice: once the
server has asked for its sk-shares, honest clients have not revealed its b-shares, and a client
refuses a request that asks for both.

The server aborts (`SecAggAborted`) when fewer than t clients answer a stage (Bonawitz et al.),
or when some secret it needs has fewer than t surviving holders (possible with SecAgg+).

Threat model:
    * The server is honest but curious: it runs this code faithfully and tries to learn what it
      can from everything it receives. It then learns only the sum of at least t clients'
      inputs: masked inputs are uniform in Z_2^bits, shares travel encrypted, and for each
      client it obtains t shares of only one of its two secrets.
    * Up to t - 1 clients may collude with the server (pooling their keys and shares) and still
      learn nothing about an honest client's individual input beyond the sum. With the
      complete graph t - 1 is out of all n clients; with SecAgg+ it is per neighbourhood, and
      the guarantee holds with high probability over the random graph (Bell et al.).
    * Out of scope: malicious clients (clipping and quantisation happen on the client and are
      trusted: a client can send any ring element, i.e. any value in [-n*clip, n*clip]);
      an active server (no consistency-check/signature round, so a server that lies about who
      dropped could ask different clients for different shares; Bonawitz et al. need
      t > n/2 and signatures against that); and what the released sum itself reveals, which is
      what `privacy.audit.exposed_clients` measures.
    * Randomness: with rng=None every key, seed, coefficient and nonce comes from the OS
      CSPRNG. A numpy Generator makes the round reproducible for simulation only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from privacy import authenticated_encryption, key_agreement, prg, quantization, shamir
from privacy.errors import SecAggAborted
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
from privacy.types import STAGES, ClientId, RingVector, Stage


@dataclass(frozen=True, eq=False)
class SecAggConfig:
    """The public parameters of a round, known to every party before it starts.

    Attributes:
        threshold: Shamir threshold t.
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
        if not 1 <= self.threshold <= fewest:
            raise ValueError(
                f"threshold: must be in 1..{fewest} (the smallest set of share holders), "
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


def _associated_data(sender: ClientId, receiver: ClientId) -> bytes:
    return sender.to_bytes(8, "big") + receiver.to_bytes(8, "big")


def _pair_sign(u: ClientId, v: ClientId) -> int:
    """u adds PRG(s_uv) when u < v and subtracts it when u > v."""
    return 1 if u < v else -1


class SecAggClient:
    """One client: call the four stage methods in order with what the server sent."""

    def __init__(
        self,
        client_id: ClientId,
        update: npt.ArrayLike,
        config: SecAggConfig,
        rng: np.random.Generator | None = None,
    ) -> None:
        """Args:
        client_id: this client's id (a node of `config.neighbors`).
        update: its input; clipped and quantised at the masked_input stage.
        config: the public round parameters.
        rng: None in real use (OS CSPRNG); a Generator for reproducible simulation only.
        """
        if client_id not in config.neighbors:
            raise ValueError(f"client_id: {client_id} is not a node of config.neighbors")
        self.id = client_id
        self._update = update
        self._config = config
        self._rng = rng
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

    def _random_bytes(self, n: int) -> bytes:
        return os.urandom(n) if self._rng is None else self._rng.bytes(n)

    def advertise_keys(self) -> PublicKeys:
        """Stage 1: generate the c and s key pairs and advertise their public halves."""
        self._advance("advertise_keys")
        self._c_keys = key_agreement.generate_key_pair(self._rng)
        self._s_keys = key_agreement.generate_key_pair(self._rng)
        return PublicKeys(self.id, self._c_keys.public, self._s_keys.public)

    def share_keys(self, roster: KeyRoster) -> EncryptedShares:
        """Stage 2: draw b_u, share b_u and s_u^SK among the holders, encrypt each pair."""
        self._advance("share_keys")
        assert self._c_keys is not None and self._s_keys is not None  # set by advertise_keys
        neighbours = self._config.neighbors[self.id]
        if not set(roster.keys) <= neighbours:
            raise ValueError(f"roster: client {self.id} got keys of non-neighbours")
        self._roster = dict(roster.keys)
        self._seed = self._random_bytes(prg.SEED_BYTES)
        holders = self._config.holders(self.id)
        t = self._config.threshold
        b_shares = shamir.create_shares(
            self._seed, threshold=t, n_shares=len(holders), rng=self._rng
        )
        sk_shares = shamir.create_shares(
            self._s_keys.private_bytes(), threshold=t, n_shares=len(holders), rng=self._rng
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
                    associated_data=_associated_data(self.id, holder),
                    rng=self._rng,
                )
        return EncryptedShares(self.id, ciphertexts)

    def masked_input(self, inbox: ShareInbox) -> MaskedInput:
        """Stage 3: keep the shares addressed to u, send the doubly masked quantised input."""
        self._advance("masked_input")
        assert self._s_keys is not None  # set by advertise_keys
        for sender, ciphertext in inbox.ciphertexts.items():
            if sender not in self._encryption_keys:
                raise ValueError(f"inbox: client {self.id} holds no shared key with {sender}")
            plaintext = authenticated_encryption.decrypt(
                self._encryption_keys[sender],
                ciphertext,
                associated_data=_associated_data(sender, self.id),
            )
            size = shamir.SHARE_BYTES
            self._held[sender] = (plaintext[:size], plaintext[size:])
        cfg = self._config
        vector = quantization.quantize(
            self._update, clip=cfg.clip, bits=cfg.bits, n_summands=cfg.n_clients
        ).reshape(-1)
        if vector.size != cfg.length:
            raise ValueError(
                f"update: client {self.id} has {vector.size} coordinates, expected {cfg.length}"
            )
        prg.mask(vector, self._seed, bits=cfg.bits)
        for v in sorted(inbox.ciphertexts):
            pair_key = key_agreement.agree(
                self._s_keys.private, self._roster[v].s_public, info=key_agreement.MASK_INFO
            )
            prg.mask(vector, pair_key, bits=cfg.bits, sign=_pair_sign(self.id, v))
        return MaskedInput(self.id, vector, cfg.bits)

    def unmasking(self, request: UnmaskRequest) -> RevealedShares:
        """Stage 4: reveal the requested shares; never both shares of one client."""
        self._advance("unmasking")
        both = request.self_mask_owners & request.secret_key_owners
        if both:
            raise ValueError(
                f"request: client {self.id} refuses to reveal both shares of clients "
                f"{sorted(both)}; that would unmask their input"
            )
        if self.id in request.secret_key_owners:
            raise ValueError(f"request: client {self.id} is alive and keeps its mask key")
        b_shares = {
            u: self._held[u][0] for u in sorted(request.self_mask_owners) if u in self._held
        }
        sk_shares = {
            u: self._held[u][1] for u in sorted(request.secret_key_owners) if u in self._held
        }
        return RevealedShares(self.id, b_shares, sk_shares)


class SecAggServer:
    """The server: each stage method takes the messages that arrived and returns the replies.

    With `record_view=True` it keeps every message it received in `view`, in arrival order:
    that list is the whole of the server's knowledge besides the public `config`.
    """

    def __init__(self, config: SecAggConfig, *, record_view: bool = False) -> None:
        self.config = config
        self.view: list[PublicKeys | EncryptedShares | MaskedInput | RevealedShares] = []
        self._record_view = record_view
        self._next: Stage | Literal["finished"] = STAGES[0]
        self._keys: dict[ClientId, PublicKeys] = {}
        self._alive: frozenset[ClientId] = frozenset(config.neighbors)
        self._sent_input: frozenset[ClientId] = frozenset()
        self._key_owners: frozenset[ClientId] = frozenset()
        self._total: RingVector | None = None
        self.included: frozenset[ClientId] = frozenset()

    def _receive(
        self,
        stage: Stage,
        messages: Sequence[PublicKeys | EncryptedShares | MaskedInput | RevealedShares],
    ) -> frozenset[ClientId]:
        if self._next != stage:
            raise RuntimeError(f"server: stage {stage!r} called, {self._next!r} expected")
        index = STAGES.index(stage)
        # after unmasking the round is over: a replayed batch is refused, never re-applied
        self._next = STAGES[index + 1] if index + 1 < len(STAGES) else "finished"
        if self._record_view:
            self.view.extend(messages)
        senders = [m.sender for m in messages]
        if len(set(senders)) != len(senders) or not set(senders) <= self._alive:
            raise ValueError(f"messages: duplicate senders or senders that left before {stage!r}")
        self._alive = frozenset(senders)
        if len(senders) < self.config.threshold:
            raise SecAggAborted(stage, len(senders), self.config.threshold)
        return self._alive

    def advertise_keys(self, messages: Sequence[PublicKeys]) -> dict[ClientId, KeyRoster]:
        """Stage 1: forward to every client the keys of its neighbours that advertised."""
        alive = self._receive("advertise_keys", messages)
        self._keys = {m.sender: m for m in messages}
        graph = self.config.neighbors
        return {u: KeyRoster({v: self._keys[v] for v in graph[u] if v in alive}) for u in alive}

    def share_keys(self, messages: Sequence[EncryptedShares]) -> dict[ClientId, ShareInbox]:
        """Stage 2: relay every ciphertext to its holder if both ends are still alive."""
        alive = self._receive("share_keys", messages)
        inboxes: dict[ClientId, dict[ClientId, bytes]] = {u: {} for u in alive}
        for message in messages:
            for receiver, ciphertext in message.ciphertexts.items():
                if receiver in alive:
                    inboxes[receiver][message.sender] = ciphertext
        return {u: ShareInbox(box) for u, box in inboxes.items()}

    def masked_input(self, messages: Sequence[MaskedInput]) -> dict[ClientId, UnmaskRequest]:
        """Stage 3: add up the masked inputs; ask survivors for the shares needed to unmask."""
        shared = self._alive
        alive = self._receive("masked_input", messages)
        cfg = self.config
        total = np.zeros(cfg.length, dtype=prg.ring_dtype(cfg.bits))
        for message in messages:
            if message.vector.shape != total.shape or message.vector.dtype != total.dtype:
                raise ValueError(f"messages: masked input of client {message.sender} is malformed")
            np.add(total, message.vector, out=total)
        self._total = prg.reduce(total, cfg.bits)
        self._sent_input = alive
        self._key_owners = frozenset(u for u in shared - alive if cfg.neighbors[u] & alive)
        return {
            v: UnmaskRequest(
                self_mask_owners=frozenset(u for u in cfg.holders(v) if u in alive),
                secret_key_owners=frozenset(u for u in cfg.neighbors[v] if u in self._key_owners),
            )
            for v in alive
        }

    def unmasking(self, messages: Sequence[RevealedShares]) -> RingVector:
        """Stage 4: rebuild the seeds from t shares each and return sum_u x_u mod 2^bits."""
        self._receive("unmasking", messages)
        cfg = self.config
        t = cfg.threshold
        b_shares = _collect(messages, self._sent_input, lambda m: m.self_mask_shares)
        sk_shares = _collect(messages, self._key_owners, lambda m: m.secret_key_shares)
        for kind, shares in (("self-mask seed", b_shares), ("mask key", sk_shares)):
            for owner in sorted(shares):
                if len(shares[owner]) < t:
                    raise SecAggAborted(
                        "unmasking", len(shares[owner]), t, f"holders of client {owner}'s {kind}"
                    )
        assert self._total is not None  # set by masked_input
        total = self._total.copy()
        for owner in sorted(b_shares):
            seed = shamir.combine_shares(b_shares[owner][:t])
            prg.unmask(total, seed, bits=cfg.bits)
        for owner in sorted(sk_shares):
            secret_key = key_agreement.load_key_pair(shamir.combine_shares(sk_shares[owner][:t]))
            for v in sorted(cfg.neighbors[owner] & self._sent_input):
                pair_key = key_agreement.agree(
                    secret_key.private, self._keys[v].s_public, info=key_agreement.MASK_INFO
                )
                prg.unmask(total, pair_key, bits=cfg.bits, sign=_pair_sign(v, owner))
        self.included = self._sent_input
        return total


def _collect(
    messages: Sequence[RevealedShares],
    owners: Collection[ClientId],
    pick: Callable[[RevealedShares], Mapping[ClientId, bytes]],
) -> dict[ClientId, list[bytes]]:
    """For each owner, the shares revealed for it, in the order of the revealing client's id."""
    shares: dict[ClientId, list[bytes]] = {u: [] for u in owners}
    for message in sorted(messages, key=lambda m: m.sender):
        for owner, share in pick(message).items():
            if owner in shares:
                shares[owner].append(share)
    return shares

"""The secure-aggregation server (Bonawitz et al. 2017, Fig. 4; SecAgg+ of Bell et al. 2020).

Besides the abort rule of Bonawitz et al. (fewer than t clients in a stage, a needed secret
with fewer than t surviving holders), the server aborts when the clients whose masked input
arrived are not connected in the neighbour graph (`DisconnectedSurvivors`): unmasking would
then release each connected component's sum, not only the total. It checks every rebuilt mask
key against the public key its owner advertised and every share beyond the t it interpolates
from, so a tampered or malformed share is a typed abort (`InvalidShare`), never a wrong sum.

In the malicious model (`config.threat_model == "malicious"`) this honest server also runs the
consistency check of Bonawitz et al. (2017, Sec. 4.2): after masked_input it announces U3
(`SurvivorSet`), collects each client's signature of it and sends each client, with its
unmasking request, the signatures its quorum check needs. It aborts (`TooFewSurvivors`)
wherever an honest client's stricter check would refuse (`config.quorum(u)` live holders, and
signers of U3, for each client u), so honest rounds never end in a client's
`ServerMisbehaved`. Tests in `tests/privacy/test_secagg_malicious.py` play a server that
deviates.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal

import numpy as np

from privacy import key_agreement, prg, shamir
from privacy.config import SecAggConfig, pair_sign
from privacy.errors import DisconnectedSurvivors, InvalidShare, TooFewSurvivors
from privacy.graph import components
from privacy.messages import (
    EncryptedShares,
    KeyRoster,
    MaskedInput,
    PublicKeys,
    RevealedShares,
    ShareInbox,
    SurvivorSet,
    SurvivorSignature,
    UnmaskRequest,
)
from privacy.types import ClientId, RingVector, Stage

Received = PublicKeys | EncryptedShares | MaskedInput | SurvivorSignature | RevealedShares


class SecAggServer:
    """The server: each stage method takes the messages that arrived and returns the replies.

    With `record_view=True` it keeps every message it received in `view`, in arrival order:
    that list is the whole of the server's knowledge besides the public `config`.
    """

    def __init__(self, config: SecAggConfig, *, record_view: bool = False) -> None:
        self.config = config
        self.view: list[Received] = []
        self._record_view = record_view
        self._next: Stage | Literal["finished"] = config.stages[0]
        self._keys: dict[ClientId, PublicKeys] = {}
        self._alive: frozenset[ClientId] = frozenset(config.neighbors)
        self._sent_input: frozenset[ClientId] = frozenset()
        self._key_owners: frozenset[ClientId] = frozenset()
        self._total: RingVector | None = None
        self._requests: dict[ClientId, UnmaskRequest] = {}
        self.included: frozenset[ClientId] = frozenset()

    def _receive(self, stage: Stage, messages: Sequence[Received]) -> frozenset[ClientId]:
        if self._next != stage:
            raise RuntimeError(f"server: stage {stage!r} called, {self._next!r} expected")
        # after unmasking the round is over: a replayed batch is refused, never re-applied
        self._next = self.config.stage_after(stage)
        if self._record_view:
            self.view.extend(messages)
        senders = [m.sender for m in messages]
        if len(set(senders)) != len(senders) or not set(senders) <= self._alive:
            raise ValueError(f"messages: duplicate senders or senders that left before {stage!r}")
        self._alive = frozenset(senders)
        if len(senders) < self.config.threshold:
            raise TooFewSurvivors(stage, len(senders), self.config.threshold)
        return self._alive

    def _check_holders(
        self,
        stage: Stage,
        alive: frozenset[ClientId],
        owners: frozenset[ClientId] | None = None,
        what: str = "surviving holders",
    ) -> None:
        """Abort before a client's own check would (Fig. 4: enough keys, ciphertexts, survivors):
        every owner (default: every client still in the round) keeps `config.quorum` holders in
        `alive` (t in the semi-honest model)."""
        for v in sorted(alive if owners is None else owners):
            surviving = sum(u in alive for u in self.config.holders(v))
            needed = self.config.quorum(v)
            if surviving < needed:
                raise TooFewSurvivors(stage, surviving, needed, f"{what} of client {v}'s secrets")

    def advertise_keys(self, messages: Sequence[PublicKeys]) -> dict[ClientId, KeyRoster]:
        """Stage 1: forward to every client the keys of its neighbours that advertised."""
        alive = self._receive("advertise_keys", messages)
        self._check_holders("advertise_keys", alive)
        self._keys = {m.sender: m for m in messages}
        graph = self.config.neighbors
        return {u: KeyRoster({v: self._keys[v] for v in graph[u] if v in alive}) for u in alive}

    def share_keys(self, messages: Sequence[EncryptedShares]) -> dict[ClientId, ShareInbox]:
        """Stage 2: relay every ciphertext to its holder if both ends are still alive."""
        alive = self._receive("share_keys", messages)
        self._check_holders("share_keys", alive)
        inboxes: dict[ClientId, dict[ClientId, bytes]] = {u: {} for u in alive}
        for message in messages:
            for receiver, ciphertext in message.ciphertexts.items():
                if receiver in alive:
                    inboxes[receiver][message.sender] = ciphertext
        return {u: ShareInbox(box) for u, box in inboxes.items()}

    def masked_input(
        self, messages: Sequence[MaskedInput]
    ) -> dict[ClientId, UnmaskRequest] | dict[ClientId, SurvivorSet]:
        """Stage 3: add up the masked inputs; ask survivors for the shares needed to unmask
        (malicious model: announce U3 for the consistency check first)."""
        shared = self._alive
        alive = self._receive("masked_input", messages)
        cfg = self.config
        groups = components(cfg.neighbors, alive)
        if len(groups) > 1:
            raise DisconnectedSurvivors("masked_input", groups)
        self._check_holders("masked_input", alive)
        total = np.zeros(cfg.length, dtype=prg.ring_dtype(cfg.bits))
        for message in messages:
            if message.vector.shape != total.shape or message.vector.dtype != total.dtype:
                raise ValueError(f"messages: masked input of client {message.sender} is malformed")
            np.add(total, message.vector, out=total)
        self._total = prg.reduce(total, cfg.bits)
        self._sent_input = alive
        self._key_owners = frozenset(u for u in shared - alive if cfg.neighbors[u] & alive)
        self._requests = {
            v: UnmaskRequest(
                self_mask_owners=frozenset(u for u in cfg.holders(v) if u in alive),
                secret_key_owners=frozenset(u for u in cfg.neighbors[v] if u in self._key_owners),
            )
            for v in alive
        }
        if cfg.malicious:
            return {v: SurvivorSet(alive) for v in alive}
        return self._requests

    def consistency_check(
        self, messages: Sequence[SurvivorSignature]
    ) -> dict[ClientId, UnmaskRequest]:
        """Malicious model, stage 4: send each signer its request with U3 and the signatures of
        U3 that its quorum check needs."""
        cfg, survivors = self.config, self._sent_input
        signers = self._receive("consistency_check", messages)
        key_owners = self._key_owners
        owners = survivors | key_owners | {w for u in key_owners for w in cfg.neighbors[u]}
        self._check_holders("consistency_check", signers, owners, "holders that signed U3")
        signed = {m.sender: m.signature for m in messages}
        replies = {}
        for v in signers:
            request = self._requests[v]
            seeds, keys = request.self_mask_owners, request.secret_key_owners
            # the signatures v checks: of the holders of every client it reveals a share of,
            # and of every neighbour of a mask-key owner (all of them with the complete graph)
            relevant = seeds | keys | {w for u in keys for w in cfg.neighbors[u]}
            wanted = {h for u in relevant for h in cfg.holders(u)}
            replies[v] = UnmaskRequest(
                seeds,
                keys,
                survivors=survivors,
                signatures={u: sig for u, sig in signed.items() if u in wanted},
            )
        return replies

    def unmasking(self, messages: Sequence[RevealedShares]) -> RingVector:
        """Last stage: rebuild the seeds from t shares each and return sum_u x_u mod 2^bits."""
        self._receive("unmasking", messages)
        cfg = self.config
        t = cfg.threshold
        b_shares = _collect(messages, self._sent_input, lambda m: m.self_mask_shares)
        sk_shares = _collect(messages, self._key_owners, lambda m: m.secret_key_shares)
        for kind, shares in (("self-mask seed", b_shares), ("mask key", sk_shares)):
            for owner in sorted(shares):
                if len(shares[owner]) < t:
                    what = f"holders of client {owner}'s {kind}"
                    raise TooFewSurvivors("unmasking", len(shares[owner]), t, what)
        assert self._total is not None  # set by masked_input
        total = self._total.copy()
        keys = [_rebuild(owner, b_shares[owner], t) for owner in sorted(b_shares)]
        signs = [-1] * len(keys)
        for owner in sorted(sk_shares):
            secret_key = key_agreement.load_key_pair(_rebuild(owner, sk_shares[owner], t))
            if secret_key.public != self._keys[owner].s_public:
                raise InvalidShare(
                    "unmasking", owner, "the rebuilt mask key is not the advertised one"
                )
            for v in sorted(cfg.neighbors[owner] & self._sent_input):
                keys.append(
                    key_agreement.agree(
                        secret_key.private, self._keys[v].s_public, info=key_agreement.MASK_INFO
                    )
                )
                signs.append(-pair_sign(v, owner))
        prg.mask_many(total, keys, signs, bits=cfg.bits)
        self.included = self._sent_input
        return total


def _rebuild(owner: ClientId, shares: Sequence[bytes], threshold: int) -> bytes:
    """The secret from all its revealed shares; a typed abort if they are malformed or disagree."""
    try:
        return shamir.combine_shares(shares, threshold=threshold)
    except (ValueError, TypeError) as error:
        raise InvalidShare("unmasking", owner, str(error).removeprefix("shares: ")) from None


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

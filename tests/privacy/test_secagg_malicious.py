"""The malicious-server model: a server that deviates from the protocol is caught, never paid.

Each attack is played by a test-side server that drives honest clients directly:

* key substitution (the server swaps advertised keys for its own and man-in-the-middles the
  victim): in the semi-honest model it recovers the victim's input exactly at every threshold
  (t = 2, 4, 7 of 7 and 20 of 20): the broken variant; in the malicious model every client
  aborts with reason "bad_signature" before sending anything but public keys;
* split survivors (different clients told different U3 sets, to get both shares of one
  client): "too_few_signatures", the server never holds t shares of both secrets;
* withheld ciphertexts (the victim masks with few peers, which the server then declares
  dropped), redirected and replayed ciphertexts: typed aborts.

Each defence is also monkeypatched away to show that the test's condition flips. Honest rounds
in the malicious model are in ``test_secagg_malicious_honest.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

import privacy.signatures
from privacy import (
    BadSignature,
    ForgedCiphertext,
    InconsistentSurvivors,
    ServerMisbehaved,
    TooFewSignatures,
    WithheldCiphertext,
    authenticated_encryption,
    key_agreement,
    prg,
    quantization,
    shamir,
)
from privacy.config import SecAggConfig, associated_data, pair_sign
from privacy.messages import (
    KeyRoster,
    PublicKeys,
    RevealedShares,
    ShareInbox,
    SurvivorSet,
    UnmaskRequest,
)
from privacy.simulation import PreparedRound, build_round
from privacy.types import ThreatModel
from tests.privacy.conftest import through_share_keys, uniform_updates

BITS, CLIP = 32, 1.0


def _decode(x: np.ndarray, n: int) -> np.ndarray:
    return quantization.dequantize(x, clip=CLIP, bits=BITS, n_summands=n)


def _step(n: int) -> float:
    return quantization.step(clip=CLIP, bits=BITS, n_summands=n)


def _requests(
    prepared: PreparedRound,
    survivors: Mapping[int, frozenset[int]],
    signatures: Mapping[int, bytes] | None,
) -> dict[int, UnmaskRequest]:
    """What an unmasking request looks like to client v told that `survivors[v]` survived."""
    cfg = prepared.config
    out = {}
    for v, u3 in survivors.items():
        held = frozenset(prepared.clients[v]._held)  # test-only peek: whose shares v holds
        out[v] = UnmaskRequest(
            frozenset(u for u in cfg.holders(v) if u in u3),
            held - u3,
            survivors=u3 if cfg.malicious else None,
            signatures=signatures if cfg.malicious else None,
        )
    return out


def _sign(
    prepared: PreparedRound,
    survivors: Mapping[int, frozenset[int]],
    refused: list[ServerMisbehaved] | None = None,
) -> dict[int, bytes]:
    """Malicious model: each client told `survivors[v]` checks and signs it; refusals are
    appended to `refused`."""
    signed = {}
    for v, u3 in survivors.items():
        try:
            signed[v] = prepared.clients[v].consistency_check(SurvivorSet(u3)).signature
        except ServerMisbehaved as error:
            if refused is not None:
                refused.append(error)
    return signed


def _reveal(
    prepared: PreparedRound, requests: Mapping[int, UnmaskRequest]
) -> tuple[list[RevealedShares], list[ServerMisbehaved]]:
    revealed, refused = [], []
    for v in sorted(requests):
        try:
            revealed.append(prepared.clients[v].unmasking(requests[v]))
        except ServerMisbehaved as error:
            refused.append(error)
    return revealed, refused


# --------------------------------------------------------------------------- key substitution


def play_key_substitution(
    n: int, t: int, threat_model: ThreatModel, victim: int = 0, seed: int = 0
) -> tuple[np.ndarray | None, list[ServerMisbehaved], np.ndarray]:
    """The server advertises its own keys for everyone to the victim and for the victim to
    everyone, relays (decrypts and re-encrypts) every share, then unmasks the victim alone.

    Returns (the victim's input as the server decodes it or None, the clients' refusals, the
    victim's true update).
    """
    updates = uniform_updates(n, seed)
    prepared = build_round(
        updates, threshold=t, rng=np.random.default_rng(seed), threat_model=threat_model
    )
    cfg, clients = prepared.config, prepared.clients
    honest = {u: clients[u].advertise_keys() for u in range(n)}
    fake = {
        u: (key_agreement.generate_key_pair(), key_agreement.generate_key_pair()) for u in honest
    }

    def forged(owner: int) -> PublicKeys:  # the server's keys, with the owner's real signature
        c, s = fake[owner]
        return PublicKeys(owner, c.public, s.public, honest[owner].signature)

    refused: list[ServerMisbehaved] = []
    shares = {}
    for u in range(n):
        entries = {v: forged(v) if victim in (u, v) else honest[v] for v in range(n) if v != u}
        try:
            shares[u] = clients[u].share_keys(KeyRoster(entries))
        except ServerMisbehaved as error:
            refused.append(error)
    if refused:
        return None, refused, updates[victim]

    def relay(
        sender: int, receiver: int, ciphertext: bytes, opened_as: int, sealed_as: int
    ) -> bytes:
        """Open with the fake key of `opened_as`, re-seal with the fake key of `sealed_as`."""
        data = associated_data(sender, receiver, cfg.session)
        info = key_agreement.ENCRYPTION_INFO
        key = key_agreement.agree(fake[opened_as][0].private, honest[sender].c_public, info=info)
        plain = authenticated_encryption.decrypt(key, ciphertext, associated_data=data)
        key = key_agreement.agree(fake[sealed_as][0].private, honest[receiver].c_public, info=info)
        return authenticated_encryption.encrypt(key, plain, associated_data=data)

    inboxes: dict[int, dict[int, bytes]] = {u: {} for u in range(n)}
    for u, message in shares.items():
        for w, ciphertext in message.ciphertexts.items():
            if u == victim:  # sealed for fake[w]; w expects it under fake[victim]
                ciphertext = relay(u, w, ciphertext, opened_as=w, sealed_as=victim)
            elif w == victim:  # sealed for fake[victim]; the victim expects it under fake[u]
                ciphertext = relay(u, w, ciphertext, opened_as=victim, sealed_as=u)
            inboxes[w][u] = ciphertext
    masked = {u: clients[u].masked_input(ShareInbox(inboxes[u])) for u in range(n)}
    everyone = {v: frozenset(range(n)) for v in range(n)}
    signed = _sign(prepared, everyone) if cfg.malicious else None
    revealed, refused = _reveal(prepared, _requests(prepared, everyone, signed))
    assert not refused  # every client-side check passed
    seed_shares = [r.self_mask_shares[victim] for r in revealed]
    x = prg.unmask(masked[victim].vector.copy(), shamir.combine_shares(seed_shares[:t]), bits=BITS)
    for w in range(n):
        if w != victim:  # the victim masked with fake[w]'s key: the server holds its private half
            s_vw = key_agreement.agree(
                fake[w][1].private, honest[victim].s_public, info=key_agreement.MASK_INFO
            )
            x = prg.unmask(x, s_vw, bits=BITS, sign=pair_sign(victim, w))
    return _decode(x, n), refused, updates[victim]


@pytest.mark.parametrize(("n", "t"), [(7, 2), (7, 4), (7, 7), (20, 20)])
def test_key_substitution_unmasks_the_victim_in_the_semi_honest_model(n: int, t: int) -> None:
    """The broken variant: without signed keys a server reads one client at any threshold."""
    recovered, refused, truth = play_key_substitution(n, t, "semi_honest")
    assert not refused and recovered is not None
    np.testing.assert_allclose(recovered, truth, atol=_step(n))


@pytest.mark.parametrize(("n", "t"), [(7, 2), (7, 4), (7, 7), (20, 20)])
def test_key_substitution_aborts_with_bad_signature_in_the_malicious_model(n: int, t: int) -> None:
    recovered, refused, _ = play_key_substitution(n, t, "malicious")
    # every client sees a substituted entry and refuses before sending a single share
    assert recovered is None and len(refused) == n
    assert all(isinstance(e, BadSignature) and e.reason == "bad_signature" for e in refused)
    assert all(e.stage == "share_keys" for e in refused)
    assert "not signed" in str(refused[0]) and "\n" not in str(refused[0])


def test_without_the_signature_check_key_substitution_unmasks_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mutation: signatures always verify. The malicious model then leaks like the semi-honest."""
    monkeypatch.setattr(privacy.signatures, "verify", lambda *args: True)
    recovered, refused, truth = play_key_substitution(7, 4, "malicious")
    assert not refused and recovered is not None
    np.testing.assert_allclose(recovered, truth, atol=_step(7))


def test_keys_signed_for_another_round_are_refused() -> None:
    # Prepare: the server replays client 1's signed keys from an earlier round (other session)
    earlier = build_round(uniform_updates(4, 0), threshold=3, threat_model="malicious")
    prepared = build_round(uniform_updates(4, 0), threshold=3, threat_model="malicious")
    object.__setattr__(prepared.config, "verification_keys", dict(earlier.config.verification_keys))
    for u, client in prepared.clients.items():  # same long-term keys in both rounds
        client._signing_key = earlier.clients[u]._signing_key
    old = earlier.clients[1].advertise_keys()
    fresh = {u: c.advertise_keys() for u, c in prepared.clients.items()}
    # Execute / Assert
    roster = KeyRoster({1: old, 2: fresh[2], 3: fresh[3]})
    with pytest.raises(BadSignature, match="client 1"):
        prepared.clients[0].share_keys(roster)


# --------------------------------------------------------------------------- split survivors


def _through_masked_input(
    n: int, t: int, threat_model: ThreatModel, seed: int = 0, neighbors: int | None = None
) -> tuple[PreparedRound, dict[int, ShareInbox], dict[int, np.ndarray]]:
    """An honest server runs advertise_keys and share_keys; the test plays the rest."""
    updates = uniform_updates(n, seed)
    prepared, _, inboxes = through_share_keys(
        updates, threshold=t, seed=seed, neighbors=neighbors, threat_model=threat_model
    )
    return prepared, inboxes, updates


def play_split(n: int, t: int, victim: int = 0) -> tuple[int, int, list[ServerMisbehaved]]:
    """Malicious model: the first t clients (victim included) are told U3 = everyone, the rest
    that the victim dropped. Returns (b-shares, sk-shares of the victim revealed, refusals)."""
    prepared, inboxes, _ = _through_masked_input(n, t, "malicious", seed=t)
    for u in range(n):
        prepared.clients[u].masked_input(inboxes[u])
    everyone = frozenset(range(n))
    told = {v: everyone if v < t else everyone - {victim} for v in range(n)}
    signed = _sign(prepared, told)
    revealed, refused = _reveal(prepared, _requests(prepared, told, signed))
    b = sum(victim in r.self_mask_shares for r in revealed)
    sk = sum(victim in r.secret_key_shares for r in revealed)
    return b, sk, refused


@pytest.mark.parametrize("t", [2, 3, 4])
def test_split_survivors_never_yield_both_secrets_of_a_client(t: int) -> None:
    b, sk, refused = play_split(7, t)
    assert not (b >= t and sk >= t)
    assert refused and all(isinstance(e, TooFewSignatures) for e in refused)
    assert refused[0].reason == "too_few_signatures"


@pytest.mark.parametrize("t", [2, 3])
def test_without_the_quorum_the_split_succeeds(t: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: clients accept t signatures (not a majority of holders): both secrets leak at
    t <= n/2."""
    monkeypatch.setattr(SecAggConfig, "quorum", lambda self, client: self.threshold)
    b, sk, refused = play_split(7, t)
    assert not refused and b >= t and sk >= t


def test_an_unmasking_request_must_carry_the_signed_survivor_set() -> None:
    prepared, inboxes, _ = _through_masked_input(5, 3, "malicious")
    for u in range(5):
        prepared.clients[u].masked_input(inboxes[u])
    everyone = frozenset(range(5))
    signed = _sign(prepared, dict.fromkeys(range(5), everyone))
    other = {0: everyone - {4}}
    request = _requests(prepared, other, signed)[0]
    with pytest.raises(InconsistentSurvivors, match="another U3"):
        prepared.clients[0].unmasking(request)


# --------------------------------------------------------------------------- ciphertexts


def play_under_masking(
    t: int, peers: frozenset[int], threat_model: ThreatModel
) -> tuple[np.ndarray | None, list[ServerMisbehaved], np.ndarray]:
    """The server hands the victim (0) only the ciphertexts of `peers`, so it masks with them
    alone, then declares `peers` dropped: unmasking the rest would reveal the victim's input."""
    n, victim = 7, 0
    prepared, inboxes, updates = _through_masked_input(n, t, threat_model, seed=5)
    clients = prepared.clients
    withheld = ShareInbox({u: c for u, c in inboxes[victim].ciphertexts.items() if u in peers})
    refused: list[ServerMisbehaved] = []
    try:
        y = clients[victim].masked_input(withheld).vector
    except ServerMisbehaved as error:
        return None, [error], updates[victim]
    for u in range(1, n):
        clients[u].masked_input(inboxes[u])
    u3 = frozenset(range(n)) - peers
    told = dict.fromkeys(u3, u3)
    signed = _sign(prepared, told, refused) if prepared.config.malicious else None
    asked = told if signed is None else {v: told[v] for v in signed}  # only signers are asked
    revealed, more = _reveal(prepared, _requests(prepared, asked, signed))
    refused += more
    b = [r.self_mask_shares[victim] for r in revealed if victim in r.self_mask_shares]
    sk = {p: [r.secret_key_shares[p] for r in revealed if p in r.secret_key_shares] for p in peers}
    if len(b) < t or any(len(s) < t for s in sk.values()):
        return None, refused, updates[victim]
    x = prg.unmask(y.copy(), shamir.combine_shares(b[:t]), bits=BITS)
    victim_keys = clients[victim]._s_keys  # its public half, as advertised to the server
    assert victim_keys is not None
    for p in sorted(peers):
        pair = key_agreement.load_key_pair(shamir.combine_shares(sk[p][:t]))
        s_vp = key_agreement.agree(pair.private, victim_keys.public, info=key_agreement.MASK_INFO)
        x = prg.unmask(x, s_vp, bits=BITS, sign=pair_sign(victim, p))
    return _decode(x, n), refused, updates[victim]


def test_under_masking_unmasks_the_victim_in_the_semi_honest_model() -> None:
    """The broken variant: one ciphertext (t - 1) is enough for the semi-honest client."""
    recovered, _, truth = play_under_masking(2, frozenset({1}), "semi_honest")
    assert recovered is not None
    np.testing.assert_allclose(recovered, truth, atol=_step(7))


def test_under_masking_is_refused_in_the_malicious_model() -> None:
    # too few ciphertexts for the malicious quorum (a majority of the holders): refused at once
    recovered, refused, _ = play_under_masking(2, frozenset({1}), "malicious")
    assert recovered is None and isinstance(refused[0], WithheldCiphertext)
    assert refused[0].reason == "withheld_ciphertext" and refused[0].stage == "masked_input"
    # enough ciphertexts (3 = quorum - 1), but then the victim will not sign a U3 that names
    # neighbours it has no shares from, and the others lack a majority of signatures
    recovered, refused, _ = play_under_masking(2, frozenset({1, 2, 3}), "malicious")
    assert recovered is None
    assert {e.reason for e in refused} == {"inconsistent_survivors", "too_few_signatures"}


def test_without_the_quorum_under_masking_unmasks_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: the quorum falls back to t. The malicious model then leaks."""
    monkeypatch.setattr(SecAggConfig, "quorum", lambda self, client: self.threshold)
    recovered, _, truth = play_under_masking(2, frozenset({1}), "malicious")
    assert recovered is not None
    np.testing.assert_allclose(recovered, truth, atol=_step(7))


@pytest.mark.parametrize("threat_model", ["semi_honest", "malicious"])
def test_redirected_and_replayed_ciphertexts_are_refused(threat_model: ThreatModel) -> None:
    prepared, inboxes, _ = _through_masked_input(5, 3, threat_model)
    cfg, clients = prepared.config, prepared.clients
    # redirected: client 2 is handed, as if from 1, the ciphertext 3 sent it
    redirected = dict(inboxes[2].ciphertexts) | {1: inboxes[2].ciphertexts[3]}
    with pytest.raises(ForgedCiphertext) as info:
        clients[2].masked_input(ShareInbox(redirected))
    assert info.value.reason == "forged_ciphertext"
    # replayed: the right key and ids, but sealed for another round (session)
    key = clients[0]._encryption_keys[1]
    plain = b"\x00" * (2 * shamir.SHARE_BYTES)
    stale = authenticated_encryption.encrypt(
        key, plain, associated_data=associated_data(1, 0, b"another session!")
    )
    replayed = dict(inboxes[0].ciphertexts) | {1: stale}
    with pytest.raises(ForgedCiphertext, match="forged"):
        clients[0].masked_input(ShareInbox(replayed))
    assert cfg.session != b"another session!"


def test_without_the_session_in_the_associated_data_a_replay_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mutation: the associated data ignores the session; the stale ciphertext decrypts."""
    import privacy.client

    monkeypatch.setattr(
        privacy.client, "associated_data", lambda s, r, session=b"": associated_data(s, r)
    )
    prepared, inboxes, _ = _through_masked_input(5, 3, "malicious")
    clients = prepared.clients
    key = clients[0]._encryption_keys[1]
    stale = authenticated_encryption.encrypt(
        key, bytes(2 * shamir.SHARE_BYTES), associated_data=associated_data(1, 0)
    )
    clients[0].masked_input(ShareInbox(dict(inboxes[0].ciphertexts) | {1: stale}))

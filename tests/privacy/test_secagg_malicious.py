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
with dropouts at every stage give the same aggregate as the semi-honest model, and a
hypothesis property checks every honest malicious round against an independent abort rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

import networkx as nx
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import privacy.signatures
from privacy import (
    MALICIOUS_STAGES,
    STAGES,
    AbortReason,
    BadSignature,
    ForgedCiphertext,
    InconsistentSurvivors,
    SecAggAborted,
    ServerMisbehaved,
    TooFewSignatures,
    TooFewSurvivors,
    WithheldCiphertext,
    authenticated_encryption,
    key_agreement,
    prg,
    quantization,
    secure_aggregate,
    shamir,
)
from privacy.config import SecAggConfig, associated_data, pair_sign
from privacy.graph import neighbor_graph
from privacy.messages import (
    KeyRoster,
    PublicKeys,
    RevealedShares,
    ShareInbox,
    SurvivorSet,
    UnmaskRequest,
)
from privacy.protocol import SecAggServer
from privacy.simulation import PreparedRound, build_round
from privacy.types import ThreatModel

BITS, CLIP = 32, 1.0


def _updates(n: int, seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {u: rng.uniform(-0.5, 0.5, size=6) for u in range(n)}


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
    updates = _updates(n, seed)
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
    earlier = build_round(_updates(4, 0), threshold=3, threat_model="malicious")
    prepared = build_round(_updates(4, 0), threshold=3, threat_model="malicious")
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
    updates = _updates(n, seed)
    prepared = build_round(
        updates,
        threshold=t,
        neighbors=neighbors,
        rng=np.random.default_rng(seed),
        threat_model=threat_model,
    )
    server = SecAggServer(prepared.config)
    clients = prepared.clients
    rosters = server.advertise_keys([c.advertise_keys() for c in clients.values()])
    inboxes = server.share_keys([clients[u].share_keys(rosters[u]) for u in clients])
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


# --------------------------------------------------------------------------- honest rounds


@pytest.mark.parametrize("neighbors", [None, 6])
@pytest.mark.parametrize("stage", MALICIOUS_STAGES)
def test_honest_rounds_with_dropouts_match_the_semi_honest_aggregate(
    stage: str, neighbors: int | None
) -> None:
    # Prepare: 11 clients, t = 3; two drop at `stage` (at consistency_check their masked
    # input arrived: the semi-honest equivalent is a drop at unmasking)
    updates = _updates(11, seed=3)
    drops = [2, 7]
    plain_stage = "unmasking" if stage == "consistency_check" else stage
    runs = {}
    states = {}
    for model, at in (("semi_honest", plain_stage), ("malicious", stage)):
        rng = np.random.default_rng(8)
        runs[model] = secure_aggregate(
            updates,
            threshold=3,
            neighbors=neighbors,
            dropouts={at: drops},
            rng=rng,
            threat_model=model,  # type: ignore[arg-type]  # a literal from the loop above
        )
        states[model] = rng.bit_generator.state
    # Assert: same clients, bit-identical aggregate, same draws from the numpy generator
    honest, malicious = runs["semi_honest"], runs["malicious"]
    assert malicious.included == honest.included
    np.testing.assert_array_equal(malicious.aggregate, honest.aggregate)
    assert states["semi_honest"] == states["malicious"]
    expected = sum(np.clip(updates[u], -CLIP, CLIP) for u in honest.included)
    assert np.abs(malicious.aggregate - expected).max() <= malicious.max_error
    assert malicious.stages == MALICIOUS_STAGES and honest.stages == STAGES
    assert malicious.threat_model == "malicious"


def test_the_new_messages_are_counted_in_the_byte_accounting() -> None:
    updates = _updates(6, seed=1)
    honest = secure_aggregate(updates, threshold=4, rng=np.random.default_rng(0))
    malicious = secure_aggregate(
        updates, threshold=4, rng=np.random.default_rng(0), threat_model="malicious"
    )
    for u in range(6):
        # each advertised key set carries a 64-byte signature, and each roster 5 of them
        assert (
            malicious.bytes_sent["advertise_keys"][u] == honest.bytes_sent["advertise_keys"][u] + 64
        )
        extra = (
            malicious.bytes_received["advertise_keys"][u]
            - honest.bytes_received["advertise_keys"][u]
        )
        assert extra == 5 * 64
        assert malicious.bytes_sent["consistency_check"][u] == 8 + 64  # id + signature
        assert malicious.bytes_received["masked_input"][u] == 4 + 6 * 8  # U3
        # the request as before, plus U3 again and the six signatures (id + 64 bytes each)
        request = honest.bytes_received["masked_input"][u]
        assert malicious.bytes_received["consistency_check"][u] == request + 4 + 48 + 4 + 6 * 72
        assert malicious.bytes_sent["share_keys"][u] == honest.bytes_sent["share_keys"][u]
    rows = malicious.stage_rows()
    assert [r["stage"] for r in rows] == list(MALICIOUS_STAGES)
    assert len(malicious.accounting_rows()) == 6 * 5


def test_threat_model_is_validated_with_a_one_line_error() -> None:
    with pytest.raises(ValueError, match=r"^threat_model: must be 'semi_honest' or 'malicious'"):
        secure_aggregate(_updates(3, 0), threshold=2, threat_model="paranoid")  # type: ignore[arg-type]  # the bad input under test
    with pytest.raises(ValueError, match="unknown stage 'consistency_check'"):
        secure_aggregate(_updates(3, 0), threshold=2, dropouts={"consistency_check": [1]})


def test_every_abort_has_a_typed_reason_and_the_round_graph() -> None:
    reasons = set(get_args(AbortReason))
    assert {"bad_signature", "inconsistent_survivors", "withheld_ciphertext"} <= reasons
    assert {"too_few_signatures", "too_few_survivors"} <= reasons
    classes: list[type[SecAggAborted]] = [SecAggAborted, *_subclasses(SecAggAborted)]
    assert len(classes) >= 10
    for cls in classes:
        assert cls.reason in reasons
    with pytest.raises(TooFewSurvivors) as info:
        secure_aggregate(
            _updates(6, 0),
            threshold=3,
            neighbors=4,
            threat_model="malicious",
            dropouts={"consistency_check": [0, 1, 2]},
            rng=np.random.default_rng(2),
        )
    error = info.value
    assert error.reason == "too_few_survivors" and error.stage == "consistency_check"
    assert isinstance(error.graph, nx.Graph) and error.graph.number_of_nodes() == 6
    assert TooFewSurvivors("advertise_keys", 1, 2).graph is None


def _subclasses(cls: type[SecAggAborted]) -> list[type[SecAggAborted]]:
    out: list[type[SecAggAborted]] = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def malicious_outcome(graph: nx.Graph, t: int, drop_stage: Mapping[int, str]) -> str:
    """Why an honest malicious-model round must abort ("" if it must not); independent of
    `privacy`. Every stage needs t clients, and each live client u q(u) = max(t,
    |holders(u)| // 2 + 1) live holders; U3 must be connected; each client of U3, each
    needed mask key's owner and each neighbour of such an owner q(u) holders among the signers
    U4; each needed secret t holders among the revealers U5."""
    order: dict[str, int] = {s: k for k, s in enumerate(MALICIOUS_STAGES)}
    clients = set(graph.nodes)
    alive = [{u for u in clients if order.get(drop_stage.get(u, ""), 5) > k} for k in range(5)]
    holders = {u: {u, *graph[u]} for u in clients}
    quorum = {u: max(t, len(holders[u]) // 2 + 1) for u in clients}
    if any(len(a) < t for a in alive):
        return "too few clients in a stage"
    for a in alive[:3]:
        if any(len(holders[u] & a) < quorum[u] for u in a):
            return "too few holders alive"
    u2, u3, u4, u5 = alive[1], alive[2], alive[3], alive[4]
    if not nx.is_connected(graph.subgraph(u3)):
        return "U3 not connected"
    key_owners = {u for u in u2 - u3 if set(graph[u]) & u3}
    checked = u3 | key_owners | {w for u in key_owners for w in graph[u]}
    if any(len(holders[u] & u4) < quorum[u] for u in checked):
        return "too few holders signed U3"
    if any(len(holders[u] & u5) < t for u in u3 | key_owners):
        return "too few holders revealed"
    return ""


@st.composite
def honest_rounds(draw: st.DrawFn) -> tuple[int, int | None, int, dict[int, str], int]:
    n = draw(st.integers(3, 14))
    neighbors = draw(st.one_of(st.none(), st.integers(1, n - 1)))
    t = draw(st.integers(2, n if neighbors is None else neighbors + 1))
    rate = draw(st.sampled_from([0.0, 0.1, 0.25]))
    coins = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    stages = draw(st.lists(st.sampled_from(MALICIOUS_STAGES), min_size=n, max_size=n))
    drops: dict[int, str] = {
        u: s for u, (c, s) in enumerate(zip(coins, stages, strict=True)) if c < rate
    }
    return n, neighbors, t, drops, draw(st.integers(0, 2**32 - 1))


@given(case=honest_rounds())
@settings(max_examples=60, deadline=None)
def test_honest_malicious_rounds_give_the_exact_included_sum(
    case: tuple[int, int | None, int, dict[int, str], int],
) -> None:
    n, neighbors, t, drops, seed = case
    updates = {u: np.random.default_rng(seed + u).uniform(-1.5, 1.5, size=3) for u in range(n)}
    graph = neighbor_graph(list(range(n)), neighbors, np.random.default_rng(seed))
    must = malicious_outcome(graph, t, drops)
    event(must or "finishes")
    dropouts: dict[str, list[int]] = {
        s: [u for u, d in drops.items() if d == s] for s in MALICIOUS_STAGES
    }
    try:
        result = secure_aggregate(
            updates,
            threshold=t,
            neighbors=neighbors,
            dropouts=dropouts,
            rng=np.random.default_rng(seed),
            threat_model="malicious",
        )
    except SecAggAborted as error:
        assert must, f"aborted although an honest round must finish: {error}"
        assert not isinstance(error, ServerMisbehaved)  # the honest server aborts first
        return
    assert not must, f"finished although {must}"
    order: dict[str, int] = {s: k for k, s in enumerate(MALICIOUS_STAGES)}
    assert result.included == {u for u in range(n) if order.get(drops.get(u, ""), 5) > 2}
    expected = sum(np.clip(updates[u], -CLIP, CLIP) for u in result.included)
    assert np.abs(result.aggregate - expected).max() <= result.max_error


def test_parameter_choice_counts_the_malicious_quorum() -> None:
    """A malicious-model round needs a strict majority of each client's holders alive, not
    just t: the abort bound (and so the chosen degree) must count that quorum."""
    from privacy.parameters import failure_bounds, secaggplus_parameters

    # k = 17: 18 holders, t = 9 at threshold share 0.5, but the quorum is 10
    semi = failure_bounds(100, neighbors=17, threshold=9, dropout_rate=0.2)
    malicious = failure_bounds(
        100, neighbors=17, threshold=9, dropout_rate=0.2, threat_model="malicious"
    )
    assert malicious[0] > semi[0] and malicious[1] == semi[1]
    # k = 4: 5 holders, t = 3 is already a majority: nothing changes
    assert failure_bounds(
        50, neighbors=4, threshold=3, dropout_rate=0.1, threat_model="malicious"
    ) == failure_bounds(50, neighbors=4, threshold=3, dropout_rate=0.1)
    chosen = {
        model: secaggplus_parameters(100, dropout_rate=0.2, min_neighbors=7, threat_model=model)
        for model in ("semi_honest", "malicious")
    }
    degree = {m: (c.neighbors or 99) for m, c in chosen.items()}
    assert degree["malicious"] >= degree["semi_honest"]
    assert chosen["malicious"].meets_target
    with pytest.raises(ValueError, match="threat_model"):
        failure_bounds(10, neighbors=4, threshold=3, dropout_rate=0.1, threat_model="evil")

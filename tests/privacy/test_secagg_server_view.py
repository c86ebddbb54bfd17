"""What the server sees: uniform masked inputs, no secrets, nothing readable without t shares."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from privacy import SecAggAborted, ServerMisbehaved, key_agreement, prg, quantization, shamir
from privacy.accounting import Ledger
from privacy.messages import EncryptedShares, MaskedInput, PublicKeys, RevealedShares, UnmaskRequest
from privacy.protocol import SecAggClient, SecAggServer
from privacy.simulation import PreparedRound, build_round, run_round
from privacy.types import Stage

LENGTH = 25_600  # 100 expected counts in each of 256 bins


def constant_updates(n: int, value: float) -> dict[int, np.ndarray]:
    return {u: np.full(LENGTH, value) for u in range(n)}


def p_uniform(values: np.ndarray, bits: int) -> float:
    """Chi-square p-value of the top 8 bits of ring elements against uniform."""
    top = (values.astype(np.uint64) >> np.uint64(bits - 8)).astype(np.int64)
    return float(chisquare(np.bincount(top, minlength=256)).pvalue)


def observed_round(
    prepared: PreparedRound, drop_stage: dict[int, Stage]
) -> tuple[SecAggServer, SecAggAborted | None]:
    server = SecAggServer(prepared.config, record_view=True)
    try:
        run_round(server, prepared.clients, drop_stage, Ledger(prepared.clients))
    except SecAggAborted as error:
        return server, error
    return server, None


@pytest.mark.parametrize(("bits", "neighbors"), [(8, None), (32, None), (32, 2), (64, 2)])
def test_a_masked_input_is_uniform_over_the_ring(bits: int, neighbors: int | None) -> None:
    # Prepare: every coordinate of every update is the same value, the worst case for a leak
    prepared = build_round(
        constant_updates(4, 0.7),
        threshold=2,
        neighbors=neighbors,
        bits=bits,
        rng=np.random.default_rng(bits),
    )
    # Execute
    server, error = observed_round(prepared, {})
    # Assert
    assert error is None
    masked = [m for m in server.view if isinstance(m, MaskedInput)]
    assert len(masked) == 4
    for message in masked:
        assert p_uniform(message.vector, bits) > 1e-3
    plain = quantization.quantize(np.full(LENGTH, 0.7), clip=1.0, bits=bits, n_summands=4)
    assert p_uniform(plain, bits) < 1e-9  # the test can tell an unmasked input apart


def test_without_t_shares_the_server_cannot_read_an_update() -> None:
    # Prepare: t = 3 of 5; three clients leave before unmasking, so two answer and it aborts
    updates = constant_updates(5, 0.5)
    prepared = build_round(updates, threshold=3, bits=32, rng=np.random.default_rng(9))
    # Execute
    server, error = observed_round(prepared, {2: "unmasking", 3: "unmasking", 4: "unmasking"})
    # Assert: it stopped, and its whole view holds fewer than t shares per secret
    assert error is not None and error.stage == "unmasking" and error.survived == 2
    view = server.view
    assert {type(m) for m in view} == {PublicKeys, EncryptedShares, MaskedInput, RevealedShares}
    revealed = [m for m in view if isinstance(m, RevealedShares)]
    masked = {m.sender: m.vector for m in view if isinstance(m, MaskedInput)}
    secrets = _client_secrets(prepared)
    for owner, (seed, _) in secrets.items():
        b_shares = [m.self_mask_shares[owner] for m in revealed if owner in m.self_mask_shares]
        assert 0 < len(b_shares) < 3
        assert not any(owner in m.secret_key_shares for m in revealed)
        # The server's best guess of b_u from its shares is wrong...
        guess = shamir.combine_shares(b_shares)
        assert guess != seed
        # ...and removing PRG(guess) leaves a uniform vector, not the quantised update.
        attempt = prg.unmask(masked[owner].copy(), guess, bits=32)
        assert p_uniform(attempt, 32) > 1e-3
    # No secret or plaintext share appears anywhere in the bytes the server holds.
    received = b"".join(_message_bytes(m) for m in view)
    for seed, secret_key in secrets.values():
        assert seed not in received and secret_key not in received
    for u, client in prepared.clients.items():
        held = client._held.values()  # test-only peek at private state
        assert not any(sk_share in received for _, sk_share in held)
        if u in (2, 3, 4):  # never answered, so none of the b-shares they hold left them
            assert not any(b_share in received for b_share, _ in held)


def test_t_shares_of_both_secrets_would_unmask_so_clients_refuse() -> None:
    """The control: if a server got t shares of b_u and of s_u^SK, it could read x_u."""
    # Prepare
    updates = constant_updates(4, 0.25)
    prepared = build_round(updates, threshold=2, bits=32, rng=np.random.default_rng(4))
    server, error = observed_round(prepared, {})
    assert error is None
    victim = 0
    y = next(m.vector for m in server.view if isinstance(m, MaskedInput) and m.sender == victim)
    keys = {m.sender: m for m in server.view if isinstance(m, PublicKeys)}
    seed, secret_key = _client_secrets(prepared)[victim]
    # Execute: what a server with both secrets of the victim computes
    x = prg.unmask(y.copy(), seed, bits=32)
    pair = key_agreement.load_key_pair(secret_key)
    for v in (1, 2, 3):
        s_uv = key_agreement.agree(pair.private, keys[v].s_public, info=key_agreement.MASK_INFO)
        x = prg.unmask(x, s_uv, bits=32, sign=1 if victim < v else -1)
    # Assert: the update is exposed, which is why an honest client never reveals both shares
    decoded = quantization.dequantize(x, clip=1.0, bits=32, n_summands=4)
    np.testing.assert_allclose(
        decoded, 0.25, atol=quantization.step(clip=1.0, bits=32, n_summands=4)
    )
    client = _fresh_client_at_unmasking(updates)
    with pytest.raises(ServerMisbehaved, match="both shares"):
        client.unmasking(UnmaskRequest(frozenset({1}), frozenset({1})))


def _fresh_client_at_unmasking(updates: dict[int, np.ndarray]) -> SecAggClient:
    prepared = build_round(updates, threshold=2, rng=np.random.default_rng(1))
    server = SecAggServer(prepared.config)
    clients = prepared.clients
    rosters = server.advertise_keys([c.advertise_keys() for c in clients.values()])
    inboxes = server.share_keys([c.share_keys(rosters[u]) for u, c in clients.items()])
    server.masked_input([c.masked_input(inboxes[u]) for u, c in clients.items()])
    return clients[0]


def _client_secrets(prepared: PreparedRound) -> dict[int, tuple[bytes, bytes]]:
    """Test-only peek at each client's b_u and s_u^SK, to check they never reach the server."""
    secrets = {}
    for u, client in prepared.clients.items():
        assert client._s_keys is not None  # test-only peek at private state
        secrets[u] = (client._seed, client._s_keys.private_bytes())
    return secrets


def _message_bytes(message: object) -> bytes:
    if isinstance(message, PublicKeys):
        return message.c_public + message.s_public
    if isinstance(message, EncryptedShares):
        return b"".join(message.ciphertexts.values())
    if isinstance(message, MaskedInput):
        return message.vector.tobytes()
    if isinstance(message, RevealedShares):
        shares = [*message.self_mask_shares.values(), *message.secret_key_shares.values()]
        return b"".join(shares)
    raise TypeError(type(message))

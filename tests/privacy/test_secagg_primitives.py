"""Round trips and contracts of the secure-aggregation primitives."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy import isprime

from privacy import authenticated_encryption, key_agreement, prg, quantization, shamir
from privacy.graph import neighbor_graph, secaggplus_degree

seeds = st.integers(0, 2**32 - 1)


# --- key agreement -----------------------------------------------------------------------


@given(seed=seeds)
@settings(max_examples=20, deadline=None)
def test_agree_gives_both_ends_the_same_key(seed: int) -> None:
    # Prepare
    u, v = key_agreement.generate_key_pair(), key_agreement.generate_key_pair()
    # Execute
    k_uv = key_agreement.agree(u.private, v.public, info=key_agreement.MASK_INFO)
    k_vu = key_agreement.agree(v.private, u.public, info=key_agreement.MASK_INFO)
    other = key_agreement.agree(u.private, v.public, info=key_agreement.ENCRYPTION_INFO)
    # Assert
    assert k_uv == k_vu and len(k_uv) == 32
    assert other != k_uv


def test_key_pair_round_trips_through_private_bytes_and_is_fresh() -> None:
    pair = key_agreement.generate_key_pair()
    rebuilt = key_agreement.load_key_pair(pair.private_bytes())
    assert rebuilt.public == pair.public
    assert key_agreement.generate_key_pair().public != key_agreement.generate_key_pair().public
    with pytest.raises(ValueError, match="private_bytes"):
        key_agreement.load_key_pair(b"short")


# --- PRG and masking ---------------------------------------------------------------------


@pytest.mark.parametrize(("bits", "length"), [(32, 1000), (64, 333), (13, 17), (40, 5), (32, 0)])
def test_expand_is_the_aes256_ctr_keystream(bits: int, length: int) -> None:
    # Prepare
    key = bytes(range(32))
    width = 4 if bits <= 32 else 8
    counter = bytes(12) + (2).to_bytes(4, "big")
    stream = (
        Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor().update(bytes(length * width))
    )
    expected = np.frombuffer(stream, dtype=f"<u{width}") & np.uint64((1 << bits) - 1)
    # Execute
    words = prg.expand(key, length, bits=bits)
    # Assert
    assert words.dtype == np.dtype(f"uint{8 * width}")
    np.testing.assert_array_equal(words, expected)
    assert words.flags.writeable


def test_expand_depends_on_the_whole_key() -> None:
    key = bytearray(32)
    base = prg.expand(bytes(key), 64, bits=32)
    for position in (0, 4, 31):  # a 32-bit fold would ignore some of these changes
        changed = bytearray(key)
        changed[position] ^= 1
        assert not np.array_equal(prg.expand(bytes(changed), 64, bits=32), base)
    with pytest.raises(ValueError, match="key"):
        prg.expand(b"x" * 16, 4, bits=32)


@given(
    seed=seeds,
    bits=st.sampled_from([8, 16, 31, 32, 33, 63, 64]),
    length=st.integers(1, 64),
    sign=st.sampled_from([1, -1]),
)
@settings(max_examples=40, deadline=None)
def test_mask_unmask_round_trip(seed: int, bits: int, length: int, sign: int) -> None:
    # Prepare
    rng = np.random.default_rng(seed)
    dtype = prg.ring_dtype(bits)
    vector = rng.integers(0, 1 << bits, size=length, dtype=np.uint64).astype(dtype)
    key = rng.bytes(32)
    # Execute
    masked = prg.mask(vector.copy(), key, bits=bits, sign=sign)
    restored = prg.unmask(masked.copy(), key, bits=bits, sign=sign)
    # Assert
    np.testing.assert_array_equal(restored, vector)
    assert int(masked.max()) < 1 << bits
    if bits * length >= 64:  # a short vector in a small ring can be masked onto itself
        assert not np.array_equal(masked, vector)


@given(seed=seeds, bits=st.sampled_from([16, 32, 64]))
@settings(max_examples=20, deadline=None)
def test_pairwise_masks_cancel_in_the_sum(seed: int, bits: int) -> None:
    # Prepare
    rng = np.random.default_rng(seed)
    dtype = prg.ring_dtype(bits)
    x_u = rng.integers(0, 1 << 15, size=32).astype(dtype)
    x_v = rng.integers(0, 1 << 15, size=32).astype(dtype)
    key = rng.bytes(32)
    # Execute
    y_u = prg.mask(x_u.copy(), key, bits=bits, sign=1)
    y_v = prg.mask(x_v.copy(), key, bits=bits, sign=-1)
    # Assert
    np.testing.assert_array_equal(prg.reduce(y_u + y_v, bits), prg.reduce(x_u + x_v, bits))


@given(
    seed=seeds,
    bits=st.sampled_from([8, 31, 32, 33, 64]),
    length=st.integers(1, 40),
    n_keys=st.integers(0, 9),
    chunk_rows=st.sampled_from([1, 2, 1000]),
)
@settings(max_examples=40, deadline=None)
def test_mask_many_equals_masking_key_by_key(
    seed: int, bits: int, length: int, n_keys: int, chunk_rows: int
) -> None:
    # Mutations tried: dropping the last chunk, applying every sign as +1, and summing the
    # keystreams in int64 before the reduction at 64 bits each make this test fail.
    # Prepare
    rng = np.random.default_rng(seed)
    dtype = prg.ring_dtype(bits)
    vector = rng.integers(0, 1 << bits, size=(length,), dtype=np.uint64).astype(dtype)
    keys = [rng.bytes(32) for _ in range(n_keys)]
    signs = [int(s) for s in rng.choice([1, -1], size=n_keys)]
    expected = vector.copy()
    for key, sign in zip(keys, signs, strict=True):
        prg.mask(expected, key, bits=bits, sign=sign)
    # Execute (a small buffer makes several chunks)
    old = prg._BUFFER_BYTES
    prg._BUFFER_BYTES = chunk_rows * (length * dtype.itemsize + 16)  # type: ignore[misc]
    try:
        got = prg.mask_many(vector.copy(), keys, signs, bits=bits)
    finally:
        prg._BUFFER_BYTES = old  # type: ignore[misc]
    # Assert
    np.testing.assert_array_equal(got, expected)


def test_mask_many_rejects_bad_signs_and_keys() -> None:
    vector = np.zeros(4, dtype=np.uint32)
    with pytest.raises(ValueError, match="signs"):
        prg.mask_many(vector, [bytes(32)], [0], bits=32)
    with pytest.raises(ValueError, match="signs"):
        prg.mask_many(vector, [bytes(32)], [], bits=32)
    with pytest.raises(ValueError, match="keys"):
        prg.mask_many(vector, [bytes(31)], [1], bits=32)


# --- quantisation -----------------------------------------------------------------------


@given(
    seed=seeds,
    bits=st.sampled_from([8, 16, 24, 32, 48, 64]),
    n_summands=st.integers(1, 100),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_quantize_dequantize_within_the_stated_error(
    seed: int, bits: int, n_summands: int, data: st.DataObject
) -> None:
    # Prepare
    if (1 << (bits - 1)) - 1 < n_summands:
        with pytest.raises(ValueError, match="bits"):
            quantization.levels(bits=bits, n_summands=n_summands)
        return
    m = data.draw(st.integers(0, n_summands))
    clip = data.draw(st.sampled_from([1e-3, 0.5, 1.0, 7.0, 1e6]))
    rng = np.random.default_rng(seed)
    values = rng.uniform(-2 * clip, 2 * clip, size=(m, 16))
    values[:, 0] = clip  # the extremes must fit too
    values[:, 1] = -clip
    # Execute
    total = np.zeros(16, dtype=prg.ring_dtype(bits))
    for row in values:
        q = quantization.quantize(row, clip=clip, bits=bits, n_summands=n_summands)
        assert q.dtype == total.dtype and int(q.max(initial=0)) < 1 << bits
        total = prg.reduce(total + q, bits)
    decoded = quantization.dequantize(total, clip=clip, bits=bits, n_summands=n_summands)
    # Assert
    expected = np.clip(values, -clip, clip).sum(axis=0)
    bound = quantization.max_error(clip=clip, bits=bits, n_summands=n_summands, m=m)
    assert np.abs(decoded - expected).max() <= bound


def test_single_value_error_is_half_a_step() -> None:
    step = quantization.step(clip=1.0, bits=8, n_summands=1)
    x = np.linspace(-1, 1, 1001)
    q = quantization.quantize(x, clip=1.0, bits=8, n_summands=1)
    back = quantization.dequantize(q, clip=1.0, bits=8, n_summands=1)
    assert step == pytest.approx(1 / 127)
    assert np.abs(back - x).max() <= step / 2 + 1e-12
    assert np.abs(back - x).max() > step / 4  # the bound is tight, not vacuous


def test_quantization_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bits"):
        quantization.quantize([0.0], clip=1.0, bits=4, n_summands=10)
    with pytest.raises(ValueError, match="clip"):
        quantization.quantize([0.0], clip=0.0, bits=32, n_summands=10)
    with pytest.raises(ValueError, match="NaN"):
        quantization.quantize([np.nan], clip=1.0, bits=32, n_summands=10)
    with pytest.raises(ValueError, match="bits"):
        quantization.quantize([0.0], clip=1.0, bits=65, n_summands=1)


# --- Shamir -----------------------------------------------------------------------------


def test_field_modulus_is_a_prime_above_2_256() -> None:
    # an oracle independent of privacy: sympy's Baillie-PSW test (sympy comes with torch)
    assert shamir.PRIME > 1 << 256
    assert isprime(shamir.PRIME)
    assert not any(isprime((1 << 256) + k) for k in range(1, 297, 2))


@given(seed=seeds, n=st.integers(1, 9), data=st.data())
@settings(max_examples=40, deadline=None)
def test_any_t_shares_rebuild_and_t_minus_1_do_not(seed: int, n: int, data: st.DataObject) -> None:
    # Prepare
    t = data.draw(st.integers(1, n))
    rng = np.random.default_rng(seed)
    secret = rng.bytes(32)
    shares = shamir.create_shares(secret, threshold=t, n_shares=n)
    # Execute / Assert: every subset of size >= t rebuilds, every subset of size t - 1 fails
    for size in range(max(t - 1, 1), n + 1):
        for subset in itertools.combinations(shares, size):
            order = data.draw(st.permutations(list(subset)))
            if size >= t:
                assert shamir.combine_shares(order) == secret
            else:
                try:
                    assert shamir.combine_shares(order) != secret
                except ValueError:
                    pass


@given(seed=seeds, t=st.integers(2, 8))
@settings(max_examples=20, deadline=None)
def test_t_minus_1_shares_fit_every_secret(seed: int, t: int) -> None:
    """Perfect hiding: t - 1 shares plus any candidate secret define a valid polynomial."""
    # Prepare
    rng = np.random.default_rng(seed)
    secret, candidate = rng.bytes(32), rng.bytes(32)
    shares = shamir.create_shares(secret, threshold=t, n_shares=t + 2)
    known = shares[: t - 1]
    # Execute: the polynomial through (0, candidate) and the known shares
    points = [(0, int.from_bytes(candidate, "big"))] + [shamir.parse_share(s) for s in known]

    def value_at(x: int) -> int:
        total = 0
        for j, (xj, yj) in enumerate(points):
            num, den = 1, 1
            for m, (xm, _) in enumerate(points):
                if m != j:
                    num, den = num * (x - xm) % shamir.PRIME, den * (xj - xm) % shamir.PRIME
            total = (total + yj * num * pow(den, -1, shamir.PRIME)) % shamir.PRIME
        return total

    forged = [x.to_bytes(4, "big") + value_at(x).to_bytes(33, "big") for x in (t, t + 1)]
    # Assert: the forged shares complete the known ones to the candidate secret
    assert shamir.combine_shares([*known, forged[0]]) == candidate
    assert shamir.combine_shares([*known, shares[t - 1]]) == secret


def test_shamir_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="secret"):
        shamir.create_shares(b"x", threshold=1, n_shares=1)
    with pytest.raises(ValueError, match="threshold"):
        shamir.create_shares(bytes(32), threshold=3, n_shares=2)
    shares = shamir.create_shares(bytes(32), threshold=2, n_shares=3)
    with pytest.raises(ValueError, match="distinct"):
        shamir.combine_shares([shares[0], shares[0]])
    with pytest.raises(ValueError, match="share"):
        shamir.combine_shares([b"short"])
    tampered = bytearray(shares[2])
    tampered[-1] ^= 1
    assert shamir.combine_shares(shares, threshold=2) == bytes(32)
    with pytest.raises(ValueError, match="not on the polynomial"):
        shamir.combine_shares([shares[0], shares[1], bytes(tampered)], threshold=2)


# --- authenticated encryption -------------------------------------------------------------


def test_encrypt_decrypt_round_trip_and_tamper_detection() -> None:
    # Prepare
    rng = np.random.default_rng(3)
    key, plaintext = rng.bytes(32), rng.bytes(74)
    # Execute
    ciphertext = authenticated_encryption.encrypt(key, plaintext, associated_data=b"u->v")
    # Assert
    assert plaintext not in ciphertext
    assert len(ciphertext) == len(plaintext) + authenticated_encryption.OVERHEAD_BYTES
    assert authenticated_encryption.decrypt(key, ciphertext, associated_data=b"u->v") == plaintext
    flipped = bytearray(ciphertext)
    flipped[20] ^= 1
    for bad_key, bad_ct, bad_ad in [
        (key, bytes(flipped), b"u->v"),
        (key, ciphertext, b"v->u"),
        (rng.bytes(32), ciphertext, b"u->v"),
    ]:
        with pytest.raises(ValueError, match="authentication failed"):
            authenticated_encryption.decrypt(bad_key, bad_ct, associated_data=bad_ad)


# --- neighbour graph ----------------------------------------------------------------------


@given(seed=seeds, n=st.integers(2, 24), data=st.data())
@settings(max_examples=30, deadline=None)
def test_harary_graph_has_degree_k_and_is_seeded(seed: int, n: int, data: st.DataObject) -> None:
    # Prepare
    k = data.draw(st.integers(1, n - 1))
    ids = sorted(data.draw(st.sets(st.integers(0, 10**9), min_size=n, max_size=n)))
    # Execute
    graph = neighbor_graph(ids, k, np.random.default_rng(seed))
    again = neighbor_graph(ids, k, np.random.default_rng(seed))
    # Assert
    degrees = sorted(d for _, d in graph.degree())
    assert set(graph.nodes) == set(ids)
    if k == 1:  # H_{1,n} is a path
        assert nx.is_connected(graph) and graph.number_of_edges() == n - 1
    else:
        assert degrees[0] == k and degrees[-1] <= k + 1 and degrees.count(k + 1) <= 1
        assert nx.node_connectivity(graph) >= k
    assert set(graph.edges) == set(again.edges)


def test_complete_graph_and_degree_rule() -> None:
    graph = neighbor_graph([5, 9, 12], None)
    assert graph.number_of_edges() == 3
    assert secaggplus_degree(100) == 7 and secaggplus_degree(1000) == 10
    assert secaggplus_degree(2) == 1
    with pytest.raises(ValueError, match="neighbors"):
        neighbor_graph([1, 2, 3], 3)

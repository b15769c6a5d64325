"""Ed25519: RFC 8032 vectors, agreement with libsodium, batch == single.

Verification follows ZIP-215. libsodium (PyNaCl) is stricter on a few
adversarial encodings: it rejects small-order keys and R values and
non-canonical point encodings, which ZIP-215 accepts. Honest signatures and
random bit flips never touch those cases (hitting one of the ~20 special
encodings by chance is out of the question), so there the two must agree
exactly; the known difference is pinned by its own test below.
"""

from __future__ import annotations

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor

import nacl.exceptions
import nacl.signing
import pytest
import rfc8032_vectors
from hypothesis import given, settings
from hypothesis import strategies as st

from node import crypto

# The group order of edwards25519's prime-order subgroup.
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


def nacl_verify(public_key: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(msg, sig)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def signed(count: int, seed: int = 0) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """`count` valid (public key, message, signature) entries, reproducibly."""
    rng = random.Random(seed)
    keys, msgs, sigs = [], [], []
    for _ in range(count):
        secret = rng.randbytes(32)
        msg = rng.randbytes(rng.randrange(0, 200))
        keys.append(crypto.keypair_from_seed(secret)[1])
        msgs.append(msg)
        sigs.append(crypto.sign(secret, msg))
    return keys, msgs, sigs


# --- RFC 8032, section 7.1 --------------------------------------------------


@pytest.mark.parametrize("vector", rfc8032_vectors.ALL, ids=lambda v: v.name)
def test_rfc_8032_vector(vector: rfc8032_vectors.Vector) -> None:
    seed, public_key = crypto.keypair_from_seed(vector.secret_key)
    assert seed == vector.secret_key
    assert public_key == vector.public_key
    assert crypto.sign(vector.secret_key, vector.message) == vector.signature
    assert crypto.verify(vector.public_key, vector.message, vector.signature)
    assert crypto.verify_batch([vector.public_key], [vector.message], [vector.signature]) == [True]


def test_rfc_8032_vectors_verify_together_in_one_batch() -> None:
    vectors = rfc8032_vectors.ALL
    verdicts = crypto.verify_batch(
        [v.public_key for v in vectors],
        [v.message for v in vectors],
        [v.signature for v in vectors],
    )
    assert verdicts == [True] * len(vectors)


def test_sha_abc_message_is_sha512_of_abc() -> None:
    assert rfc8032_vectors.TEST_SHA_ABC.message == hashlib.sha512(b"abc").digest()
    assert len(rfc8032_vectors.TEST_1024.message) == 1023


# --- against libsodium ------------------------------------------------------


# Hypothesis deadlines are off throughout: the machines are shared, a loaded
# core can stretch any example, and these tests assert behaviour, not speed.
@settings(deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), msg=st.binary(max_size=300))
def test_keys_and_signatures_match_libsodium(seed: bytes, msg: bytes) -> None:
    theirs = nacl.signing.SigningKey(seed)
    assert crypto.keypair_from_seed(seed)[1] == theirs.verify_key.encode()
    sig = crypto.sign(seed, msg)
    assert sig == theirs.sign(msg).signature
    assert crypto.verify(theirs.verify_key.encode(), msg, sig)
    assert nacl_verify(theirs.verify_key.encode(), msg, sig)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    msg=st.binary(min_size=1, max_size=100),
    where=st.sampled_from(["msg", "sig", "key"]),
    data=st.data(),
)
def test_corrupted_signatures_are_rejected_like_libsodium(
    seed: bytes, msg: bytes, where: str, data: st.DataObject
) -> None:
    _, key = crypto.keypair_from_seed(seed)
    sig = crypto.sign(seed, msg)
    if where == "msg":
        msg = flip_bit(msg, data.draw(st.integers(0, 8 * len(msg) - 1)))
    elif where == "sig":
        sig = flip_bit(sig, data.draw(st.integers(0, 511)))
    else:
        key = flip_bit(key, data.draw(st.integers(0, 255)))
    ours = crypto.verify(key, msg, sig)
    assert ours is False
    assert ours == nacl_verify(key, msg, sig)
    assert crypto.verify_batch([key], [msg], [sig]) == [False]


def test_malleated_signature_with_s_plus_group_order_is_rejected() -> None:
    seed = bytes(range(32))
    _, key = crypto.keypair_from_seed(seed)
    sig = crypto.sign(seed, b"pay 5")
    s = int.from_bytes(sig[32:], "little")
    malleated = sig[:32] + (s + GROUP_ORDER).to_bytes(32, "little")
    assert not crypto.verify(key, b"pay 5", malleated)
    assert not nacl_verify(key, b"pay 5", malleated)
    assert crypto.verify_batch([key], [b"pay 5"], [malleated]) == [False]


def test_zip215_accepts_small_order_points_that_libsodium_rejects() -> None:
    # Key A and R both the identity point, s = 0: the cofactored equation
    # [8][s]B = [8]R + [8][k]A holds for every message. ZIP-215 accepts it;
    # libsodium refuses small-order points. Consensus follows ZIP-215, in
    # single and batch verification alike.
    identity = (1).to_bytes(32, "little")
    sig = identity + bytes(32)
    assert crypto.verify(identity, b"anything", sig)
    assert not nacl_verify(identity, b"anything", sig)
    assert crypto.verify_batch([identity] * 2, [b"a", b"b"], [sig] * 2) == [True, True]


def test_public_key_that_is_not_a_curve_point_is_false_not_error() -> None:
    # y = 2 is not the y-coordinate of any point of edwards25519.
    not_a_point = (2).to_bytes(32, "little")
    _, key = crypto.keypair_from_seed(bytes(32))
    sig = crypto.sign(bytes(32), b"m")
    assert crypto.verify(not_a_point, b"m", sig) is False
    assert crypto.verify_batch([key, not_a_point], [b"m", b"m"], [sig, sig]) == [True, False]


def test_accepts_bytes_like_arguments() -> None:
    seed = bytearray(b"\x07" * 32)
    _, key = crypto.keypair_from_seed(seed)
    sig = crypto.sign(memoryview(bytes(seed)), bytearray(b"msg"))
    assert crypto.verify(bytearray(key), memoryview(b"msg"), bytearray(sig))
    assert crypto.verify_batch([memoryview(key)], [bytearray(b"msg")], [bytearray(sig)]) == [True]


def test_generate_seed_gives_fresh_32_byte_seeds() -> None:
    seeds = {crypto.generate_seed() for _ in range(10)}
    assert len(seeds) == 10
    assert all(len(seed) == crypto.SEED_SIZE for seed in seeds)


# --- batch verification says exactly what single verification says ---------


def corrupt_some(
    keys: list[bytes], msgs: list[bytes], sigs: list[bytes], bad: set[int]
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    keys, msgs, sigs = list(keys), list(msgs), list(sigs)
    for i in bad:
        match i % 4:
            case 0:
                msgs[i] = msgs[i] + b"!"
            case 1:
                sigs[i] = flip_bit(sigs[i], 7 * i % 512)
            case 2:
                keys[i] = keys[(i + 1) % len(keys)] if len(keys) > 1 else flip_bit(keys[i], 3)
            case _:
                sigs[i] = sigs[i][:32] + (GROUP_ORDER + 1).to_bytes(32, "little")
    return keys, msgs, sigs


@pytest.mark.parametrize("size", [0, 1, 2, 15, 16, 17, 64, 300, 1100, 2500])
def test_batch_agrees_with_single_verification(size: int) -> None:
    keys, msgs, sigs = signed(size, seed=size)
    rng = random.Random(size)
    bad = set(rng.sample(range(size), k=min(size, 1 + size // 50))) if size else set()
    keys, msgs, sigs = corrupt_some(keys, msgs, sigs, bad)
    verdicts = crypto.verify_batch(keys, msgs, sigs)
    assert verdicts == [crypto.verify(k, m, s) for k, m, s in zip(keys, msgs, sigs, strict=True)]
    assert [i for i, ok in enumerate(verdicts) if not ok] == sorted(bad)


def test_all_valid_batch_above_the_chunk_size_is_all_true() -> None:
    keys, msgs, sigs = signed(3000, seed=1)
    assert crypto.verify_batch(keys, msgs, sigs) == [True] * 3000


def test_all_invalid_batch_is_all_false() -> None:
    keys, msgs, sigs = signed(100, seed=2)
    assert crypto.verify_batch(keys, [m + b"x" for m in msgs], sigs) == [False] * 100


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 150), st.data())
def test_batch_agrees_with_single_on_random_mixes(size: int, data: st.DataObject) -> None:
    keys, msgs, sigs = signed(size, seed=size + 7)
    bad = data.draw(st.sets(st.integers(0, size - 1), max_size=size)) if size else set()
    keys, msgs, sigs = corrupt_some(keys, msgs, sigs, bad)
    expected = [crypto.verify(k, m, s) for k, m, s in zip(keys, msgs, sigs, strict=True)]
    assert crypto.verify_batch(keys, msgs, sigs) == expected


def test_one_key_signing_many_messages() -> None:
    seed = b"\x01" * 32
    _, key = crypto.keypair_from_seed(seed)
    msgs = [i.to_bytes(2, "big") for i in range(200)]
    sigs = [crypto.sign(seed, m) for m in msgs]
    sigs[123] = sigs[124]
    verdicts = crypto.verify_batch([key] * 200, msgs, sigs)
    assert [i for i, ok in enumerate(verdicts) if not ok] == [123]


def test_batches_from_several_threads_at_once() -> None:
    # The batch call releases the GIL; concurrent calls must not interfere.
    keys, msgs, sigs = signed(400, seed=3)
    keys, msgs, sigs = corrupt_some(keys, msgs, sigs, {5, 250})
    expected = [i not in (5, 250) for i in range(400)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: crypto.verify_batch(keys, msgs, sigs), range(8)))
    assert all(result == expected for result in results)


# --- argument errors --------------------------------------------------------


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_seed_of_wrong_length_is_value_error(length: int) -> None:
    with pytest.raises(ValueError, match="seed"):
        crypto.keypair_from_seed(bytes(length))
    with pytest.raises(ValueError, match="seed"):
        crypto.sign(bytes(length), b"m")


def test_key_or_signature_of_wrong_length_is_value_error() -> None:
    _, key = crypto.keypair_from_seed(bytes(32))
    sig = crypto.sign(bytes(32), b"m")
    with pytest.raises(ValueError, match="public_key"):
        crypto.verify(key[:31], b"m", sig)
    with pytest.raises(ValueError, match="sig"):
        crypto.verify(key, b"m", sig + b"\x00")


def test_batch_entry_of_wrong_length_is_value_error_naming_its_index() -> None:
    keys, msgs, sigs = signed(3)
    with pytest.raises(ValueError, match=r"public_keys\[1\]"):
        crypto.verify_batch([keys[0], keys[1][:-1], keys[2]], msgs, sigs)
    with pytest.raises(ValueError, match=r"sigs\[2\]"):
        crypto.verify_batch(keys, msgs, [sigs[0], sigs[1], sigs[2] * 2])


def test_batch_sequences_of_different_lengths_are_value_error() -> None:
    keys, msgs, sigs = signed(3)
    with pytest.raises(ValueError, match="differ in length"):
        crypto.verify_batch(keys, msgs[:2], sigs)
    with pytest.raises(ValueError, match="differ in length"):
        crypto.verify_batch(keys, msgs, sigs + sigs[:1])

"""verify_encoded_transactions agrees with the readable reference: decoding
with ``Transaction.decode`` (pure Python) and checking with
``Transaction.verify``, on honest, corrupted and arbitrary encodings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import _core, codec, crypto, types
from node.errors import DecodeError
from node.types import Transaction


def reference_verdict(raw: bytes) -> bool | None:
    """None when the reference refuses the bytes, else whether the signature verifies."""
    try:
        tx = Transaction.decode(raw)
    except DecodeError:
        return None
    return tx.verify()


chain_ids = st.from_regex(r"[A-Za-z0-9._-]{1,32}", fullmatch=True)
u64s = st.integers(0, codec.U64_MAX)


@st.composite
def signed_encodings(draw: st.DrawFn) -> bytes:
    seed = draw(st.binary(min_size=32, max_size=32))
    sender = crypto.keypair_from_seed(seed)[1]
    tx = Transaction(
        chain_id=draw(chain_ids),
        sender=sender,
        nonce=draw(u64s),
        recipient=draw(st.binary(min_size=32, max_size=32)),
        amount=draw(u64s),
        fee=draw(u64s),
        data=draw(st.binary(max_size=80) | st.binary(min_size=1000, max_size=types.MAX_TX_DATA)),
    )
    if draw(st.booleans()):
        # Signed by someone else half the time: well-formed, not verifying.
        tx = tx.signed(draw(st.binary(min_size=32, max_size=32)) if draw(st.booleans()) else seed)
    return tx.encode()


@st.composite
def corrupted(draw: st.DrawFn, raw: bytes) -> bytes:
    """One edit of a valid encoding: a changed byte, a cut, or extra bytes."""
    edit = draw(st.sampled_from(["byte", "cut", "append"]))
    if edit == "byte":
        at = draw(st.integers(0, len(raw) - 1))
        value = draw(st.integers(0, 255))
        return raw[:at] + bytes([value]) + raw[at + 1 :]
    if edit == "cut":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    return raw + draw(st.binary(min_size=1, max_size=8))


encodings = st.one_of(
    signed_encodings(),
    signed_encodings().flatmap(corrupted),
    st.binary(max_size=200),
)


def test_constants_match_the_reference() -> None:
    assert _core.TX_VERSION == types.TX_VERSION
    assert _core.TX_DOMAIN == types.TX_DOMAIN
    assert _core.MAX_TX_DATA == types.MAX_TX_DATA
    assert _core.MAX_NAME_LEN == codec.MAX_NAME_LEN


# Deadlines are off: signing is slow on a loaded core, and nothing here is about speed.
@settings(deadline=None, max_examples=200)
@given(st.lists(encodings, max_size=40))
def test_verdicts_match_decode_then_verify(raws: list[bytes]) -> None:
    assert crypto.verify_encoded_transactions(raws) == [reference_verdict(r) for r in raws]


@settings(deadline=None, max_examples=60)
@given(signed_encodings())
def test_every_single_byte_change_matches_the_reference(raw: bytes) -> None:
    # Each position once, the byte flipped: version, name, fields, signature.
    edits = [raw[:at] + bytes([raw[at] ^ 0x5A]) + raw[at + 1 :] for at in range(len(raw))]
    assert crypto.verify_encoded_transactions(edits) == [reference_verdict(r) for r in edits]


def test_a_batch_with_many_good_and_one_bad_signature() -> None:
    seeds = [bytes([i % 251 + 1]) * 32 for i in range(300)]
    txs = [
        Transaction(
            chain_id="main",
            sender=crypto.keypair_from_seed(seed)[1],
            nonce=i,
            recipient=bytes(32),
            amount=1,
            fee=1,
        ).signed(seed)
        for i, seed in enumerate(seeds)
    ]
    raws = [tx.encode() for tx in txs]
    raws[123] = txs[123].replace(amount=2).encode()  # the old signature over other bytes
    verdicts = crypto.verify_encoded_transactions(raws)
    assert verdicts == [i != 123 for i in range(300)]


def test_accepts_any_bytes_like_element_and_nothing_else() -> None:
    seed = bytes(range(32))
    raw = (
        Transaction(
            chain_id="main",
            sender=crypto.keypair_from_seed(seed)[1],
            nonce=0,
            recipient=bytes(32),
            amount=1,
            fee=1,
        )
        .signed(seed)
        .encode()
    )
    assert crypto.verify_encoded_transactions([bytearray(raw), memoryview(raw), raw]) == [True] * 3
    assert crypto.verify_encoded_transactions([]) == []
    with pytest.raises(TypeError, match=r"raws\[1\]"):
        crypto.verify_encoded_transactions([raw, "not bytes"])  # type: ignore[list-item]

"""The ledger's data types and their canonical binary encoding.

Transaction, BlockHeader, Block, Vote, Commit (a commit certificate) and
Proposal. Each has ``encode() -> bytes`` and ``decode(bytes)`` (a
classmethod), and decoding is strict: truncated input, trailing bytes,
oversize fields, unknown versions and non-canonical forms raise
``DecodeError``. The byte layouts are specified in docs/PROTOCOL.md; this
module is the reference implementation of that document.

Signatures cover a domain-separated message: a fixed ASCII tag per kind of
object, then bytes that include the chain id, so a signature made for one
chain or one kind of object is never valid for another.

Types are immutable. Hashes (``tx.id``, ``header.hash``) are computed once
and cached.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from node import crypto
from node.codec import (
    U8,
    U16,
    U32,
    U32_MAX,
    U64,
    Reader,
    check_bytes,
    check_name,
    check_uint,
    name8,
)
from node.errors import DecodeError

HASH_SIZE = 32
ADDRESS_SIZE = 32
SIGNATURE_SIZE = 64
ZERO_HASH = bytes(HASH_SIZE)
ZERO_SIGNATURE = bytes(SIGNATURE_SIZE)

TX_VERSION = 1
HEADER_VERSION = 1
VOTE_VERSION = 1
PROPOSAL_VERSION = 1

MAX_TX_DATA = 1024
MAX_TX_SIZE = 2 + 32 + 90 + MAX_TX_DATA + SIGNATURE_SIZE
MAX_BLOCK_TXS = 100_000
MAX_COMMIT_SIGNATURES = 10_000

TX_DOMAIN = b"ordinet/tx/v1\x00"
BLOCK_DOMAIN = b"ordinet/block/v1\x00"
VOTE_DOMAIN = b"ordinet/vote/v1\x00"
PROPOSAL_DOMAIN = b"ordinet/proposal/v1\x00"

# sender, nonce, recipient, amount, fee, data length
_TX_FIXED = struct.Struct(">32sQ32sQQH")


def _hex(b: bytes) -> str:
    return b.hex()


def bytes32(value: bytes | str, what: str) -> bytes:
    """An address, tx id or hash given as 32 bytes or 64 hex characters (``0x`` allowed).

    The SDK's one reading of such an argument: TypeError for another type,
    ValueError (naming ``what``) for another length or non-hex text.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
    elif isinstance(value, str):
        text = value[2:] if value[:2] in ("0x", "0X") else value
        try:
            raw = bytes.fromhex(text) if len(text) == 2 * HASH_SIZE and text.isascii() else b""
        except ValueError:
            raw = b""
    else:
        raise TypeError(f"{what} must be bytes or hex, got {type(value).__name__}")
    if len(raw) != HASH_SIZE:
        shown = repr(value) if len(value) <= 70 else f"{len(value)} characters or bytes"
        raise ValueError(f"{what} must be 32 bytes or 64 hex characters, got {shown}")
    return raw


class Transaction:
    """A signed transfer of ``amount`` from ``sender`` to ``recipient``.

    ``sender`` and ``recipient`` are 32-byte Ed25519 public keys; ``nonce``
    is the sender's count of earlier transactions; ``fee`` goes to the block
    proposer. ``data`` is an optional payload of at most MAX_TX_DATA bytes.
    """

    __slots__ = (
        "_encoded",
        "_id",
        "amount",
        "chain_id",
        "data",
        "fee",
        "nonce",
        "recipient",
        "sender",
        "signature",
    )

    chain_id: str
    sender: bytes
    nonce: int
    recipient: bytes
    amount: int
    fee: int
    data: bytes
    signature: bytes
    _encoded: bytes | None
    _id: bytes | None

    def __init__(
        self,
        *,
        chain_id: str,
        sender: bytes,
        nonce: int,
        recipient: bytes,
        amount: int,
        fee: int,
        data: bytes = b"",
        signature: bytes = ZERO_SIGNATURE,
    ) -> None:
        check_name(chain_id, "chain_id")
        set_ = object.__setattr__
        set_(self, "chain_id", chain_id)
        set_(self, "sender", check_bytes(sender, ADDRESS_SIZE, "sender"))
        set_(self, "nonce", check_uint(nonce, 64, "nonce"))
        set_(self, "recipient", check_bytes(recipient, ADDRESS_SIZE, "recipient"))
        set_(self, "amount", check_uint(amount, 64, "amount"))
        set_(self, "fee", check_uint(fee, 64, "fee"))
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        if len(data) > MAX_TX_DATA:
            raise ValueError(f"data must be at most {MAX_TX_DATA} bytes, got {len(data)}")
        set_(self, "data", bytes(data))
        set_(self, "signature", check_bytes(signature, SIGNATURE_SIZE, "signature"))
        set_(self, "_encoded", None)
        set_(self, "_id", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Transaction is immutable")

    # -- encoding ---------------------------------------------------------

    def body(self) -> bytes:
        """The encoding without the signature: what the signature covers."""
        return (
            U8.pack(TX_VERSION)
            + name8(self.chain_id.encode("ascii"))
            + _TX_FIXED.pack(
                self.sender, self.nonce, self.recipient, self.amount, self.fee, len(self.data)
            )
            + self.data
        )

    def signing_message(self) -> bytes:
        return TX_DOMAIN + self.body()

    def encode(self) -> bytes:
        if self._encoded is None:
            object.__setattr__(self, "_encoded", self.body() + self.signature)
        assert self._encoded is not None
        return self._encoded

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Transaction:
        r = Reader(data, "transaction")
        tx = cls._read(r)
        r.finish()
        # The encoding is canonical, so the input bytes ARE the encoding.
        object.__setattr__(tx, "_encoded", bytes(data))
        return tx

    @classmethod
    def _read(cls, r: Reader) -> Transaction:
        version = r.u8()
        if version != TX_VERSION:
            raise r.fail(f"unknown transaction version {version}", "unknown_version")
        chain_id = r.name("chain_id")
        sender, nonce, recipient, amount, fee, data_len = r.unpack(_TX_FIXED)
        if data_len > MAX_TX_DATA:
            raise r.fail(f"data of {data_len} bytes exceeds {MAX_TX_DATA}", "oversize")
        payload = r.take(data_len)
        signature = r.take(SIGNATURE_SIZE)
        tx = cls.__new__(cls)
        set_ = object.__setattr__
        set_(tx, "chain_id", chain_id)
        set_(tx, "sender", sender)
        set_(tx, "nonce", nonce)
        set_(tx, "recipient", recipient)
        set_(tx, "amount", amount)
        set_(tx, "fee", fee)
        set_(tx, "data", payload)
        set_(tx, "signature", signature)
        set_(tx, "_encoded", None)
        set_(tx, "_id", None)
        return tx

    # -- identity ---------------------------------------------------------

    @property
    def id(self) -> bytes:
        """SHA-256 of the full encoding (signature included)."""
        if self._id is None:
            object.__setattr__(self, "_id", crypto.sha256(self.encode()))
        assert self._id is not None
        return self._id

    @property
    def size(self) -> int:
        return len(self.encode())

    @property
    def fee_rate(self) -> float:
        """Fee per byte of encoding."""
        return self.fee / self.size

    # -- signatures -------------------------------------------------------

    def signed(self, seed: bytes) -> Transaction:
        """A copy signed with the Ed25519 key whose seed is ``seed``."""
        sig = crypto.sign(seed, self.signing_message())
        return self.replace(signature=sig)

    def verify(self) -> bool:
        """True when the signature is the sender's over this transaction."""
        return crypto.verify(self.sender, self.signing_message(), self.signature)

    def replace(self, **changes: Any) -> Transaction:
        fields: dict[str, Any] = {
            "chain_id": self.chain_id,
            "sender": self.sender,
            "nonce": self.nonce,
            "recipient": self.recipient,
            "amount": self.amount,
            "fee": self.fee,
            "data": self.data,
            "signature": self.signature,
        }
        fields.update(changes)
        return Transaction(**fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": _hex(self.id),
            "chain_id": self.chain_id,
            "sender": _hex(self.sender),
            "nonce": self.nonce,
            "recipient": _hex(self.recipient),
            "amount": self.amount,
            "fee": self.fee,
            "data": _hex(self.data),
            "signature": _hex(self.signature),
            "size": self.size,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transaction) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return (
            f"Transaction(id={self.id.hex()[:16]}, sender={self.sender.hex()[:8]}, "
            f"nonce={self.nonce}, amount={self.amount}, fee={self.fee})"
        )


def decode_transactions(
    raws: Iterable[bytes],
) -> list[Transaction | DecodeError]:
    """Decode many encodings; a bad one yields its DecodeError in its slot."""
    out: list[Transaction | DecodeError] = []
    for raw in raws:
        try:
            out.append(Transaction.decode(raw))
        except DecodeError as exc:
            out.append(exc)
    return out


def verify_transactions(txs: Sequence[Transaction]) -> list[bool]:
    """Check every signature in ONE call to the Rust batch verifier."""
    if not txs:
        return []
    return crypto.verify_batch(
        [tx.sender for tx in txs],
        [tx.signing_message() for tx in txs],
        [tx.signature for tx in txs],
    )


class VerifiedTxs:
    """The ids of transactions whose signatures checked out: the pool checks
    a tx once at admission, and its block is then validated without checking
    it again. A tx id is the hash of the whole encoding, signature included,
    so an id here vouches for that very (sender, message, signature). Bounded:
    the oldest ids are forgotten first (and checked again if they come back).
    """

    __slots__ = ("_ids", "max_entries")

    def __init__(self, max_entries: int = 1 << 17) -> None:
        self.max_entries = max_entries
        self._ids: dict[bytes, None] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._ids

    def verify(self, txs: Sequence[Transaction]) -> list[bool]:
        """``verify_transactions``, skipping (and remembering) what checked out."""
        ids = self._ids
        unknown = [i for i, tx in enumerate(txs) if tx.id not in ids]
        verdicts = [True] * len(txs)
        if unknown:
            checked = verify_transactions([txs[i] for i in unknown])
            for i, ok in zip(unknown, checked, strict=True):
                verdicts[i] = ok
                if ok:
                    ids[txs[i].id] = None
            while len(ids) > self.max_entries:
                del ids[next(iter(ids))]
        return verdicts


def tx_root(txs: Sequence[Transaction]) -> bytes:
    """Merkle root (RFC 6962) of the transaction ids, in block order."""
    return crypto.merkle_root_packed(b"".join(tx.id for tx in txs), HASH_SIZE)


# ---------------------------------------------------------------------------
# Votes, commit certificates and proposals (filled in by the BFT engine)
# ---------------------------------------------------------------------------

PREVOTE = 1
PRECOMMIT = 2
_VOTE_KINDS = {PREVOTE: "prevote", PRECOMMIT: "precommit"}

# kind, height, round, block hash
_VOTE_FIXED = struct.Struct(">BQI32s")


def vote_sign_bytes(chain_id: str, kind: int, height: int, round_: int, block_hash: bytes) -> bytes:
    """The message a validator signs for a vote: tag, chain id, then the vote."""
    return (
        VOTE_DOMAIN
        + name8(chain_id.encode("ascii"))
        + _VOTE_FIXED.pack(kind, height, round_, block_hash)
    )


class Vote:
    """A prevote or precommit for ``block_hash`` (ZERO_HASH means nil)."""

    __slots__ = ("block_hash", "height", "kind", "round", "signature", "validator")

    kind: int
    height: int
    round: int
    block_hash: bytes
    validator: bytes
    signature: bytes

    def __init__(
        self,
        *,
        kind: int,
        height: int,
        round: int,
        block_hash: bytes,
        validator: bytes,
        signature: bytes = ZERO_SIGNATURE,
    ) -> None:
        if kind not in _VOTE_KINDS:
            raise ValueError(f"vote kind must be PREVOTE or PRECOMMIT, got {kind}")
        set_ = object.__setattr__
        set_(self, "kind", kind)
        set_(self, "height", check_uint(height, 64, "height"))
        set_(self, "round", check_uint(round, 32, "round"))
        set_(self, "block_hash", check_bytes(block_hash, HASH_SIZE, "block_hash"))
        set_(self, "validator", check_bytes(validator, ADDRESS_SIZE, "validator"))
        set_(self, "signature", check_bytes(signature, SIGNATURE_SIZE, "signature"))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Vote is immutable")

    @property
    def is_nil(self) -> bool:
        return self.block_hash == ZERO_HASH

    @property
    def kind_name(self) -> str:
        return _VOTE_KINDS[self.kind]

    def sign_bytes(self, chain_id: str) -> bytes:
        return vote_sign_bytes(chain_id, self.kind, self.height, self.round, self.block_hash)

    def signed(self, chain_id: str, seed: bytes) -> Vote:
        sig = crypto.sign(seed, self.sign_bytes(chain_id))
        return Vote(
            kind=self.kind,
            height=self.height,
            round=self.round,
            block_hash=self.block_hash,
            validator=self.validator,
            signature=sig,
        )

    def verify(self, chain_id: str) -> bool:
        return crypto.verify(self.validator, self.sign_bytes(chain_id), self.signature)

    def encode(self) -> bytes:
        return (
            U8.pack(VOTE_VERSION)
            + _VOTE_FIXED.pack(self.kind, self.height, self.round, self.block_hash)
            + self.validator
            + self.signature
        )

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Vote:
        r = Reader(data, "vote")
        version = r.u8()
        if version != VOTE_VERSION:
            raise r.fail(f"unknown vote version {version}", "unknown_version")
        kind, height, round_, block_hash = r.unpack(_VOTE_FIXED)
        if kind not in _VOTE_KINDS:
            raise r.fail(f"unknown vote kind {kind}", "bad_vote_kind")
        validator = r.take(ADDRESS_SIZE)
        signature = r.take(SIGNATURE_SIZE)
        r.finish()
        return cls(
            kind=kind,
            height=height,
            round=round_,
            block_hash=block_hash,
            validator=validator,
            signature=signature,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vote) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.encode())

    def __repr__(self) -> str:
        target = "nil" if self.is_nil else self.block_hash.hex()[:8]
        return (
            f"Vote({self.kind_name} h={self.height} r={self.round} {target} "
            f"by {self.validator.hex()[:8]})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind_name,
            "height": self.height,
            "round": self.round,
            "block_hash": None if self.is_nil else _hex(self.block_hash),
            "validator": _hex(self.validator),
        }


class Commit:
    """A commit certificate: precommits of 2f+1 voting power for one block.

    ``signatures`` is a tuple of (validator, signature) sorted by validator,
    without duplicates; each signature is a PRECOMMIT for (height, round,
    block_hash). The empty commit (``Commit.empty()``) stands for "no
    certificate" (genesis, and engines other than BFT).
    """

    __slots__ = ("block_hash", "height", "round", "signatures")

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[tuple[bytes, bytes], ...]

    def __init__(
        self,
        *,
        height: int,
        round: int,
        block_hash: bytes,
        signatures: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        sigs = tuple(
            sorted(
                (check_bytes(v, ADDRESS_SIZE, "validator"), check_bytes(s, SIGNATURE_SIZE, "sig"))
                for v, s in signatures
            )
        )
        if any(a[0] == b[0] for a, b in itertools.pairwise(sigs)):
            raise ValueError("a commit holds at most one signature per validator")
        if len(sigs) > MAX_COMMIT_SIGNATURES:
            raise ValueError(f"a commit holds at most {MAX_COMMIT_SIGNATURES} signatures")
        set_ = object.__setattr__
        set_(self, "height", check_uint(height, 64, "height"))
        set_(self, "round", check_uint(round, 32, "round"))
        set_(self, "block_hash", check_bytes(block_hash, HASH_SIZE, "block_hash"))
        set_(self, "signatures", sigs)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Commit is immutable")

    @classmethod
    def empty(cls) -> Commit:
        return cls(height=0, round=0, block_hash=ZERO_HASH)

    @property
    def is_empty(self) -> bool:
        # every field counts: a block whose header says "no commit" (ZERO_HASH) must
        # have exactly one encoding, so an "empty" commit with round 1 is not empty
        return (
            not self.signatures
            and self.height == 0
            and self.round == 0
            and self.block_hash == ZERO_HASH
        )

    def votes(self) -> list[Vote]:
        """The precommits this certificate is made of."""
        return [
            Vote(
                kind=PRECOMMIT,
                height=self.height,
                round=self.round,
                block_hash=self.block_hash,
                validator=v,
                signature=s,
            )
            for v, s in self.signatures
        ]

    def verify_signatures(self, chain_id: str) -> list[bool]:
        """Check every precommit signature in one batch call."""
        if not self.signatures:
            return []
        msg = vote_sign_bytes(chain_id, PRECOMMIT, self.height, self.round, self.block_hash)
        return crypto.verify_batch(
            [v for v, _ in self.signatures],
            [msg] * len(self.signatures),
            [s for _, s in self.signatures],
        )

    def encode(self) -> bytes:
        parts = [
            U64.pack(self.height),
            U32.pack(self.round),
            self.block_hash,
            U16.pack(len(self.signatures)),
        ]
        for v, s in self.signatures:
            parts.append(v)
            parts.append(s)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Commit:
        r = Reader(data, "commit")
        commit = cls._read(r)
        r.finish()
        return commit

    @classmethod
    def _read(cls, r: Reader) -> Commit:
        height = r.u64()
        round_ = r.u32()
        block_hash = r.take(HASH_SIZE)
        n = r.u16()
        if n > MAX_COMMIT_SIGNATURES:
            raise r.fail(f"{n} signatures exceed {MAX_COMMIT_SIGNATURES}", "oversize")
        sigs = [(r.take(ADDRESS_SIZE), r.take(SIGNATURE_SIZE)) for _ in range(n)]
        if any(a[0] >= b[0] for a, b in itertools.pairwise(sigs)):
            raise r.fail("commit signatures not sorted by validator or duplicated", "non_canonical")
        return cls(height=height, round=round_, block_hash=block_hash, signatures=sigs)

    @property
    def hash(self) -> bytes:
        return crypto.sha256(self.encode())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Commit) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.encode())

    def __repr__(self) -> str:
        return (
            f"Commit(h={self.height} r={self.round} {self.block_hash.hex()[:8]} "
            f"{len(self.signatures)} sigs)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "round": self.round,
            "block_hash": _hex(self.block_hash),
            "signers": [_hex(v) for v, _ in self.signatures],
        }


# height, round, pol_round (-1 = none), block hash, proposer
_PROPOSAL_FIXED = struct.Struct(">QIi32s32s")


class Proposal:
    """A BFT proposer's signed claim: in (height, round) I propose block_hash.

    ``pol_round`` is the round of the proof-of-lock (valid round) the
    proposer re-proposes from, or -1 when the value is new.
    """

    __slots__ = ("block_hash", "height", "pol_round", "proposer", "round", "signature")

    height: int
    round: int
    pol_round: int
    block_hash: bytes
    proposer: bytes
    signature: bytes

    def __init__(
        self,
        *,
        height: int,
        round: int,
        pol_round: int,
        block_hash: bytes,
        proposer: bytes,
        signature: bytes = ZERO_SIGNATURE,
    ) -> None:
        check_uint(round, 32, "round")
        # pol_round travels as a signed 32-bit integer (-1 = none).
        if not isinstance(pol_round, int) or not (
            pol_round == -1 or 0 <= pol_round < min(round, 2**31)
        ):
            raise ValueError(f"pol_round must be -1 or in [0, min(round, 2^31)), got {pol_round}")
        set_ = object.__setattr__
        set_(self, "height", check_uint(height, 64, "height"))
        set_(self, "round", round)
        set_(self, "pol_round", pol_round)
        set_(self, "block_hash", check_bytes(block_hash, HASH_SIZE, "block_hash"))
        set_(self, "proposer", check_bytes(proposer, ADDRESS_SIZE, "proposer"))
        set_(self, "signature", check_bytes(signature, SIGNATURE_SIZE, "signature"))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Proposal is immutable")

    def sign_bytes(self, chain_id: str) -> bytes:
        return (
            PROPOSAL_DOMAIN
            + name8(chain_id.encode("ascii"))
            + _PROPOSAL_FIXED.pack(
                self.height, self.round, self.pol_round, self.block_hash, self.proposer
            )
        )

    def signed(self, chain_id: str, seed: bytes) -> Proposal:
        sig = crypto.sign(seed, self.sign_bytes(chain_id))
        return Proposal(
            height=self.height,
            round=self.round,
            pol_round=self.pol_round,
            block_hash=self.block_hash,
            proposer=self.proposer,
            signature=sig,
        )

    def verify(self, chain_id: str) -> bool:
        return crypto.verify(self.proposer, self.sign_bytes(chain_id), self.signature)

    def encode(self) -> bytes:
        return (
            U8.pack(PROPOSAL_VERSION)
            + _PROPOSAL_FIXED.pack(
                self.height, self.round, self.pol_round, self.block_hash, self.proposer
            )
            + self.signature
        )

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Proposal:
        r = Reader(data, "proposal")
        version = r.u8()
        if version != PROPOSAL_VERSION:
            raise r.fail(f"unknown proposal version {version}", "unknown_version")
        height, round_, pol_round, block_hash, proposer = r.unpack(_PROPOSAL_FIXED)
        signature = r.take(SIGNATURE_SIZE)
        if not (pol_round == -1 or 0 <= pol_round < round_):
            raise r.fail(f"pol_round {pol_round} not in [-1, {round_})", "non_canonical")
        r.finish()
        return cls(
            height=height,
            round=round_,
            pol_round=pol_round,
            block_hash=block_hash,
            proposer=proposer,
            signature=signature,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proposal) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.encode())

    def __repr__(self) -> str:
        return (
            f"Proposal(h={self.height} r={self.round} pol={self.pol_round} "
            f"{self.block_hash.hex()[:8]} by {self.proposer.hex()[:8]})"
        )


# ---------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------

# height, timestamp_ms, prev_hash, proposer, tx_root, state_root,
# last_commit_hash, tx_count
_HEADER_FIXED = struct.Struct(">QQ32s32s32s32s32sI")
# model_hash, pow_target
_HEADER_TAIL = struct.Struct(">32s32s")


class BlockHeader:
    """What a block hash commits to.

    The PoW nonce is the last field so that a miner can hash
    ``prefix() + nonce`` without re-encoding the header. ``pow_target`` is
    ZERO_HASH and ``pow_nonce`` 0 for engines other than PoW;
    ``last_commit_hash`` is the hash of the block's ``last_commit``.
    """

    __slots__ = (
        "_hash",
        "chain_id",
        "height",
        "last_commit_hash",
        "model_hash",
        "policy",
        "pow_nonce",
        "pow_target",
        "prev_hash",
        "proposer",
        "state_root",
        "timestamp_ms",
        "tx_count",
        "tx_root",
    )

    chain_id: str
    height: int
    timestamp_ms: int
    prev_hash: bytes
    proposer: bytes
    tx_root: bytes
    state_root: bytes
    last_commit_hash: bytes
    tx_count: int
    policy: str
    model_hash: bytes
    pow_target: bytes
    pow_nonce: int
    _hash: bytes | None

    def __init__(
        self,
        *,
        chain_id: str,
        height: int,
        timestamp_ms: int,
        prev_hash: bytes,
        proposer: bytes,
        tx_root: bytes,
        state_root: bytes,
        last_commit_hash: bytes = ZERO_HASH,
        tx_count: int = 0,
        policy: str = "",
        model_hash: bytes = ZERO_HASH,
        pow_target: bytes = ZERO_HASH,
        pow_nonce: int = 0,
    ) -> None:
        check_name(chain_id, "chain_id")
        check_name(policy, "policy", allow_empty=True)
        set_ = object.__setattr__
        set_(self, "chain_id", chain_id)
        set_(self, "height", check_uint(height, 64, "height"))
        set_(self, "timestamp_ms", check_uint(timestamp_ms, 64, "timestamp_ms"))
        set_(self, "prev_hash", check_bytes(prev_hash, HASH_SIZE, "prev_hash"))
        set_(self, "proposer", check_bytes(proposer, ADDRESS_SIZE, "proposer"))
        set_(self, "tx_root", check_bytes(tx_root, HASH_SIZE, "tx_root"))
        set_(self, "state_root", check_bytes(state_root, HASH_SIZE, "state_root"))
        set_(self, "last_commit_hash", check_bytes(last_commit_hash, HASH_SIZE, "last_commit_hash"))
        if check_uint(tx_count, 32, "tx_count") > MAX_BLOCK_TXS:
            # decode refuses such a header, so it must not be constructible either
            raise ValueError(f"tx_count must be at most {MAX_BLOCK_TXS}, got {tx_count}")
        set_(self, "tx_count", tx_count)
        set_(self, "policy", policy)
        set_(self, "model_hash", check_bytes(model_hash, HASH_SIZE, "model_hash"))
        set_(self, "pow_target", check_bytes(pow_target, HASH_SIZE, "pow_target"))
        set_(self, "pow_nonce", check_uint(pow_nonce, 64, "pow_nonce"))
        set_(self, "_hash", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("BlockHeader is immutable")

    def prefix(self) -> bytes:
        """The encoding up to (not including) the 8-byte PoW nonce."""
        return (
            U8.pack(HEADER_VERSION)
            + name8(self.chain_id.encode("ascii"))
            + _HEADER_FIXED.pack(
                self.height,
                self.timestamp_ms,
                self.prev_hash,
                self.proposer,
                self.tx_root,
                self.state_root,
                self.last_commit_hash,
                self.tx_count,
            )
            + name8(self.policy.encode("ascii"))
            + _HEADER_TAIL.pack(self.model_hash, self.pow_target)
        )

    def encode(self) -> bytes:
        return self.prefix() + U64.pack(self.pow_nonce)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> BlockHeader:
        r = Reader(data, "block header")
        header = cls._read(r)
        r.finish()
        return header

    @classmethod
    def _read(cls, r: Reader) -> BlockHeader:
        version = r.u8()
        if version != HEADER_VERSION:
            raise r.fail(f"unknown header version {version}", "unknown_version")
        chain_id = r.name("chain_id")
        (
            height,
            timestamp_ms,
            prev_hash,
            proposer,
            tx_root_,
            state_root,
            last_commit_hash,
            tx_count,
        ) = r.unpack(_HEADER_FIXED)
        if tx_count > MAX_BLOCK_TXS:
            raise r.fail(f"tx_count {tx_count} exceeds {MAX_BLOCK_TXS}", "oversize")
        policy = r.name("policy", allow_empty=True)
        model_hash, pow_target = r.unpack(_HEADER_TAIL)
        pow_nonce = r.u64()
        return cls(
            chain_id=chain_id,
            height=height,
            timestamp_ms=timestamp_ms,
            prev_hash=prev_hash,
            proposer=proposer,
            tx_root=tx_root_,
            state_root=state_root,
            last_commit_hash=last_commit_hash,
            tx_count=tx_count,
            policy=policy,
            model_hash=model_hash,
            pow_target=pow_target,
            pow_nonce=pow_nonce,
        )

    @property
    def hash(self) -> bytes:
        if self._hash is None:
            object.__setattr__(self, "_hash", crypto.sha256(self.encode()))
        assert self._hash is not None
        return self._hash

    def replace(self, **changes: Any) -> BlockHeader:
        fields = {name: getattr(self, name) for name in _HEADER_FIELDS}
        fields.update(changes)
        return BlockHeader(**fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": _hex(self.hash),
            "chain_id": self.chain_id,
            "height": self.height,
            "timestamp_ms": self.timestamp_ms,
            "prev_hash": _hex(self.prev_hash),
            "proposer": _hex(self.proposer),
            "tx_root": _hex(self.tx_root),
            "state_root": _hex(self.state_root),
            "last_commit_hash": _hex(self.last_commit_hash),
            "tx_count": self.tx_count,
            "policy": self.policy,
            "model_hash": None if self.model_hash == ZERO_HASH else _hex(self.model_hash),
            "pow_target": None if self.pow_target == ZERO_HASH else _hex(self.pow_target),
            "pow_nonce": self.pow_nonce,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BlockHeader) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return f"BlockHeader(h={self.height} {self.hash.hex()[:12]} txs={self.tx_count})"


_HEADER_FIELDS = (
    "chain_id",
    "height",
    "timestamp_ms",
    "prev_hash",
    "proposer",
    "tx_root",
    "state_root",
    "last_commit_hash",
    "tx_count",
    "policy",
    "model_hash",
    "pow_target",
    "pow_nonce",
)


def block_sign_bytes(block_hash: bytes) -> bytes:
    return BLOCK_DOMAIN + block_hash


class Block:
    """A header, the proposer's signature over it, the certificate that
    committed the previous block (BFT), and the transactions in order.

    The header's ``tx_count``, ``tx_root`` and ``last_commit_hash`` must
    match the body: ``check_body()`` says whether they do, and decoding
    refuses a block whose tx count differs from its header.
    """

    __slots__ = ("header", "last_commit", "signature", "txs")

    header: BlockHeader
    signature: bytes
    last_commit: Commit
    txs: tuple[Transaction, ...]

    def __init__(
        self,
        *,
        header: BlockHeader,
        txs: Sequence[Transaction] = (),
        signature: bytes = ZERO_SIGNATURE,
        last_commit: Commit | None = None,
    ) -> None:
        txs = tuple(txs)
        if len(txs) != header.tx_count:
            raise ValueError(f"header says {header.tx_count} txs, body has {len(txs)}")
        set_ = object.__setattr__
        set_(self, "header", header)
        set_(self, "txs", txs)
        set_(self, "signature", check_bytes(signature, SIGNATURE_SIZE, "signature"))
        set_(self, "last_commit", last_commit if last_commit is not None else Commit.empty())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Block is immutable")

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def check_body(self) -> str | None:
        """None when the body matches the header, else what does not match."""
        if self.header.tx_root != tx_root(self.txs):
            return "tx_root does not match the transactions"
        expected = ZERO_HASH if self.last_commit.is_empty else self.last_commit.hash
        if self.header.last_commit_hash != expected:
            return "last_commit_hash does not match the commit"
        return None

    def signed(self, seed: bytes) -> Block:
        sig = crypto.sign(seed, block_sign_bytes(self.hash))
        return Block(header=self.header, txs=self.txs, signature=sig, last_commit=self.last_commit)

    def verify_signature(self) -> bool:
        """True when ``signature`` is the header proposer's over the block hash."""
        return crypto.verify(self.header.proposer, block_sign_bytes(self.hash), self.signature)

    def encode(self) -> bytes:
        parts = [self.header.encode(), self.signature, self.last_commit.encode()]
        parts.append(U32.pack(len(self.txs)))
        for tx in self.txs:
            raw = tx.encode()
            parts.append(U32.pack(len(raw)))
            parts.append(raw)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Block:
        r = Reader(data, "block")
        header = BlockHeader._read(r)
        signature = r.take(SIGNATURE_SIZE)
        last_commit = Commit._read(r)
        n = r.u32()
        if n != header.tx_count:
            raise r.fail(f"body has {n} txs, header says {header.tx_count}", "tx_count_mismatch")
        txs = []
        for _ in range(n):
            size = r.u32()
            if size > MAX_TX_SIZE or size > U32_MAX:
                raise r.fail(f"transaction of {size} bytes exceeds {MAX_TX_SIZE}", "oversize")
            txs.append(Transaction.decode(r.take(size)))
        r.finish()
        return cls(header=header, txs=txs, signature=signature, last_commit=last_commit)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Block) and self.encode() == other.encode()

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return f"Block(h={self.height} {self.hash.hex()[:12]} txs={len(self.txs)})"

    def to_json(self) -> dict[str, Any]:
        out = self.header.to_json()
        out["signature"] = _hex(self.signature)
        out["last_commit"] = None if self.last_commit.is_empty else self.last_commit.to_json()
        out["txs"] = [_hex(tx.id) for tx in self.txs]
        return out

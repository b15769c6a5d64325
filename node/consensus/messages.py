"""Consensus messages and their canonical binary encoding.

A message on the wire is a one-byte type tag followed by its body. Bodies
reuse the encodings of node/types.py (Proposal, Vote, Commit, Block);
variable-length parts carry a u32 length prefix. ``decode_message`` is
strict: an unknown tag, a truncated or oversize part, trailing bytes or a
non-canonical form raise ``DecodeError``. The layouts are in
docs/CONSENSUS.md.

Messages are immutable; ``digest`` (SHA-256 of the encoding) is computed
once and serves as a message id for de-duplication and event logs.
"""

from __future__ import annotations

from node import crypto
from node.codec import U8, U32, U64, Reader, check_uint
from node.errors import DecodeError
from node.types import HASH_SIZE, Block, Proposal, Vote

TAG_PROPOSAL = 1
TAG_VOTE = 2
TAG_STATUS = 3
# 4 and 5 were block requests and replies: catch-up now has one message pair
# of its own (node/core/catchup.py), and the tags stay unused
TAG_BLOCK = 6
TAG_SKIP = 7

MAX_MESSAGE_SIZE = 16 * 1024 * 1024

_PROPOSAL_SIZE = 1 + 8 + 4 + 4 + 32 + 32 + 64
_VOTE_SIZE = 1 + 1 + 8 + 4 + 32 + 32 + 64


class Message:
    """Base of consensus messages: ``encode``, ``digest`` and a tag."""

    __slots__ = ("_digest",)
    tag = 0
    _digest: bytes

    def body(self) -> bytes:
        raise NotImplementedError

    def encode(self) -> bytes:
        return U8.pack(self.tag) + self.body()

    @property
    def digest(self) -> bytes:
        try:
            return self._digest
        except AttributeError:
            d = crypto.sha256(self.encode())
            object.__setattr__(self, "_digest", d)
            return d

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(other) is type(self)
            and self.encode() == other.encode()
        )

    def __hash__(self) -> int:
        return hash(self.digest)


def _init(obj: Message, **fields: object) -> None:
    for name, value in fields.items():
        object.__setattr__(obj, name, value)


def _read_block(r: Reader) -> Block:
    size = r.u32()
    if size > MAX_MESSAGE_SIZE:
        raise r.fail(f"block of {size} bytes is too large", "oversize")
    return Block.decode(r.take(size))


def _block_bytes(block: Block) -> bytes:
    raw = block.encode()
    return U32.pack(len(raw)) + raw


class ProposalMsg(Message):
    """A signed proposal (BFT, PoA) with the full block it names."""

    __slots__ = ("block", "proposal")
    tag = TAG_PROPOSAL
    proposal: Proposal
    block: Block

    def __init__(self, proposal: Proposal, block: Block) -> None:
        if proposal.block_hash != block.hash:
            raise ValueError("proposal names another block")
        _init(self, proposal=proposal, block=block)

    def body(self) -> bytes:
        return self.proposal.encode() + _block_bytes(self.block)

    @classmethod
    def read(cls, r: Reader) -> ProposalMsg:
        proposal = Proposal.decode(r.take(_PROPOSAL_SIZE))
        block = _read_block(r)
        if proposal.block_hash != block.hash:
            raise r.fail("proposal names another block", "mismatch")
        return cls(proposal, block)

    def __repr__(self) -> str:
        return f"ProposalMsg({self.proposal!r})"


class VoteMsg(Message):
    __slots__ = ("vote",)
    tag = TAG_VOTE
    vote: Vote

    def __init__(self, vote: Vote) -> None:
        _init(self, vote=vote)

    def body(self) -> bytes:
        return self.vote.encode()

    @classmethod
    def read(cls, r: Reader) -> VoteMsg:
        return cls(Vote.decode(r.take(_VOTE_SIZE)))

    def __repr__(self) -> str:
        return f"VoteMsg({self.vote!r})"


class StatusMsg(Message):
    """Where the sender is: the height it works on (last committed + 1),
    its round, its head hash and (PoW) the cumulative work of its chain."""

    __slots__ = ("head_hash", "height", "round", "work")
    tag = TAG_STATUS
    height: int
    round: int
    head_hash: bytes
    work: int

    def __init__(self, height: int, round: int, head_hash: bytes, work: int = 0) -> None:
        check_uint(height, 64, "height")
        check_uint(round, 32, "round")
        check_uint(work, 256, "work")
        if len(head_hash) != HASH_SIZE:
            raise ValueError("head_hash must be 32 bytes")
        _init(self, height=height, round=round, head_hash=bytes(head_hash), work=work)

    def body(self) -> bytes:
        return (
            U64.pack(self.height)
            + U32.pack(self.round)
            + self.head_hash
            + self.work.to_bytes(32, "big")
        )

    @classmethod
    def read(cls, r: Reader) -> StatusMsg:
        height = r.u64()
        round_ = r.u32()
        head_hash = r.take(HASH_SIZE)
        work = int.from_bytes(r.take(32), "big")
        return cls(height, round_, head_hash, work)

    def __repr__(self) -> str:
        return f"StatusMsg(h={self.height} r={self.round} {self.head_hash.hex()[:8]})"


class BlockMsg(Message):
    """A new block announced by its producer (PoW) and relayed."""

    __slots__ = ("block",)
    tag = TAG_BLOCK
    block: Block

    def __init__(self, block: Block) -> None:
        _init(self, block=block)

    def body(self) -> bytes:
        return _block_bytes(self.block)

    @classmethod
    def read(cls, r: Reader) -> BlockMsg:
        return cls(_read_block(r))

    def __repr__(self) -> str:
        return f"BlockMsg({self.block!r})"


class SkipMsg(Message):
    """PoA: the sender gives up on earlier rounds of a height and reports the
    block it last accepted there (Paxos phase 1b).

    ``vote`` is a signed PREVOTE for (height, round, accepted block hash or
    nil); ``accepted_round`` is the round in which that block was accepted
    (-1 if none), and ``block`` is that block, so the next proposer can
    re-propose it.
    """

    __slots__ = ("accepted_round", "block", "vote")
    tag = TAG_SKIP
    vote: Vote
    accepted_round: int
    block: Block | None

    def __init__(self, vote: Vote, accepted_round: int, block: Block | None) -> None:
        if (block is None) != vote.is_nil or (block is not None and block.hash != vote.block_hash):
            raise ValueError("a skip carries the block its vote names, or none for nil")
        if not (-1 <= accepted_round < vote.round) or (accepted_round == -1) != vote.is_nil:
            raise ValueError("accepted_round must be -1 for nil, else in [0, round)")
        _init(self, vote=vote, accepted_round=accepted_round, block=block)

    def body(self) -> bytes:
        out = self.vote.encode() + U32.pack(self.accepted_round & 0xFFFFFFFF)
        return out + (_block_bytes(self.block) if self.block is not None else b"")

    @classmethod
    def read(cls, r: Reader) -> SkipMsg:
        vote = Vote.decode(r.take(_VOTE_SIZE))
        raw_round = r.u32()
        accepted_round = -1 if raw_round == 0xFFFFFFFF else raw_round
        block = None if vote.is_nil else _read_block(r)
        try:
            return cls(vote, accepted_round, block)
        except ValueError as exc:
            raise r.fail(str(exc), "non_canonical") from None

    def __repr__(self) -> str:
        return f"SkipMsg({self.vote!r} accepted_round={self.accepted_round})"


_READERS = {
    TAG_PROPOSAL: ProposalMsg.read,
    TAG_VOTE: VoteMsg.read,
    TAG_STATUS: StatusMsg.read,
    TAG_BLOCK: BlockMsg.read,
    TAG_SKIP: SkipMsg.read,
}


def decode_message(data: bytes | bytearray | memoryview) -> Message:
    """Decode one consensus message; anything but a canonical encoding is a DecodeError."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise DecodeError(f"consensus message of {len(data)} bytes is too large", code="oversize")
    r = Reader(data, "consensus message")
    tag = r.u8()
    reader = _READERS.get(tag)
    if reader is None:
        raise r.fail(f"unknown message tag {tag}", "unknown_tag")
    try:
        msg = reader(r)
    except DecodeError:
        raise
    except ValueError as exc:
        raise r.fail(str(exc), "non_canonical") from None
    r.finish()
    return msg

"""What a BFT validator has signed, as persisted before it signs anything more.

The record is written through ``Application.save_signing_state(height,
round, step, extra)`` BEFORE a proposal or vote leaves the engine, and read
back at start. It holds the last signed (height, round, step, block hash),
which is what the signing guard compares against, plus what the engine
needs to carry on after a restart without breaking a promise:

- its lock and valid value (Tendermint's safety relies on a validator
  never forgetting its lock within a height);
- the messages it signed in that round (its proposal with the block, its
  prevote and precommit), so it can send exactly those again: they may
  never have reached anyone, and peers may be waiting for them;
- the proof-of-lock of its locked and valid blocks (the > 2/3 prevotes it
  saw for them): without it, a restarted validator could re-propose its
  valid block but never convince anyone who missed those prevotes.

``extra`` layout (big-endian): signed block hash (32), locked_round (i32),
valid_round (i32), proposal pol_round (i32, -2 = no proposal), flags (u8:
1 = prevote, 2 = precommit), prevote hash (32), precommit hash (32), then
the locked, valid and proposed blocks, each as u32 length + encoding
(length 0 = none), then u16 count + that many encoded prevotes (the
proofs-of-lock).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from node.codec import Reader
from node.types import ZERO_HASH, Block, Vote

_FIXED = struct.Struct(">32siiiB32s32s")
NO_PROPOSAL = -2
_VOTE_SIZE = 142


@dataclass
class SigningRecord:
    height: int
    round: int
    step: int
    block_hash: bytes
    locked_round: int = -1
    locked_block: Block | None = None
    valid_round: int = -1
    valid_block: Block | None = None
    proposal: tuple[int, Block] | None = None  # (pol_round, block) signed this round
    prevote: bytes | None = None  # hash prevoted this round
    precommit: bytes | None = None  # hash precommitted this round
    pol: tuple[Vote, ...] = ()  # prevotes proving the locked and valid blocks

    def extra(self) -> bytes:
        flags = (1 if self.prevote is not None else 0) | (2 if self.precommit is not None else 0)
        parts = [
            _FIXED.pack(
                self.block_hash,
                self.locked_round,
                self.valid_round,
                self.proposal[0] if self.proposal is not None else NO_PROPOSAL,
                flags,
                self.prevote or ZERO_HASH,
                self.precommit or ZERO_HASH,
            )
        ]
        proposed = self.proposal[1] if self.proposal is not None else None
        for block in (self.locked_block, self.valid_block, proposed):
            raw = block.encode() if block is not None else b""
            parts.append(len(raw).to_bytes(4, "big") + raw)
        parts.append(len(self.pol).to_bytes(2, "big"))
        parts.extend(v.encode() for v in self.pol)
        return b"".join(parts)

    @classmethod
    def decode(cls, height: int, round_: int, step: int, extra: bytes) -> SigningRecord:
        """Raises DecodeError if ``extra`` is not a record this module wrote."""
        r = Reader(extra, "signing state")
        fields: tuple[Any, ...] = r.unpack(_FIXED)
        block_hash, locked_round, valid_round, pol_round, flags, prevote, precommit = fields
        blocks: list[Block | None] = []
        for _ in range(3):
            size = r.u32()
            blocks.append(Block.decode(r.take(size)) if size else None)
        pol = tuple(Vote.decode(r.take(_VOTE_SIZE)) for _ in range(r.u16()))
        r.finish()
        locked, valid, proposed = blocks
        return cls(
            height=height,
            round=round_,
            step=step,
            block_hash=block_hash,
            locked_round=locked_round if locked is not None else -1,
            locked_block=locked,
            valid_round=valid_round if valid is not None else -1,
            valid_block=valid,
            proposal=(pol_round, proposed) if proposed is not None else None,
            prevote=prevote if flags & 1 else None,
            precommit=precommit if flags & 2 else None,
            pol=pol,
        )

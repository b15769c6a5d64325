"""The mempool's knobs (MempoolConfig), its answer per transaction
(AdmitResult) and the refusal codes that answer carries.

Every refusal code is a stable, machine-readable string that the RPC hands
to clients unchanged, so the set below is part of the public contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from node.tomlfile import AT_LEAST_1, POSITIVE, Range, check_fields
from node.types import MAX_TX_SIZE


class Refusal(StrEnum):
    """Why the mempool did not take (or did not keep) a transaction.

    Values are plain strings (``Refusal.DUPLICATE == "duplicate"``).
    """

    #: Already in the pool, or earlier in the same batch.
    DUPLICATE = "duplicate"
    #: Signed for another chain.
    WRONG_CHAIN_ID = "wrong_chain_id"
    #: Encoding larger than ``MempoolConfig.max_tx_bytes``.
    TOO_LARGE = "too_large"
    #: Sender and recipient are the same (the state refuses it with this code).
    SELF_TRANSFER = "self_transfer"
    #: amount + fee exceeds 2^64 - 1 (the state refuses it with this code).
    OVERFLOW = "overflow"
    #: Fee below ``MempoolConfig.min_fee``.
    FEE_TOO_LOW = "fee_too_low"
    #: The signature is not the sender's over this transaction.
    INVALID_SIGNATURE = "invalid_signature"
    #: Nonce below the sender's next nonce in the committed state.
    NONCE_TOO_LOW = "nonce_too_low"
    #: Nonce more than ``max_nonce_gap`` ahead of the sender's next nonce.
    NONCE_TOO_FAR = "nonce_too_far"
    #: The sender's balance does not cover all its pooled txs plus this one.
    INSUFFICIENT_FUNDS = "insufficient_funds"
    #: Same sender and nonce as a pooled tx, without the required fee bump.
    REPLACEMENT_UNDERPRICED = "replacement_underpriced"
    #: Would replace a queued tx (behind a nonce gap, so it pays nothing),
    #: and the sender has used its ``max_queued_replacements`` since its
    #: committed nonce last moved.
    QUEUED_REPLACEMENT_LIMIT = "queued_replacement_limit"
    #: The sender's own count or byte cap is reached and nothing of its own
    #: with a higher nonce can make room.
    SENDER_FULL = "sender_full"
    #: The pool is at a cap and the newcomer ranks below every evictable tx.
    MEMPOOL_FULL = "mempool_full"
    #: Accepted earlier in this batch, then evicted by a later tx of the
    #: same batch (the result is rewritten so that "accepted" always means
    #: "in the pool when admit() returned").
    EVICTED = "evicted"
    #: Accepted earlier in this batch, then replaced by a later tx of the
    #: same batch with the same sender and nonce and a bumped fee.
    REPLACED = "replaced"


class AdmitResult(NamedTuple):
    """The mempool's answer for one transaction of a batch, in batch order."""

    tx_id: bytes
    accepted: bool
    code: str | None = None
    message: str | None = None


# MempoolConfig fields whose range is not the default (a number >= 0, up to
# the cap node.tomlfile applies to every config number).
_RANGES: dict[str, Range] = {
    "max_txs": AT_LEAST_1,
    "max_bytes": AT_LEAST_1,
    "max_txs_per_sender": AT_LEAST_1,
    "max_bytes_per_sender": AT_LEAST_1,
    "expiry_s": POSITIVE,
}

#: A sender may hold up to 64 txs of up to 1 KiB each by default.
DEFAULT_MAX_BYTES_PER_SENDER = 64 * 1024


@dataclass(frozen=True)
class MempoolConfig:
    """Caps and rules of the pool. All counts and sizes are per pool unless
    the name says per sender; sizes are encoded bytes."""

    max_txs: int = 50_000
    max_bytes: int = 64 * 2**20
    #: pending + queued txs of one sender
    max_txs_per_sender: int = 64
    max_bytes_per_sender: int = DEFAULT_MAX_BYTES_PER_SENDER
    #: a tx whose nonce is more than this ahead of the sender's next nonce
    #: (in the committed state) is refused
    max_nonce_gap: int = 64
    #: a tx older than this leaves the pool on expire()
    expiry_s: float = 600.0
    #: a replacement needs fee and fee rate >= the old one's * (1 + pct/100)
    replace_bump_pct: int = 10
    #: replacements of queued txs a sender may make between two moves of
    #: its committed nonce (0: queued txs cannot be replaced)
    max_queued_replacements: int = 4
    min_fee: int = 0
    max_tx_bytes: int = MAX_TX_SIZE

    def __post_init__(self) -> None:
        check_fields(self, "mempool", _RANGES)

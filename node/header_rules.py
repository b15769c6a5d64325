"""The timestamp rules of a block header, written once for every engine and the ledger.

1. A block's timestamp is STRICTLY after its parent's: at least
   ``parent + min_gap_ms``. The base gap is ``MIN_GAP_MS`` (1 ms), which
   ``Ledger.validate_block`` and every engine apply; PoA passes its block
   interval instead (a round-0 proposer waits one interval).
2. A node that votes on (BFT prevote, PoA ack) or mines on a block refuses
   one stamped more than ``max_ahead_ms`` ahead of its own clock. The bound
   is each engine's (``MAX_AHEAD_MS`` in bft.py, poa.py, pow.py); it is not
   part of block validity, because a block's validity must not depend on
   when it is looked at: a block with a certificate (BFT, PoA) is final
   whatever the clock says.
3. A proposer stamps a new block with its clock, raised to the earliest
   time rule 1 allows (``next_timestamp_ms``).

Pure functions over integers (milliseconds since the Unix epoch); the
errors are ``InvalidBlock`` with a code, so the ledger raises them as they
are and the engines report ``"code: message"``.
"""

from __future__ import annotations

from node.errors import InvalidBlock

# the smallest step from a parent's timestamp to its child's
MIN_GAP_MS = 1


def earliest_timestamp_ms(parent_timestamp_ms: int, min_gap_ms: int = MIN_GAP_MS) -> int:
    """The earliest timestamp a child of a block stamped ``parent_timestamp_ms`` may carry."""
    return parent_timestamp_ms + max(min_gap_ms, MIN_GAP_MS)


def check_follows_parent(
    timestamp_ms: int, parent_timestamp_ms: int, min_gap_ms: int = MIN_GAP_MS
) -> None:
    """Rule 1: InvalidBlock ``timestamp_too_early`` unless ``timestamp_ms`` is late enough."""
    earliest = earliest_timestamp_ms(parent_timestamp_ms, min_gap_ms)
    if timestamp_ms < earliest:
        gap = max(min_gap_ms, MIN_GAP_MS)
        raise InvalidBlock(
            f"timestamp {timestamp_ms} is not at least {gap} ms after the parent's "
            f"{parent_timestamp_ms}",
            code="timestamp_too_early",
        )


def check_not_ahead(timestamp_ms: int, now_ms: int, max_ahead_ms: int) -> None:
    """Rule 2: InvalidBlock ``timestamp_in_future`` if ``timestamp_ms`` is more than
    ``max_ahead_ms`` ahead of ``now_ms`` (the checking node's clock)."""
    if timestamp_ms > now_ms + max_ahead_ms:
        raise InvalidBlock(
            f"timestamp {timestamp_ms} is {timestamp_ms - now_ms} ms ahead of this node's "
            f"clock (at most {max_ahead_ms} ms allowed)",
            code="timestamp_in_future",
        )


def next_timestamp_ms(now_ms: int, parent_timestamp_ms: int, min_gap_ms: int = MIN_GAP_MS) -> int:
    """Rule 3: the timestamp of a new block on a parent stamped ``parent_timestamp_ms``."""
    return max(now_ms, earliest_timestamp_ms(parent_timestamp_ms, min_gap_ms))


def violation(exc: InvalidBlock) -> str:
    """How an engine reports a refused rule: ``"code: message"``."""
    return f"{exc.code}: {exc.message}"

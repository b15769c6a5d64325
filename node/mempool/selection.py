"""Choosing block candidates from the pending txs.

The default is geth's price-heap walk, with the policy's cached score as
the price: a heap holds each sender's next executable tx; the best one
goes into the block and its sender's following nonce takes its place, so
nonce order holds by construction and a block of k txs costs
O(senders + k log senders), whatever the pool's size. Ties go to the tx
admitted first.

A policy that overrides ``Policy.order`` chooses the block itself from a
TxColumns of the pending txs; ``checked_order`` verifies its answer
(indices, limits, each sender's nonces a prefix of its pending chain in
order) before the pool trusts it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

import numpy as np

from node.mempool.sender import PoolEntry, SenderQueue
from node.scheduling.policy import BlockLimits, TxColumns


def greedy(queues: Iterable[SenderQueue], max_txs: int, max_bytes: int) -> list[PoolEntry]:
    """Txs by descending score (earliest admitted on ties), each sender's in
    nonce order, within ``max_txs`` and ``max_bytes``.

    A tx that does not fit in the bytes left is skipped and its sender
    contributes nothing more (its later nonces depend on it).
    """
    if max_txs <= 0:
        return []
    # (-score, seq, entry, queue): seq is unique, so nothing after it is compared
    heap: list[tuple[float, int, PoolEntry, SenderQueue]] = []
    for q in queues:
        if q.pending:
            head = q.by_nonce[q.base]
            heap.append((-head.score, head.seq, head, q))
    heapq.heapify(heap)
    chosen: list[PoolEntry] = []
    room = max_bytes
    pop, push = heapq.heappop, heapq.heappush
    while heap and len(chosen) < max_txs:
        _, _, entry, q = pop(heap)
        if entry.size > room:
            continue
        chosen.append(entry)
        room -= entry.size
        following = q.by_nonce.get(entry.nonce + 1)
        if following is not None and q.is_pending(following):
            push(heap, (-following.score, following.seq, following, q))
    return chosen


def pending_columns(
    queues: Iterable[SenderQueue], pool_size: int, pool_bytes: int, *, with_labels: bool = False
) -> tuple[TxColumns, np.ndarray, list[PoolEntry]]:
    """The pending txs as policy columns (rows grouped by sender, each in
    nonce order; ``with_labels``, their labels when every one has some),
    their cached scores, and the entry behind each row."""
    rows: list[PoolEntry] = []
    gaps: list[int] = []
    for q in queues:
        for position, entry in enumerate(q.pending_entries()):
            rows.append(entry)
            gaps.append(position)
    txs = [e.tx for e in rows]
    labels = None
    known = [e.labels for e in rows if e.labels is not None] if with_labels else []
    if rows and len(known) == len(rows):  # the bench's labelled txs
        labels = {k: np.array([row[k] for row in known]) for k in known[0]}
    columns = TxColumns(
        arrival_s=np.array([e.arrival_s for e in rows], dtype=np.float64),
        fee=np.array([e.fee for e in rows], dtype=np.float64),
        size=np.array([e.size for e in rows], dtype=np.int64),
        nonce=np.array([e.nonce for e in rows], dtype=np.uint64),
        nonce_gap=np.array(gaps, dtype=np.int64),
        sender=[tx.sender for tx in txs],
        recipient=[tx.recipient for tx in txs],
        pool_size=pool_size,
        pool_bytes=pool_bytes,
        labels=labels,
    )
    scores = np.array([e.score for e in rows], dtype=np.float64)
    return columns, scores, rows


def checked_order(
    policy_name: str,
    picks: Sequence[int],
    rows: Sequence[PoolEntry],
    bases: dict[bytes, int],
    limits: BlockLimits,
) -> list[PoolEntry]:
    """The entries a policy's ``order`` picked, or ValueError naming the
    policy when the pick breaks an index range, a limit or nonce order.

    ``bases`` maps each sender to its next nonce in the committed state.
    """

    def refuse(why: str) -> ValueError:
        return ValueError(f"scheduling policy {policy_name!r}: order() {why}")

    if len(picks) > limits.max_txs:
        raise refuse(f"chose {len(picks)} txs, the block holds {limits.max_txs}")
    chosen: list[PoolEntry] = []
    taken: set[int] = set()
    next_nonce: dict[bytes, int] = {}
    total_bytes = 0
    for i in picks:
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < len(rows):
            raise refuse(f"returned {i!r}, not a row index in [0, {len(rows)})")
        if i in taken:
            raise refuse(f"returned row {i} twice")
        taken.add(int(i))
        entry = rows[i]
        expected = next_nonce.get(entry.sender, bases[entry.sender])
        if entry.nonce != expected:
            raise refuse(
                f"breaks nonce order: sender {entry.sender.hex()[:16]} "
                f"nonce {entry.nonce} where {expected} is next"
            )
        next_nonce[entry.sender] = expected + 1
        total_bytes += entry.size
        chosen.append(entry)
    if total_bytes > limits.max_bytes:
        raise refuse(f"chose {total_bytes} bytes, the block holds {limits.max_bytes}")
    return chosen

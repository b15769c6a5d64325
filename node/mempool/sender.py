"""One sender's transactions in the pool: a nonce-ordered chain.

The chain is split as geth's txpool splits it: the txs whose nonces run
contiguously from the account's next nonce (``base``) are *pending*
(executable in that order); everything after the first gap is *queued*.
A ``SenderQueue`` keeps that split up to date in O(1) amortised per insert
or removal, and the running totals (bytes, cost = amount + fee) that the
caps and the balance rule need. It knows nothing of other senders, scores
or caps: those are the pool's.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping
from typing import Any

from node.types import Transaction


class PoolEntry:
    """A pooled transaction with what the pool computed about it once."""

    __slots__ = (
        "arrival_s",
        "cost",
        "fee",
        "id",
        "labels",
        "nonce",
        "score",
        "sender",
        "seq",
        "size",
        "tx",
    )

    def __init__(
        self,
        tx: Transaction,
        tx_id: bytes,
        size: int,
        score: float,
        seq: int,
        arrival_s: float,
        labels: Mapping[str, Any] | None = None,
    ) -> None:
        self.tx = tx
        self.id = tx_id
        self.sender = tx.sender
        self.nonce = tx.nonce
        self.fee = tx.fee
        self.size = size
        #: what including the tx takes from the sender's balance
        self.cost = tx.amount + tx.fee
        #: the policy's priority, computed once at admission
        self.score = score
        #: admission order: earlier wins ties, everywhere
        self.seq = seq
        self.arrival_s = arrival_s
        #: a labelled workload's hidden columns for this tx (the bench only)
        self.labels = labels

    def __repr__(self) -> str:
        return f"PoolEntry({self.id.hex()[:12]} n={self.nonce} score={self.score:g})"


class SenderQueue:
    """The pooled txs of one sender, by nonce, with the pending/queued split.

    ``base`` and ``balance`` are the sender's account (next nonce, balance)
    in the committed state as last read by the pool.
    """

    __slots__ = (
        "balance",
        "base",
        "by_nonce",
        "bytes",
        "cost",
        "nonces",
        "pending",
        "pushed_tail",
        "queued_replacements",
    )

    def __init__(self, balance: int, base: int) -> None:
        self.balance = balance
        self.base = base
        self.by_nonce: dict[int, PoolEntry] = {}
        #: the nonces of by_nonce, sorted
        self.nonces: list[int] = []
        #: how many txs run contiguously from base: nonces base..base+pending-1
        self.pending = 0
        self.bytes = 0
        self.cost = 0
        #: queued txs replaced since ``base`` last moved (the pool caps it)
        self.queued_replacements = 0
        #: the eviction-heap key last pushed for this sender's tail (pool's use)
        self.pushed_tail: tuple[int, float, int, bytes] | None = None

    def __len__(self) -> int:
        return len(self.nonces)

    def get(self, nonce: int) -> PoolEntry | None:
        return self.by_nonce.get(nonce)

    def tail(self) -> PoolEntry:
        """The highest-nonce tx: the only one that can leave without
        stranding a successor."""
        return self.by_nonce[self.nonces[-1]]

    def is_pending(self, entry: PoolEntry) -> bool:
        return entry.nonce < self.base + self.pending

    @property
    def queued(self) -> int:
        return len(self.nonces) - self.pending

    def insert(self, entry: PoolEntry) -> None:
        nonce = entry.nonce
        assert nonce not in self.by_nonce and nonce >= self.base, (nonce, self.base)
        self.by_nonce[nonce] = entry
        if not self.nonces or nonce > self.nonces[-1]:
            self.nonces.append(nonce)
        else:
            insort(self.nonces, nonce)
        self.bytes += entry.size
        self.cost += entry.cost
        if nonce == self.base + self.pending:
            self._extend_pending()

    def remove(self, entry: PoolEntry) -> None:
        nonce = entry.nonce
        assert self.by_nonce.get(nonce) is entry, entry
        del self.by_nonce[nonce]
        if self.nonces[-1] == nonce:
            self.nonces.pop()
        else:
            del self.nonces[bisect_left(self.nonces, nonce)]
        self.bytes -= entry.size
        self.cost -= entry.cost
        if nonce < self.base + self.pending:
            # everything after the hole waits for it to be filled again
            self.pending = nonce - self.base

    def rebase(self, balance: int, base: int) -> list[PoolEntry]:
        """Take a new account view; return the txs that no longer fit it.

        Txs with a nonce below the new base are spent (included, or a
        conflicting tx was); then the highest nonces go until the rest is
        affordable. Removing from the top keeps the longest affordable
        prefix of the chain, so no remaining tx loses its predecessor.
        """
        if base != self.base:
            self.queued_replacements = 0
        self.balance = balance
        self.base = base
        dropped: list[PoolEntry] = []
        while self.nonces and self.nonces[0] < base:
            dropped.append(self.by_nonce[self.nonces[0]])
            self._forget(self.nonces[0])
            del self.nonces[0]
        while self.nonces and self.cost > balance:
            dropped.append(self.by_nonce[self.nonces[-1]])
            self._forget(self.nonces.pop())
        self.pending = 0
        self._extend_pending()
        return dropped

    def pending_entries(self) -> Iterator[PoolEntry]:
        """The executable txs in nonce order."""
        by_nonce = self.by_nonce
        for nonce in range(self.base, self.base + self.pending):
            yield by_nonce[nonce]

    def entries(self) -> Iterator[PoolEntry]:
        """All txs in nonce order."""
        by_nonce = self.by_nonce
        for nonce in self.nonces:
            yield by_nonce[nonce]

    def _forget(self, nonce: int) -> None:
        entry = self.by_nonce.pop(nonce)
        self.bytes -= entry.size
        self.cost -= entry.cost

    def _extend_pending(self) -> None:
        # promotion: a filled gap makes the queued run behind it executable
        by_nonce = self.by_nonce
        end = self.base + self.pending
        while end in by_nonce:
            end += 1
        self.pending = end - self.base

"""The mempool: admission, caps, eviction, replacement, block candidates,
expiry and the re-check after each block.

Every rule the pool applies is written here once (per-sender chain
bookkeeping is in ``sender.py``, the block walk in ``selection.py``). The
pool does no I/O and reads no clock: times come in as ``now_s`` and the
committed state is read through the ``accounts`` callable, which returns
``(balance, next_nonce)`` of an address ((0, 0) for an unknown one).

Admission of a batch
    1. ``duplicate``: the id is pooled or appeared earlier in the batch.
    2. Stateless, cheapest first: ``wrong_chain_id``, ``too_large``
       (encoding > ``max_tx_bytes``), ``self_transfer`` and ``overflow``
       (refused by the state with the same codes: such a tx could never
       execute and would block its sender's later nonces), ``fee_too_low``
       (fee < ``min_fee``).
    3. ``invalid_signature``: every survivor in ONE batch verification
       (skipped when the caller already checked, e.g. txs from a block).
    4. Nonce against the committed state, read once per sender per batch:
       ``nonce_too_low`` below the next nonce, ``nonce_too_far`` more than
       ``max_nonce_gap`` ahead of it.
    5. The survivors are scored in ONE ``policy.score`` call; the score is
       kept with the tx for its whole stay.
    6. Then, tx by tx in batch order (so a later tx of the batch sees the
       earlier ones): replacement (``queued_replacement_limit``,
       ``replacement_underpriced``), balance (``insufficient_funds``), the
       sender's caps (``sender_full``), the pool's caps (``mempool_full``).
       A tx accepted earlier in the batch and pushed out by a later one
       gets its result rewritten to ``evicted`` or ``replaced``:
       ``accepted`` always means "in the pool when admit() returned".

Balance (geth's overdraft rule)
    A sender's balance must cover the cost (amount + fee) of ALL its
    pooled txs, pending and queued, with the newcomer and without the tx
    it replaces. So every prefix of a sender's chain is affordable and any
    block that takes a prefix can execute it. After a block the highest
    nonces leave until the rest is affordable again.

Replacement
    A tx with the nonce of a pooled tx of the same sender replaces it only
    if its fee is strictly higher, and both its fee and its fee rate are at
    least the old one's times (1 + replace_bump_pct / 100) (the rate rule
    stops a bigger tx from buying its way in with a small fee bump).
    Replacing a pending tx costs the sender real fee (the last bid is
    paid when it commits, and bids grow 10% a step). Replacing a queued tx
    costs nothing, as it never commits while its gap is open, yet every
    accepted replacement is relayed to every peer: so each sender gets
    ``max_queued_replacements`` of them (default 4) between two moves of
    its committed nonce, then ``queued_replacement_limit`` (the check comes
    first, before the bump). geth's legacypool asks queued replacements
    for the same bump and no more; a bump alone does not bound them when
    balances are large (10^15 and 10% steps allow ~330 per nonce).

Caps and eviction
    Only a sender's tail (its highest nonce) is ever evicted, so no tx
    loses its predecessor. The newcomer is inserted first, then:
    over the sender's count or byte cap, the sender's own tail goes, unless
    that is the newcomer (``sender_full``); over the pool's count or byte
    cap, the lowest-ranked tail of all senders goes, unless that is the
    newcomer (``mempool_full``). A refusal undoes every eviction it made.
    Tails rank by (pending, score, admission order): a queued tail (not
    executable until its gap fills) always goes before a pending one, so a
    flood of nonce-gap txs cannot push out executable txs; then the lowest
    score; on equal scores the later admitted goes first, which is why a
    newcomer that only ties is refused.

What a sender can get for nothing, and its bounds
    A queued tx pays nothing while its gap is open, yet it is accepted and
    relayed. Per sender that is at most ``max_txs_per_sender`` (64) slots /
    ``max_bytes_per_sender`` within ``max_nonce_gap`` (64) of its committed
    nonce, plus ``max_queued_replacements`` (4) replacements until that
    nonce moves; every slot reserves balance (the overdraft rule). Pool-wide
    at most ``max_txs`` / ``max_bytes``, and a queued newcomer can only take
    the place of a lower-ranked queued tail, never of a pending tx, so
    churning a full pool means outranking its lowest queued tx each time.
    A pending tx's replacements are bounded by the bump alone: bids grow
    10% a step and the last one is paid.

After a block (``on_block``)
    Included txs leave; each sender of the block is re-read from
    ``accounts``: txs below its new next nonce leave (spent), then the
    unaffordable tail leaves, and the pending/queued split is recomputed
    (a queued tx whose gap was filled is promoted). Admission also re-reads
    each sender of the batch and applies the same re-check if the state
    moved, so a pool never trusts a stale account view for long.

Expiry and removal
    ``expire(now_s)`` removes txs admitted more than ``expiry_s`` ago;
    ``remove`` removes given ids. The sender's later txs stay, queued
    until the hole is filled again (or they expire themselves).
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from node.codec import U64_MAX
from node.mempool.config import AdmitResult, MempoolConfig, Refusal
from node.mempool.selection import checked_order, greedy, pending_columns
from node.mempool.sender import PoolEntry, SenderQueue
from node.scheduling.policy import BlockLimits, FeePolicy, Policy, TxColumns
from node.types import Transaction, VerifiedTxs

#: (balance, next_nonce) of an address in the committed state
AccountReader = Callable[[bytes], tuple[int, int]]

# An eviction-heap key: (1 if pending else 0, score, -seq, tx id); the
# lowest key is the first to go.
_TailKey = tuple[int, float, int, bytes]

# Stale heap items are skipped lazily; rebuild a heap once most of it is stale.
_HEAP_SLACK = 1024


class Mempool:
    """Transactions waiting for a block, per sender in nonce order.

    ``policy`` scores txs at admission (default: FeePolicy); ``select``
    and ``ordered`` walk the pending txs by that score.
    """

    def __init__(
        self,
        *,
        chain_id: str,
        accounts: AccountReader,
        policy: Policy | None = None,
        config: MempoolConfig = MempoolConfig(),  # noqa: B008 (frozen, so sharing is safe)
        verified: VerifiedTxs | None = None,
    ) -> None:
        """``verified``: the node's record of checked signatures, shared with
        its ledger (a tx admitted here is not checked again in its block)."""
        self._chain_id = chain_id
        self._accounts = accounts
        self._policy: Policy = policy if policy is not None else FeePolicy()
        self._policy_orders = type(self._policy).order is not Policy.order
        self._verified = verified if verified is not None else VerifiedTxs()
        self.config = config
        self._entries: dict[bytes, PoolEntry] = {}
        self._queues: dict[bytes, SenderQueue] = {}
        self._bytes = 0
        self._seq = 0
        self._tails: list[_TailKey] = []
        self._expiry: list[tuple[float, int, bytes]] = []
        # senders whose queue may have become empty since the last prune
        self._touched: set[bytes] = set()
        self._admitted = 0
        self._refused: Counter[str] = Counter()
        self._left: Counter[str] = Counter()
        # why recent txs left: id -> a _LEAVE_REASONS word, the newest kept
        self._departed: OrderedDict[bytes, str] = OrderedDict()

    # -- reading --------------------------------------------------------

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def chain_id(self) -> str:
        return self._chain_id

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._entries

    def __iter__(self) -> Iterator[Transaction]:
        """Every pooled tx, pending and queued, in no promised order (for
        gossip to a new peer, or a full listing)."""
        return (entry.tx for entry in list(self._entries.values()))

    def get(self, tx_id: bytes) -> Transaction | None:
        entry = self._entries.get(tx_id)
        return entry.tx if entry is not None else None

    def score_of(self, tx_id: bytes) -> float | None:
        """The priority the policy gave the tx at admission."""
        entry = self._entries.get(tx_id)
        return entry.score if entry is not None else None

    def is_pending(self, tx_id: bytes) -> bool:
        """True when the tx is pooled and executable now (no nonce gap)."""
        entry = self._entries.get(tx_id)
        return entry is not None and self._queues[entry.sender].is_pending(entry)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def pending_count(self) -> int:
        return sum(q.pending for q in self._queues.values())

    @property
    def queued_count(self) -> int:
        return len(self._entries) - self.pending_count

    @property
    def senders(self) -> int:
        """How many senders have txs in the pool."""
        return len(self._queues)

    def pending_fees(self) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        """The executable txs' ids, fees and sizes (float64, int64), in no
        promised order: what a fee estimator reads of the pool."""
        rows = [entry for q in self._queues.values() for entry in q.pending_entries()]
        fees = np.array([e.fee for e in rows], dtype=np.float64)
        sizes = np.array([e.size for e in rows], dtype=np.int64)
        return [e.id for e in rows], fees, sizes

    def pending_nonce(self, sender: bytes) -> int:
        """The nonce the sender's next tx should carry to be executable
        after its pending ones (the committed next nonce if none)."""
        q = self._queues.get(sender)
        if q is None:
            return self._accounts(sender)[1]
        return q.base + q.pending

    def stats(self) -> dict[str, Any]:
        """Counters since start: every submitted tx is counted once, as
        ``admitted`` or under its code in ``refused``; ``evicted``,
        ``replaced``, ``expired``, ``included``, ``dropped`` (invalid after a
        state change) and ``removed`` count txs that left the pool."""
        pending = self.pending_count
        return {
            "size": len(self._entries),
            "bytes": self._bytes,
            "pending": pending,
            "queued": len(self._entries) - pending,
            "senders": len(self._queues),
            "admitted": self._admitted,
            "refused": dict(self._refused),
            **{key: self._left[key] for key in _LEAVE_REASONS},
        }

    # -- admission ------------------------------------------------------

    def admit(
        self,
        txs: Sequence[Transaction],
        now_s: float,
        *,
        signatures_checked: bool = False,
        labels: Mapping[str, np.ndarray] | None = None,
    ) -> list[AdmitResult]:
        """Admit one batch; one result per tx, in batch order.

        ``labels`` (a labelled workload's hidden columns, rows aligned with
        ``txs``) are passed to the policy for the bench's oracle.
        """
        if labels is not None:
            for name, column in labels.items():
                if len(column) != len(txs):
                    raise ValueError(
                        f"label column {name!r} has {len(column)} rows, not {len(txs)}"
                    )
        results: list[AdmitResult | None] = [None] * len(txs)
        ids = [tx.id for tx in txs]
        sizes = [0] * len(txs)
        survivors = self._screen(txs, ids, sizes, results)
        if not signatures_checked and survivors:
            verdicts = self._verified.verify([txs[i] for i in survivors])
            for i, ok in zip(survivors, verdicts, strict=True):
                if not ok:
                    results[i] = self._refuse(
                        ids[i], Refusal.INVALID_SIGNATURE, "signature does not verify"
                    )
            survivors = [i for i, ok in zip(survivors, verdicts, strict=True) if ok]
        accounts = self._read_accounts({txs[i].sender for i in survivors})
        candidates: list[int] = []
        gaps: list[int] = []
        for i in survivors:
            tx = txs[i]
            next_nonce = accounts[tx.sender][1]
            gap = tx.nonce - next_nonce
            if gap < 0:
                results[i] = self._refuse(
                    ids[i], Refusal.NONCE_TOO_LOW, f"nonce {tx.nonce} < next nonce {next_nonce}"
                )
            elif gap > self.config.max_nonce_gap:
                results[i] = self._refuse(
                    ids[i],
                    Refusal.NONCE_TOO_FAR,
                    f"nonce {tx.nonce} is {gap} ahead of next nonce {next_nonce} "
                    f"(at most {self.config.max_nonce_gap})",
                )
            else:
                candidates.append(i)
                gaps.append(gap)
        if candidates:
            scores = self._score(txs, sizes, candidates, gaps, now_s, labels)
            self._insert_all(txs, ids, sizes, candidates, scores, accounts, now_s, results, labels)
        self._tidy()
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def readmit(self, txs: Sequence[Transaction], now_s: float) -> list[AdmitResult]:
        """Take back the txs of reverted blocks (a PoW reorg): their
        signatures were checked when their block was; the rest of
        admission applies as usual."""
        return self.admit(txs, now_s, signatures_checked=True)

    def _screen(
        self,
        txs: Sequence[Transaction],
        ids: list[bytes],
        sizes: list[int],
        results: list[AdmitResult | None],
    ) -> list[int]:
        """Steps 1-2: dedup and stateless checks; the indices that pass."""
        cfg = self.config
        seen: set[bytes] = set()
        survivors: list[int] = []
        for i, tx in enumerate(txs):
            tx_id = ids[i]
            if tx_id in self._entries or tx_id in seen:
                results[i] = self._refuse(tx_id, Refusal.DUPLICATE, "already known")
                continue
            seen.add(tx_id)
            size = sizes[i] = tx.size
            if tx.chain_id != self._chain_id:
                results[i] = self._refuse(
                    tx_id,
                    Refusal.WRONG_CHAIN_ID,
                    f"chain id {tx.chain_id!r}, not {self._chain_id!r}",
                )
            elif size > cfg.max_tx_bytes:
                results[i] = self._refuse(
                    tx_id, Refusal.TOO_LARGE, f"{size} bytes, at most {cfg.max_tx_bytes}"
                )
            elif tx.sender == tx.recipient:
                results[i] = self._refuse(
                    tx_id, Refusal.SELF_TRANSFER, "sender and recipient are the same"
                )
            elif tx.amount + tx.fee > U64_MAX:
                results[i] = self._refuse(tx_id, Refusal.OVERFLOW, "amount + fee exceeds 2^64 - 1")
            elif tx.fee < cfg.min_fee:
                results[i] = self._refuse(
                    tx_id, Refusal.FEE_TOO_LOW, f"fee {tx.fee} < minimum {cfg.min_fee}"
                )
            else:
                survivors.append(i)
        return survivors

    def _read_accounts(self, senders: Iterable[bytes]) -> dict[bytes, tuple[int, int]]:
        """Each sender's committed account, once per batch; a pooled sender
        whose account moved is re-checked against it first."""
        accounts: dict[bytes, tuple[int, int]] = {}
        for sender in senders:
            balance, next_nonce = accounts[sender] = self._accounts(sender)
            q = self._queues.get(sender)
            if q is not None and (q.balance != balance or q.base != next_nonce):
                self._resync(sender, q, balance, next_nonce)
        return accounts

    def _score(
        self,
        txs: Sequence[Transaction],
        sizes: list[int],
        rows: list[int],
        gaps: list[int],
        now_s: float,
        labels: Mapping[str, np.ndarray] | None,
    ) -> list[float]:
        """Step 5: one policy call for every candidate of the batch."""
        picked = [txs[i] for i in rows]
        index = np.array(rows, dtype=np.intp)
        columns = TxColumns(
            arrival_s=np.full(len(rows), now_s, dtype=np.float64),
            fee=np.array([tx.fee for tx in picked], dtype=np.float64),
            size=np.array([sizes[i] for i in rows], dtype=np.int64),
            nonce=np.array([tx.nonce for tx in picked], dtype=np.uint64),
            nonce_gap=np.array(gaps, dtype=np.int64),
            sender=[tx.sender for tx in picked],
            recipient=[tx.recipient for tx in picked],
            pool_size=len(self._entries),
            pool_bytes=self._bytes,
            labels=None if labels is None else {k: np.asarray(v)[index] for k, v in labels.items()},
        )
        scores = np.asarray(self._policy.score(columns), dtype=np.float64)
        if scores.shape != (len(rows),):
            raise ValueError(
                f"scheduling policy {self._policy.name!r}: score() returned shape "
                f"{scores.shape} for {len(rows)} txs"
            )
        if np.isnan(scores).any():
            raise ValueError(f"scheduling policy {self._policy.name!r}: score() returned NaN")
        return scores.tolist()

    def _insert_all(
        self,
        txs: Sequence[Transaction],
        ids: list[bytes],
        sizes: list[int],
        rows: list[int],
        scores: list[float],
        accounts: dict[bytes, tuple[int, int]],
        now_s: float,
        results: list[AdmitResult | None],
        labels: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Step 6, in batch order; rewrites the results of batch members
        that a later member pushed out. Each entry keeps its tx's labels."""
        accepted_at: dict[bytes, int] = {}
        columns = None if labels is None else {k: np.asarray(v).tolist() for k, v in labels.items()}
        for i, score in zip(rows, scores, strict=True):
            tx, tx_id = txs[i], ids[i]
            row_labels = None if columns is None else {k: v[i] for k, v in columns.items()}
            refusal, message, replaced, evicted = self._insert(
                tx, tx_id, sizes[i], score, accounts[tx.sender], now_s, row_labels
            )
            if refusal is not None:
                results[i] = self._refuse(tx_id, refusal, message)
                continue
            self._admitted += 1
            results[i] = AdmitResult(tx_id, True)
            accepted_at[tx_id] = i
            if replaced is not None:
                self._leave([replaced.id], "replaced")
                self._rewrite(results, accepted_at, replaced, Refusal.REPLACED, tx_id)
            self._leave([victim.id for victim in evicted], "evicted")
            for victim in evicted:
                self._rewrite(results, accepted_at, victim, Refusal.EVICTED, tx_id)

    def _rewrite(
        self,
        results: list[AdmitResult | None],
        accepted_at: dict[bytes, int],
        gone: PoolEntry,
        code: Refusal,
        by: bytes,
    ) -> None:
        at = accepted_at.pop(gone.id, None)
        if at is not None:
            self._admitted -= 1
            results[at] = self._refuse(gone.id, code, f"pushed out by {by.hex()} of the same batch")

    def _insert(
        self,
        tx: Transaction,
        tx_id: bytes,
        size: int,
        score: float,
        account: tuple[int, int],
        now_s: float,
        labels: Mapping[str, Any] | None = None,
    ) -> tuple[Refusal | None, str, PoolEntry | None, list[PoolEntry]]:
        """Replacement, balance and caps for one tx: (refusal, message,
        replaced entry, evicted entries)."""
        cfg = self.config
        q = self._queues.get(tx.sender)
        if q is None:
            q = self._queues[tx.sender] = SenderQueue(*account)
            self._touched.add(tx.sender)
        old = q.get(tx.nonce)
        old_queued = old is not None and not q.is_pending(old)
        if old is not None and old_queued and q.queued_replacements >= cfg.max_queued_replacements:
            return (
                Refusal.QUEUED_REPLACEMENT_LIMIT,
                f"{old.id.hex()} waits behind a nonce gap; the sender has replaced "
                f"{q.queued_replacements} queued txs (at most {cfg.max_queued_replacements}) "
                "since its nonce last moved: fill the gap or wait for a block",
                None,
                [],
            )
        if old is not None and not self._bumps(old, tx.fee, size):
            pct = cfg.replace_bump_pct
            return (
                Refusal.REPLACEMENT_UNDERPRICED,
                f"replacing {old.id.hex()} (fee {old.fee}, {old.size} bytes) needs a fee and "
                f"a fee rate {pct}% higher",
                None,
                [],
            )
        spend = q.cost - (old.cost if old is not None else 0) + tx.amount + tx.fee
        if spend > q.balance:
            return (
                Refusal.INSUFFICIENT_FUNDS,
                f"balance {q.balance} < {spend}, the cost of the sender's pooled txs with this one",
                None,
                [],
            )
        self._seq += 1
        entry = PoolEntry(tx, tx_id, size, score, self._seq, now_s, labels)
        undo: list[PoolEntry] = []
        if old is not None:
            self._unlink(old)
            undo.append(old)
        self._link(entry)
        while len(q) > cfg.max_txs_per_sender or q.bytes > cfg.max_bytes_per_sender:
            victim = q.tail()
            if victim is entry:
                self._undo(entry, undo)
                return (
                    Refusal.SENDER_FULL,
                    f"the sender holds {len(q)} txs / {q.bytes} bytes "
                    f"(caps {cfg.max_txs_per_sender} / {cfg.max_bytes_per_sender}) "
                    "with no higher nonce to give way",
                    None,
                    [],
                )
            self._unlink(victim)
            undo.append(victim)
        while len(self._entries) > cfg.max_txs or self._bytes > cfg.max_bytes:
            lowest = self._pop_lowest_tail()
            if lowest is None or lowest is entry:
                self._undo(entry, undo)
                return (
                    Refusal.MEMPOOL_FULL,
                    f"the pool is full ({cfg.max_txs} txs / {cfg.max_bytes} bytes) "
                    "and this tx ranks below every evictable one",
                    None,
                    [],
                )
            self._unlink(lowest)
            undo.append(lowest)
        heapq.heappush(self._expiry, (now_s, entry.seq, tx_id))
        if old is not None:
            q.queued_replacements += old_queued
            return None, "", old, undo[1:]
        return None, "", None, undo

    def _bumps(self, old: PoolEntry, fee: int, size: int) -> bool:
        """Whether a replacement with this fee and size outbids ``old``."""
        factor = 100 + self.config.replace_bump_pct
        return (
            fee > old.fee
            and fee * 100 >= old.fee * factor
            # fee / size >= old.fee / old.size * factor / 100, in integers
            and fee * old.size * 100 >= old.fee * size * factor
        )

    def _refuse(self, tx_id: bytes, code: Refusal, message: str) -> AdmitResult:
        self._refused[code] += 1
        return AdmitResult(tx_id, False, code, message)

    # -- block candidates ------------------------------------------------

    def select(self, limits: BlockLimits, now_s: float) -> list[Transaction]:
        """Block candidates in block order for a block at ``now_s``; the pool
        keeps them until ``on_block`` says they were committed."""
        return [e.tx for e in self._choose(limits, now_s)]

    def ordered(self, limit: int, now_s: float) -> list[tuple[Transaction, float]]:
        """The next ``limit`` txs in the order ``select`` would take them at
        ``now_s`` (no byte limit), with their scores: what /mempool shows."""
        limits = BlockLimits(max_txs=limit, max_bytes=max(self._bytes, 1))
        return [(e.tx, e.score) for e in self._choose(limits, now_s)]

    def _choose(self, limits: BlockLimits, now_s: float) -> list[PoolEntry]:
        if self._policy_orders:
            columns, scores, rows = pending_columns(
                self._queues.values(),
                len(self._entries),
                self._bytes,
                with_labels=self._policy.bench_only,  # only the oracles read labels
            )
            picks = self._policy.order(columns, scores, limits, now_s)
            if picks is not None:
                bases = {sender: q.base for sender, q in self._queues.items()}
                return checked_order(self._policy.name, list(picks), rows, bases, limits)
        return greedy(self._queues.values(), limits.max_txs, limits.max_bytes)

    # -- leaving ---------------------------------------------------------

    def on_block(self, txs: Sequence[Transaction], now_s: float) -> None:
        """After a committed block: its txs leave, and each of its senders
        is re-checked against the new committed state.

        ``now_s`` is the commit time; the pool does not expire on it (that
        is ``expire``'s job, on the caller's schedule)."""
        senders: set[bytes] = set()
        for tx in txs:
            senders.add(tx.sender)
            entry = self._entries.get(tx.id)
            if entry is not None:
                self._unlink(entry)
                self._leave([entry.id], "included")
        for sender in senders:
            q = self._queues.get(sender)
            if q is not None and q.nonces:
                balance, next_nonce = self._accounts(sender)
                self._resync(sender, q, balance, next_nonce)
        self._tidy()

    def expire(self, now_s: float) -> list[bytes]:
        """Remove the txs admitted more than ``expiry_s`` before ``now_s``;
        return their ids, oldest first."""
        expiry_s = self.config.expiry_s
        removed: list[bytes] = []
        heap = self._expiry
        while heap and now_s - heap[0][0] > expiry_s:
            _, seq, tx_id = heapq.heappop(heap)
            entry = self._entries.get(tx_id)
            if entry is not None and entry.seq == seq:
                self._unlink(entry)
                removed.append(tx_id)
        self._leave(removed, "expired")
        self._tidy()
        return removed

    def remove(self, tx_ids: Iterable[bytes]) -> list[bytes]:
        """Remove the given txs (unknown ids are ignored); return the ids
        that were pooled."""
        removed: list[bytes] = []
        for tx_id in tx_ids:
            entry = self._entries.get(tx_id)
            if entry is not None:
                self._unlink(entry)
                removed.append(tx_id)
        self._leave(removed, "removed")
        self._tidy()
        return removed

    def departure(self, tx_id: bytes) -> str | None:
        """Why a recently pooled tx left (``included``, ``evicted``,
        ``replaced``, ``expired``, ``dropped``, ``removed``); None if it did
        not, or too long ago (the newest ``MAX_DEPARTURES`` are kept)."""
        return self._departed.get(tx_id)

    def _leave(self, tx_ids: Sequence[bytes], reason: str) -> None:
        self._left[reason] += len(tx_ids)
        departed = self._departed
        for tx_id in tx_ids:
            departed[tx_id] = reason
            departed.move_to_end(tx_id)
        while len(departed) > MAX_DEPARTURES:
            departed.popitem(last=False)

    def _resync(self, sender: bytes, q: SenderQueue, balance: int, next_nonce: int) -> None:
        for entry in q.rebase(balance, next_nonce):
            del self._entries[entry.id]
            self._bytes -= entry.size
            self._leave([entry.id], "dropped")
        self._touch_tail(q)
        self._touched.add(sender)

    # -- structure -------------------------------------------------------

    def _link(self, entry: PoolEntry) -> None:
        q = self._queues[entry.sender]
        q.insert(entry)
        self._entries[entry.id] = entry
        self._bytes += entry.size
        self._touch_tail(q)

    def _unlink(self, entry: PoolEntry) -> None:
        q = self._queues[entry.sender]
        q.remove(entry)
        del self._entries[entry.id]
        self._bytes -= entry.size
        self._touch_tail(q)
        self._touched.add(entry.sender)

    def _undo(self, entry: PoolEntry, undo: list[PoolEntry]) -> None:
        """Take a refused newcomer out and put back what it pushed out."""
        self._unlink(entry)
        for gone in reversed(undo):
            self._link(gone)

    def _touch_tail(self, q: SenderQueue) -> None:
        """Make sure the eviction heap knows the sender's current tail."""
        if not q.nonces:
            q.pushed_tail = None
            return
        tail = q.tail()
        key = (1 if q.is_pending(tail) else 0, tail.score, -tail.seq, tail.id)
        if key != q.pushed_tail:
            heapq.heappush(self._tails, key)
            q.pushed_tail = key

    def _pop_lowest_tail(self) -> PoolEntry | None:
        heap = self._tails
        while heap:
            pending, _, neg_seq, tx_id = heapq.heappop(heap)
            entry = self._entries.get(tx_id)
            if entry is None or entry.seq != -neg_seq:
                continue
            q = self._queues[entry.sender]
            if q.tail() is not entry or q.is_pending(entry) != bool(pending):
                continue
            # its key left the heap: the next _touch_tail must push it again
            q.pushed_tail = None
            return entry
        return None

    def _tidy(self) -> None:
        """End of every public change: drop empty senders, compact heaps."""
        for sender in self._touched:
            q = self._queues.get(sender)
            if q is not None and not q.nonces:
                del self._queues[sender]
        self._touched.clear()
        if len(self._tails) > 2 * len(self._queues) + _HEAP_SLACK:
            self._tails = []
            for q in self._queues.values():
                q.pushed_tail = None
                self._touch_tail(q)
        if len(self._expiry) > 2 * len(self._entries) + _HEAP_SLACK:
            self._expiry = [(e.arrival_s, e.seq, e.id) for e in self._entries.values()]
            heapq.heapify(self._expiry)


#: departures the pool remembers the reason of (``departure``)
MAX_DEPARTURES = 65_536
_LEAVE_REASONS = ("evicted", "replaced", "expired", "included", "dropped", "removed")

"""The mempool as a state machine: random batches (some with forged
signatures), blocks built from its own candidates and applied to a model
of the committed state, conflicting blocks from elsewhere, replacements,
removals and expiry, with small caps so that eviction happens often, and
a small budget of queued replacements so that it runs out often.

After every step: the caps hold, no two txs share a (sender, nonce), each
sender's pending txs run contiguously from its committed next nonce and its
queued ones do not, every sender can afford all its pooled txs, no sender
replaced more queued txs than its budget since its nonce last moved, and
every submitted tx was counted once."""

from __future__ import annotations

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from mempool_support import WALLETS, Accounts, make_pool, transfer

from node.mempool import AdmitResult, Mempool, MempoolConfig, Refusal
from node.scheduling.policy import BlockLimits, FeePolicy, FifoPolicy
from node.types import Transaction

SENDERS = WALLETS[:4]
ONE_TX = transfer(SENDERS[0], 0).size

# (sender index, nonce offset from the committed next nonce, fee, data bytes, amount)
TX_SPECS = st.lists(
    st.tuples(
        st.integers(0, len(SENDERS) - 1),
        st.integers(-1, 7),
        st.integers(0, 60),
        st.sampled_from([0, 0, 0, 40, 300]),
        st.integers(0, 50),
    ),
    min_size=1,
    max_size=8,
)


class MempoolMachine(RuleBasedStateMachine):
    pool: Mempool
    config: MempoolConfig

    def __init__(self) -> None:
        super().__init__()
        self.accounts = Accounts()
        self.now_s = 0.0
        self.submitted = 0
        # every tx ever pooled, and when it last entered
        self.arrival_s: dict[bytes, float] = {}
        # per sender: queued replacements the replace rule saw accepted since
        # the sender's nonce moved or its queue emptied (a lower bound of the
        # pool's own count, which batches can raise too)
        self.queued_replaced: dict[bytes, int] = {}
        self.nonce_seen: dict[bytes, int] = {}

    @initialize(
        fifo=st.booleans(),
        balances=st.lists(st.integers(0, 3000), min_size=len(SENDERS), max_size=len(SENDERS)),
        max_txs=st.integers(3, 14),
        max_bytes_in_txs=st.integers(3, 14),
    )
    def start(self, fifo: bool, balances: list[int], max_txs: int, max_bytes_in_txs: int) -> None:
        for wallet, balance in zip(SENDERS, balances, strict=True):
            self.accounts.set(wallet, balance=balance, nonce=0)
        self.pool = make_pool(
            self.accounts,
            policy=FifoPolicy() if fifo else FeePolicy(),
            max_txs=max_txs,
            max_bytes=max_bytes_in_txs * ONE_TX,
            max_txs_per_sender=5,
            max_bytes_per_sender=5 * ONE_TX + 100,
            max_nonce_gap=6,
            expiry_s=50.0,
            max_queued_replacements=2,
        )
        self.config = self.pool.config

    # -- helpers -----------------------------------------------------------

    def build(self, specs: list[tuple[int, int, int, int, int]]) -> list[Transaction]:
        txs = []
        for who, offset, fee, data, amount in specs:
            wallet = SENDERS[who]
            nonce = max(0, self.accounts.table[wallet.address][1] + offset)
            txs.append(transfer(wallet, nonce, fee, amount=amount, data=bytes(data)))
        return txs

    def pooled(self) -> list[Transaction]:
        return list(self.pool)

    def submit(self, txs: list[Transaction], *, signatures_checked: bool) -> list[AdmitResult]:
        before = {tx.id for tx in self.pooled()}
        pending_before = [tx_id for tx_id in before if self.pool.is_pending(tx_id)]
        left_before = self.left()
        results = self.pool.admit(txs, self.now_s, signatures_checked=signatures_checked)
        self.submitted += len(txs)
        assert [r.tx_id for r in results] == [tx.id for tx in txs]
        rewritten = 0
        for tx, result in zip(txs, results, strict=True):
            event(f"admit: {result.code or 'accepted'}")
            if result.accepted:
                assert tx.id in self.pool and result.code is None
                self.arrival_s[tx.id] = self.now_s
            elif result.code == Refusal.DUPLICATE:
                assert tx.id in before or txs.count(tx) > 1
            else:
                assert tx.id not in self.pool, result
                rewritten += result.code in (Refusal.EVICTED, Refusal.REPLACED)
        # eviction takes tails only: a batch may promote txs, never strand one
        assert all(self.pool.is_pending(i) for i in pending_before if i in self.pool)
        # whatever left during the batch was counted as evicted, replaced or dropped
        gone = before - {tx.id for tx in self.pooled()}
        assert self.left() - left_before == len(gone) + rewritten
        return results

    def left(self) -> int:
        stats = self.pool.stats()
        return stats["evicted"] + stats["replaced"] + stats["dropped"]

    # -- rules -------------------------------------------------------------

    @rule(specs=TX_SPECS)
    def admit_batch(self, specs: list[tuple[int, int, int, int, int]]) -> None:
        self.submit(self.build(specs), signatures_checked=True)

    @rule(specs=TX_SPECS, forge=st.lists(st.booleans(), min_size=8, max_size=8))
    def admit_batch_with_bad_signatures(
        self, specs: list[tuple[int, int, int, int, int]], forge: list[bool]
    ) -> None:
        txs = self.build(specs)
        forged = set()
        for i, tx in enumerate(txs):
            if forge[i]:
                sig = bytearray(tx.signature)
                sig[i] ^= 0x40
                txs[i] = tx.replace(signature=bytes(sig))
                forged.add(txs[i].id)
        results = self.submit(txs, signatures_checked=False)
        for result in results:
            if result.tx_id in forged:
                assert result.code in (Refusal.INVALID_SIGNATURE, Refusal.DUPLICATE), result

    @rule(who=st.integers(0, len(SENDERS) - 1), fee=st.integers(0, 60))
    def admit_one_when_full(self, who: int, fee: int) -> None:
        tx = self.build([(who, 0, fee, 0, 0)])[0]
        count, size = len(self.pool), self.pool.size_bytes
        [result] = self.submit([tx], signatures_checked=True)
        if result.code == Refusal.MEMPOOL_FULL:
            assert count + 1 > self.config.max_txs or size + tx.size > self.config.max_bytes

    @precondition(lambda self: len(self.pool) > 0)
    @rule(data=st.data(), bump_pct=st.integers(0, 30), extra=st.sampled_from([0, 0, 40]))
    def replace(self, data: st.DataObject, bump_pct: int, extra: int) -> None:
        old = data.draw(st.sampled_from(sorted(self.pooled(), key=lambda tx: tx.id)))
        wallet = next(w for w in SENDERS if w.address == old.sender)
        fee = old.fee * (100 + bump_pct) // 100 + (1 if bump_pct >= 10 else 0)
        new = transfer(wallet, old.nonce, fee, amount=old.amount, data=old.data + bytes(extra))
        queued = not self.pool.is_pending(old.id)
        spent = self.queued_replaced.get(old.sender, 0) >= self.config.max_queued_replacements
        [result] = self.submit([new], signatures_checked=True)
        if result.accepted:
            assert old.id not in self.pool
            if queued:
                self.queued_replaced[old.sender] = self.queued_replaced.get(old.sender, 0) + 1
        outbids = (
            fee > old.fee
            and fee * 100 >= old.fee * 110
            and fee * old.size * 100 >= old.fee * new.size * 110
        )
        if new.id == old.id:
            assert result.code == Refusal.DUPLICATE
        elif queued and spent:
            # a queued tx pays nothing: its sender's replacements are budgeted
            assert result.code == Refusal.QUEUED_REPLACEMENT_LIMIT, result
        elif result.code != Refusal.QUEUED_REPLACEMENT_LIMIT:
            assert (result.code == Refusal.REPLACEMENT_UNDERPRICED) == (not outbids), result
        else:
            assert queued, "a pending tx's replacement is never budgeted"

    @rule(max_txs=st.integers(0, 10), max_bytes_in_txs=st.integers(0, 10))
    def commit_block(self, max_txs: int, max_bytes_in_txs: int) -> None:
        limits = BlockLimits(max_txs=max_txs, max_bytes=max_bytes_in_txs * ONE_TX + 50)
        block = self.pool.select(limits, 0.0)
        assert len(block) <= limits.max_txs
        assert sum(tx.size for tx in block) <= limits.max_bytes
        assert all(self.pool.is_pending(tx.id) for tx in block)
        self.accounts.apply(block)  # asserts nonce order and affordability
        event(f"block of {min(len(block), 3)}+ txs")
        self.now_s += 1.0
        self.pool.on_block(block, self.now_s)
        assert not any(tx.id in self.pool for tx in block)

    @rule(who=st.integers(0, len(SENDERS) - 1), share=st.integers(0, 100))
    def block_from_elsewhere(self, who: int, share: int) -> None:
        """Another node's block spends the sender's next nonce."""
        wallet = SENDERS[who]
        balance, nonce = self.accounts.table[wallet.address]
        theirs = transfer(wallet, nonce, 0, amount=balance * share // 100)
        self.accounts.apply([theirs])
        self.pool.on_block([theirs], self.now_s)

    @precondition(lambda self: len(self.pool) > 0)
    @rule(data=st.data())
    def remove_some(self, data: st.DataObject) -> None:
        pooled = sorted(tx.id for tx in self.pooled())
        chosen = data.draw(st.lists(st.sampled_from(pooled), max_size=3, unique=True))
        assert self.pool.remove(chosen) == chosen
        assert not any(tx_id in self.pool for tx_id in chosen)

    @rule(dt=st.floats(0.0, 40.0))
    def expire(self, dt: float) -> None:
        self.now_s += dt
        removed = self.pool.expire(self.now_s)
        for tx_id in removed:
            assert self.now_s - self.arrival_s[tx_id] > self.config.expiry_s
        for tx in self.pooled():
            assert self.now_s - self.arrival_s[tx.id] <= self.config.expiry_s

    # -- invariants --------------------------------------------------------

    @invariant()
    def queued_replacements_stay_within_the_budget(self) -> None:
        pooled = {tx.sender for tx in self.pooled()}
        for wallet in SENDERS:
            sender = wallet.address
            nonce = self.accounts.table[sender][1]
            if sender not in pooled or self.nonce_seen.get(sender) != nonce:
                self.queued_replaced.pop(sender, None)  # the budget comes back
            self.nonce_seen[sender] = nonce
            assert self.queued_replaced.get(sender, 0) <= self.config.max_queued_replacements

    @invariant()
    def caps_hold(self) -> None:
        cfg = self.config
        pooled = self.pooled()
        assert len(pooled) == len(self.pool) <= cfg.max_txs
        assert sum(tx.size for tx in pooled) == self.pool.size_bytes <= cfg.max_bytes
        for wallet in SENDERS:
            mine = [tx for tx in pooled if tx.sender == wallet.address]
            assert len(mine) <= cfg.max_txs_per_sender
            assert sum(tx.size for tx in mine) <= cfg.max_bytes_per_sender

    @invariant()
    def chains_are_sound(self) -> None:
        pooled = self.pooled()
        assert len({(tx.sender, tx.nonce) for tx in pooled}) == len(pooled)
        senders = 0
        for wallet in SENDERS:
            balance, next_nonce = self.accounts.table[wallet.address]
            mine = sorted(
                (tx for tx in pooled if tx.sender == wallet.address), key=lambda t: t.nonce
            )
            senders += bool(mine)
            pending = [tx.nonce for tx in mine if self.pool.is_pending(tx.id)]
            queued = [tx.nonce for tx in mine if not self.pool.is_pending(tx.id)]
            assert pending == list(range(next_nonce, next_nonce + len(pending)))
            assert all(n > next_nonce + len(pending) for n in queued)
            assert sum(tx.amount + tx.fee for tx in mine) <= balance
            assert self.pool.pending_nonce(wallet.address) == next_nonce + len(pending)
        assert senders == self.pool.senders
        assert self.pool.pending_count + self.pool.queued_count == len(pooled)

    @invariant()
    def candidates_respect_nonce_order(self) -> None:
        seen: dict[bytes, int] = {}
        for tx, _ in self.pool.ordered(len(self.pool), 0.0):
            expected = seen.get(tx.sender, self.accounts.table[tx.sender][1])
            assert tx.nonce == expected
            seen[tx.sender] = expected + 1
        assert sum(seen.values()) - sum(self.accounts.table[s][1] for s in seen) == (
            self.pool.pending_count
        )

    @invariant()
    def every_submission_is_counted_once(self) -> None:
        stats = self.pool.stats()
        assert stats["admitted"] + sum(stats["refused"].values()) == self.submitted


TestMempoolMachine = MempoolMachine.TestCase
TestMempoolMachine.settings = settings(
    max_examples=250,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

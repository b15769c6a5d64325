"""The chain as the node and the simulator use it: genesis + store + state.

``Ledger`` owns the rules that relate a block to its parent (height,
previous hash, the timestamp rule of node/header_rules.py, size limits, body hashes, transaction
signatures, the state transition and the state root) and keeps the
in-memory ``State`` equal to the store's accounts after the head.
Consensus proofs (block signature, BFT certificate, PoW) are the
engines' business, checked before ``commit_block`` is called.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from node import header_rules
from node.errors import ConfigError, InvalidBlock, InvalidTransaction, StoreError
from node.genesis import Genesis
from node.state import Account, State, StateDiff
from node.store import Store
from node.types import (
    ZERO_HASH,
    Block,
    BlockHeader,
    Commit,
    Transaction,
    VerifiedTxs,
    tx_root,
)

GENESIS_HASH_KEY = "genesis_hash"
# PoW: how many blocks below the head a reorg may reach (its undo history
# is kept that deep; a deeper reorg is refused). BFT and PoA keep none:
# their committed blocks are final.
DEFAULT_POW_REORG_DEPTH = 100


def undo_depth_for(genesis: Genesis, pow_reorg_depth: int = DEFAULT_POW_REORG_DEPTH) -> int:
    """How many blocks ``revert_to`` must be able to undo on ``genesis``'s chain."""
    return pow_reorg_depth if genesis.consensus == "pow" else 0


class Ledger:
    """A chain on disk (or in memory) and the state after its head."""

    def __init__(self, genesis: Genesis, store: Store, state: State, head: BlockHeader) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.store = store
        self.state = state
        self._head = head
        #: signatures already checked (by this node's pool, say): not again
        self.verified = VerifiedTxs()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        genesis: Genesis,
        *,
        pow_reorg_depth: int = DEFAULT_POW_REORG_DEPTH,
    ) -> Ledger:
        """Open the store at ``path`` (":memory:" works), creating the chain if empty.

        An existing store must have been created from the same genesis
        (ConfigError otherwise); the state is loaded from it and checked
        against the head's state root. The store keeps undo history as deep
        as ``undo_depth_for(genesis, pow_reorg_depth)``.
        """
        store = Store.open(path, undo_depth=undo_depth_for(genesis, pow_reorg_depth))
        try:
            return cls._resume(store, genesis)
        except BaseException:
            store.close()
            raise

    @classmethod
    def _resume(cls, store: Store, genesis: Genesis) -> Ledger:
        stored_hash = store.load_meta(GENESIS_HASH_KEY)
        if stored_hash is None:
            if store.head() is not None:
                raise StoreError(f"{store.path}: holds blocks but no genesis hash")
            # The hash goes in first: a crash before the genesis block is
            # written leaves a store that the next open completes.
            store.save_meta(GENESIS_HASH_KEY, genesis.hash)
        elif stored_hash != genesis.hash:
            raise ConfigError(
                f"{store.path}: the store was created from genesis {stored_hash.hex()}, "
                f"not from the given genesis {genesis.hash.hex()}",
                code="genesis_mismatch",
            )
        head = store.head()
        if head is None:
            block = genesis.block()
            state = genesis.state()
            store.save_block(block, StateDiff(dict(state.accounts)))
            return cls(genesis, store, state, block.header)
        state = State(genesis.chain_id, store.load_accounts())
        if state.root() != head.state_root:
            raise StoreError(
                f"{store.path}: stored accounts do not match the state root of head {head.height}",
                code="store_corrupt",
            )
        return cls(genesis, store, state, head)

    # -- the head ---------------------------------------------------------

    @property
    def height(self) -> int:
        return self._head.height

    @property
    def head(self) -> BlockHeader:
        return self._head

    def _param(self, name: str) -> int:
        value = self.genesis.params[name]
        assert isinstance(value, int)
        return value

    @property
    def max_block_txs(self) -> int:
        return self._param("max_block_txs")

    @property
    def max_block_bytes(self) -> int:
        return self._param("max_block_bytes")

    # -- building ---------------------------------------------------------

    def build_block(
        self,
        candidates: Iterable[Transaction],
        *,
        proposer: bytes,
        timestamp_ms: int,
        max_txs: int | None = None,
        max_bytes: int | None = None,
        policy: str = "",
        model_hash: bytes = ZERO_HASH,
        last_commit: Commit | None = None,
        pow_target: bytes = ZERO_HASH,
        check_signatures: bool = False,
    ) -> tuple[Block, list[tuple[Transaction, InvalidTransaction]]]:
        """An UNSIGNED block on top of the head, and the candidates refused.

        Candidates are taken in order (``State.select``); the limits default
        to the genesis parameters and cannot exceed them. A timestamp not after
        the parent's is raised to the earliest one allowed (header_rules). Signatures are assumed
        checked (the mempool does at admission) unless ``check_signatures``,
        which refuses badly signed candidates with ``invalid_signature``.
        The caller signs (``Block.signed``) or mines the result.
        """
        limit_txs = min(max_txs if max_txs is not None else self.max_block_txs, self.max_block_txs)
        limit_bytes = min(
            max_bytes if max_bytes is not None else self.max_block_bytes, self.max_block_bytes
        )
        refused: list[tuple[Transaction, InvalidTransaction]] = []
        if check_signatures:
            candidates = list(candidates)
            good = []
            for tx, ok in zip(candidates, self.verified.verify(candidates), strict=True):
                if ok:
                    good.append(tx)
                else:
                    refused.append(
                        (tx, InvalidTransaction("bad signature", code="invalid_signature"))
                    )
            candidates = good
        chosen, rejected, diff = self.state.select(
            candidates, proposer, max_txs=limit_txs, max_bytes=limit_bytes
        )
        refused.extend(rejected)
        commit = last_commit if last_commit is not None else Commit.empty()
        header = BlockHeader(
            chain_id=self.chain_id,
            height=self._head.height + 1,
            timestamp_ms=header_rules.next_timestamp_ms(timestamp_ms, self._head.timestamp_ms),
            prev_hash=self._head.hash,
            proposer=proposer,
            tx_root=tx_root(chosen),
            state_root=self.state.root(diff),
            last_commit_hash=ZERO_HASH if commit.is_empty else commit.hash,
            tx_count=len(chosen),
            policy=policy,
            model_hash=model_hash,
            pow_target=pow_target,
        )
        return Block(header=header, txs=chosen, last_commit=commit), refused

    # -- validating and committing -----------------------------------------

    def validate_block(self, block: Block) -> StateDiff:
        """The state diff of ``block`` if it validly extends the head, else InvalidBlock.

        Checks everything but consensus proofs, cheapest first. Pure.
        """
        header = block.header
        parent = self._head
        if header.chain_id != self.chain_id:
            raise InvalidBlock(
                f"block for chain {header.chain_id!r}, not {self.chain_id!r}",
                code="wrong_chain_id",
            )
        if header.height != parent.height + 1:
            raise InvalidBlock(
                f"height {header.height} does not follow head {parent.height}",
                code="wrong_height",
            )
        if header.prev_hash != parent.hash:
            raise InvalidBlock(
                f"prev_hash {header.prev_hash.hex()[:16]} is not head {parent.hash.hex()[:16]}",
                code="wrong_prev_hash",
            )
        header_rules.check_follows_parent(header.timestamp_ms, parent.timestamp_ms)
        if header.tx_count > self.max_block_txs:
            raise InvalidBlock(
                f"{header.tx_count} txs exceed the limit of {self.max_block_txs}",
                code="too_many_txs",
            )
        tx_bytes = sum(tx.size for tx in block.txs)
        if tx_bytes > self.max_block_bytes:
            raise InvalidBlock(
                f"{tx_bytes} bytes of txs exceed the limit of {self.max_block_bytes}",
                code="too_large",
            )
        mismatch = block.check_body()
        if mismatch is not None:
            code = "bad_tx_root" if mismatch.startswith("tx_root") else "bad_last_commit_hash"
            raise InvalidBlock(mismatch, code=code)
        diff = self.state.execute(block.txs, header.proposer)
        if self.state.root(diff) != header.state_root:
            raise InvalidBlock("state_root does not match the transactions", code="bad_state_root")
        for index, ok in enumerate(self.verified.verify(block.txs)):
            if not ok:
                tx = block.txs[index]
                raise InvalidBlock(
                    f"tx {index} ({tx.id.hex()}): bad signature", code="invalid_signature"
                )
        return diff

    def commit_block(
        self, block: Block, diff: StateDiff | None = None, commit: Commit | None = None
    ) -> None:
        """Make ``block`` the new head. ``diff`` comes from ``validate_block``
        on the current head; without it the block is validated here."""
        if diff is None:
            diff = self.validate_block(block)
        elif block.header.prev_hash != self._head.hash:
            raise InvalidBlock("the block does not extend the head", code="wrong_prev_hash")
        self.store.save_block(block, diff, commit)
        self.state.apply(diff)
        self._head = block.header

    def save_commit(self, height: int, commit: Commit) -> None:
        """Attach the certificate of an already stored block."""
        self.store.save_commit(height, commit)

    @property
    def revert_floor(self) -> int:
        """The lowest height ``revert_to`` can reach (StoreError ``reorg_too_deep`` below)."""
        return self.store.revert_floor()

    def revert_to(self, height: int) -> list[Block]:
        """Drop every block above ``height``; return them newest first."""
        reverted = self.store.revert_to(height)
        head = self.store.head()
        assert head is not None
        self.state = State(self.chain_id, self.store.load_accounts())
        self._head = head
        assert self.state.root() == head.state_root, "undo history disagrees with the state root"
        return reverted

    # -- read-throughs -----------------------------------------------------

    def block(self, height: int) -> Block | None:
        return self.store.load_block(height)

    def block_by_hash(self, block_hash: bytes) -> Block | None:
        return self.store.load_block_by_hash(block_hash)

    def header(self, height: int) -> BlockHeader | None:
        return self.store.load_header(height)

    def commit(self, height: int) -> Commit | None:
        return self.store.load_commit(height)

    def tx(self, tx_id: bytes) -> tuple[Transaction, int, int] | None:
        """(tx, height, index) of a committed transaction."""
        return self.store.load_tx(tx_id)

    def account(self, address: bytes) -> Account:
        return self.state.account(address)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.chain_id!r}, height={self.height})"

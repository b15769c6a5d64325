"""Proof of work: Nakamoto consensus with retargeting and heaviest-chain fork choice.

Rules of a block at height h (``PowRules``, written once, used by the
engine and by the simulator's auditor):

- its hash, as a big-endian integer, is <= its header's ``pow_target``;
- its ``pow_target`` is the one its ancestry dictates: the genesis
  ``pow_initial_target`` at height 1, the parent's otherwise, except every
  ``pow_retarget_window`` (W) blocks, where the parent's target is scaled
  by (time the last W blocks took) / (time they should have taken at
  ``block_interval_ms``), the factor clamped to [1/F, F]
  (``pow_max_retarget_factor``) and the target never easier than the
  initial one;
- its timestamp is strictly after its parent's (node/header_rules.py rule
  1), and, checked by the engine against its clock when the block arrives,
  at most ``MAX_AHEAD_MS`` ahead of it (rule 2; an early block is not
  invalid, just not taken yet: a peer offers it again).

Fork choice: the chain with the most cumulative work (sum over blocks of
2^256 / (target + 1)); on a tie the chain seen first stays. When another
chain becomes heavier, the engine reverts the ledger to the fork point
(``Application.revert_to``) and applies the new branch block by block,
each validated by the ledger; a block the ledger refuses is marked invalid
with all its descendants and the heaviest valid chain is chosen again.
Reverted transactions go back to the mempool (``Readmit``). A block is
as safe as the work piled on it, up to a depth: the ledger keeps undo
history only ``pow_reorg_depth`` blocks deep (``Application.revert_floor``),
so a branch that forks below that floor is refused (its blocks are marked
invalid and the peer that sent them is told off), and side-branch blocks at
or below the floor are dropped from the block tree: they can never be
applied.

Mining: after every change of head the engine asks for a block template
(``RequestProposal``) and then for a nonce search (``Mine``); the node runs
``node.crypto.pow_search`` in batches and stops between two when the engine
says ``StopMining`` (a competing block arrived).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from node import header_rules
from node.consensus.engine import MAX_LOCATOR, Engine
from node.consensus.events import (
    Action,
    Broadcast,
    Committed,
    FetchBlocks,
    Mine,
    PeerId,
    PeerMisbehaved,
    Readmit,
    RequestProposal,
    Reverted,
    SetTimer,
    StopMining,
    TimerKey,
)
from node.consensus.messages import BlockMsg, StatusMsg
from node.errors import InvalidBlock
from node.types import Block, BlockHeader, Commit

if TYPE_CHECKING:
    pass

# Bitcoin allows two hours; a testnet chain with second-long blocks wants less
MAX_AHEAD_MS = 15_000
MAX_ORPHANS = 1_024  # missing parents waited for
MAX_ORPHANS_PER_PARENT = 8
_TWO_256 = 1 << 256


def work_of(target: bytes) -> int:
    return _TWO_256 // (int.from_bytes(target, "big") + 1)


class PowRules:
    """The header rules of PoW blocks, from the genesis parameters."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.initial_target = int.from_bytes(params["pow_initial_target"], "big")
        self.window = int(params["pow_retarget_window"])
        self.factor = int(params["pow_max_retarget_factor"])
        self.interval_ms = int(params["block_interval_ms"])

    def expected_target(self, height: int, ancestors: Sequence[BlockHeader]) -> bytes:
        """The target of a block at ``height``; ``ancestors[k]`` is its ancestor at height k."""
        if height <= 1:
            return self.initial_target.to_bytes(32, "big")
        parent = ancestors[height - 1]
        target = int.from_bytes(parent.pow_target, "big")
        w = self.window
        if height % w == 0 and height > w:
            expected = (w - 1) * self.interval_ms
            took = parent.timestamp_ms - ancestors[height - w].timestamp_ms
            took = min(max(took, expected // self.factor), expected * self.factor)
            target = min(max(target * took // expected, 1), self.initial_target)
        return target.to_bytes(32, "big")

    def check_header(self, header: BlockHeader, ancestors: Sequence[BlockHeader]) -> str | None:
        """None if ``header`` follows the PoW rules on top of ``ancestors``."""
        height = header.height
        parent = ancestors[height - 1]
        if header.prev_hash != parent.hash:
            return "block does not extend its parent"
        try:
            header_rules.check_follows_parent(header.timestamp_ms, parent.timestamp_ms)
        except InvalidBlock as exc:
            return header_rules.violation(exc)
        if header.pow_target != self.expected_target(height, ancestors):
            return "block carries the wrong target"
        if int.from_bytes(header.hash, "big") > int.from_bytes(header.pow_target, "big"):
            return "block hash does not meet its target"
        return None


class _Known:
    """A block header in the block tree, with the cumulative work up to it."""

    __slots__ = ("block", "header", "invalid", "parent", "seq", "work")
    header: BlockHeader
    block: Block | None
    parent: _Known | None
    work: int
    invalid: bool
    seq: int

    def __init__(
        self, header: BlockHeader, block: Block | None, parent: _Known | None, seq: int
    ) -> None:
        self.header = header
        self.block = block
        self.parent = parent
        self.work = (parent.work if parent else 0) + (work_of(header.pow_target) if parent else 0)
        self.invalid = False
        self.seq = seq


class _Branch(Sequence[BlockHeader]):
    """Ancestors of a tree node, indexed by height (walks back on demand)."""

    def __init__(self, tip: _Known) -> None:
        self.tip = tip

    def __getitem__(self, height: int) -> BlockHeader:  # type: ignore[override]
        node: _Known | None = self.tip
        while node is not None and node.header.height > height:
            node = node.parent
        if node is None or node.header.height != height:
            raise IndexError(height)
        return node.header

    def __len__(self) -> int:
        return self.tip.header.height + 1


class PowEngine(Engine):
    """A PoW full node; with a ``seed`` it also mines (fees go to that key)."""

    name = "pow"
    max_ahead_ms = MAX_AHEAD_MS

    def __init__(self, **options: Any) -> None:
        """Options: see ``Engine.__init__`` (app, validators, params, seed, ...)."""
        super().__init__(**options)
        app, params = self.app, self.params
        self.rules = PowRules(params)
        self._seq = 0
        self.tree: dict[bytes, _Known] = {}
        self.chain: list[bytes] = []  # main-chain hashes by height, = the ledger's
        self.orphans: dict[bytes, list[Block]] = {}
        self.invalid: set[bytes] = set()
        self.job = 0
        self.mining: tuple[int, Block] | None = None
        self.pending_request: RequestProposal | None = None
        self.reorgs = 0
        # side-branch entries by height, above the floor (see _prune)
        self._by_height: dict[int, list[bytes]] = {}
        self._pruned_to = app.revert_floor
        parent: _Known | None = None
        for height in range(app.height + 1):
            block = app.block(height)
            assert block is not None, f"ledger lacks block {height}"
            parent = self._add(block.header, None, parent)
            self.chain.append(block.hash)
        assert parent is not None
        self.best = parent

    def _add(self, header: BlockHeader, block: Block | None, parent: _Known | None) -> _Known:
        self._seq += 1
        known = _Known(header, block, parent, self._seq)
        self.tree[header.hash] = known
        if header.height > self._pruned_to:
            self._by_height.setdefault(header.height, []).append(header.hash)
        return known

    def _prune(self) -> None:
        """Drop side-branch blocks at or below the revert floor (and orphans
        waiting there): no reorg can reach them any more."""
        floor = self.app.revert_floor
        if floor <= self._pruned_to:
            return
        for height in range(self._pruned_to + 1, floor + 1):
            for block_hash in self._by_height.pop(height, ()):
                known = self.tree.get(block_hash)
                if known is not None and not self._on_chain(known):
                    del self.tree[block_hash]
        self._pruned_to = floor
        for parent_hash in [
            h
            for h, waiting in self.orphans.items()
            if waiting[0].height <= floor + 1  # parent unknown: forks lower
        ]:
            del self.orphans[parent_hash]

    @property
    def head(self) -> _Known:
        return self.tree[self.chain[-1]]

    # -- events ----------------------------------------------------------------------

    def start(self, now_ms: int) -> list[Action]:
        out: list[Action] = [SetTimer(("gossip", 0, 0), now_ms + self.gossip_interval_ms)]
        self._mine_next(now_ms, out)
        return out

    def on_timer(self, key: TimerKey, now_ms: int) -> list[Action]:
        out: list[Action] = []
        if key[0] == "gossip":
            out.append(Broadcast(self.status_message()))
            out.append(SetTimer(key, now_ms + self.gossip_interval_ms))
        return out

    def on_proposal_ready(
        self, request: RequestProposal, block: Block, now_ms: int
    ) -> list[Action]:
        out: list[Action] = []
        if request is not self.pending_request or block.header.prev_hash != self.chain[-1]:
            return out
        self.pending_request = None
        self.job += 1
        self.mining = (self.job, block)
        out.append(Mine(self.job, block.header.prefix(), block.header.pow_target))
        return out

    def on_mined(self, job: int, nonce: int, now_ms: int) -> list[Action]:
        out: list[Action] = []
        if self.mining is None or self.mining[0] != job:
            return out
        template = self.mining[1]
        self.mining = None
        header = template.header.replace(pow_nonce=nonce)
        block = Block(header=header, txs=template.txs, last_commit=template.last_commit)
        self._receive(None, block, now_ms, out)
        return out

    def on_message(self, peer: PeerId, message: Any, now_ms: int) -> list[Action]:
        out: list[Action] = []
        if isinstance(message, BlockMsg):
            self._receive(peer, message.block, now_ms, out)
        return out

    def on_block(
        self, peer: PeerId, block: Block, commit: Commit | None, now_ms: int
    ) -> list[Action]:
        out: list[Action] = []
        self._receive(peer, block, now_ms, out)
        return out

    # -- the block tree ------------------------------------------------------------------

    def _receive(self, peer: PeerId, block: Block, now_ms: int, out: list[Action]) -> None:
        block_hash = block.hash
        if block_hash in self.tree or block_hash in self.invalid:
            return
        if self.check_not_ahead(block, now_ms) is not None:
            return  # not invalid, just early: a peer will offer it again
        if block.height <= self.app.revert_floor:
            # not on our chain (that is in the tree) and forking below the floor
            self.invalid.add(block_hash)
            if peer is not None:
                out.append(PeerMisbehaved(peer, self._too_deep(block.height - 1)))
            return
        parent = self.tree.get(block.header.prev_hash)
        if parent is None:
            if block.header.prev_hash in self.invalid:
                self.invalid.add(block_hash)
                return
            waiting = self.orphans.get(block.header.prev_hash)
            if waiting is None and len(self.orphans) < MAX_ORPHANS:
                waiting = self.orphans[block.header.prev_hash] = []
            if (
                waiting is not None
                and len(waiting) < MAX_ORPHANS_PER_PARENT
                and block not in waiting
            ):
                waiting.append(block)
            if peer is not None:
                out.append(FetchBlocks(peer))
            return
        reason = None
        if parent.invalid:
            reason = "block extends an invalid block"
        elif block.header.chain_id != self.chain_id:
            reason = "block is for another chain"
        else:
            reason = self.rules.check_header(block.header, _Branch(parent)) or block.check_body()
        if reason is not None:
            self.invalid.add(block_hash)
            if peer is not None:
                out.append(PeerMisbehaved(peer, f"block refused: {reason}"))
            return
        known = self._add(block.header, block, parent)
        out.append(Broadcast(BlockMsg(block)))
        if known.work > self.best.work:
            self.best = known
        for child in self.orphans.pop(block_hash, []):
            self._receive(peer, child, now_ms, out)
        if peer is not None or block_hash == self.best.header.hash:
            self._follow_best(peer, now_ms, out)

    def _follow_best(self, peer: PeerId, now_ms: int, out: list[Action]) -> None:
        """Make the heaviest valid known chain the ledger's chain."""
        changed = False
        while self.best.header.hash != self.chain[-1]:
            changed = True
            if not self._switch_to(self.best, peer, out):
                self.best = self._heaviest()
        if changed:
            self._prune()
            self._mine_next(now_ms, out)

    def _too_deep(self, fork: int) -> str:
        head = len(self.chain) - 1
        return (
            f"reorg_too_deep: a branch forking at height {fork} would revert "
            f"{head - fork} blocks; this node keeps {head - self.app.revert_floor} "
            "(pow_reorg_depth)"
        )

    def _heaviest(self) -> _Known:
        best = self.head
        for known in self.tree.values():
            if not known.invalid and (
                known.work > best.work or (known.work == best.work and known.seq < best.seq)
            ):
                best = known
        return best

    def _switch_to(self, tip: _Known, peer: PeerId, out: list[Action]) -> bool:
        """Reorg to ``tip``; False if a block on the way was invalid or the
        fork is deeper than the ledger can revert."""
        path: list[_Known] = []
        node: _Known | None = tip
        while node is not None and not self._on_chain(node):
            path.append(node)
            node = node.parent
        assert node is not None, "every branch hangs off genesis"
        fork = node.header.height
        if fork < self.app.revert_floor:
            self._invalidate(path[-1])
            if peer is not None:
                out.append(PeerMisbehaved(peer, self._too_deep(fork)))
            return False
        reverted: list[Block] = []
        if fork < len(self.chain) - 1:
            reverted = self.app.revert_to(fork)
            del self.chain[fork + 1 :]
            for block in reverted:
                self.tree[block.hash].block = block
            out.append(Reverted(fork, tuple(reverted)))
            self.reorgs += 1
        applied: set[bytes] = set()
        ok = True
        for known in reversed(path):
            side = known.block
            assert side is not None, "side-branch blocks are kept in memory"
            reason = self.app.validate(side)
            if reason is not None:
                self._invalidate(known)
                ok = False
                break
            self.app.commit(side, None)
            known.block = None  # the ledger holds it now (and returns it on a revert)
            self.chain.append(side.hash)
            applied.update(tx.id for tx in side.txs)
            out.append(Committed(side, None))
        if reverted:
            back = tuple(tx for b in reversed(reverted) for tx in b.txs if tx.id not in applied)
            if back:
                out.append(Readmit(back))
        return ok

    def _on_chain(self, known: _Known) -> bool:
        height = known.header.height
        return height < len(self.chain) and self.chain[height] == known.header.hash

    def _invalidate(self, bad: _Known) -> None:
        bad.invalid = True
        self.invalid.add(bad.header.hash)
        for known in self.tree.values():
            node: _Known | None = known
            while node is not None and node.header.height > bad.header.height:
                node = node.parent
            if node is bad:
                known.invalid = True
                self.invalid.add(known.header.hash)

    # -- mining ---------------------------------------------------------------------------

    def _mine_next(self, now_ms: int, out: list[Action]) -> None:
        if self.mining is not None:
            out.append(StopMining(self.mining[0]))
            self.mining = None
        if self.seed is None:
            return
        height = len(self.chain)
        target = self.rules.expected_target(height, _Branch(self.head))
        self.pending_request = RequestProposal(
            height=height,
            round=0,
            timestamp_ms=self.next_timestamp_ms(now_ms),
            pow_target=target,
        )
        out.append(self.pending_request)

    # -- sync --------------------------------------------------------------------------------

    def status_message(self) -> StatusMsg:
        head = self.head
        return StatusMsg(head.header.height, 0, head.header.hash, head.work)

    def peer_head(self, status: StatusMsg) -> tuple[int, int]:
        return status.height, status.work

    def is_behind(self, height: int, work: int) -> bool:
        """A peer that reports more work (or, work unknown, a higher head)."""
        return work > self.best.work or (work == 0 and height > self.app.height)

    def leads(self, height: int, work: int) -> bool:
        return self.best.work > work if work else self.app.height > height

    def catch_up_locator(self) -> tuple[bytes, ...]:
        """Main-chain hashes: the last 10, then exponentially sparser, then genesis."""
        out: list[bytes] = []
        height = len(self.chain) - 1
        step = 1
        while height > 0 and len(out) < MAX_LOCATOR - 1:
            out.append(self.chain[height])
            if len(out) >= 10:
                step *= 2
            height -= step
        out.append(self.chain[0])
        return tuple(out)

    # -- inspection ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        head = self.head
        return {
            "engine": self.name,
            "height": head.header.height,
            "head_hash": head.header.hash.hex(),
            "total_work": head.work,
            "target": head.header.pow_target.hex(),
            "next_target": self.rules.expected_target(len(self.chain), _Branch(head)).hex(),
            "known_blocks": len(self.tree),
            "orphans": sum(len(v) for v in self.orphans.values()),
            "invalid_blocks": len(self.invalid),
            "reorgs": self.reorgs,
            "mining": self.mining[0] if self.mining else None,
            "evidence": [],
        }

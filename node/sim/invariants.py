"""What must hold in every simulated run, checked as the run goes.

Safety (checked at every commit, revert and restart):
- bft, poa: no two honest nodes commit different blocks at one height;
  an honest node commits heights in order, never reverts, and after a
  restart its store still holds everything it had committed (PoW: a node
  that crashed mid-reorg may restart at the fork point, never below its
  revert floor);
- pow: no honest node ever holds a block that breaks the rules (each
  chain is re-validated from genesis at the end: proof of work, retarget,
  and the ledger's own checks in a fresh ledger), and once the network has
  healed all honest nodes converge on the same head.

The ledger and the pool (every node, honest or not, at every commit and
at the end):
- every committed block holds each sender's txs in nonce order, and the
  node's state after it has the state root its header names (so every node
  that holds a block has the same state at that height);
- a restarted node's store opens (it survived the crash, torn write
  included) with its accounts matching its head's state root;
- no tx a node's pool accepted is lost while the node lives: at the end it
  is still pooled, or left for a reason the pool records (included in a
  block the node holds, replaced, evicted, expired, dropped after a block,
  refused when building).

Liveness (checked at the end): once the last fault has healed, every
honest node commits a new block within ``liveness_bound_ms``, and reaches
the target height.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.ledger import Ledger, undo_depth_for
from node.types import Block

if TYPE_CHECKING:
    from node.sim.simulator import SimNode, Simulation


class Invariants:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.final = sim.config.consensus in ("bft", "poa")
        self.violations: list[str] = []
        self.committed: dict[int, tuple[bytes, int]] = {}
        self.heights: dict[int, int] = {}
        self.waiting = set(sim.honest)
        self.heal_ms = sim.scenario.heal_ms
        self.undo_depth = undo_depth_for(sim.genesis)

    def violate(self, text: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(f"t={self.sim.now}ms {text}")

    # -- events -------------------------------------------------------------

    def on_boot(self, node: SimNode) -> None:
        assert node.ledger is not None
        before = self.heights.get(node.index, 0)
        # BFT, PoA: every committed block survives. PoW: a crash in the middle
        # of a reorg (reverted, the new branch not all applied) leaves the
        # store at the fork point, never below the revert floor.
        lowest = before if self.final else before - self.undo_depth
        if node.ledger.height < lowest:
            self.violate(f"node {node.index} restarted at height {node.ledger.height} < {lowest}")
        self.heights[node.index] = node.ledger.height

    def on_commit(self, node: SimNode, block: Block) -> None:
        i = node.index
        height = block.height
        self._check_block(node, block)
        if node.byzantine:
            self.heights[i] = height
            return
        if self.final:
            if height != self.heights.get(i, 0) + 1:
                self.violate(f"node {i} committed height {height} after {self.heights.get(i, 0)}")
            seen = self.committed.get(height)
            if seen is None:
                self.committed[height] = (block.hash, i)
            elif seen[0] != block.hash:
                self.violate(
                    f"safety: node {i} committed {block.hash.hex()[:12]} at height {height}, "
                    f"node {seen[1]} committed {seen[0].hex()[:12]}"
                )
        self.heights[i] = height
        if i in self.waiting and self.sim.now >= self.heal_ms and height >= self.sim.config.blocks:
            self.waiting.discard(i)

    def _check_block(self, node: SimNode, block: Block) -> None:
        last: dict[bytes, int] = {}
        for tx in block.txs:
            before = last.get(tx.sender)
            if before is not None and tx.nonce != before + 1:
                self.violate(
                    f"node {node.index} block {block.height}: sender {tx.sender.hex()[:12]} "
                    f"nonce {tx.nonce} after {before}"
                )
            last[tx.sender] = tx.nonce
        ledger = node.ledger
        # (a step that applied several blocks reports them after the last:
        # the state is then the newest one's)
        if (
            ledger is not None
            and ledger.head.hash == block.hash
            and ledger.state.root() != block.header.state_root
        ):
            self.violate(
                f"node {node.index} state root after block {block.height} is not its header's"
            )

    def on_boot_failed(self, node: SimNode, reason: str) -> None:
        self.violate(f"node {node.index} could not restart from its store: {reason}")

    def on_revert(self, node: SimNode, height: int, blocks: tuple[Block, ...]) -> None:
        if self.final and not node.byzantine:
            self.violate(f"node {node.index} reverted committed blocks above {height}")
        self.heights[node.index] = height

    # -- the end -------------------------------------------------------------

    def done(self, now_ms: int) -> bool:
        if self.waiting:
            return False
        if self.final:
            return True
        return len(self._heads()) == 1

    def _heads(self) -> set[bytes]:
        return {
            self.sim.nodes[i].ledger.head.hash  # type: ignore[union-attr]
            for i in self.sim.honest
            if self.sim.nodes[i].ledger is not None
        }

    def committed_height(self) -> int:
        """The height every honest node has reached."""
        return min((self.heights.get(i, 0) for i in self.sim.honest), default=0)

    def finish(self, now_ms: int) -> None:
        sim = self.sim
        bound = sim.config.liveness_bound_ms
        for i in sim.honest:
            node = sim.nodes[i]
            after = [t for t in node.committed_at if t >= self.heal_ms]
            if not after:
                self.violate(
                    f"liveness: node {i} committed nothing after the heal at {self.heal_ms}ms"
                )
            elif after[0] - self.heal_ms > bound:
                self.violate(
                    f"liveness: node {i} took {after[0] - self.heal_ms}ms after the heal to commit"
                )
            if self.heights.get(i, 0) < sim.config.blocks:
                self.violate(f"liveness: node {i} stuck at height {self.heights.get(i, 0)}")
        for node in sim.nodes:
            if node.alive:
                self._check_pool(node)
        if not self.final:
            heads = self._heads()
            if len(heads) > 1:
                self.violate(f"pow: honest nodes did not converge ({len(heads)} different heads)")
            self._check_pow_chains()

    def _check_pool(self, node: SimNode) -> None:
        """Every tx the live node accepted is pooled or left for a reason."""
        core = node.core
        assert core is not None
        pool, ledger = core.mempool, core.ledger
        lost = 0
        for tx_id in node.accepted:
            if tx_id in pool:
                continue
            reason = pool.departure(tx_id)
            if reason is None or (reason == "included" and ledger.tx(tx_id) is None):
                lost += 1
        if lost:
            self.violate(f"node {node.index} lost {lost} accepted txs (not pooled, no reason)")

    def _check_pow_chains(self) -> None:
        """Re-validate every distinct honest chain from genesis in a fresh ledger."""
        from node.consensus.pow import PowRules

        sim = self.sim
        rules = PowRules(sim.genesis.params)
        checked: set[bytes] = set()
        for i in sim.honest:
            ledger = sim.nodes[i].ledger
            if ledger is None or ledger.head.hash in checked:
                continue
            checked.add(ledger.head.hash)
            fresh = Ledger.open(":memory:", sim.genesis)
            try:
                headers = [fresh.head]
                for h in range(1, ledger.height + 1):
                    block = ledger.block(h)
                    assert block is not None
                    reason = rules.check_header(block.header, headers)
                    if reason is None:
                        try:
                            fresh.commit_block(block)
                        except Exception as exc:  # the ledger's refusal is the finding
                            reason = f"ledger refused it: {exc}"
                    if reason is not None:
                        self.violate(f"pow: node {i} holds invalid block {h}: {reason}")
                        break
                    headers.append(block.header)
            finally:
                fresh.close()

"""What a node needs from its world, and what it tells it.

``NodeIO`` is the whole of a node's I/O: the live runtime implements it
over asyncio, the clock and the P2P transport (node/runtime/driver.py);
the simulator over its event heap, its simulated clocks and its network
model (node/sim/simulator.py). ``NodeCore`` calls nothing else that
touches the world.

``Observer`` hears what the node did (a block committed, a reorg, a
peer's fault, evidence): the runtime turns it into metrics, log lines and
websocket events, the simulator into its event log and invariant checks.
Its methods do nothing by default, so each world overrides only what it
reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from node.consensus.events import PeerId, TimerKey
from node.core.catchup import GetBlocks, NodeEvent
from node.types import Block, Commit, Transaction


class NodeIO(Protocol):
    """The clock, the network, timers and the nonce search of one node."""

    def now_ms(self) -> int:
        """This node's wall clock in milliseconds (engine time, block timestamps)."""
        ...

    def now_s(self) -> float:
        """The same clock in seconds (mempool arrival and expiry)."""
        ...

    def perf_s(self) -> float:
        """Seconds on a monotonic stopwatch: for measuring what work costs
        (block building), never for a decision."""
        ...

    def broadcast(self, message: Any) -> None:
        """Send a consensus message to every peer."""
        ...

    def send(self, peer: PeerId, message: Any) -> None:
        """Send a consensus message to one peer."""
        ...

    def set_timer(self, key: TimerKey, at_ms: int) -> None:
        """Feed ``TimerFired(key)`` to ``NodeCore.step`` at ``at_ms`` (moves a set key)."""
        ...

    def cancel_timer(self, key: TimerKey) -> None: ...

    def queue(self, event: NodeEvent) -> None:
        """Feed ``event`` to ``NodeCore.step`` after the actions in progress."""
        ...

    def mine(self, job: int, prefix: bytes, target: bytes) -> None:
        """Search a nonce for ``prefix`` under ``target``; on success feed
        ``MinedNonce(job, nonce)``. A newer ``mine`` replaces the search."""
        ...

    def stop_mining(self, job: int) -> None:
        """Stop the search of ``job`` if it is still running."""
        ...

    def request_blocks(self, peer: PeerId, request: GetBlocks) -> None:
        """Send a catch-up request to ``peer``; feed its answer (None if it
        failed) as ``BlocksReceived`` (node/core/catchup.py)."""
        ...

    def relay_txs(self, txs: Sequence[Transaction], origin: PeerId | None) -> None:
        """Gossip txs this node just admitted to its peers (not back to ``origin``)."""
        ...

    def penalise(self, peer: PeerId, reason: str) -> None:
        """``peer`` sent something invalid: cost it (ban score, disconnect)."""
        ...


class Observer:
    """Hears what a node did; every method is optional (a no-op here)."""

    def on_committed(self, block: Block, proof: Commit | None) -> None:
        """``block`` is the new head; the pool already dropped its txs."""

    def on_reverted(self, height: int, blocks: tuple[Block, ...]) -> None:
        """A PoW reorg removed ``blocks`` (newest first) above ``height``."""

    def on_readmitted(self, txs: tuple[Transaction, ...], accepted: int) -> None:
        """Reverted txs went back to the pool (``accepted`` of them)."""

    def on_evidence(self, record: dict[str, Any]) -> None:
        """A validator double-signed; ``record`` is already saved."""

    def on_misbehaved(self, peer: PeerId, reason: str) -> None:
        """``peer`` was penalised for ``reason``."""

    def on_built(self, block: Block, refused: int, build_s: float) -> None:
        """This node built ``block`` (unsigned) for a proposal in ``build_s``
        seconds; ``refused`` pool txs the state could not execute were dropped."""

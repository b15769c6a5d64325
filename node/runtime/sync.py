"""Block sync: a node that is behind fetches blocks from its peers in ranges.

Peers tell their head height in their handshake and in periodic Status
messages. When one is ahead, ``BlockSync`` asks it for the next range
(``GetBlocks``), decodes the answer and hands every block, with the
certificate that committed it, to the consensus driver as a
``BlockReceived`` event: the engine checks the certificate (or the PoW)
and the ledger checks everything else, exactly as for a block decided
live, so a synced block is trusted no more than any other. The loop asks
again from wherever the chain now ends until no peer is ahead, then the
node simply goes on with consensus.

A gap of one block is normal in a running network (a Status can overtake
the commit it reports), so a one-block lag is only chased once the head
has not moved for ``stall_s``; a bigger gap is chased at once. A peer
whose answer does not decode is penalised; one whose blocks do not apply
is penalised by the engine (``PeerMisbehaved``); one that answers with
nothing is not asked again until it reports a new height.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from node.config import SyncConfig
from node.consensus.events import BlockReceived
from node.errors import DecodeError
from node.p2p import GetBlocks, P2PError
from node.runtime.clock import Clock
from node.runtime.driver import ConsensusDriver
from node.types import Block, Commit

log = logging.getLogger("node.sync")

# how often the loop re-checks for a stalled one-block lag
_CHECK_INTERVAL_S = 1.0


class BlockSync:
    """Tracks peers' heights and catches the local chain up with them."""

    def __init__(
        self,
        *,
        transport: Any,
        driver: ConsensusDriver,
        height: Callable[[], int],
        clock: Clock,
        config: SyncConfig,
        stall_s: float = 10.0,
        on_synced: Callable[[int], None] | None = None,
    ) -> None:
        self.transport = transport
        self.driver = driver
        self._height = height
        self.clock = clock
        self.config = config
        self.stall_s = stall_s
        self._on_synced = on_synced
        self.peer_heights: dict[bytes, int] = {}
        self._wake = asyncio.Event()
        self._last_height = -1
        self._last_move_s = clock.monotonic_s()
        self.syncing = False
        self.blocks_fetched = 0

    # -- what peers say -----------------------------------------------------------

    def peer_status(self, peer_id: bytes, height: int) -> None:
        self.peer_heights[peer_id] = height
        if height > self._height():
            self._wake.set()

    def peer_gone(self, peer_id: bytes) -> None:
        self.peer_heights.pop(peer_id, None)

    @property
    def best_peer_height(self) -> int:
        return max(self.peer_heights.values(), default=0)

    def _target(self) -> tuple[bytes, int] | None:
        """The peer to ask now, if any: the highest one, if we are behind enough."""
        ours = self._height()
        now_s = self.clock.monotonic_s()
        if ours != self._last_height:
            self._last_height, self._last_move_s = ours, now_s
        best: tuple[bytes, int] | None = None
        for peer_id, height in self.peer_heights.items():
            if best is None or height > best[1]:
                best = (peer_id, height)
        if best is None or best[1] <= ours:
            return None
        if best[1] == ours + 1 and now_s - self._last_move_s < self.stall_s:
            return None
        return best

    # -- the loop -----------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._wake.clear()
            target = self._target()
            if target is None:
                if self.syncing:
                    self.syncing = False
                    log.info("sync.done height=%d", self._height())
                    if self._on_synced is not None:
                        self._on_synced(self._height())
                try:
                    async with asyncio.timeout(_CHECK_INTERVAL_S):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            if not self.syncing:
                self.syncing = True
                log.info(
                    "sync.start height=%d peer=%s peer_height=%d",
                    self._height(),
                    target[0].hex()[:16],
                    target[1],
                )
            await self._fetch(*target)

    async def _fetch(self, peer_id: bytes, peer_height: int) -> None:
        start = self._height() + 1
        end = min(peer_height, start + self.config.batch_blocks - 1)
        try:
            reply = await self.transport.request(
                peer_id, GetBlocks(start, end), self.config.request_timeout_s
            )
        except P2PError as exc:
            log.info(
                "sync.request_failed peer=%s start=%d reason=%s",
                peer_id.hex()[:16],
                start,
                getattr(exc, "reason", None) or exc.code,
            )
            self._give_up_on(peer_id)
            return
        entries: list[tuple[Block, Commit | None]] = []
        try:
            for raw_block, raw_commit in reply.blocks:
                block = Block.decode(raw_block)
                commit = Commit.decode(raw_commit) if raw_commit else None
                entries.append((block, commit))
        except DecodeError as exc:
            self.transport.penalise(peer_id, f"invalid_blocks:{exc.code}")
            self._give_up_on(peer_id)
            return
        if not entries:
            self._give_up_on(peer_id)
            return
        before = self._height()
        done = None
        for block, commit in entries:
            done = self.driver.feed(BlockReceived(peer_id, block, commit))
        assert done is not None
        await done
        gained = self._height() - before
        self.blocks_fetched += len(entries)
        log.debug(
            "sync.fetched peer=%s start=%d blocks=%d applied=%d",
            peer_id.hex()[:16],
            start,
            len(entries),
            gained,
        )
        if gained <= 0:
            # Nothing applied: the engine refused them (and said why) or the
            # chain moved meanwhile; ask this peer again only on news.
            self._give_up_on(peer_id)

    def _give_up_on(self, peer_id: bytes) -> None:
        if self.peer_heights.get(peer_id, 0) > self._height():
            self.peer_heights[peer_id] = self._height()

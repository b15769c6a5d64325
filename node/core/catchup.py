"""Catch-up: how a node that is behind gets the blocks it misses. One way, every engine.

The message pair
    ``GetBlocks(start, end, locator)`` asks a peer for the blocks of heights
    ``start..end``; ``Blocks`` answers with ``(block, certificate)``
    encodings (``b""`` for no certificate), in height order, a prefix of
    the range (the responder may hold fewer, or they may not fit one
    message). A ``locator`` (PoW: hashes of the asker's main chain, newest
    first, thinning out to genesis) moves the range down to begin just
    after the newest of them the responder holds on its own chain, the fork
    point, keeping its length: that is how a node on a losing branch gets
    the winning one. BFT and PoA chains are final and need no locator.

One set of limits
    At most ``MAX_BLOCKS_PER_REQUEST`` blocks per request and the byte
    budget of one message, served from the store as stored (never decoded
    and encoded again) by ``serve_range`` + ``Store.load_raw_blocks``, by
    the same code in the live node and the simulator.

When to ask (``CatchUp``, a pure state machine inside ``NodeCore``)
    Peers tell their head (height, and for PoW the total work) in their
    consensus ``StatusMsg`` and, in the live node, in the P2P handshake and
    Status messages. When one is ahead (``Engine.is_behind``), the node asks
    it for the next range, one request at a time, and hands every block to
    its engine as a ``BlockReceived`` event: the engine checks the
    certificate (or the proof of work) and the ledger checks everything
    else, as for a block decided live. It asks again from wherever its chain
    now ends until no peer is ahead. A gap of one block is normal in a
    running network (a status can overtake the commit it reports), so a
    one-block lag is only chased once the head has not moved for
    ``stall_ms``. A peer whose answer does not decode is penalised; one
    that answers nothing new, or not in time, is not asked again until it
    reports a new head. An engine that meets a gap of its own (a PoW block
    whose parent it lacks) asks with the ``FetchBlocks`` action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from node.consensus.engine import MAX_LOCATOR
from node.consensus.events import Event, PeerId

if TYPE_CHECKING:
    from node.ledger import Ledger

#: blocks one request may ask for (the wire refuses longer ranges)
MAX_BLOCKS_PER_REQUEST = 256
#: the catch-up request timer's name (TimerKey ("catchup", request, 0))
TIMER = "catchup"


@dataclass(frozen=True, slots=True)
class GetBlocks:
    """Request: blocks ``start..end`` (moved down to the fork point by a locator)."""

    KIND: ClassVar[str] = "get_blocks"
    start: int
    end: int
    locator: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class Blocks:
    """Response to GetBlocks: ``(block, commit)`` encodings in height order.

    ``commit`` is the certificate that committed the block, or ``b""``. The
    list may be a prefix of the range asked for (the responder does not have
    the rest, or it would not fit in one message), never longer than it.
    """

    KIND: ClassVar[str] = "blocks"
    blocks: tuple[tuple[bytes, bytes], ...]


# -- events the node's I/O feeds to NodeCore.step for catch-up ----------------------


@dataclass(frozen=True, slots=True)
class BlocksReceived:
    """``peer``'s answer to this node's GetBlocks; ``reply`` None: it failed
    (timed out, refused, disconnected)."""

    peer: PeerId
    reply: Blocks | None


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """``peer`` says its head is at ``height`` (and ``work``, PoW; 0 if unknown)."""

    peer: PeerId
    height: int
    work: int = 0


@dataclass(frozen=True, slots=True)
class PeerGone:
    peer: PeerId


CatchUpEvent = BlocksReceived | PeerStatus | PeerGone
#: everything ``NodeCore.step`` takes: the engine's events and catch-up's
NodeEvent = Event | CatchUpEvent


# -- serving ----------------------------------------------------------------------


def serve_range(ledger: Ledger, request: GetBlocks) -> tuple[int, int] | None:
    """The heights to answer ``request`` with from ``ledger``'s chain (None: none)."""
    span = min(request.end - request.start, MAX_BLOCKS_PER_REQUEST - 1)
    if span < 0:
        return None
    first = request.start
    if request.locator:
        fork = 0  # every chain shares genesis
        for block_hash in request.locator[:MAX_LOCATOR]:
            height = ledger.store.height_of(block_hash)
            if height is not None:
                fork = height
                break
        first = min(first, fork + 1)
    last = min(first + span, ledger.height)
    first = max(first, 1)  # genesis is everyone's
    return (first, last) if first <= last else None


def serve(ledger: Ledger, request: GetBlocks, max_bytes: int) -> Blocks:
    """The whole answer to ``request`` (the simulator; the live node reads the
    range in a worker thread, see node/runtime/node.py)."""
    heights = serve_range(ledger, request)
    if heights is None:
        return Blocks(())
    return Blocks(tuple(ledger.store.load_raw_blocks(heights[0], heights[1], max_bytes)))


# -- asking -----------------------------------------------------------------------


class CatchUp:
    """Which peer to ask for which blocks, and when. Pure: time comes in."""

    def __init__(
        self, *, batch_blocks: int = 128, request_timeout_ms: int = 10_000, stall_ms: int = 10_000
    ) -> None:
        self.batch_blocks = max(1, min(batch_blocks, MAX_BLOCKS_PER_REQUEST))
        self.request_timeout_ms = request_timeout_ms
        self.stall_ms = stall_ms
        #: each peer's last reported head: (height, work)
        self.peers: dict[PeerId, tuple[int, int]] = {}
        #: the request waiting for an answer: (peer, its number)
        self.in_flight: tuple[PeerId, int] | None = None
        self.syncing = False
        self.blocks_fetched = 0
        #: peers an engine asked to fetch from (``FetchBlocks``): asked next
        self.wanted: set[PeerId] = set()
        self._requests = 0
        self._seen_height = -1
        self._moved_ms = 0

    @property
    def best_peer_height(self) -> int:
        return max((h for h, _ in self.peers.values()), default=0)

    def on_status(self, peer: PeerId, height: int, work: int) -> None:
        self.peers[peer] = (height, work)

    def want(self, peer: PeerId) -> None:
        """An engine misses blocks ``peer`` has: ask it next, at once."""
        self.wanted.add(peer)

    def on_gone(self, peer: PeerId) -> bool:
        """Forget ``peer``; True if a request to it was in flight (now void)."""
        self.peers.pop(peer, None)
        self.wanted.discard(peer)
        if self.in_flight is not None and self.in_flight[0] == peer:
            self.in_flight = None
            return True
        return False

    def on_answer(self, peer: PeerId, fetched: int, gained: int, height: int) -> None:
        """The in-flight request to ``peer`` was answered with ``fetched``
        blocks, of which the chain grew by ``gained`` (0 also for a failure)."""
        if self.in_flight is not None and self.in_flight[0] == peer:
            self.in_flight = None
        self.wanted.discard(peer)
        self.blocks_fetched += fetched
        if gained <= 0:
            self.give_up_on(peer, height)

    def on_timeout(self, request: int, height: int) -> PeerId | None:
        """The request numbered ``request`` timed out: the peer it went to, if
        it is still the one waited for."""
        if self.in_flight is None or self.in_flight[1] != request:
            return None
        peer = self.in_flight[0]
        self.in_flight = None
        self.wanted.discard(peer)
        self.give_up_on(peer, height)
        return peer

    def give_up_on(self, peer: PeerId, height: int) -> None:
        """Ask ``peer`` again only once it reports a new head."""
        if peer in self.peers:
            self.peers[peer] = (min(self.peers[peer][0], height), 0)

    def next_request(
        self,
        *,
        height: int,
        is_behind: Callable[[int, int], bool],
        locator: Callable[[], tuple[bytes, ...]],
        now_ms: int,
    ) -> tuple[PeerId, int, GetBlocks] | None:
        """The request to send now, if any: (peer, request number, request)."""
        if height != self._seen_height:
            self._seen_height, self._moved_ms = height, now_ms
        if self.in_flight is not None:
            return None
        if self.wanted:
            peer = min(self.wanted, key=repr)  # any one, the same in every run
            peer_height = self.peers.get(peer, (0, 0))[0]
        else:
            best: tuple[PeerId, int, int] | None = None
            for peer, (h, w) in self.peers.items():
                if is_behind(h, w) and (best is None or (h, w) > (best[1], best[2])):
                    best = (peer, h, w)
            stalled = now_ms - self._moved_ms >= self.stall_ms
            if best is None or (best[1] == height + 1 and not stalled):
                self.syncing = False
                return None
            peer, peer_height, _ = best
        start = height + 1
        end = start + self.batch_blocks - 1
        if peer_height > height:
            end = min(end, peer_height)
        self._requests += 1
        self.in_flight = (peer, self._requests)
        self.syncing = True
        return peer, self._requests, GetBlocks(start, end, locator())

"""The engine interface: the events an engine takes and the actions it returns.

Every consensus engine (poa, bft, pow) is a state machine with one entry
point, ``engine.step(event, now_ms) -> list[Action]`` (plus ``start``), and
per-event shortcuts (``on_message``, ``on_timer``, ...) that the simulator
calls directly. The engine never does I/O of its own: it does not read the
clock (``now_ms`` is an argument), open sockets, sleep or draw random
numbers. What it wants done, it returns as actions, in order; the driver
(the live node or the simulator) executes them in that order before it
feeds the next event.

The one thing an engine reaches directly is its ``Application``
(node/consensus/app.py): the ledger, through a small synchronous
interface, so that validating and committing a block is one deterministic
call rather than a round trip. ``Committed`` and ``Reverted`` actions tell
the driver what the engine already did to the ledger, so it can update the
mempool, publish events and answer RPC calls.

Timers are named by a ``TimerKey`` tuple ``(name, height, round)``. Setting
a key that is already set moves it; a fired timer is delivered once as
``TimerFired(key)``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from node.types import Block, Commit, Transaction

PeerId = Hashable
"""How the driver names a peer: a node id string in the live node, an int in the simulator."""

TimerKey = tuple[str, int, int]


# ---------------------------------------------------------------------------
# Events: what happened (driver -> engine)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A decoded consensus message from ``peer`` (see node/consensus/messages.py)."""

    peer: PeerId
    message: Any


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The timer ``key`` that an earlier ``SetTimer`` asked for is due."""

    key: TimerKey


@dataclass(frozen=True, slots=True)
class ProposalReady:
    """The node's answer to ``RequestProposal``: an unsigned block on the head.

    ``request`` is the request it answers, so a stale answer (the engine
    moved on meanwhile) is recognised and dropped.
    """

    request: RequestProposal
    block: Block


@dataclass(frozen=True, slots=True)
class BlockReceived:
    """A block (and the certificate that committed it, for BFT) fetched by block sync."""

    peer: PeerId
    block: Block
    commit: Commit | None = None


@dataclass(frozen=True, slots=True)
class MinedNonce:
    """The nonce search asked for by ``Mine(job, ...)`` found ``nonce``."""

    job: int
    nonce: int


Event = MessageReceived | TimerFired | ProposalReady | BlockReceived | MinedNonce


# ---------------------------------------------------------------------------
# Actions: what the engine wants done (engine -> driver)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``message`` to every connected peer (not back to this node)."""

    message: Any


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to one peer."""

    peer: PeerId
    message: Any


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Deliver ``TimerFired(key)`` at ``at_ms`` (same clock as ``now_ms``)."""

    key: TimerKey
    at_ms: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: TimerKey


@dataclass(frozen=True, slots=True)
class RequestProposal:
    """Build a block on the current head and hand it back as ``ProposalReady``.

    The node takes transactions from its mempool in its policy's order and
    calls ``Ledger.build_block(candidates, proposer=..., timestamp_ms=...,
    last_commit=..., pow_target=...)`` with these fields; it does not sign
    (the engine does).
    """

    height: int
    round: int
    timestamp_ms: int
    last_commit: Commit | None = None
    pow_target: bytes | None = None


@dataclass(frozen=True, slots=True)
class Committed:
    """``block`` is now in the ledger (the engine applied it through its
    Application), with ``proof`` (the BFT commit certificate, else None).

    The node drops the block's transactions from its mempool and publishes
    the block (RPC, websocket, metrics).
    """

    block: Block
    proof: Commit | None = None


@dataclass(frozen=True, slots=True)
class Reverted:
    """PoW reorg: the blocks above ``height`` were removed (newest first)."""

    height: int
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Readmit:
    """Transactions of reverted blocks: put them back in the mempool."""

    txs: tuple[Transaction, ...]


@dataclass(frozen=True, slots=True)
class Mine:
    """Search a nonce n with sha256(prefix + n as u64 BE) <= target.

    Run ``node.crypto.pow_search`` in batches; between batches check for a
    ``StopMining``/newer ``Mine``; on success feed ``MinedNonce(job, n)``.
    """

    job: int
    prefix: bytes
    target: bytes


@dataclass(frozen=True, slots=True)
class StopMining:
    job: int


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    """A validator signed two conflicting messages; persist and publish it."""

    evidence: Any


@dataclass(frozen=True, slots=True)
class FetchBlocks:
    """This engine misses blocks ``peer`` has (a PoW block whose parent it
    lacks): catch up from it (node/core/catchup.py)."""

    peer: PeerId


@dataclass(frozen=True, slots=True)
class PeerMisbehaved:
    """``peer`` sent something invalid (bad signature, wrong proposer, ...)."""

    peer: PeerId
    reason: str


Action = (
    Broadcast
    | Send
    | SetTimer
    | CancelTimer
    | RequestProposal
    | Committed
    | Reverted
    | Readmit
    | Mine
    | StopMining
    | ReportEvidence
    | FetchBlocks
    | PeerMisbehaved
)

"""What the transport hands to the node: the Handler protocol and PeerInfo.

The transport moves messages; the handler (the runtime, wired to the
consensus engine, mempool and ledger) decides what they mean. Handler
calls for one peer happen one at a time and in arrival order; calls for
different peers may interleave at awaits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from node.p2p.messages import Address, Message


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A snapshot of one authenticated connection."""

    node_id: bytes
    # where the peer says it accepts connections (its Hello): a claim, proven
    # (``address_verified``) once this node dialled it and found that node id
    listen_addr: Address
    address_verified: bool
    remote_ip: str
    outbound: bool  # True when this node dialled
    height: int  # from its Hello, then its latest Status
    head_hash: bytes
    connected_s: float  # monotonic time of the handshake

    def to_json(self) -> dict[str, Any]:
        host, port = self.listen_addr
        return {
            "node_id": self.node_id.hex(),
            "address": f"{host}:{port}",
            "address_verified": self.address_verified,
            "remote_ip": self.remote_ip,
            "direction": "outbound" if self.outbound else "inbound",
            "height": self.height,
            "head_hash": self.head_hash.hex(),
        }


class Handler(Protocol):
    """The node side of the transport.

    ``on_message`` receives gossip (Txs with only the transactions not seen
    before, NewBlock, Consensus), Status, and requests (GetBlocks), and
    returns the response for a request (a Blocks message) or None. Raising
    an ``OrdinetError`` (DecodeError, InvalidBlock, ...) for a gossip
    message says the peer sent invalid data: the transport penalises it.
    For a request it becomes an error reply with the exception's code.
    """

    async def on_message(self, peer_id: bytes, msg: Message) -> Message | None: ...

    async def on_peer_connected(self, peer: PeerInfo) -> None: ...

    async def on_peer_disconnected(self, peer_id: bytes, reason: str) -> None: ...

"""The P2P layer: an aiohttp websocket transport between authenticated nodes.

It moves typed messages (messages.py) between peers and hands received ones
to a ``Handler``; it never decides consensus or validity. docs/P2P.md is
the specification of the wire format, handshake, gossip, sync requests,
peer management and fault injection.
"""

from node.p2p.config import P2PConfig
from node.p2p.errors import P2PError, PeerNotConnected, RequestRefused, RequestTimeout
from node.p2p.handler import Handler, PeerInfo
from node.p2p.messages import (
    MAX_BLOCKS_PER_REQUEST,
    PROTOCOL_VERSION,
    Blocks,
    Consensus,
    ErrorReply,
    GetBlocks,
    GetPeers,
    Message,
    NewBlock,
    Peers,
    Status,
    Txs,
)
from node.p2p.metrics import P2PMetrics
from node.p2p.transport import Transport

__all__ = [
    "MAX_BLOCKS_PER_REQUEST",
    "PROTOCOL_VERSION",
    "Blocks",
    "Consensus",
    "ErrorReply",
    "GetBlocks",
    "GetPeers",
    "Handler",
    "Message",
    "NewBlock",
    "P2PConfig",
    "P2PError",
    "P2PMetrics",
    "PeerInfo",
    "PeerNotConnected",
    "Peers",
    "RequestRefused",
    "RequestTimeout",
    "Status",
    "Transport",
    "Txs",
]

"""Typed keys of the API application's state, and the request limits."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from node.rpc.service import NodeService

DEFAULT_MAX_BODY_BYTES = 8 * 2**20
DEFAULT_MAX_BATCH_TXS = 10_000


@dataclass(frozen=True)
class RpcLimits:
    """What one request may ask for."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch_txs: int = DEFAULT_MAX_BATCH_TXS
    max_mempool_limit: int = 10_000
    max_partition_peers: int = 1_000
    max_delay_ms: int = 600_000
    ws_queue_size: int = 1024


SERVICE_KEY = web.AppKey("ordinet_service", NodeService)
LIMITS_KEY = web.AppKey("ordinet_rpc_limits", RpcLimits)
WEBSOCKETS_KEY: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("ordinet_websockets")

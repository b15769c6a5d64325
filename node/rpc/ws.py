"""GET /ws: the node's events over a websocket, as JSON messages.

Each message is ``{"kind", "seq", "data"}`` (node.rpc.events). The first
one is ``subscribed`` (the filter and the current height); ``?kinds=a,b``
limits the kinds sent (``events.KNOWN_KINDS`` only, else 400 ``bad_kinds``).
A client that reads too slowly loses its oldest events and gets a
``lagged`` message saying how many; it never slows the node. Messages
from the client are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from node.rpc import params
from node.rpc.events import KNOWN_KINDS, LAGGED, Subscription
from node.rpc.keys import LIMITS_KEY, SERVICE_KEY, WEBSOCKETS_KEY
from node.rpc.metrics import NodeMetrics
from node.rpc.params import BadRequest

SUBSCRIBED = "subscribed"
HEARTBEAT_S = 30.0
# the client only needs to send pings and closes
MAX_CLIENT_MESSAGE_BYTES = 4096


async def get_ws(request: web.Request) -> web.StreamResponse:
    kinds = params.query_kinds(request, KNOWN_KINDS)
    sock = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_CLIENT_MESSAGE_BYTES)
    if not sock.can_prepare(request).ok:
        raise BadRequest(
            "GET /ws is a websocket endpoint: connect with a websocket client",
            code="websocket_required",
        )
    service = request.app[SERVICE_KEY]
    sockets = request.app[WEBSOCKETS_KEY]
    metrics = service.metrics
    sub = service.events.subscribe(kinds, queue_size=request.app[LIMITS_KEY].ws_queue_size)
    forwarder: asyncio.Task[None] | None = None
    try:
        await sock.prepare(request)
        sockets.add(sock)
        metrics.ws_clients.inc()
        hello = {
            "kinds": sorted(kinds) if kinds is not None else None,
            "height": service.ledger.height,
        }
        await sock.send_json({"kind": SUBSCRIBED, "seq": service.events.seq, "data": hello})
        forwarder = asyncio.create_task(_forward(sub, sock, metrics))
        async for _message in sock:
            pass  # reading keeps pings answered and notices the client leaving
    finally:
        sub.close()
        if forwarder is not None:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarder
        if sock in sockets:
            sockets.discard(sock)
            metrics.ws_clients.dec()
    return sock


async def _forward(sub: Subscription, sock: web.WebSocketResponse, metrics: NodeMetrics) -> None:
    """Send the subscription's events until it ends or the client goes."""
    try:
        async for event in sub:
            if event.kind == LAGGED:
                metrics.ws_events_missed.inc(event.data["missed"])
            await sock.send_str(json.dumps(event.to_json()))
    except ConnectionResetError:
        return
    # the hub closed (the node is stopping): end the connection too
    await sock.close()

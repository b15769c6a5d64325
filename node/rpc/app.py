"""The application factory of the REST API and its error middleware.

``make_app(service)`` builds the aiohttp application over a NodeService;
the runtime serves it with node.httpserve's ``HttpServer`` (127.0.0.1 by
default, with its timeouts and connection cap), the tests build it the same
way. App state lives under the typed keys below.

Every answer that is not a success is JSON ``{"error": message, "code":
code}`` (``node.httpserve.error_response``, which also answers the requests
aiohttp's parser rejects before any route sees them): the middleware maps
``BadRequest``/``NotFound`` (their status), other ``OrdinetError``s (400,
or 500 for a StoreError: the node's fault, not the client's), aiohttp's
HTTP errors (unknown route 404, wrong method 405, body too large 413), and
as a last resort any other exception to a logged 500 ``internal_error``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web
from aiohttp.typedefs import Handler

from node.errors import OrdinetError, StoreError
from node.httpserve import HTTP_ERROR_CODES, error_response
from node.rpc import routes, ws
from node.rpc.keys import (
    DEFAULT_MAX_BATCH_TXS,
    DEFAULT_MAX_BODY_BYTES,
    LIMITS_KEY,
    SERVICE_KEY,
    WEBSOCKETS_KEY,
    RpcLimits,
)
from node.rpc.params import BadRequest
from node.rpc.service import NodeService

log = logging.getLogger("ordinet.rpc")

# (method, path, handler): the one list the router and the OpenAPI test share
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/status", routes.get_status),
    ("POST", "/txs", routes.post_txs),
    ("GET", "/txs/{id}", routes.get_tx),
    ("GET", "/blocks/latest", routes.get_latest_block),
    ("GET", "/blocks/{height}", routes.get_block),
    ("GET", "/accounts/{address}", routes.get_account),
    ("GET", "/mempool", routes.get_mempool),
    ("GET", "/fees/estimate", routes.get_fee_estimate),
    ("GET", "/peers", routes.get_peers),
    ("GET", "/consensus", routes.get_consensus),
    ("GET", "/metrics", routes.get_metrics),
    ("GET", "/openapi.json", routes.get_openapi),
    ("GET", "/ws", ws.get_ws),
    ("POST", "/admin/partition", routes.post_admin_partition),
    ("POST", "/admin/heal", routes.post_admin_heal),
    ("POST", "/admin/delay", routes.post_admin_delay),
)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def make_app(
    service: NodeService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_txs: int = DEFAULT_MAX_BATCH_TXS,
    ws_queue_size: int = 1024,
) -> web.Application:
    """The REST API of ``service``: every route of ROUTES, JSON errors, /ws."""
    limits = RpcLimits(
        max_body_bytes=max_body_bytes, max_batch_txs=max_batch_txs, ws_queue_size=ws_queue_size
    )
    app = web.Application(client_max_size=max_body_bytes, middlewares=[error_middleware])
    app[SERVICE_KEY] = service
    app[LIMITS_KEY] = limits
    app[WEBSOCKETS_KEY] = set()
    if not service.metrics.has_mempool_stats:
        service.metrics.attach(mempool_stats=service.mempool.stats)
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)  # answers HEAD too, like any web server
        else:
            app.router.add_route(method, path, handler)
    app.cleanup_ctx.append(_close_websockets)
    return app


async def _close_websockets(app: web.Application) -> AsyncIterator[None]:
    yield
    open_sockets = app[WEBSOCKETS_KEY]
    sockets = list(open_sockets)
    await asyncio.gather(
        *(sock.close(code=WSCloseCode.GOING_AWAY, message=b"node stopping") for sock in sockets),
        return_exceptions=True,
    )


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    code = HTTP_ERROR_CODES.get(exc.status, "http_error")
    if exc.status == 404:
        message = "no such route; see GET /openapi.json"
    elif exc.status == 413:
        message = f"the request body exceeds the limit: {exc.text or exc.reason}"
    else:
        message = exc.reason
    response = error_response(exc.status, code, message)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def _status_of(exc: OrdinetError) -> int:
    if isinstance(exc, BadRequest):
        return exc.status
    if isinstance(exc, StoreError):
        return 500
    return 400


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """JSON errors for everything, and the request metrics."""
    started_s = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _from_http_exception(exc)
    except OrdinetError as exc:
        status = _status_of(exc)
        if status >= 500:
            log.error("rpc %s %s failed: %s", request.method, request.path, exc)
        response = error_response(status, exc.code, exc.message)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("rpc %s %s: unexpected error", request.method, request.path)
        response = error_response(500, "internal_error", "internal error; see the node's log")
    _record(request, response.status, time.perf_counter() - started_s)
    return response


def _record(request: web.Request, status: int, elapsed_s: float) -> None:
    metrics = request.app[SERVICE_KEY].metrics
    resource = request.match_info.route.resource
    # unmatched paths and odd methods share one label each: bounded cardinality
    route = resource.canonical if resource is not None else "unmatched"
    method = request.method if request.method in _KNOWN_METHODS else "other"
    metrics.rpc_requests.labels(route=route, method=method, status=str(status)).inc()
    metrics.rpc_request_seconds.labels(route=route).observe(elapsed_s)

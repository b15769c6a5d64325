"""The REST API of a node: aiohttp routes, the OpenAPI document, /ws events
and /metrics. ``make_app(service)`` builds it (docs/API.md describes it).

- ``service``: ``NodeService``, the protocol the runtime implements for the
  API, and ``SubmitResult``
- ``events``: ``EventHub``, the event stream behind /ws
- ``metrics``: ``NodeMetrics``, one Prometheus registry per node
- ``app``: ``make_app`` and the error middleware; ``keys``: typed app keys
- ``routes``/``ws``: the handlers; ``params``: checks of what clients send
- ``openapi``: the OpenAPI 3.1 document, as data
"""

from node.rpc.app import ROUTES, make_app
from node.rpc.events import Event, EventHub, Subscription
from node.rpc.metrics import NodeMetrics
from node.rpc.service import STATUS_KEYS, NodeService, SubmitResult

__all__ = [
    "ROUTES",
    "STATUS_KEYS",
    "Event",
    "EventHub",
    "NodeMetrics",
    "NodeService",
    "SubmitResult",
    "Subscription",
    "make_app",
]

"""The REST API of a node: aiohttp routes, the OpenAPI document, /ws events
and /metrics.

- ``service``: ``NodeService``, the protocol the runtime implements for the
  API, and ``SubmitResult``
- ``events``: ``EventHub``, the event stream behind /ws
- ``metrics``: ``NodeMetrics``, one Prometheus registry per node
"""

from node.rpc.events import Event, EventHub, Subscription
from node.rpc.metrics import NodeMetrics
from node.rpc.service import STATUS_KEYS, NodeService, SubmitResult

__all__ = [
    "STATUS_KEYS",
    "Event",
    "EventHub",
    "NodeMetrics",
    "NodeService",
    "SubmitResult",
    "Subscription",
]

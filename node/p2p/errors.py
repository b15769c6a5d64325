"""Errors of the P2P layer that callers of ``Transport`` may catch.

Malformed frames are ``node.errors.DecodeError`` (the peer's fault, and the
transport penalises it); these are the outcomes a caller of ``send`` or
``request`` sees. Each has a machine-readable ``code``.
"""

from __future__ import annotations

from node.errors import OrdinetError


class P2PError(OrdinetError):
    """A request or send to a peer did not succeed."""

    code = "p2p_error"


class PeerNotConnected(P2PError):
    """No authenticated connection to that node id (or it closed meanwhile)."""

    code = "peer_not_connected"


class RequestTimeout(P2PError):
    """The peer did not answer within the deadline."""

    code = "request_timeout"


class RequestRefused(P2PError):
    """The peer answered with an error reply; ``reason`` is its code."""

    code = "request_refused"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

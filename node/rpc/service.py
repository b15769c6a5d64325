"""The seam between the REST API and the node: what the API may read and ask.

``NodeService`` is implemented by ``node.runtime.Node`` (and, in the API
tests, by a small in-process service over a real ledger and mempool). The
API reads the ledger, mempool and policy directly (they live on the same
event loop, so no locking) and goes through the methods below for
anything that changes the node or needs the network.

Contract for implementers:

- Every method runs on the node's event loop; none may block it for long.
- ``status()`` returns at least the keys in ``STATUS_KEYS`` (more are
  welcome: they are passed through to clients unchanged).
- ``submit_txs`` gets the raw encodings of a batch (already hex-decoded by
  the API) and returns ONE ``SubmitResult`` per raw, in order: a decoding
  error is a refused result (``code`` = the DecodeError's code), never an
  exception. Accepted txs are gossiped by the node.
- ``admin_*`` are only called when ``admin_enabled`` is true (the API
  answers 403 otherwise); they may raise ``ValueError`` or an
  ``OrdinetError`` for arguments they refuse (the API answers 400).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from node.errors import DecodeError
from node.types import Transaction

if TYPE_CHECKING:
    from node.fees.estimator import Estimate
    from node.ledger import Ledger
    from node.mempool import Mempool
    from node.mempool.pool import AdmitResult
    from node.rpc.events import EventHub
    from node.rpc.metrics import NodeMetrics
    from node.scheduling.policy import Policy

#: Keys every ``NodeService.status()`` answer carries (GET /status).
STATUS_KEYS = (
    "chain_id",
    "node_id",
    "height",
    "head_hash",
    "consensus",
    "policy",
    "model_hash",
    "peers",
    "mempool_size",
    "syncing",
)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The node's answer for one submitted transaction.

    ``id`` is None only when the bytes could not be decoded; ``code`` is a
    machine-readable refusal reason (a mempool ``Refusal`` value or an
    error's ``code``) and ``error`` its human-readable message.
    """

    id: bytes | None
    accepted: bool
    error: str | None = None
    code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex() if self.id is not None else None,
            "accepted": self.accepted,
            "error": self.error,
            "code": self.code,
        }


class NodeService(Protocol):
    """What the REST API needs from a node (implemented by node.runtime.Node)."""

    chain_id: str
    node_id: bytes
    ledger: Ledger  # blocks, txs, accounts, head
    mempool: Mempool  # len, size_bytes, ordered(limit, now_s), get(id), is_pending(id)
    policy: Policy  # name, model_hash
    events: EventHub  # the node publishes; /ws clients subscribe
    metrics: NodeMetrics  # the node updates; /metrics renders
    admin_enabled: bool  # fault-injection endpoints answer 403 unless True

    def status(self) -> dict[str, Any]:
        """GET /status: at least STATUS_KEYS, JSON-ready (hex for bytes)."""
        ...

    def now_s(self) -> float:
        """The node's clock (the one its mempool is stamped with)."""
        ...

    async def submit_txs(self, raws: list[bytes]) -> list[SubmitResult]:
        """Decode, admit to the mempool and gossip; one result per raw, in order."""
        ...

    def fee_estimate(self, blocks: int, confidence: float) -> Estimate:
        """GET /fees/estimate: the fee rate for inclusion within ``blocks``
        with probability ``confidence`` (both checked by the API)."""
        ...

    def peers(self) -> list[dict[str, Any]]:
        """GET /peers: one JSON object per connected peer (PeerInfo.to_json)."""
        ...

    def consensus_status(self) -> dict[str, Any]:
        """GET /consensus: the engine's live state (Engine.status())."""
        ...

    async def admin_block_peers(self, node_ids: list[bytes]) -> None:
        """Cut the links to these peers and refuse them until healed."""
        ...

    async def admin_heal(self) -> None:
        """Undo every injected fault (blocked peers, delay)."""
        ...

    async def admin_set_delay(self, delay_ms: int) -> None:
        """Hold every outgoing P2P message for ``delay_ms`` (0 stops)."""
        ...


def admit_encoded(
    admit: Callable[[Sequence[Transaction]], list[AdmitResult]], raws: Sequence[bytes]
) -> tuple[list[SubmitResult], list[Transaction]]:
    """Decode ``raws`` and ``admit`` the decodable ones as one batch.

    Returns one SubmitResult per raw (in order) and the transactions
    admitted. The shared first half of ``submit_txs``: ``admit`` is the
    node's ``NodeCore.receive_txs`` (or a bare pool's ``admit`` in tests).
    """
    results: list[SubmitResult | None] = [None] * len(raws)
    txs: list[Transaction] = []
    slots: list[int] = []
    for i, raw in enumerate(raws):
        try:
            txs.append(Transaction.decode(raw))
        except DecodeError as exc:
            results[i] = SubmitResult(None, False, exc.message, exc.code)
            continue
        slots.append(i)
    accepted: list[Transaction] = []
    if txs:
        answers = admit(txs)
        for i, tx, answer in zip(slots, txs, answers, strict=True):
            results[i] = SubmitResult(answer.tx_id, answer.accepted, answer.message, answer.code)
            if answer.accepted:
                accepted.append(tx)
    assert all(r is not None for r in results)
    return results, accepted  # type: ignore[return-value]

"""The HTTP handlers of the REST API (the route table is in app.py).

Handlers read the ledger, mempool and policy of the NodeService directly
(same event loop, no locks) and call its methods for anything that changes
the node. Input is checked by node.rpc.params; answers are JSON objects.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from aiohttp import web

from node.fees.estimator import DEFAULT_BLOCKS, DEFAULT_CONFIDENCE, MAX_BLOCKS, check_query
from node.fees.live import transfer_size
from node.rpc import params
from node.rpc.keys import LIMITS_KEY, SERVICE_KEY
from node.rpc.openapi import openapi_document
from node.rpc.params import BadRequest, NotFound
from node.rpc.service import NodeService, SubmitResult
from node.types import MAX_TX_SIZE, ZERO_HASH, Transaction

# hex of the largest transaction, with an optional 0x
_MAX_TX_HEX = 2 * MAX_TX_SIZE + 2


def _service(request: web.Request) -> NodeService:
    return request.app[SERVICE_KEY]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _score(value: float | None) -> float | None:
    """A policy score as JSON (NaN and infinities have no JSON form)."""
    if value is None:
        return None
    score = float(value)
    return score if math.isfinite(score) else None


def _hash_or_none(value: bytes) -> str | None:
    return None if value == ZERO_HASH else value.hex()


# -- chain ----------------------------------------------------------------------


async def get_status(request: web.Request) -> web.Response:
    return _json(_service(request).status())


async def get_block(request: web.Request) -> web.Response:
    service = _service(request)
    height = params.height(request.match_info["height"])
    block = service.ledger.block(height) if height <= service.ledger.height else None
    if block is None:
        raise NotFound(
            f"no block at height {height} (head is {service.ledger.height})",
        )
    return _json(block.to_json())


async def get_latest_block(request: web.Request) -> web.Response:
    ledger = _service(request).ledger
    block = ledger.block(ledger.height)
    assert block is not None, "the head block is missing from the store"
    return _json(block.to_json())


async def get_account(request: web.Request) -> web.Response:
    service = _service(request)
    address = params.hex32(request.match_info["address"], "address")
    account = service.ledger.account(address)
    return _json(
        {
            "address": address.hex(),
            "balance": account.balance,
            "nonce": account.nonce,
            # the nonce a new tx should carry to follow the sender's pooled ones
            "pending_nonce": service.mempool.pending_nonce(address),
        }
    )


# -- transactions -----------------------------------------------------------------


async def post_txs(request: web.Request) -> web.Response:
    service = _service(request)
    limits = request.app[LIMITS_KEY]
    body = await params.json_object(request)
    hexes = params.string_list(body, "txs", max_items=limits.max_batch_txs)
    results: list[SubmitResult | None] = [None] * len(hexes)
    raws: list[bytes] = []
    slots: list[int] = []
    for i, text in enumerate(hexes):
        if len(text) > _MAX_TX_HEX:
            results[i] = SubmitResult(
                None, False, f"more than {MAX_TX_SIZE} bytes, the largest transaction", "too_large"
            )
            continue
        try:
            raws.append(params.unhex(text))
        except ValueError as exc:
            results[i] = SubmitResult(None, False, str(exc), "bad_hex")
            continue
        slots.append(i)
    if raws:
        answers = await service.submit_txs(raws)
        assert len(answers) == len(raws), "submit_txs must answer every transaction"
        for i, answer in zip(slots, answers, strict=True):
            results[i] = answer
    tally = Counter("accepted" if r is not None and r.accepted else _code(r) for r in results)
    for result, count in tally.items():
        service.metrics.rpc_txs.labels(result=result).inc(count)
    accepted = tally.get("accepted", 0)
    return _json(
        {
            "results": [r.to_json() for r in results if r is not None],
            "accepted": accepted,
            "refused": len(results) - accepted,
        }
    )


def _code(result: SubmitResult | None) -> str:
    return (result.code if result is not None else None) or "refused"


async def get_tx(request: web.Request) -> web.Response:
    service = _service(request)
    tx_id = params.hex32(request.match_info["id"], "tx id")
    found = service.ledger.tx(tx_id)
    if found is not None:
        tx, height, index = found
        return _json(
            {
                "id": tx_id.hex(),
                "status": "committed",
                "height": height,
                "index": index,
                "tx": tx.to_json(),
            }
        )
    pooled = service.mempool.get(tx_id)
    if pooled is not None:
        return _json(
            {
                "id": tx_id.hex(),
                "status": "pending",
                # False while the sender has a nonce gap before this tx
                "executable": service.mempool.is_pending(tx_id),
                "score": _score(service.mempool.score_of(tx_id)),
                "tx": pooled.to_json(),
            }
        )
    return _json(
        {
            "error": f"transaction {tx_id.hex()} is neither committed nor in the mempool",
            "code": "not_found",
            "status": "unknown",
            "id": tx_id.hex(),
        },
        status=404,
    )


def _pooled_json(tx: Transaction, score: float) -> dict[str, Any]:
    out = tx.to_json()
    out["score"] = _score(score)
    return out


async def get_mempool(request: web.Request) -> web.Response:
    service = _service(request)
    limits = request.app[LIMITS_KEY]
    limit = params.query_int(request, "limit", default=100, low=0, high=limits.max_mempool_limit)
    mempool = service.mempool
    ordered = mempool.ordered(limit, service.now_s()) if limit > 0 and len(mempool) > 0 else []
    return _json(
        {
            "size": len(mempool),
            "bytes": mempool.size_bytes,
            "pending": mempool.pending_count,
            "queued": mempool.queued_count,
            "policy": service.policy.name,
            "model_hash": _hash_or_none(service.policy.model_hash),
            "txs": [_pooled_json(tx, score) for tx, score in ordered],
        }
    )


# -- fees ---------------------------------------------------------------------------


async def get_fee_estimate(request: web.Request) -> web.Response:
    service = _service(request)
    blocks = params.query_int(request, "blocks", default=DEFAULT_BLOCKS, low=1, high=MAX_BLOCKS)
    confidence = params.query_number(request, "confidence", default=DEFAULT_CONFIDENCE)
    default_size = transfer_size(service.chain_id)
    size = params.query_int(request, "size", default=default_size, low=1, high=MAX_TX_SIZE)
    blocks, confidence = check_query(blocks, confidence)  # BadFeeQuery: a typed 400
    return _json(service.fee_estimate(blocks, confidence).to_json(size))


# -- network and consensus ----------------------------------------------------------


async def get_peers(request: web.Request) -> web.Response:
    peers = _service(request).peers()
    return _json({"count": len(peers), "peers": peers})


async def get_consensus(request: web.Request) -> web.Response:
    return _json(_service(request).consensus_status())


async def get_metrics(request: web.Request) -> web.Response:
    service = _service(request)
    metrics = service.metrics
    # gauges that are cheap to read are sampled now, so they are never stale
    metrics.height.set(service.ledger.height)
    metrics.mempool_txs.set(len(service.mempool))
    metrics.mempool_bytes.set(service.mempool.size_bytes)
    metrics.peers.set(len(service.peers()))
    response = web.Response(body=metrics.render())
    response.headers["Content-Type"] = metrics.content_type
    return response


async def get_openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


# -- admin: fault injection (local testnets only) ---------------------------------------


def _require_admin(service: NodeService) -> None:
    if not service.admin_enabled:
        raise BadRequest(
            "admin endpoints are disabled on this node; they are enabled for local "
            "testnets only (admin_enabled = true in the [rpc] section of the node's config)",
            code="admin_disabled",
            status=403,
        )


async def post_admin_partition(request: web.Request) -> web.Response:
    service = _service(request)
    _require_admin(service)
    body = await params.json_object(request)
    limit = request.app[LIMITS_KEY].max_partition_peers
    peers = [
        params.hex32(text, "peer node id")
        for text in params.string_list(body, "peers", max_items=limit)
    ]
    try:
        await service.admin_block_peers(peers)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return _json({"blocked": [p.hex() for p in peers]})


async def post_admin_heal(request: web.Request) -> web.Response:
    service = _service(request)
    _require_admin(service)
    await service.admin_heal()
    return _json({"healed": True})


async def post_admin_delay(request: web.Request) -> web.Response:
    service = _service(request)
    _require_admin(service)
    body = await params.json_object(request)
    high = request.app[LIMITS_KEY].max_delay_ms
    delay_ms = params.int_field(body, "delay_ms", low=0, high=high)
    try:
        await service.admin_set_delay(delay_ms)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return _json({"delay_ms": delay_ms})

"""The OpenAPI 3.1 description of the REST API, written as data.

GET /openapi.json serves ``openapi_document()``. A test checks that every
route of the app is described here and every path here is routed, so the
document cannot drift from the code; docs/API.md is the prose companion.
"""

from __future__ import annotations

import copy
from typing import Any

from node import __version__
from node.fees.estimator import DEFAULT_BLOCKS, DEFAULT_CONFIDENCE, MAX_BLOCKS
from node.rpc.events import KNOWN_KINDS
from node.rpc.keys import RpcLimits
from node.rpc.service import STATUS_KEYS
from node.types import MAX_TX_SIZE

_HEX32 = {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$"}
_HEX = {"type": "string", "pattern": "^(0x)?([0-9a-fA-F]{2})*$"}
_HEX32_OR_NULL = {"oneOf": [_HEX32, {"type": "null"}]}
_UINT = {"type": "integer", "minimum": 0}
_LIMITS = RpcLimits()  # the defaults of make_app
_KIND = "(" + "|".join(KNOWN_KINDS) + ")"
# what params.query_kinds accepts: known kinds, commas, spaces around them
_KINDS_PATTERN = f"^( *{_KIND} *(, *{_KIND} *)*)?$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], props: dict[str, Any], extra: bool = True) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": props,
        "additionalProperties": extra,
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _json_content(schema)}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref("Error"))}


def _op(
    op_id: str,
    summary: str,
    ok: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    tags: tuple[str, ...] = ("node",),
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok}
    for status, description in (errors or {}).items():
        responses[status] = _error(description)
    out: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": list(tags),
        "responses": responses,
    }
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": _json_content(body)}
    return out


def _path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _anycase(word: str) -> str:
    """A pattern matching ``word`` in any case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


# What makes GET /ws a websocket handshake; without them it is 400.
_WEBSOCKET_HEADERS: dict[str, dict[str, Any]] = {
    "Connection": {"type": "string", "pattern": _anycase("upgrade")},
    "Upgrade": {"type": "string", "pattern": f"^{_anycase('websocket')}$"},
    "Sec-WebSocket-Version": {"const": "13"},
    "Sec-WebSocket-Key": {"type": "string", "pattern": "^[A-Za-z0-9+/]{22}==$"},
}

_ADMIN_ERRORS = {
    "400": "Malformed body",
    "403": "Admin endpoints are disabled on this node",
    "413": "Body or list too large (body_too_large, batch_too_large)",
}

_SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        ["error", "code"],
        {
            "error": {"type": "string", "description": "what was wrong, for people"},
            "code": {"type": "string", "description": "a stable machine-readable code"},
        },
    ),
    "Status": _obj(
        list(STATUS_KEYS),
        {
            "chain_id": {"type": "string"},
            "node_id": _HEX32,
            "height": _UINT,
            "head_hash": _HEX32,
            "consensus": {"type": "string", "enum": ["bft", "poa", "pow"]},
            "policy": {"type": "string"},
            "model_hash": _HEX32_OR_NULL,
            "peers": _UINT,
            "mempool_size": _UINT,
            "syncing": {"type": "boolean"},
        },
    ),
    "Transaction": _obj(
        [
            "id",
            "chain_id",
            "sender",
            "nonce",
            "recipient",
            "amount",
            "fee",
            "data",
            "signature",
            "size",
        ],
        {
            "id": _HEX32,
            "chain_id": {"type": "string"},
            "sender": _HEX32,
            "nonce": _UINT,
            "recipient": _HEX32,
            "amount": _UINT,
            "fee": _UINT,
            "data": _HEX,
            "signature": _HEX,
            "size": _UINT,
        },
    ),
    "SubmitRequest": _obj(
        ["txs"],
        {
            "txs": {
                "type": "array",
                "maxItems": _LIMITS.max_batch_txs,
                # Any string: each item is judged on its own, and one that is not
                # hex, too long or not a transaction is refused in its result
                # (bad_hex, too_large, decode codes), never the whole batch.
                "items": {"type": "string"},
                "description": "canonical transaction encodings in hex (docs/PROTOCOL.md); "
                "an item that is not one is refused in its own result",
            }
        },
    ),
    "SubmitResult": _obj(
        ["id", "accepted", "error", "code"],
        {
            "id": _HEX32_OR_NULL,
            "accepted": {"type": "boolean"},
            "error": {"type": ["string", "null"]},
            "code": {
                "type": ["string", "null"],
                "description": "refusal reason: bad_hex, too_large, decode_error codes, "
                "or a mempool Refusal (duplicate, nonce_too_low, insufficient_funds, ...)",
            },
        },
    ),
    "SubmitResponse": _obj(
        ["results", "accepted", "refused"],
        {
            "results": {"type": "array", "items": _ref("SubmitResult")},
            "accepted": _UINT,
            "refused": _UINT,
        },
    ),
    "TxStatus": _obj(
        ["id", "status", "tx"],
        {
            "id": _HEX32,
            "status": {"type": "string", "enum": ["pending", "committed"]},
            "height": {**_UINT, "description": "committed only"},
            "index": {**_UINT, "description": "committed only: position in the block"},
            "executable": {
                "type": "boolean",
                "description": "pending only: false while a nonce gap holds it back",
            },
            "score": {"type": ["number", "null"], "description": "pending only"},
            "tx": _ref("Transaction"),
        },
    ),
    "TxUnknown": _obj(
        ["error", "code", "status", "id"],
        {
            "error": {"type": "string"},
            "code": {"const": "not_found"},
            "status": {"const": "unknown"},
            "id": _HEX32,
        },
    ),
    "Block": _obj(
        [
            "hash",
            "chain_id",
            "height",
            "timestamp_ms",
            "prev_hash",
            "proposer",
            "tx_root",
            "state_root",
            "tx_count",
            "policy",
            "model_hash",
            "txs",
        ],
        {
            "hash": _HEX32,
            "chain_id": {"type": "string"},
            "height": _UINT,
            "timestamp_ms": _UINT,
            "prev_hash": _HEX32,
            "proposer": _HEX32,
            "tx_root": _HEX32,
            "state_root": _HEX32,
            "last_commit_hash": _HEX32,
            "tx_count": _UINT,
            "policy": {"type": "string"},
            "model_hash": _HEX32_OR_NULL,
            "pow_target": _HEX32_OR_NULL,
            "pow_nonce": _UINT,
            "signature": _HEX,
            "last_commit": {"type": ["object", "null"]},
            "txs": {"type": "array", "items": _HEX32, "description": "tx ids in block order"},
        },
    ),
    "Account": _obj(
        ["address", "balance", "nonce", "pending_nonce"],
        {
            "address": _HEX32,
            "balance": _UINT,
            "nonce": {**_UINT, "description": "committed: the next tx must carry it"},
            "pending_nonce": {
                **_UINT,
                "description": "the nonce that follows the sender's pooled txs",
            },
        },
    ),
    "Mempool": _obj(
        ["size", "bytes", "pending", "queued", "policy", "model_hash", "txs"],
        {
            "size": _UINT,
            "bytes": _UINT,
            "pending": _UINT,
            "queued": _UINT,
            "policy": {"type": "string"},
            "model_hash": _HEX32_OR_NULL,
            "txs": {
                "type": "array",
                "description": "executable txs in the order the policy would include them",
                "items": {
                    "allOf": [
                        _ref("Transaction"),
                        _obj(["score"], {"score": {"type": ["number", "null"]}}),
                    ]
                },
            },
        },
    ),
    "FeeEstimate": _obj(
        ["blocks", "confidence", "fee_rate", "fee", "size", "estimator", "model_sha256", "basis"],
        {
            "blocks": {**_UINT, "minimum": 1, "maximum": MAX_BLOCKS},
            "confidence": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "fee_rate": {
                "type": ["number", "null"],
                "minimum": 0,
                "description": "fee per encoded byte; null when the estimator has no answer yet",
            },
            "fee": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "fee_rate x size, rounded up",
            },
            "size": {**_UINT, "description": "the tx size the fee is for"},
            "estimator": {"type": "string", "description": "model, buckets or percentile"},
            "model_sha256": _HEX32_OR_NULL,
            "basis": _obj(
                [
                    "pool_txs",
                    "pool_bytes",
                    "pending_txs",
                    "block_fullness",
                    "recent_blocks",
                    "arrival_tps",
                    "height",
                ],
                {
                    "pool_txs": _UINT,
                    "pool_bytes": _UINT,
                    "pending_txs": {**_UINT, "description": "executable (no nonce gap)"},
                    "block_fullness": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 1,
                        "description": "mean share of the block limits the recent blocks used",
                    },
                    "recent_blocks": _UINT,
                    "arrival_tps": {"type": "number", "minimum": 0},
                    "height": _UINT,
                },
            ),
        },
    ),
    "Peers": _obj(
        ["count", "peers"],
        {
            "count": _UINT,
            "peers": {
                "type": "array",
                "items": _obj(
                    ["node_id"],
                    {
                        "node_id": _HEX32,
                        "address": {"type": "string"},
                        "address_verified": {"type": "boolean"},
                        "remote_ip": {"type": "string"},
                        "direction": {"type": "string", "enum": ["inbound", "outbound"]},
                        "height": _UINT,
                        "head_hash": _HEX32,
                    },
                ),
            },
        },
    ),
    "Consensus": _obj(
        ["engine", "height"],
        {
            "engine": {"type": "string", "enum": ["bft", "poa", "pow"]},
            "height": _UINT,
            "round": _UINT,
            "step": {"type": "string"},
            "votes": {"type": "object"},
        },
    ),
    "Event": _obj(
        ["kind", "seq", "data"],
        {
            "kind": {
                "type": "string",
                "description": "subscribed, block, tx, consensus, lagged, ...",
            },
            "seq": _UINT,
            "data": {"type": "object"},
        },
    ),
}

_PATHS: dict[str, Any] = {
    "/status": {
        "get": _op("getStatus", "The node at a glance", _ok("Node status", _ref("Status"))),
    },
    "/txs": {
        "post": _op(
            "submitTxs",
            "Submit a batch of signed transactions",
            _ok("One result per transaction, in order", _ref("SubmitResponse")),
            {
                "400": "The body is not {'txs': [strings]} or not JSON",
                "413": "Body or batch too large",
            },
            tags=("txs",),
            body=_ref("SubmitRequest"),
        ),
    },
    "/txs/{id}": {
        "get": _op(
            "getTx",
            "A transaction and its status (pending or committed)",
            _ok("Found", _ref("TxStatus")),
            {"400": "The id is not 64 hex characters (bad_hex) or not 32 bytes (bad_length)"},
            tags=("txs",),
            params=[_path_param("id", _HEX32, "transaction id")],
        ),
    },
    "/blocks/latest": {
        "get": _op(
            "getLatestBlock",
            "The head block",
            _ok("The head block", _ref("Block")),
            tags=("chain",),
        ),
    },
    "/blocks/{height}": {
        "get": _op(
            "getBlock",
            "The block at a height",
            _ok("The block", _ref("Block")),
            {"400": "The height is not a non-negative integer", "404": "No block at that height"},
            tags=("chain",),
            params=[
                _path_param(
                    "height", {**_UINT, "maximum": 2**63 - 1}, "block height (0 is genesis)"
                )
            ],
        ),
    },
    "/accounts/{address}": {
        "get": _op(
            "getAccount",
            "Balance and nonce of an address (an unknown address is the zero account)",
            _ok("The account", _ref("Account")),
            {"400": "The address is not 64 hex characters (bad_hex, bad_length)"},
            tags=("chain",),
            params=[_path_param("address", _HEX32, "Ed25519 public key")],
        ),
    },
    "/mempool": {
        "get": _op(
            "getMempool",
            "Mempool size, and the next txs in the policy's order with their scores",
            _ok("The mempool", _ref("Mempool")),
            {"400": "limit out of range"},
            tags=("txs",),
            params=[
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": _LIMITS.max_mempool_limit,
                        "default": 100,
                    },
                }
            ],
        ),
    },
    "/fees/estimate": {
        "get": _op(
            "estimateFee",
            "The fee and fee rate that get a tx included within N blocks with probability P",
            _ok("The estimate and its basis", _ref("FeeEstimate")),
            {
                "400": "blocks, confidence or size out of range or not a number (bad_blocks, "
                "bad_confidence, bad_size)"
            },
            tags=("txs",),
            params=[
                {
                    "name": "blocks",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_BLOCKS,
                        "default": DEFAULT_BLOCKS,
                    },
                    "description": "target: included within this many blocks (1: the next)",
                },
                {
                    "name": "confidence",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "exclusiveMaximum": 1,
                        "default": DEFAULT_CONFIDENCE,
                    },
                    "description": "probability of inclusion within the target",
                },
                {
                    "name": "size",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TX_SIZE},
                    "description": "tx size in bytes the fee is for (default: a plain transfer)",
                },
            ],
        ),
    },
    "/peers": {
        "get": _op("getPeers", "Connected peers", _ok("Peers", _ref("Peers")), tags=("network",)),
    },
    "/consensus": {
        "get": _op(
            "getConsensus",
            "The consensus engine's live state (height, round, step, votes)",
            _ok("Engine state (fields depend on the engine)", _ref("Consensus")),
            tags=("network",),
        ),
    },
    "/metrics": {
        "get": {
            "operationId": "getMetrics",
            "summary": "Prometheus metrics (text exposition format)",
            "tags": ["node"],
            "responses": {
                "200": {
                    "description": "Prometheus text format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        },
    },
    "/openapi.json": {
        "get": _op("getOpenApi", "This document", _ok("OpenAPI 3.1 document", {"type": "object"})),
    },
    "/ws": {
        "get": {
            "operationId": "events",
            "summary": "Websocket stream of node events",
            "description": (
                "Upgrade to a websocket; each message is an Event as JSON. The first is "
                "'subscribed'. A client too slow to read loses its oldest events and "
                "receives a 'lagged' event with the number missed."
            ),
            "tags": ["node"],
            "parameters": [
                {
                    "name": "kinds",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": _KINDS_PATTERN, "example": "block,tx"},
                    "description": "comma-separated event kinds to receive (default: all): "
                    + ", ".join(KNOWN_KINDS),
                },
                *(
                    _header(name, schema, "the websocket handshake (RFC 6455)")
                    for name, schema in _WEBSOCKET_HEADERS.items()
                ),
            ],
            "responses": {
                "101": {
                    "description": "Switching to the websocket protocol",
                    "content": _json_content(_ref("Event")),
                },
                "400": _error(
                    "Not a websocket handshake (websocket_required), or a kinds filter "
                    "naming a kind the node does not send (bad_kinds)"
                ),
            },
        },
    },
    "/admin/partition": {
        "post": _op(
            "adminPartition",
            "Fault injection: cut and refuse the links to these peers",
            _ok("Blocked", _obj(["blocked"], {"blocked": {"type": "array", "items": _HEX32}})),
            _ADMIN_ERRORS,
            tags=("admin",),
            body=_obj(
                ["peers"],
                {
                    "peers": {
                        "type": "array",
                        "items": _HEX32,
                        "maxItems": _LIMITS.max_partition_peers,
                    }
                },
            ),
        ),
    },
    "/admin/heal": {
        "post": _op(
            "adminHeal",
            "Fault injection: undo every blocked link and delay",
            _ok("Healed", _obj(["healed"], {"healed": {"const": True}})),
            {"403": _ADMIN_ERRORS["403"]},
            tags=("admin",),
        ),
    },
    "/admin/delay": {
        "post": _op(
            "adminDelay",
            "Fault injection: hold every outgoing P2P message for delay_ms",
            _ok("Delay set", _obj(["delay_ms"], {"delay_ms": _UINT})),
            _ADMIN_ERRORS,
            tags=("admin",),
            body=_obj(
                ["delay_ms"],
                {"delay_ms": {"type": "integer", "minimum": 0, "maximum": _LIMITS.max_delay_ms}},
            ),
        ),
    },
}

_PATHS["/txs/{id}"]["get"]["responses"]["404"] = {
    "description": "Neither committed nor in the mempool",
    "content": _json_content(_ref("TxUnknown")),
}

# Every route may also answer these; listed once rather than per operation.
_COMMON_ERRORS = {
    "404": "unknown route (code not_found)",
    "405": "wrong method (code method_not_allowed)",
    "413": "body over the size limit (code body_too_large)",
    "500": "a bug in the node (code internal_error), never caused by input",
}


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may modify it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Ordinet node API",
                "version": __version__,
                "description": (
                    "REST API of an Ordinet node. Bytes are hex (an optional 0x prefix is "
                    "accepted on input). Every error is JSON {error, code}. Errors any "
                    "route may give: "
                    + "; ".join(f"{s} {d}" for s, d in _COMMON_ERRORS.items())
                    + ". See docs/API.md."
                ),
            },
            "paths": _PATHS,
            "components": {"schemas": _SCHEMAS},
            "tags": [
                {"name": "node"},
                {"name": "txs"},
                {"name": "chain"},
                {"name": "network"},
                {"name": "admin", "description": "fault injection, local testnets only"},
            ],
        }
    )

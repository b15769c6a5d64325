"""Reading what a client sent: path parameters, query strings and JSON bodies.

Every check here raises ``BadRequest`` (or ``NotFound``) with a stable
``code`` and an HTTP status, which the error middleware turns into a JSON
answer. Nothing a client sends can get past these functions as a Python
exception of another type.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Collection
from typing import Any

from aiohttp import web

from node.errors import OrdinetError

_U63_MAX = 2**63 - 1
# what JSON calls a number (no NaN, no infinity, no underscores), with an optional sign
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class BadRequest(OrdinetError):
    """The request cannot be served as sent; ``status`` is the HTTP status."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code)
        if status is not None:
            self.status = status


class NotFound(BadRequest):
    """The thing named by the request does not exist (HTTP 404)."""

    code = "not_found"
    status = 404


def strip_0x(text: str) -> str:
    return text[2:] if text[:2] in ("0x", "0X") else text


def unhex(text: str) -> bytes:
    """Strict hex (an optional 0x, pairs of hex digits, nothing else), or
    ValueError. ``bytes.fromhex`` would accept spaces between bytes."""
    try:
        return binascii.a2b_hex(strip_0x(text))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not hex: {exc}") from None


def hex32(text: str, what: str) -> bytes:
    """A 32-byte value (tx id, address, node id) in hex, or BadRequest."""
    try:
        value = unhex(text)
    except ValueError:
        raise BadRequest(f"{what} must be 64 hex characters", code="bad_hex") from None
    if len(value) != 32:
        raise BadRequest(
            f"{what} must be 32 bytes (64 hex characters), got {len(value)} bytes",
            code="bad_length",
        )
    return value


def height(text: str) -> int:
    """A block height: a decimal integer >= 0."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > _U63_MAX:
        raise BadRequest(
            f"height must be a non-negative integer or 'latest', got {text[:40]!r}",
            code="bad_height",
        )
    return int(text)


def query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise BadRequest(
            f"{name} must be an integer from {low} to {high}, got {raw[:40]!r}",
            code=f"bad_{name}",
        )
    return int(raw)


def query_number(request: web.Request, name: str, *, default: float) -> float:
    """A decimal number query parameter (``0.9``, ``.95``, ``5e-1``); its range
    is the caller's to check."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DECIMAL.fullmatch(raw):
        raise BadRequest(f"{name} must be a decimal number, got {raw[:40]!r}", code=f"bad_{name}")
    return float(raw)


def query_kinds(request: web.Request, known: Collection[str]) -> frozenset[str] | None:
    """The ``kinds`` filter of /ws: comma-separated kinds out of ``known``, or
    None (all). A kind the node never sends is refused, not matched to nothing."""
    raw = request.query.get("kinds")
    if raw is None or raw == "":
        return None
    kinds = frozenset(part.strip() for part in raw.split(","))
    if not kinds <= frozenset(known):
        raise BadRequest(
            f"kinds must be comma-separated event kinds out of {', '.join(known)}; "
            f"got {raw[:80]!r}",
            code="bad_kinds",
        )
    return kinds


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (413 past the app's size limit)."""
    body = await request.read()  # raises HTTPRequestEntityTooLarge
    if not body.strip():
        raise BadRequest("the request body must be a JSON object", code="bad_json")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, bad UTF-8 and oversized integers
        raise BadRequest(f"the body is not valid JSON: {exc}", code="bad_json") from None
    if not isinstance(value, dict):
        raise BadRequest(
            f"the body must be a JSON object, got {type(value).__name__}", code="bad_body"
        )
    return value


def string_list(body: dict[str, Any], key: str, *, max_items: int) -> list[str]:
    """``body[key]`` as a list of strings of at most ``max_items``."""
    value = body.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f'the body must be {{"{key}": [hex strings]}}', code="bad_body")
    if len(value) > max_items:
        raise BadRequest(
            f"{len(value)} items in {key!r}; at most {max_items} per request",
            code="batch_too_large",
            status=413,
        )
    return value


def int_field(body: dict[str, Any], key: str, *, low: int, high: int) -> int:
    """``body[key]`` as an integer within [low, high]. Booleans are refused;
    a number with no fraction (``5.0``) is an integer, as JSON Schema says."""
    value = body.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be an integer from {low} to {high}", code="bad_body")
    return value

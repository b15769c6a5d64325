"""What the node's HTTP server (node/httpserve.py) does below the routes.

Requests aiohttp's parser rejects get the JSON error format and cost one
log line per interval, not a traceback each; a client too slow with its
head or body, or idle too long between requests, is closed; connections
past the cap are closed at once; and a client that leaves mid-request is
no error at all. Real sockets against the real server, in one process.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from rpc_kit import LocalNode, with_server

from node.errors import ConfigError
from node.httpserve import HttpLimits, HttpServer

# Generous: the point is that the connection closes, not how fast.
DEADLINE_S = 20.0
SHORT = HttpLimits(head_timeout_s=0.3, body_timeout_s=0.3, idle_timeout_s=0.3)


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw``, read until the server closes: status, headers, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(DEADLINE_S):
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before closing (it must close within the deadline)."""
    async with asyncio.timeout(DEADLINE_S):
        return await reader.read()


MALFORMED = {
    "bad method": b"G\x01T /status HTTP/1.1\r\nHost: node\r\n\r\n",
    "NUL in a header": b"GET /status HTTP/1.1\r\nHost: node\r\nX-Bad: a\x00b\r\n\r\n",
    "8 KiB URL": b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\nHost: node\r\n\r\n",
    "not HTTP at all": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_request_the_parser_rejects_is_a_json_400_without_a_traceback(
    node: LocalNode, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(server: HttpServer) -> tuple[int, dict[str, str], bytes]:
        return await exchange(server.port, MALFORMED[name])

    with caplog.at_level(logging.DEBUG):
        status, headers, raw = with_server(node, body)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(raw)
    assert answer["code"] == "bad_request"
    assert answer["error"].startswith("the HTTP request is malformed")
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([r for r in caplog.records if r.name.startswith(("aiohttp", "node"))]) <= 1


def test_a_flood_of_malformed_requests_logs_one_line(
    node: LocalNode, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(server: HttpServer) -> list[int]:
        statuses = []
        for i in range(50):
            status, _, _ = await exchange(server.port, MALFORMED[sorted(MALFORMED)[i % 4]])
            statuses.append(status)
        assert server.stats()["bad_requests"] == 50
        return statuses

    with caplog.at_level(logging.DEBUG):
        statuses = with_server(node, body)
    assert statuses == [400] * 50
    lines = [r for r in caplog.records if r.name.startswith(("aiohttp", "node.http"))]
    # the first, then (when the server stops) the count of the 49 others
    assert len(lines) <= 2, [r.getMessage() for r in lines]


def test_a_half_sent_head_is_closed_after_the_head_timeout(node: LocalNode) -> None:
    async def body(server: HttpServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /status HTTP/1.1\r\nHost: node\r\n")
        assert await closed_by_server(reader) == b""
        writer.close()
        assert server.stats()["timeouts"]["head"] == 1
        # a prompt client on the same server is served as usual
        status, _, answer = await exchange(
            server.port, b"GET /status HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n"
        )
        assert status == 200 and json.loads(answer)["chain_id"] == node.chain_id

    with_server(node, body, SHORT)


def test_a_body_that_does_not_arrive_in_time_is_closed(node: LocalNode) -> None:
    async def body(server: HttpServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /txs HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"txs": ['
        )
        assert await closed_by_server(reader) == b""
        writer.close()
        assert server.stats()["timeouts"] == {"head": 0, "body": 1}

    with_server(node, body, SHORT)


def test_an_idle_kept_alive_connection_is_closed(node: LocalNode) -> None:
    async def body(server: HttpServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /status HTTP/1.1\r\nHost: node\r\n\r\n")
        answer = await closed_by_server(reader)  # answered, then closed when idle
        assert answer.startswith(b"HTTP/1.1 200")
        writer.close()

    with_server(node, body, SHORT)


def test_connections_past_the_cap_are_closed_at_once(node: LocalNode) -> None:
    limits = HttpLimits(head_timeout_s=30.0, max_connections=3)

    async def body(server: HttpServer) -> None:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        for _, writer in held:
            writer.write(b"GET /status HTTP/1.1\r\n")
        async with asyncio.timeout(DEADLINE_S):
            while server.open_connections < 3:
                await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await closed_by_server(reader) == b""  # long before the 30 s head timeout
        writer.close()
        assert server.stats()["refused"] == 1
        assert server.open_connections == 3
        for _, held_writer in held:
            held_writer.close()
        async with asyncio.timeout(DEADLINE_S):
            while server.open_connections:
                await asyncio.sleep(0.01)
        status, _, _ = await exchange(
            server.port, b"GET /status HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n"
        )
        assert status == 200

    with_server(node, body, limits)


def test_a_client_that_leaves_mid_body_is_not_an_error(
    node: LocalNode, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(server: HttpServer) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /txs HTTP/1.1\r\nHost: node\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        async with asyncio.timeout(DEADLINE_S):
            while server.open_connections:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)

    with caplog.at_level(logging.DEBUG):
        with_server(node, body)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.mark.parametrize(
    "field, value",
    [
        ("head_timeout_s", 0),
        ("body_timeout_s", -1.0),
        ("idle_timeout_s", float("nan")),
        ("max_connections", 0),
        ("max_connections", True),
    ],
)
def test_limits_out_of_range_are_a_config_error(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        HttpLimits(**{field: value})  # type: ignore[arg-type]

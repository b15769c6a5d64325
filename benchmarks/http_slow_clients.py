"""Slow HTTP clients against a real node process: the figures of issue 11 item 4.

Two runs against a single-node PoA chain (``python -m node run``):

1. ``held``: open N sockets to the RPC port that send half a request head,
   wait past the node's head timeout, count the sockets the node still holds.
2. ``flood``: lower the node's RLIMIT_NOFILE, open more sockets than that to
   both ports (RPC and P2P) and hold them; report the bytes node.log grew by
   and whether /status answers again once the sockets close.

Run: ``.venv/bin/python benchmarks/http_slow_clients.py [--sockets N] [--hold S]``.
A figure, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "node"))

from nodekit import Cluster, wait_until  # noqa: E402

HALF_HEAD = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: "


def open_half(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(HALF_HEAD)
        socks.append(s)
    return socks


def still_open(socks: list[socket.socket]) -> int:
    """How many of ``socks`` the peer has not closed (no EOF, no reset)."""
    count = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) != b"":
                count += 1  # an answer: open (it never comes for half a head)
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def held(base: Path, sockets: int, wait_s: float) -> None:
    cluster = Cluster(base, consensus="poa", nodes=1)
    try:
        cluster.start()
        node = cluster.nodes[0]
        socks = open_half(node.home.rpc_port, sockets)
        time.sleep(wait_s)
        print(f"held: {still_open(socks)}/{sockets} half-head sockets open after {wait_s:.0f} s")
        for s in socks:
            s.close()
    finally:
        cluster.close()


def flood(base: Path, nofile: int, sockets: int, hold_s: float) -> None:
    cluster = Cluster(base, consensus="poa", nodes=1)
    try:
        cluster.start()
        node = cluster.nodes[0]
        assert node.proc is not None
        resource.prlimit(node.proc.pid, resource.RLIMIT_NOFILE, (nofile, nofile))
        before = node.log_path.stat().st_size
        socks: list[socket.socket] = []
        started = time.monotonic()
        for port in (node.home.rpc_port, node.home.p2p_port):
            for _ in range(sockets // 2):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=2)
                    s.sendall(HALF_HEAD)
                    socks.append(s)
                except OSError:
                    break
        time.sleep(max(0.0, hold_s - (time.monotonic() - started)))
        with node.log_path.open("rb") as f:
            f.seek(before)
            written = f.read().decode(errors="replace").splitlines()
        grown = sum(len(line) + 1 for line in written)
        # the routine line per committed block is not the flood's doing
        noisy = [line for line in written if "node.committed" not in line]
        print(
            f"flood: nofile={nofile}, {len(socks)} sockets held {hold_s:.0f} s: log +{grown} B, "
            f"{len(noisy)} lines / {sum(len(x) + 1 for x in noisy)} B besides block commits"
        )
        for s in socks:
            s.close()
        t0 = time.monotonic()
        wait_until(node.status, "/status after the flood", 60)
        print(f"flood: /status answers {time.monotonic() - t0:.1f} s after the sockets close")
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=300)
    parser.add_argument("--wait", type=float, default=15.0, help="held: seconds to wait")
    parser.add_argument("--nofile", type=int, default=256)
    parser.add_argument("--flood-sockets", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=20.0, help="flood: seconds to hold")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        held(Path(tmp) / "held", args.sockets, args.wait)
        flood(Path(tmp) / "flood", args.nofile, args.flood_sockets, args.hold)


if __name__ == "__main__":
    main()

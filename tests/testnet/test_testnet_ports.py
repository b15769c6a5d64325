"""`testnet up` on ports it does not get, and Ctrl-C during its start-up,
through the real command and real processes.

`up` succeeds only when every node it started is the one answering on its
ports: its process alive and listening on its P2P and RPC ports, and its
/status carrying the node id whose key `up` generated. Otherwise it fails
naming the port and the node's log, stops every process it started and
leaves the manifest saying so; nothing of the new home survives. Ctrl-C
(or SIGTERM) before the nodes are up does the same."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nodekit import wait_until
from testnetkit import ordinet

from node.client import Client
from node.errors import OrdinetError
from node.testnet import procs
from node.testnet.manifest import load_manifest


def _free_run(count: int) -> int:
    """A base port P with P..P+count-1 all free a moment ago."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no run of free ports")


def _processes_of(home: Path) -> list[int]:
    """Every live process whose command line names a path under ``home``."""
    found = []
    prefix = str(home.resolve()).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(a.startswith(prefix) for a in args):
            found.append(int(entry.name))
    return found


def _all_stopped(home: Path) -> bool:
    nodes = load_manifest(home).nodes
    return all(n.state == "stopped" and n.pid is None for n in nodes)


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[list[Path]]:
    """Testnet homes whose every process is killed at teardown."""
    made: list[Path] = []
    yield made
    for home in made:
        for pid in _processes_of(home):
            os.kill(pid, signal.SIGKILL)


def _up(home: Path, base_port: int, nodes: int = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", "testnet", "up", "--detach", "--nodes", str(nodes),
         "--accounts", "1", "--base-port", str(base_port), "--home", str(home)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_up_on_the_ports_of_another_testnet_fails_and_leaves_nothing(
    tmp_path: Path, homes: list[Path]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    homes += [first, second]
    base = _free_run(2)
    ordinet("testnet", "up", "--detach", "--nodes", 1, "--accounts", 1,
            "--base-port", base, "--home", first)  # fmt: skip
    theirs = load_manifest(first).nodes[0]

    done = _up(second, base)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "nodes up" not in done.stdout and theirs.rpc_url not in done.stdout
    assert f"RPC port {base + 1} is answered by node {theirs.node_id[:16]}" in done.stderr
    # and the node's own account of it, from its log
    assert f"cannot listen on 127.0.0.1:{base}" in done.stderr
    assert _processes_of(second) == []
    assert _all_stopped(second)
    # the other testnet is untouched
    with Client(theirs.rpc_url, timeout=10.0) as c:
        assert c.status()["node_id"] == theirs.node_id
    ordinet("testnet", "down", "--home", first)
    assert _processes_of(first) == []


@pytest.mark.parametrize("taken", ["p2p", "rpc"])
def test_up_on_a_port_held_by_a_plain_socket_fails_naming_it(
    tmp_path: Path, homes: list[Path], taken: str
) -> None:
    home = tmp_path / "net"
    homes.append(home)
    base = _free_run(4)
    port = base + 2 if taken == "p2p" else base + 3  # node1's ports are base+2, base+3
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()  # accepts connections, never answers
        done = _up(home, base, nodes=2)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "node1" in done.stderr and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert _processes_of(home) == []
    assert _all_stopped(home)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _pids_recorded(home: Path, nodes: int) -> bool:
    try:
        manifest = load_manifest(home)
    except OrdinetError:
        return False
    return sum(n.pid is not None for n in manifest.nodes) == nodes


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("detach", [True, False])
def test_an_interrupt_during_start_up_stops_everything(
    tmp_path: Path, homes: list[Path], detach: bool, sig: signal.Signals
) -> None:
    home = tmp_path / "net"
    homes.append(home)
    argv = [sys.executable, "-m", "node", "testnet", "up", "--nodes", "3", "--accounts", "1",
            "--home", str(home), *(["--detach"] if detach else [])]  # fmt: skip
    # SIGINT's default action in the child even when this suite runs as a
    # background job (which starts with SIGINT ignored, and children inherit that)
    up = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, preexec_fn=_default_sigint)  # fmt: skip
    try:
        wait_until(lambda: _pids_recorded(home, 3), "up to start its nodes")
        up.send_signal(sig)  # before the nodes are up: they take seconds to connect
        out, err = up.communicate(timeout=120)
    finally:
        up.kill()
    assert up.returncode != 0, out + err
    assert "Traceback" not in err
    assert "nodes up" not in out
    assert _processes_of(home) == []
    assert _all_stopped(home)
    assert all(procs.process_state(n.pid, n.home) == procs.GONE for n in load_manifest(home).nodes)

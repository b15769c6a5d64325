"""Who owns a pid: ``procs`` reaps only the nodes it spawned, and a signal
verb returns once the process shows its new state (a busy machine delivers
a signal when it next runs the target, not when ``kill`` returns)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from node.testnet import procs


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_process_state_leaves_a_child_it_did_not_spawn_to_its_owner(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.exit(3)", str(tmp_path)], stdin=subprocess.DEVNULL
    )
    end = time.monotonic() + 60.0
    while not _zombie(child.pid):  # exited, not yet waited for
        assert time.monotonic() < end, "the child did not exit"
        time.sleep(0.02)
    assert procs.process_state(child.pid, tmp_path) == procs.GONE
    # still the owner's to reap, with its real exit status (a reaped pid reads as 0)
    assert child.wait(timeout=10) == 3


def test_process_state_reaps_the_nodes_it_spawned(tmp_path: Path) -> None:
    home = tmp_path / "node0"
    home.mkdir()
    pid = procs.start_node(home, home / "node.log", supervised=False)  # no config: exits
    assert procs.wait_gone(pid, home, 60.0)
    assert not Path(f"/proc/{pid}").exists()  # reaped: no zombie left behind


def test_listening_ports_are_the_processes_own(tmp_path: Path) -> None:
    """What `up` checks a node's P2P and RPC ports against."""
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "c = socket.socket(); c.bind(('127.0.0.1', 0))\n"  # bound, not listening
        "print(s.getsockname()[1], c.getsockname()[1], flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        assert child.stdout is not None
        listening, bound = map(int, child.stdout.readline().split())
        held = procs.listening_ports(child.pid)
        assert listening in held and bound not in held
        with socket.socket() as mine:  # this process's socket is not the child's
            mine.bind(("127.0.0.1", 0))
            mine.listen()
            assert mine.getsockname()[1] not in procs.listening_ports(child.pid)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert procs.listening_ports(child.pid) == set()

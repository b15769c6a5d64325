"""Node processes of a testnet: start one, tell its state, signal it.

Each node is ``python -m node run --home HOME`` in a session of its own
(so a Ctrl-C in the terminal reaches the supervisor, which then stops the
nodes in order, not the nodes directly), with stdout and stderr appended
to ``HOME/node.log``. Processes are known by pid alone, because a detached
testnet outlives the command that started it; before a pid is trusted its
``/proc`` command line must name the node's home, so a stale pid reused
by another program is never signalled. Only the processes this module
spawned are reaped here (``waitpid``): a pid that some other code of the
same process started belongs to that code, which waits for it itself.

A supervised node (started by a foreground ``testnet up``) also dies with
its supervisor: a tiny launcher sets ``PR_SET_PDEATHSIG`` before exec'ing
the node, so not even a SIGKILL of the supervisor leaves a node behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

RUNNING, PAUSED, GONE = "running", "paused", "gone"

# Run by `python -c`: die with the parent (Linux prctl PR_SET_PDEATHSIG = 1),
# give up if the parent is already gone, then become the node.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(70)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


# The nodes this process spawned and has not reaped yet: ours to waitpid.
_children: set[int] = set()


def node_argv(home: Path) -> list[str]:
    return [sys.executable, "-m", "node", "run", "--home", str(home)]


def start_node(home: Path, log_path: Path, *, supervised: bool) -> int:
    """Start the node of ``home``; its pid."""
    argv = node_argv(home)
    if supervised and sys.platform.startswith("linux"):
        argv = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    # setsigmask=(): the node starts with no signal blocked, whatever the caller blocks
    pid = os.posix_spawn(
        argv[0], argv, dict(os.environ), file_actions=actions, setsid=True, setsigmask=()
    )
    _children.add(pid)
    return pid


def process_state(pid: int | None, home: Path) -> str:
    """``running``, ``paused`` (SIGSTOPped) or ``gone`` (exited, or the pid
    now belongs to something that is not this node). Reaps the nodes that
    ``start_node`` spawned, and no other child of this process."""
    if pid is None or _reaped(pid):
        return GONE
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return GONE
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X", "x"):
        _reaped(pid)  # it exited since the first look
        return GONE
    # an unreaped child's pid cannot have been reused: only a stranger's is checked
    # (an exiting child's cmdline reads empty before it turns zombie)
    if pid not in _children and str(home).encode() not in cmdline:
        return GONE
    return PAUSED if state in ("T", "t") else RUNNING


def listening_ports(pid: int) -> set[int]:
    """The TCP ports the process holds a listening socket on (from /proc:
    its socket inodes, matched against the kernel's TCP tables)."""
    inodes: set[str] = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    except OSError:
        return set()
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "0100007F:1F90", state 0A = LISTEN, inode in field 9
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _reaped(pid: int) -> bool:
    """Reap ``pid`` if it is a node we spawned and it has exited; whether it
    was. Any other pid is left to whoever started it."""
    if pid not in _children:
        return False
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        waited = pid  # someone reaped it anyway: gone all the same
    if waited != pid:
        return False
    _children.discard(pid)
    return True


def wait_state(pid: int, home: Path, state: str, timeout_s: float) -> bool:
    """Wait until the process is in ``state`` (or gone); whether it got there
    within ``timeout_s``. Signals are delivered when the kernel next runs the
    target, which on a busy machine is a while after ``kill`` returned."""
    end = time.monotonic() + timeout_s
    while (seen := process_state(pid, home)) != state:
        if seen == GONE or time.monotonic() >= end:
            return False
        time.sleep(0.02)
    return True


def wait_gone(pid: int, home: Path, timeout_s: float) -> bool:
    """Wait until the process is gone; whether it went within ``timeout_s``."""
    return wait_state(pid, home, GONE, timeout_s)


def send(pid: int | None, home: Path, sig: signal.Signals) -> bool:
    """Send ``sig`` if the process is still this node's; whether it was sent."""
    if pid is None or process_state(pid, home) == GONE:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def kill(pid: int | None, home: Path) -> None:
    """SIGKILL and wait until the process is gone (a crash: no cleanup)."""
    if pid is not None and send(pid, home, signal.SIGKILL):
        wait_gone(pid, home, 30.0)


def terminate(pid: int | None, home: Path, timeout_s: float = 30.0) -> bool:
    """Stop gracefully: SIGCONT (a paused node cannot act on SIGTERM), SIGTERM,
    and SIGKILL after ``timeout_s``. Whether it stopped on SIGTERM."""
    if pid is None or process_state(pid, home) == GONE:
        return True
    send(pid, home, signal.SIGCONT)
    send(pid, home, signal.SIGTERM)
    if wait_gone(pid, home, timeout_s):
        return True
    kill(pid, home)
    return False

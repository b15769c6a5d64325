"""A testnet on this machine: its homes, its node processes, its faults.

``Testnet.create`` writes a fresh net under HOME from a profile (genesis,
node keys, configs with fixed loopback ports and every node a static peer
of every other, the admin API on, each node's scheduling policy and
plugins, funded accounts in HOME/accounts) and its manifest. The other
methods are the verbs of ``ordinet testnet``: start, kill, restart, pause,
resume, partition, heal, stop. Each one re-reads the manifest under its
lock, looks at the real processes first (a node that died on its own is
``killed``, one stopped from outside is ``paused``), acts, and saves, so it
works the same from the foreground supervisor and from another terminal.

Partitions go through the nodes' admin API: every node of one group
blocks the node ids of all the others, which cuts the links both ways.
A node restarted or resumed while a partition is in force gets its block
list again (``reapply_partition``).
"""

from __future__ import annotations

import itertools
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node.client import Client
from node.config import CONFIG_FILE_NAME, NodeConfig, config_to_toml
from node.errors import ConfigError, OrdinetError
from node.runtime.home import ACCOUNTS_DIR_NAME, init_homes
from node.testnet import procs
from node.testnet.manifest import (
    KILLED,
    LOCK_FILE_NAME,
    MANIFEST_FILE_NAME,
    PAUSED,
    RUNNING,
    STOPPED,
    Manifest,
    NodeEntry,
    has_manifest,
    load_manifest,
    manifest_lock,
)
from node.testnet.profile import TestnetProfile, format_groups, parse_groups
from node.tomlfile import read_toml

ADMIN_TIMEOUT_S = 5.0
STATUS_TIMEOUT_S = 2.0
SIGNAL_TIMEOUT_S = 30.0
# how long a node that lost its port to another gets to exit and log why
EXIT_GRACE_S = 30.0
# What `create` may delete in a home that held an earlier testnet.
SUMMARY_FILE_NAME = "summary.json"
_OWNED = (MANIFEST_FILE_NAME, SUMMARY_FILE_NAME, LOCK_FILE_NAME, ACCOUNTS_DIR_NAME)


class TestnetError(OrdinetError):
    """A testnet command that cannot be done (wrong state, nodes not ready...)."""

    __test__ = False
    code = "testnet_error"


class Testnet:
    """The testnet of one home; ``supervised``: this process is its foreground
    supervisor (nodes it starts die with it)."""

    __test__ = False

    def __init__(self, manifest: Manifest, *, supervised: bool = False) -> None:
        self.manifest = manifest
        self.supervised = supervised

    @property
    def home(self) -> Path:
        return self.manifest.home

    @property
    def nodes(self) -> list[NodeEntry]:
        return self.manifest.nodes

    # -- making and opening ------------------------------------------------------

    @classmethod
    def create(cls, profile: TestnetProfile, home: Path, *, supervised: bool = False) -> Testnet:
        """Write a new testnet under ``home`` (replacing a stopped earlier one)."""
        home = home.resolve()
        _clear_home(home, profile.nodes)
        ports = None
        if profile.base_port is not None:
            ports = [profile.base_port + k for k in range(2 * profile.nodes)]
        homes = init_homes(
            home,
            nodes=profile.nodes,
            consensus=profile.consensus,
            chain_id=profile.chain_id,
            accounts=profile.accounts,
            balance=profile.balance,
            params=profile.genesis_params(),
            p2p_ports=None if ports is None else ports[0::2],
            rpc_ports=None if ports is None else ports[1::2],
            admin_enabled=True,
            config_overrides=profile.config_overrides(),
            overwrite=True,
            node_dirs=True,
        )
        for h in homes.nodes:
            if profile.node_policy(h.index) is not None:
                _write_node_scheduling(h.path, profile, h.index)
        entries = [
            NodeEntry(
                index=h.index,
                home=h.path,
                rpc_url=h.rpc_url,
                p2p_port=h.p2p_port,
                node_id=h.key.address_hex,
                validator=h.validator,
                policy=profile.policy_of(h.index),
            )
            for h in homes.nodes
        ]
        manifest = Manifest(
            home=home,
            chain_id=profile.chain_id,
            consensus=profile.consensus,
            policy=profile.policy,
            profile=profile.name,
            nodes=entries,
            supervisor_pid=None,
        )
        with manifest_lock(home):
            manifest.save()
        return cls(manifest, supervised=supervised)

    @classmethod
    def open(cls, home: str | Path) -> Testnet:
        net = cls(load_manifest(home))
        with net._edit():
            pass
        return net

    @contextmanager
    def _edit(self) -> Iterator[Manifest]:
        """Lock, re-read, bring node states in line with the processes, yield,
        and save if anything changed."""
        with manifest_lock(self.home):
            self.manifest = load_manifest(self.home)
            before = self.manifest.to_json()
            for node in self.manifest.nodes:
                _observe(node)
            yield self.manifest
            if self.manifest.to_json() != before:
                self.manifest.save()

    def refresh(self) -> list[NodeEntry]:
        """The nodes as they are now (states checked against the processes)."""
        with self._edit() as m:
            return list(m.nodes)

    # -- processes -----------------------------------------------------------------

    def start(self, index: int) -> NodeEntry:
        # Ctrl-C waits until the pid is in the manifest: a node is never
        # started without a record that lets `stop_all` (or `down`) find it
        with _interrupts_deferred(), self._edit() as m:
            node = m.node(index)
            if node.state in (RUNNING, PAUSED):
                raise TestnetError(f"{node.name} is already {node.state} (pid {node.pid})")
            node.pid = procs.start_node(node.home, node.log_path, supervised=self.supervised)
            node.state = RUNNING
            return node

    def start_all(self) -> None:
        for node in self.nodes:
            if node.state not in (RUNNING, PAUSED):
                self.start(node.index)

    def kill(self, index: int) -> NodeEntry:
        """SIGKILL: a crash, no chance to clean up."""
        with self._edit() as m:
            node = m.node(index)
            if node.state not in (RUNNING, PAUSED):
                raise TestnetError(f"{node.name} is not running (it is {node.state})")
            procs.kill(node.pid, node.home)
            node.pid, node.state = None, KILLED
            return node

    def pause(self, index: int) -> NodeEntry:
        """SIGSTOP: the process freezes, its sockets stay open."""
        return self._signal(index, RUNNING, signal.SIGSTOP, PAUSED)

    def resume(self, index: int) -> NodeEntry:
        """SIGCONT a paused node."""
        return self._signal(index, PAUSED, signal.SIGCONT, RUNNING)

    def _signal(self, index: int, needs: str, sig: signal.Signals, then: str) -> NodeEntry:
        """Send ``sig`` and return once the process shows the new state."""
        with self._edit() as m:
            node = m.node(index)
            if node.state != needs:
                raise TestnetError(f"{node.name} is not {needs} (it is {node.state})")
            assert node.pid is not None
            procs.send(node.pid, node.home, sig)
            if not procs.wait_state(node.pid, node.home, then, SIGNAL_TIMEOUT_S):
                raise TestnetError(
                    f"{node.name} (pid {node.pid}) is not {then} {SIGNAL_TIMEOUT_S:.0f} s "
                    f"after {sig.name}"
                )
            node.state = then
            return node

    def restart(self, index: int) -> NodeEntry:
        """Stop the node (gracefully) if it runs, then start it from its data dir."""
        with self._edit() as m:
            node = m.node(index)
            if node.state in (RUNNING, PAUSED):
                procs.terminate(node.pid, node.home)
            node.pid, node.state = None, STOPPED
        return self.start(index)

    def stop_all(self, timeout_s: float = 30.0) -> list[str]:
        """SIGTERM every node at once, SIGKILL those still up after ``timeout_s``;
        the names of the nodes that had to be killed."""
        with self._edit() as m:
            live = [n for n in m.nodes if n.state in (RUNNING, PAUSED)]
            for node in live:
                procs.send(node.pid, node.home, signal.SIGCONT)
                procs.send(node.pid, node.home, signal.SIGTERM)
            end = time.monotonic() + timeout_s
            forced = []
            for node in live:
                assert node.pid is not None
                if not procs.wait_gone(node.pid, node.home, max(0.0, end - time.monotonic())):
                    procs.kill(node.pid, node.home)
                    forced.append(node.name)
            for node in m.nodes:
                node.pid, node.state = None, STOPPED
            m.partition = None
            m.supervisor_pid = None
            return forced

    def set_supervisor(self, pid: int | None) -> None:
        with self._edit() as m:
            m.supervisor_pid = pid

    # -- faults through the admin API ------------------------------------------------

    def partition(self, groups_text: str) -> tuple[tuple[int, ...], ...]:
        """Cut the links between the groups (``"0,1/2,3"``)."""
        try:
            groups = parse_groups(groups_text, len(self.nodes))
        except ValueError as exc:
            raise TestnetError(str(exc)) from None
        with self._edit() as m:
            m.partition = [list(g) for g in groups]
            targets = [n for n in m.nodes if n.state == RUNNING]
        for node in targets:
            self._block(node, groups)
        return groups

    def heal(self) -> None:
        """Lift the partition (and any injected delay) on every running node."""
        with self._edit() as m:
            m.partition = None
            targets = [n for n in m.nodes if n.state == RUNNING]
        for node in targets:
            with Client(node.rpc_url, timeout=ADMIN_TIMEOUT_S) as c:
                c.admin_heal()

    def reapply_partition(self, index: int, deadline_s: float = 60.0) -> None:
        """Give a restarted or resumed node the block list of the partition in force."""
        node = self.nodes[index]
        self.wait_answering([index], deadline_s)
        with self._edit() as m:
            groups = m.partition
        if groups:
            self._block(node, tuple(tuple(g) for g in groups))

    def _block(self, node: NodeEntry, groups: tuple[tuple[int, ...], ...]) -> None:
        mine = next(g for g in groups if node.index in g)
        others = [self.nodes[i].node_id for i in range(len(self.nodes)) if i not in mine]
        with Client(node.rpc_url, timeout=ADMIN_TIMEOUT_S) as c:
            c.admin_partition(others)

    def partition_text(self) -> str | None:
        p = self.manifest.partition
        return None if not p else format_groups(tuple(tuple(g) for g in p))

    # -- asking the nodes ------------------------------------------------------------

    def status(self, index: int) -> dict[str, Any] | None:
        """The node's /status, or None if it does not answer quickly."""
        node = self.nodes[index]
        if node.state != RUNNING:
            return None
        try:
            with Client(node.rpc_url, timeout=STATUS_TIMEOUT_S) as c:
                return c.status()
        except (OrdinetError, OSError, TimeoutError):
            return None

    def wait_answering(self, indices: list[int], deadline_s: float) -> None:
        """Until each of these nodes answers /status (a node that exits fails fast)."""
        self.wait_until(
            lambda statuses: all(statuses[i] is not None for i in indices),
            f"node(s) {indices} to answer",
            deadline_s,
            must_live=indices,
        )

    def wait_ready(
        self,
        deadline_s: float,
        progress: Callable[[list[dict[str, Any] | None]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Until every node answers, is connected to all the others and has a block."""
        want_peers = len(self.nodes) - 1

        def ready(statuses: list[dict[str, Any] | None]) -> bool:
            return all(
                s is not None and s["peers"] >= want_peers and s["height"] >= 1 for s in statuses
            )

        found = self.wait_until(
            ready,
            "every node to connect to the others and commit a block",
            deadline_s,
            must_live=list(range(len(self.nodes))),
            progress=progress,
        )
        return [s for s in found if s is not None]

    def wait_until(
        self,
        predicate: Callable[[list[dict[str, Any] | None]], bool],
        what: str,
        deadline_s: float,
        *,
        must_live: list[int],
        progress: Callable[[list[dict[str, Any] | None]], None] | None = None,
    ) -> list[dict[str, Any] | None]:
        """Poll every node's status until ``predicate`` holds of them.

        Every node of ``must_live`` must be the one this testnet started:
        one whose process dies meanwhile, or whose RPC port is answered by
        another node id (another testnet or program got the port), fails at
        once, naming its ports, with its log; and when ``predicate`` holds,
        each of them must be listening on its own P2P and RPC ports."""
        end = time.monotonic() + deadline_s
        while True:
            with self._edit() as m:
                dead = [m.nodes[i] for i in must_live if m.nodes[i].state == KILLED]
            if dead:
                node = dead[0]
                raise TestnetError(
                    f"{node.name} exited while waiting for {what} ({_ports(node)})\n{_log(node)}"
                )
            statuses = [self.status(i) for i in range(len(self.nodes))]
            for i in must_live:
                _check_identity(self.nodes[i], statuses[i])
            if progress is not None:
                progress(statuses)
            if predicate(statuses):
                for i in must_live:
                    _check_listening(self.nodes[i])
                return statuses
            if time.monotonic() >= end:
                logs = "\n".join(_log(n, 15) for n in self.nodes)
                raise TestnetError(f"timed out after {deadline_s:.0f} s waiting for {what}\n{logs}")
            time.sleep(0.25)


def tail(node: NodeEntry, lines: int = 30) -> str:
    try:
        text = node.log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _ports(node: NodeEntry) -> str:
    return f"P2P port {node.p2p_port}, RPC port {node.rpc_port}"


def _log(node: NodeEntry, lines: int = 30) -> str:
    return f"--- {node.name} log ({node.log_path}) ---\n{tail(node, lines)}"


def _check_identity(node: NodeEntry, status: dict[str, Any] | None) -> None:
    """The node answering on ``node``'s RPC port must carry its node id."""
    if status is None or status.get("node_id") == node.node_id:
        return
    if node.pid is not None:  # it fails on the taken port: let its log say so
        procs.wait_gone(node.pid, node.home, EXIT_GRACE_S)
    raise TestnetError(
        f"{node.name}: RPC port {node.rpc_port} is answered by node "
        f"{str(status.get('node_id'))[:16]}, not by the node this testnet started "
        f"({node.node_id[:16]}): another testnet or program holds the port "
        f"({_ports(node)})\n{_log(node)}"
    )


def _check_listening(node: NodeEntry) -> None:
    """The node's own process must hold its P2P and RPC listening sockets."""
    if node.pid is None or not Path(f"/proc/{node.pid}/net/tcp").exists():
        return  # no /proc to look in: the node id check is all there is
    held = procs.listening_ports(node.pid)
    missing = [
        f"{kind} port {port}"
        for kind, port in (("P2P", node.p2p_port), ("RPC", node.rpc_port))
        if port not in held
    ]
    if missing:
        raise TestnetError(
            f"{node.name} (pid {node.pid}) answers but does not listen on its "
            f"{' and '.join(missing)}\n{_log(node)}"
        )


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (they are delivered at the end)."""
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _observe(node: NodeEntry) -> None:
    """Bring the recorded state in line with the process."""
    if node.state not in (RUNNING, PAUSED):
        return
    seen = procs.process_state(node.pid, node.home)
    if seen == procs.GONE:
        node.pid, node.state = None, KILLED
    elif seen == procs.PAUSED:
        node.state = PAUSED
    else:
        node.state = RUNNING


def _write_node_scheduling(path: Path, profile: TestnetProfile, index: int) -> None:
    """Give the node of ``path`` its own ``[[node]]`` scheduling table:
    ``init_homes`` wrote every node the profile's, and the file is
    rewritten the way it was written (checked by the config reader)."""
    file = path / CONFIG_FILE_NAME
    text = file.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    header = "".join(itertools.takewhile(lambda line: line.startswith("#"), lines))
    values = dict(read_toml(file, "config file"))
    values["scheduling"] = profile.config_overrides(index)["scheduling"]
    config = NodeConfig.from_mapping(values, home=path, source=str(file))
    note = f"# [scheduling]: the [[node]] table of node {index} in {profile.source}.\n"
    file.write_text(header + note + "\n" + config_to_toml(config), encoding="utf-8")


def _clear_home(home: Path, nodes: int) -> None:
    """Make ``home`` ready for a new testnet: refuse a live one or a directory
    that is not a testnet home; delete what an earlier, stopped testnet left."""
    if home.exists() and not home.is_dir():
        raise ConfigError(f"{home}: exists and is not a directory")
    if has_manifest(home):
        earlier = Testnet.open(home)
        live = [n.name for n in earlier.nodes if n.state in (RUNNING, PAUSED)]
        if live:
            raise TestnetError(
                f"a testnet is already running in {home} ({', '.join(live)}): "
                f"`ordinet testnet down --home {home}` first"
            )
        for entry in home.iterdir():
            if entry.name in _OWNED or entry.name.startswith("node"):
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    elif home.is_dir() and any(home.iterdir()):
        raise ConfigError(
            f"{home}: not empty and not a testnet home (no {MANIFEST_FILE_NAME}); "
            "choose another --home"
        )

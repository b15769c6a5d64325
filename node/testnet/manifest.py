"""``HOME/testnet.json``: what a testnet is made of and which processes run it.

The manifest is the one record every ``ordinet testnet`` command reads and
updates: the chain, each node's index, home, data dir, log, RPC URL, node
id, scheduling policy, pid and state, and the partition in force. Writes are atomic (a temp
file, then rename) and every read-modify-write holds ``manifest_lock``, so
two commands run at once (say a scheduled kill in ``up`` and a ``pause``
typed in another terminal) never lose each other's update.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from node.errors import ConfigError

MANIFEST_FILE_NAME = "testnet.json"
LOCK_FILE_NAME = ".testnet.lock"
MANIFEST_VERSION = 1

RUNNING, PAUSED, KILLED, STOPPED = "running", "paused", "killed", "stopped"
NODE_STATES = (RUNNING, PAUSED, KILLED, STOPPED)


@dataclass
class NodeEntry:
    """One node of the testnet."""

    index: int
    home: Path
    rpc_url: str
    p2p_port: int
    node_id: str  # hex public key
    validator: bool
    policy: str = ""  # the scheduling policy its config names
    pid: int | None = None
    state: str = STOPPED

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def rpc_port(self) -> int:
        return urlsplit(self.rpc_url).port or 0

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "node.log"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pid": self.pid,
            "state": self.state,
            "rpc_url": self.rpc_url,
            "p2p_port": self.p2p_port,
            "node_id": self.node_id,
            "validator": self.validator,
            "policy": self.policy,
            "home": str(self.home),
            "data_dir": str(self.data_dir),
            "log": str(self.log_path),
        }


@dataclass
class Manifest:
    """The whole testnet.json."""

    home: Path
    chain_id: str
    consensus: str
    policy: str  # the profile's default; a node's own is in its entry
    profile: str
    nodes: list[NodeEntry]
    partition: list[list[int]] | None = None
    supervisor_pid: int | None = None  # the foreground `testnet up`, if any

    @property
    def path(self) -> Path:
        return self.home / MANIFEST_FILE_NAME

    def node(self, index: int) -> NodeEntry:
        if not 0 <= index < len(self.nodes):
            raise ConfigError(
                f"no node {index} in the testnet at {self.home} "
                f"(its nodes are 0..{len(self.nodes) - 1})"
            )
        return self.nodes[index]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "chain_id": self.chain_id,
            "consensus": self.consensus,
            "policy": self.policy,
            "profile": self.profile,
            "partition": self.partition,
            "supervisor_pid": self.supervisor_pid,
            "accounts_dir": str(self.home / "accounts"),
            "nodes": [n.to_json() for n in self.nodes],
        }

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def has_manifest(home: Path) -> bool:
    return (home / MANIFEST_FILE_NAME).is_file()


def load_manifest(home: str | Path) -> Manifest:
    """Read HOME/testnet.json; a missing or damaged file is a ``ConfigError``."""
    home = Path(home).resolve()
    path = home / MANIFEST_FILE_NAME
    if not path.is_file():
        raise ConfigError(
            f"no testnet in {home} (no {MANIFEST_FILE_NAME}): start one with "
            f"`ordinet testnet up --home {home}`"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("version") != MANIFEST_VERSION:
            raise ValueError(f"version {doc.get('version')!r}, expected {MANIFEST_VERSION}")
        nodes = [
            NodeEntry(
                index=int(n["index"]),
                home=Path(n["home"]),
                rpc_url=str(n["rpc_url"]),
                p2p_port=int(n["p2p_port"]),
                node_id=str(n["node_id"]),
                validator=bool(n["validator"]),
                # a manifest written before per-node policies: the net's
                policy=str(n.get("policy", doc["policy"])),
                pid=None if n["pid"] is None else int(n["pid"]),
                state=str(n["state"]),
            )
            for n in doc["nodes"]
        ]
        if [n.index for n in nodes] != list(range(len(nodes))):
            raise ValueError("node indices are not 0..N-1 in order")
        if any(n.state not in NODE_STATES for n in nodes):
            raise ValueError("a node has an unknown state")
        return Manifest(
            home=home,
            chain_id=str(doc["chain_id"]),
            consensus=str(doc["consensus"]),
            policy=str(doc["policy"]),
            profile=str(doc["profile"]),
            nodes=nodes,
            partition=doc.get("partition"),
            supervisor_pid=doc.get("supervisor_pid"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: damaged testnet manifest ({exc})") from None


@contextmanager
def manifest_lock(home: Path) -> Iterator[None]:
    """Hold the testnet's lock (an flock on HOME/.testnet.lock) for a read-modify-write."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

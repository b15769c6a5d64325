"""Kit of the node tests: real `python -m node run` processes on loopback.

``Cluster`` writes a set of homes with ``init_homes`` (one genesis, node
keys, funded accounts, configs with free ports and static peers), starts
and stops node processes, and talks to them through ``node.client.Client``.
Every wait polls a condition until a generous deadline; nothing sleeps a
fixed time and asserts afterwards. ``Cluster.close`` kills whatever is
still running, so a failing test leaves no process behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from node.client import Client
from node.errors import OrdinetError
from node.runtime.home import HomeSet, NodeHome, init_homes
from node.types import Transaction
from node.wallet import Wallet

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]

# Generous: these machines are shared, slow and noisy.
DEADLINE_S = 90.0
POLL_S = 0.1

# Fast but forgiving timers: short blocks, long enough timeouts that a busy
# machine does not churn rounds.
FAST_PARAMS: dict[str, Any] = {
    "block_interval_ms": 250,
    "timeout_commit_ms": 250,
    "timeout_propose_ms": 2000,
    "timeout_prevote_ms": 1000,
    "timeout_precommit_ms": 1000,
    "poa_slot_timeout_ms": 2000,
}
FAST_P2P: dict[str, Any] = {
    "dial_interval_s": 0.2,
    "backoff_base_s": 0.2,
    "backoff_max_s": 2.0,
    "status_interval_s": 0.5,
    "pex_interval_s": 2.0,
    "handshake_timeout_s": 5.0,
}


def wait_until(predicate: Callable[[], T | None], what: str, deadline_s: float = DEADLINE_S) -> T:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    end = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OrdinetError, OSError) as exc:  # a node still starting or restarting
            last_error = exc
        if time.monotonic() >= end:
            detail = f" (last error: {last_error})" if last_error else ""
            raise AssertionError(f"timed out after {deadline_s} s waiting for: {what}{detail}")
        time.sleep(POLL_S)


async def until(predicate: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """``wait_until`` for async tests: poll without blocking the loop."""
    try:
        async with asyncio.timeout(deadline_s):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {deadline_s} s waiting for: {what}") from None


class NodeProcess:
    """One `python -m node run --home H` child process and its log file."""

    def __init__(self, home: NodeHome) -> None:
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home.path / "node.log"
        self.client = Client(home.rpc_url, timeout=10.0)
        self.starts = 0

    @property
    def name(self) -> str:
        return f"node{self.home.index}"

    def start(self) -> None:
        assert not self.alive, f"{self.name} is already running"
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node", "run", "--home", str(self.home.path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(REPO),
                env=env,
            )
        finally:
            log.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.client.close()

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()  # never leave a process behind, even when the test fails
            raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.tail()}") from None
        self.client.close()
        return code

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def height(self) -> int:
        return int(self.status()["height"])

    def wait_ready(self, deadline_s: float = DEADLINE_S) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"{self.name} exited with {code}:\n{self.tail()}")
            return self.status()

        return wait_until(ready, f"{self.name} answers /status", deadline_s)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class Cluster:
    """A set of node homes and their processes."""

    def __init__(
        self,
        base: Path,
        *,
        consensus: str,
        nodes: int = 4,
        validators: int | None = None,
        accounts: int = 8,
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        overrides: dict[str, dict[str, Any]] = {"p2p": dict(FAST_P2P)}
        for table, options in (config or {}).items():
            overrides.setdefault(table, {}).update(options)
        self.homes: HomeSet = init_homes(
            base,
            nodes=nodes,
            validators=validators,
            consensus=consensus,
            chain_id=f"test-{consensus}",
            accounts=accounts,
            balance=10**12,
            params={**FAST_PARAMS, **(params or {})},
            admin_enabled=True,
            config_overrides=overrides,
        )
        self.nodes = [NodeProcess(home) for home in self.homes.nodes]
        self.accounts: list[Wallet] = self.homes.accounts
        self.chain_id = self.homes.genesis.chain_id
        self._nonces: dict[bytes, int] = {}

    # -- processes ------------------------------------------------------------

    def start(self, indices: list[int] | None = None) -> None:
        chosen = indices if indices is not None else list(range(len(self.nodes)))
        for i in chosen:
            self.nodes[i].start()
        for i in chosen:
            self.nodes[i].wait_ready()

    def close(self) -> None:
        """Kill every process still running (fixture teardown, also on failure)."""
        for node in self.nodes:
            node.kill()

    def running(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.alive]

    def logs(self) -> str:
        return "\n".join(f"--- {n.name} ---\n{n.tail()}" for n in self.nodes if n.starts)

    # -- chain ------------------------------------------------------------------

    def heights(self, nodes: list[NodeProcess] | None = None) -> list[int]:
        return [n.height() for n in (nodes or self.running())]

    def wait_height(
        self, height: int, nodes: list[NodeProcess] | None = None, deadline_s: float = DEADLINE_S
    ) -> None:
        group = nodes or self.running()
        wait_until(
            lambda: all(n.height() >= height for n in group),
            f"height {height} on {[n.name for n in group]}",
            deadline_s,
        )

    def block_hashes(self, node: NodeProcess, upto: int) -> list[str]:
        return [node.client.block(h)["hash"] for h in range(1, upto + 1)]

    def assert_same_chain(self, nodes: list[NodeProcess] | None = None) -> int:
        """Every node holds the same block at every height up to the lowest head."""
        group = nodes or self.running()
        upto = min(n.height() for n in group)
        reference = self.block_hashes(group[0], upto)
        for other in group[1:]:
            assert self.block_hashes(other, upto) == reference, (
                f"{group[0].name} and {other.name} disagree below height {upto}"
            )
        return upto

    # -- transactions -------------------------------------------------------------

    def transfer(self, sender: Wallet, to: bytes, amount: int, fee: int = 1) -> Transaction:
        nonce = self._nonces.get(sender.address, 0)
        self._nonces[sender.address] = nonce + 1
        return sender.transfer(to=to, amount=amount, fee=fee, nonce=nonce, chain_id=self.chain_id)

    def submit(self, node: NodeProcess, txs: list[Transaction]) -> None:
        results = node.client.submit(txs)
        refused = [r for r in results if not r["accepted"]]
        assert not refused, f"{node.name} refused: {refused[:3]}"

    def wait_committed(self, tx_ids: list[bytes], nodes: list[NodeProcess] | None = None) -> None:
        group = nodes or self.running()

        def all_committed() -> bool:
            for node in group:
                for tx_id in tx_ids:
                    if node.client.tx(tx_id).get("status") != "committed":
                        return False
            return True

        wait_until(all_committed, f"{len(tx_ids)} txs committed on {[n.name for n in group]}")

    def balances(self, node: NodeProcess, addresses: list[bytes]) -> list[tuple[int, int]]:
        out = []
        for address in addresses:
            account = node.client.account(address)
            out.append((int(account["balance"]), int(account["nonce"])))
        return out

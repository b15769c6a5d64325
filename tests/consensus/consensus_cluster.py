"""A small cluster of real engines over real ledgers, driven by hand.

``Cluster`` builds a genesis with n validators (deterministic keys), one
in-memory (or on-disk) Ledger per node, and the engine the genesis names.
``Cluster.net`` delivers broadcasts in FIFO order with no latency; a test
decides what is dropped (``drop=`` predicates) and when timers fire, so
each tricky interleaving is written out explicitly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node import crypto
from node.consensus import create_engine
from node.consensus.engine import Engine
from node.consensus.events import (
    Broadcast,
    Committed,
    Mine,
    RequestProposal,
    Send,
    SetTimer,
)
from node.consensus.ledger_app import LedgerApp
from node.genesis import DEFAULT_PARAMS, Genesis
from node.ledger import DEFAULT_POW_REORG_DEPTH, Ledger
from node.wallet import Wallet

CHAIN_ID = "consensus-test"


def validator_seed(i: int) -> bytes:
    return crypto.sha256(b"test-validator" + bytes([i]))


class Cluster:
    def __init__(
        self,
        consensus: str,
        n: int = 4,
        *,
        powers: list[int] | None = None,
        params: dict[str, Any] | None = None,
        directory: Path | None = None,
        reorg_depth: int = DEFAULT_POW_REORG_DEPTH,
    ) -> None:
        self.n = n
        self.reorg_depth = reorg_depth
        self.seeds = [validator_seed(i) for i in range(n)]
        self.keys = [crypto.keypair_from_seed(s)[1] for s in self.seeds]
        self.wallet = Wallet.from_seed(crypto.sha256(b"test-wallet"))
        self.payee = Wallet.from_seed(crypto.sha256(b"test-payee"))
        merged = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in DEFAULT_PARAMS.items()}
        merged.update(params or {})
        powers = powers or [1] * n
        validators = [
            {"public_key": k.hex(), "power": p} for k, p in zip(self.keys, powers, strict=True)
        ]
        self.genesis = Genesis.from_dict(
            {
                "chain_id": CHAIN_ID,
                "timestamp_ms": 0,
                "consensus": consensus,
                "balances": {self.wallet.address_hex: 10**9},
                "validators": [] if consensus == "pow" else validators,
                "params": merged,
            }
        )
        self.directory = directory
        self.ledgers: list[Ledger] = []
        self.engines: list[Engine] = []
        for i in range(n):
            self.ledgers.append(self._open(i))
            self.engines.append(self._engine(i))
        self.timers: list[dict[Any, int]] = [{} for _ in range(n)]
        self.queue: deque[tuple[int, int, Any]] = deque()
        self.committed: list[list[Committed]] = [[] for _ in range(n)]
        self.actions: list[list[Any]] = [[] for _ in range(n)]
        self.down: set[int] = set()

    def _path(self, i: int) -> str:
        return str(self.directory / f"node{i}.db") if self.directory else ":memory:"

    def _open(self, i: int) -> Ledger:
        return Ledger.open(self._path(i), self.genesis, pow_reorg_depth=self.reorg_depth)

    def _engine(self, i: int) -> Engine:
        return create_engine(self.genesis, LedgerApp(self.ledgers[i]), seed=self.seeds[i])

    def restart(self, i: int, now: int) -> None:
        """Crash node i (drop its engine, close its store) and boot it again."""
        self.ledgers[i].close()
        self.ledgers[i] = self._open(i)
        self.engines[i] = self._engine(i)
        self.timers[i] = {}
        self.handle(i, self.engines[i].start(now), now)

    def tx(self, nonce: int, amount: int = 1) -> Any:
        return self.wallet.transfer(
            to=self.payee.address, amount=amount, fee=1, nonce=nonce, chain_id=CHAIN_ID
        )

    def build(self, i: int, request: RequestProposal) -> Any:
        ledger = self.ledgers[i]
        block, _ = ledger.build_block(
            # each node pays a different amount, so competing blocks differ
            [self.tx(ledger.account(self.wallet.address).nonce, amount=1 + i)],
            proposer=self.keys[i],
            timestamp_ms=request.timestamp_ms,
            last_commit=request.last_commit,
            pow_target=request.pow_target or bytes(32),
        )
        return block

    # -- driving -----------------------------------------------------------

    def start(self, now: int = 0, only: list[int] | None = None) -> None:
        for i in only if only is not None else range(self.n):
            self.handle(i, self.engines[i].start(now), now)

    def handle(self, i: int, actions: list[Any], now: int) -> None:
        """Execute node i's actions: queue messages, note timers, build proposals."""
        for action in actions:
            self.actions[i].append(action)
            if isinstance(action, Broadcast):
                for j in range(self.n):
                    if j != i:
                        self.queue.append((i, j, action.message))
            elif isinstance(action, Send):
                self.queue.append((i, action.peer, action.message))
            elif isinstance(action, SetTimer):
                self.timers[i][action.key] = action.at_ms
            elif isinstance(action, RequestProposal):
                block = self.build(i, action)
                self.handle(i, self.engines[i].on_proposal_ready(action, block, now), now)
            elif isinstance(action, Committed):
                self.committed[i].append(action)
            elif isinstance(action, Mine):
                pass

    def deliver(self, now: int = 0, drop: Callable[[int, int, Any], bool] | None = None) -> None:
        """Deliver queued messages (and those they cause) until none is left."""
        while self.queue:
            src, dst, msg = self.queue.popleft()
            if dst in self.down or src in self.down or (drop is not None and drop(src, dst, msg)):
                continue
            self.handle(dst, self.engines[dst].on_message(src, msg, now), now)

    def fire(self, i: int, name: str, now: int | None = None) -> int:
        """Fire node i's pending timer whose name is ``name``; returns its time."""
        key = next(k for k in self.timers[i] if k[0] == name)
        at = self.timers[i].pop(key)
        when = at if now is None else now
        self.handle(i, self.engines[i].on_timer(key, when), when)
        return when

    def of(self, i: int, kind: type) -> list[Any]:
        return [a for a in self.actions[i] if isinstance(a, kind)]

    def close(self) -> None:
        for ledger in self.ledgers:
            ledger.close()

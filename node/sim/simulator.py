"""The deterministic discrete-event simulator.

N real engines (node/consensus), each over a real Ledger and SQLite store
(":memory:", or a temp file for a node that may crash so it can restart
from disk), exchange messages over a simulated network and clock. One
``random.Random(seed)`` draws everything: the scenario (faults), every
message's latency, drop, duplication and reordering, and every mining
time. Events sit in one heap ordered by (time, sequence number), so a run
is a pure function of its configuration and seed.

The event log is a sequence of canonical binary records (time, node,
event kind, and a digest of what happened); ``event_log_sha256`` is its
SHA-256 and is the same, byte for byte, for the same seed. Invariants are
checked as events happen (see invariants.py); a run returns a ``RunResult``.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node import crypto
from node.consensus import create_engine
from node.consensus.engine import Engine
from node.consensus.events import (
    Broadcast,
    CancelTimer,
    Committed,
    Mine,
    PeerMisbehaved,
    Readmit,
    ReportEvidence,
    RequestProposal,
    Reverted,
    Send,
    SetTimer,
    StopMining,
)
from node.consensus.ledger_app import LedgerApp
from node.consensus.validators import SignatureVerifier
from node.genesis import DEFAULT_PARAMS, Genesis
from node.ledger import Ledger
from node.sim.invariants import Invariants
from node.sim.scenario import Latency, Scenario
from node.sim.workload import Workload

# event kinds in the heap and the log
_DELIVER = 0
_TIMER = 1
_PROPOSAL = 2
_MINED = 3
_CRASH = 4
_RESTART = 5
_COMMIT = 6
_REVERT = 7
_EVIDENCE = 8

_REC = struct.Struct(">QHHB")

SIM_CHAIN_ID = "ordinet-sim"


@dataclass
class SimConfig:
    consensus: str = "bft"
    nodes: int = 4
    blocks: int = 10
    faults: frozenset[str] = frozenset()
    latency: Latency = field(default_factory=Latency)
    fault_window_ms: int = 8_000
    liveness_bound_ms: int = 60_000
    wallets: int = 4
    txs_per_block: int = 2
    block_interval_ms: int = 1_000
    # PoW: expected hashes per block at the start (the target follows), and
    # the network's total simulated hash rate that yields block_interval_ms
    pow_expected_hashes: int = 32
    keep_log: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def genesis_params(self) -> dict[str, Any]:
        p = dict(DEFAULT_PARAMS)
        p["block_interval_ms"] = self.block_interval_ms
        p["timeout_commit_ms"] = self.block_interval_ms
        target = (1 << 256) // self.pow_expected_hashes - 1
        p["pow_initial_target"] = target.to_bytes(32, "big")
        p.update(self.params)
        return p


@dataclass
class RunResult:
    seed: int
    committed_height: int
    violations: list[str]
    event_log_sha256: str
    sim_time_ms: int
    events: int
    scenario: str
    log: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "committed_height": self.committed_height,
            "violations": self.violations,
            "event_log_sha256": self.event_log_sha256,
        }


def validator_seed(index: int) -> bytes:
    return crypto.sha256(b"ordinet/sim/validator" + index.to_bytes(4, "big"))


class SimNode:
    """One simulated node: its ledger, its engine, its timers, its fate."""

    __slots__ = (
        "alive",
        "app",
        "byzantine",
        "committed_at",
        "engine",
        "index",
        "ledger",
        "mining_job",
        "path",
        "seed",
        "timers",
    )

    def __init__(self, index: int, seed: bytes | None, path: str, byzantine: bool) -> None:
        self.index = index
        self.seed = seed
        self.path = path
        self.byzantine = byzantine
        self.alive = False
        self.ledger: Ledger | None = None
        self.app: LedgerApp | None = None
        self.engine: Engine | None = None
        self.timers: dict[Any, int] = {}
        self.mining_job: int | None = None
        self.committed_at: list[int] = []  # sim times of this node's commits


class Simulation:
    def __init__(self, config: SimConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.rng = random.Random(seed)
        n = config.nodes
        f = (n - 1) // 3 if config.consensus == "bft" else 0
        self.scenario = Scenario.generate(
            self.rng,
            nodes=n,
            faults=config.faults,
            fault_window_ms=config.fault_window_ms,
            latency=config.latency,
            max_byzantine=f,
        )
        self.workload = Workload(SIM_CHAIN_ID, config.wallets, config.txs_per_block)
        seeds = [validator_seed(i) for i in range(n)]
        from node.genesis import Validator

        validators = (
            [Validator(crypto.keypair_from_seed(s)[1], 1, f"v{i}") for i, s in enumerate(seeds)]
            if config.consensus != "pow"
            else []
        )
        self.genesis = Genesis.from_dict(
            {
                "chain_id": SIM_CHAIN_ID,
                "timestamp_ms": 0,
                "consensus": config.consensus,
                "balances": {a.hex(): b for a, b in self.workload.balances().items()},
                "validators": [v.to_dict() for v in validators],
                "params": {
                    k: (v.hex() if isinstance(v, bytes) else v)
                    for k, v in config.genesis_params().items()
                },
            }
        )
        self.verifier = SignatureVerifier(max_entries=1 << 18)
        self.tmpdir: str | None = None
        if self.scenario.crashes:
            base = "/dev/shm" if Path("/dev/shm").is_dir() else None
            self.tmpdir = tempfile.mkdtemp(prefix="ordinet-sim-", dir=base)
        crashing = {c.node for c in self.scenario.crashes}
        self.nodes = [
            SimNode(
                i,
                seeds[i],
                str(Path(self.tmpdir) / f"node{i}.db")
                if i in crashing and self.tmpdir
                else ":memory:",
                i in self.scenario.byzantine,
            )
            for i in range(n)
        ]
        self.honest = [node.index for node in self.nodes if not node.byzantine]
        self.now = 0
        self._heap: list[tuple[int, int, int, Any, Any, Any]] = []
        self._seq = 0
        self._log = hashlib.sha256()
        self._lines: list[str] | None = [] if config.keep_log else None
        self.events = 0
        self.invariants = Invariants(self)
        # PoW: every node mines at the same simulated hash rate
        self.hashes_per_ms = config.pow_expected_hashes / (config.block_interval_ms * n)
        self._byzantine_hooks: dict[int, Callable[[SimNode, Any], list[tuple[int, Any]]]] = {}
        if self.scenario.byzantine:
            from node.sim.byzantine import Equivocator

            for i in self.scenario.byzantine:
                self._byzantine_hooks[i] = Equivocator(self, self.nodes[i]).split

    # -- the event log --------------------------------------------------------

    def log(self, node: int, kind: int, peer: int, digest: bytes, text: Any = None) -> None:
        self._log.update(_REC.pack(self.now, node, peer, kind))
        self._log.update(digest)
        if self._lines is not None:
            self._lines.append(f"{self.now} n{node} k{kind} p{peer} {digest.hex()} {text or ''}")

    # -- scheduling --------------------------------------------------------------

    def push(self, at: int, kind: int, a: Any, b: Any = None, c: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, a, b, c))

    def send(self, src: int, dst: int, msg: Any) -> None:
        s = self.scenario
        now = self.now
        if now < s.fault_window_ms or s.partitions:
            for p in s.partitions:
                if p.start_ms <= now < p.end_ms and ((src in p.group) != (dst in p.group)):
                    return
            if now < s.fault_window_ms:
                rng = self.rng
                if s.drop_p and rng.random() < s.drop_p:
                    return
                delay = s.latency.draw(rng)
                if s.reorder_p and rng.random() < s.reorder_p:
                    delay += rng.randint(0, s.reorder_extra_ms)
                self.push(now + delay, _DELIVER, dst, src, msg)
                if s.dup_p and rng.random() < s.dup_p:
                    self.push(now + s.latency.draw(rng), _DELIVER, dst, src, msg)
                return
        self.push(now + s.latency.draw(self.rng), _DELIVER, dst, src, msg)

    # -- node lifecycle ----------------------------------------------------------

    def boot(self, node: SimNode) -> None:
        node.ledger = Ledger.open(node.path, self.genesis)
        node.app = LedgerApp(node.ledger)
        node.engine = create_engine(
            self.genesis, node.app, seed=node.seed, verifier=self.verifier, **self._engine_options()
        )
        node.alive = True
        node.timers = {}
        node.mining_job = None
        self.invariants.on_boot(node)
        self.perform(node, node.engine.start(self.now))

    def _engine_options(self) -> dict[str, Any]:
        return {}

    def crash(self, node: SimNode) -> None:
        node.alive = False
        node.engine = None
        node.app = None
        if node.ledger is not None:
            node.ledger.close()
        node.ledger = None
        node.timers = {}
        node.mining_job = None

    # -- executing actions ------------------------------------------------------

    def perform(self, node: SimNode, actions: list[Any]) -> None:
        i = node.index
        for action in actions:
            t = type(action)
            if t is Broadcast:
                msg = action.message
                hook = self._byzantine_hooks.get(i)
                if hook is not None:
                    for dst, m in hook(node, msg):
                        self.send(i, dst, m)
                    continue
                for j in range(len(self.nodes)):
                    if j != i:
                        self.send(i, j, msg)
            elif t is Send:
                self.send(i, action.peer, action.message)
            elif t is SetTimer:
                self._seq += 1
                node.timers[action.key] = self._seq
                heapq.heappush(
                    self._heap, (action.at_ms, self._seq, _TIMER, i, action.key, self._seq)
                )
            elif t is CancelTimer:
                node.timers.pop(action.key, None)
            elif t is RequestProposal:
                self.push(self.now, _PROPOSAL, i, action)
            elif t is Committed:
                self.log(i, _COMMIT, 0, action.block.hash)
                node.committed_at.append(self.now)
                self.invariants.on_commit(node, action.block)
            elif t is Reverted:
                self.log(i, _REVERT, action.height, action.blocks[0].hash if action.blocks else b"")
                self.invariants.on_revert(node, action.height, action.blocks)
            elif t is Mine:
                node.mining_job = action.job
                expected = (1 << 256) / (int.from_bytes(action.target, "big") + 1)
                delay = self.rng.expovariate(self.hashes_per_ms / expected)
                self.push(self.now + 1 + int(delay), _MINED, i, action)
            elif t is StopMining:
                if node.mining_job == action.job:
                    node.mining_job = None
            elif t is ReportEvidence:
                self.log(i, _EVIDENCE, 0, action.evidence.first.encode()[:8])
            elif t is Readmit or t is PeerMisbehaved:
                pass
            else:
                raise AssertionError(f"unknown action {action!r}")

    # -- the loop ------------------------------------------------------------------

    def run(self) -> RunResult:
        try:
            return self._run()
        finally:
            for node in self.nodes:
                if node.alive:
                    self.crash(node)
            if self.tmpdir is not None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def _run(self) -> RunResult:
        for c in self.scenario.crashes:
            self.push(c.start_ms, _CRASH, c.node)
            self.push(c.end_ms, _RESTART, c.node)
        for node in self.nodes:
            self.boot(node)
        heal = self.scenario.heal_ms
        deadline = (
            heal
            + self.config.liveness_bound_ms
            + self.config.blocks * 5 * self.config.block_interval_ms
        )
        heap = self._heap
        nodes = self.nodes
        inv = self.invariants
        while heap:
            at, _, kind, a, b, c = heapq.heappop(heap)
            if at > deadline:
                break
            self.now = at
            self.events += 1
            if kind == _DELIVER:
                node = nodes[a]
                if not node.alive:
                    continue
                self.log(a, _DELIVER, b, c.digest)
                assert node.engine is not None
                self.perform(node, node.engine.on_message(b, c, at))
            elif kind == _TIMER:
                node = nodes[a]
                if not node.alive or node.timers.get(b) != c:
                    continue
                del node.timers[b]
                self.log(a, _TIMER, b[2] & 0xFFFF, f"{b[0]}{b[1]}".encode())
                assert node.engine is not None
                self.perform(node, node.engine.on_timer(b, at))
            elif kind == _PROPOSAL:
                node = nodes[a]
                if not node.alive:
                    continue
                self.perform(node, self._build(node, b))
            elif kind == _MINED:
                node = nodes[a]
                if not node.alive or node.mining_job != b.job:
                    continue
                nonce = crypto.pow_search(b.prefix, b.target, 0, 1 << 40)
                assert nonce is not None
                node.mining_job = None
                self.log(a, _MINED, 0, nonce.to_bytes(8, "big"))
                assert node.engine is not None
                self.perform(node, node.engine.on_mined(b.job, nonce, at))
            elif kind == _CRASH:
                self.log(a, _CRASH, 0, b"")
                self.crash(nodes[a])
            elif kind == _RESTART:
                self.log(a, _RESTART, 0, b"")
                self.boot(nodes[a])
            if at >= heal and inv.done(at):
                break
        inv.finish(self.now)
        return RunResult(
            seed=self.seed,
            committed_height=inv.committed_height(),
            violations=inv.violations,
            event_log_sha256=self._log.hexdigest(),
            sim_time_ms=self.now,
            events=self.events,
            scenario=self.scenario.describe(),
            log=self._lines,
        )

    def _build(self, node: SimNode, request: RequestProposal) -> list[Any]:
        assert node.ledger is not None and node.engine is not None and node.seed is not None
        ledger = node.ledger
        if ledger.height + 1 != request.height:
            return []
        block, _ = ledger.build_block(
            self.workload.candidates(ledger),
            proposer=crypto.keypair_from_seed(node.seed)[1],
            timestamp_ms=request.timestamp_ms,
            policy="fifo",
            last_commit=request.last_commit,
            pow_target=request.pow_target if request.pow_target is not None else bytes(32),
        )
        return node.engine.on_proposal_ready(request, block, self.now)


def run_simulation(config: SimConfig, seed: int) -> RunResult:
    return Simulation(config, seed).run()

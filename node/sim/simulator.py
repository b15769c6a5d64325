"""The deterministic discrete-event simulator: whole nodes over simulated I/O.

Every simulated node is the node the runtime runs: a ``NodeCore``
(node/core) with its ledger on SQLite, its mempool and scheduling policy,
its engine and its one action interpreter. Only the I/O differs:
``SimIO`` puts messages, timers and nonce searches on one event heap,
reads a simulated clock (skewed per node under the ``skew`` fault), and
gossips the txs a node admitted to its peers in batches, through the same
network model as consensus messages. Users (node/sim/workload.py) send
signed transactions to chosen nodes; each proposer builds its block from
its own pool, in its policy's order.

One ``random.Random(seed)`` draws everything: the scenario (faults), every
message's latency, drop, duplication and reordering, every mining time and
every torn write. Events sit in one heap ordered by (time, sequence
number), so a run is a pure function of its configuration and seed; the
learned policy's features read the node's simulated clock, never the wall.

Faults (node/sim/scenario.py): message drop, duplication, reordering and
partitions; clock skew per node; Byzantine validators that equivocate as
proposers and as voters; and crashes. A crash stops a node at a random
instant, mid-write when it falls in the middle of a store transaction: the
store then loses the transaction in progress, exactly what SQLite leaves
after a kill -9 (node/sim/storage.py). The node restarts later from what
its store kept, with an empty pool.

The event log is a sequence of canonical binary records (time, node,
event kind, and a digest of what happened); ``event_log_sha256`` is its
SHA-256 and is the same, byte for byte, for the same seed. ``Simulation``
can also be stepped one event at a time (node/sim/stepping.py builds the
classroom API on it). Invariants are checked as events happen (see
invariants.py); a run returns a ``RunResult``.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node import crypto
from node.consensus.events import MessageReceived, MinedNonce, PeerId, TimerFired, TimerKey
from node.consensus.validators import SignatureVerifier
from node.core import NodeCore, Observer
from node.core.catchup import Blocks, BlocksReceived, GetBlocks, NodeEvent
from node.errors import OrdinetError
from node.genesis import DEFAULT_PARAMS, Genesis, Validator
from node.ledger import Ledger
from node.mempool import MempoolConfig
from node.p2p.config import P2PConfig
from node.research.trace import Trace
from node.scheduling.policy import Policy, load_policy
from node.sim import narrate
from node.sim.invariants import Invariants
from node.sim.scenario import Latency, Scenario
from node.sim.storage import TornArm, arm_torn_write
from node.sim.workload import Submission, TraceTxs, Transfers, TxSource
from node.types import Block, Commit, Transaction, VerifiedTxs

# event kinds in the heap and the log
DELIVER = 0  # a consensus message reaches a node
TIMER = 1
EVENT = 2  # an event a node queued for itself (a built proposal)
MINED = 3
CRASH = 4
RESTART = 5
COMMIT = 6  # log only
REVERT = 7  # log only
EVIDENCE = 8  # log only
TXS = 9  # a batch of gossiped txs reaches a node
SUBMIT = 10  # a client sends a tx to a node
FLUSH = 11  # a node's tx outbox goes out
PENALTY = 12  # log only: a node penalised a peer
TORN = 13  # log only: a crash cut a store write
GET_BLOCKS = 14  # a catch-up request reaches a node
BLOCKS = 15  # the answer reaches the node that asked
DROPPED = 16  # log only: a message in flight lost by hand (node/sim/stepping.py)
DELAYED = 17  # log only: a message in flight held back by hand
#: the heap's messages on the wire
WIRE_KINDS = frozenset({DELIVER, TXS, GET_BLOCKS, BLOCKS})

KIND_NAMES = {
    DELIVER: "recv",
    TIMER: "timer",
    EVENT: "event",
    MINED: "mined",
    CRASH: "crash",
    RESTART: "restart",
    COMMIT: "commit",
    REVERT: "revert",
    EVIDENCE: "evidence",
    TXS: "txs",
    SUBMIT: "submit",
    FLUSH: "flush",
    PENALTY: "penalty",
    TORN: "torn",
    GET_BLOCKS: "getblocks",
    BLOCKS: "blocks",
    DROPPED: "dropped",
    DELAYED: "delayed",
}

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
    block_interval_ms: int = 1_000
    # PoW: expected hashes per block at the start (the target follows), and
    # the network's total simulated hash rate that yields block_interval_ms
    pow_expected_hashes: int = 32
    keep_log: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    # -- the users and the pools --
    #: the built-in users (without a trace): wallets, and txs per block interval
    wallets: int = 4
    txs_per_block: int = 2
    #: a workload's trace: its rows are the txs, sent at their arrival times
    trace: Trace | None = None
    #: the nodes clients send to (each client sticks to one); empty: all nodes
    send_to: tuple[int, ...] = ()
    policy: str = "fifo"
    model_path: str | None = None
    model_hash: str | None = None
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    #: genesis block limits (0: the default parameters)
    block_txs: int = 0
    block_bytes: int = 0
    #: a node sends the txs it admitted to its peers at most this often
    tx_gossip_ms: int = 50
    #: every node's store on disk (else only the nodes a crash will hit):
    #: any node may then be crashed and restarted by hand
    durable: bool = False

    def genesis_params(self) -> dict[str, Any]:
        p = dict(DEFAULT_PARAMS)
        p["block_interval_ms"] = self.block_interval_ms
        p["timeout_commit_ms"] = self.block_interval_ms
        target = (1 << 256) // self.pow_expected_hashes - 1
        p["pow_initial_target"] = target.to_bytes(32, "big")
        if self.block_txs:
            p["max_block_txs"] = self.block_txs
        if self.block_bytes:
            p["max_block_bytes"] = self.block_bytes
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
    #: each node's state at the end (with the readable log)
    final: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "committed_height": self.committed_height,
            "violations": self.violations,
            "event_log_sha256": self.event_log_sha256,
        }


def validator_seed(index: int) -> bytes:
    return crypto.sha256(b"ordinet/sim/validator" + index.to_bytes(4, "big"))


@dataclass(frozen=True, slots=True)
class TxBatch:
    """Gossiped transactions in flight from one node to another."""

    txs: tuple[Transaction, ...]

    @property
    def digest(self) -> bytes:
        return crypto.sha256(b"".join(tx.id for tx in self.txs))


class SimNode:
    """One simulated node: its core (when alive), its I/O state, its fate."""

    __slots__ = (
        "accepted",
        "alive",
        "build_s",
        "byzantine",
        "committed_at",
        "core",
        "index",
        "io",
        "mining_job",
        "outbox",
        "path",
        "penalties",
        "seed",
        "skew_ms",
        "timers",
        "torn_arm",
    )

    def __init__(self, index: int, seed: bytes, path: str, byzantine: bool) -> None:
        self.index = index
        self.seed = seed
        self.path = path
        self.byzantine = byzantine
        self.alive = False
        self.core: NodeCore | None = None
        self.io: SimIO | None = None
        self.timers: dict[TimerKey, int] = {}
        self.mining_job: int | None = None
        self.committed_at: list[int] = []  # sim times of this node's commits
        self.outbox: list[tuple[Transaction, PeerId | None]] = []
        self.skew_ms = 0
        self.penalties = 0
        self.build_s = 0.0  # block building, on the stopwatch (a cost, not an event)
        #: tx id -> sim time, txs this node's pool accepted since it booted
        self.accepted: dict[bytes, int] = {}
        self.torn_arm: TornArm | None = None  # a crash waiting to cut a write

    @property
    def ledger(self) -> Ledger | None:
        return self.core.ledger if self.core is not None else None


class SimIO:
    """``NodeIO`` over the simulation: one per node boot."""

    __slots__ = ("node", "sim")

    def __init__(self, sim: Simulation, node: SimNode) -> None:
        self.sim = sim
        self.node = node

    def now_ms(self) -> int:
        return self.sim.now + self.node.skew_ms

    def now_s(self) -> float:
        return (self.sim.now + self.node.skew_ms) / 1000

    def perf_s(self) -> float:
        return time.perf_counter()

    def broadcast(self, message: Any) -> None:
        sim, i = self.sim, self.node.index
        hook = sim.byzantine_hooks.get(i)
        if hook is not None:
            for dst, m in hook(self.node, message):
                sim.send(i, dst, DELIVER, m)
            return
        for j in range(len(sim.nodes)):
            if j != i:
                sim.send(i, j, DELIVER, message)

    def send(self, peer: PeerId, message: Any) -> None:
        assert isinstance(peer, int)
        self.sim.send(self.node.index, peer, DELIVER, message)

    def set_timer(self, key: TimerKey, at_ms: int) -> None:
        sim = self.sim
        sim.seq += 1
        self.node.timers[key] = sim.seq
        at = max(sim.now, at_ms - self.node.skew_ms)
        heapq.heappush(sim.heap, (at, sim.seq, TIMER, self.node.index, key, sim.seq))

    def cancel_timer(self, key: TimerKey) -> None:
        self.node.timers.pop(key, None)

    def queue(self, event: NodeEvent) -> None:
        self.sim.push(self.sim.now, EVENT, self.node.index, event)

    def mine(self, job: int, prefix: bytes, target: bytes) -> None:
        sim = self.sim
        self.node.mining_job = job
        expected = (1 << 256) / (int.from_bytes(target, "big") + 1)
        delay = sim.rng.expovariate(sim.hashes_per_ms / expected)
        sim.push(sim.now + 1 + int(delay), MINED, self.node.index, (job, prefix, target))

    def stop_mining(self, job: int) -> None:
        if self.node.mining_job == job:
            self.node.mining_job = None

    def request_blocks(self, peer: PeerId, request: GetBlocks) -> None:
        assert isinstance(peer, int)
        self.sim.send(self.node.index, peer, GET_BLOCKS, request)

    def relay_txs(self, txs: Sequence[Transaction], origin: PeerId | None) -> None:
        node = self.node
        if not node.outbox:
            self.sim.push(self.sim.now + self.sim.config.tx_gossip_ms, FLUSH, node.index)
        node.outbox.extend((tx, origin) for tx in txs)

    def penalise(self, peer: PeerId, reason: str) -> None:
        self.node.penalties += 1
        self.sim.log(
            self.node.index,
            PENALTY,
            peer if isinstance(peer, int) else 0,
            b"",
            lambda: f"node{peer}: {reason}",
        )


class SimObserver(Observer):
    """What the simulator records of a node's doings: the log, the invariants."""

    __slots__ = ("node", "sim")

    def __init__(self, sim: Simulation, node: SimNode) -> None:
        self.sim = sim
        self.node = node

    def on_committed(self, block: Block, proof: Commit | None) -> None:
        sim, node = self.sim, self.node
        sim.log(
            node.index,
            COMMIT,
            0,
            block.hash,
            lambda: (
                f"h={block.height} block={narrate.short(block.hash)} txs={len(block.txs)}"
                + (f" round={proof.round}" if proof is not None else "")
            ),
        )
        node.committed_at.append(sim.now)
        sim.invariants.on_commit(node, block)

    def on_reverted(self, height: int, blocks: tuple[Block, ...]) -> None:
        sim, node = self.sim, self.node
        sim.log(
            node.index,
            REVERT,
            height,
            blocks[0].hash if blocks else b"",
            lambda: f"to h={height} dropping {len(blocks)} block(s)",
        )
        sim.invariants.on_revert(node, height, blocks)

    def on_evidence(self, record: dict[str, Any]) -> None:
        digest = crypto.sha256(repr(sorted(record.items())).encode())[:8]
        self.sim.log(
            self.node.index,
            EVIDENCE,
            0,
            digest,
            lambda: " ".join(f"{k}={record.get(k)}" for k in ("kind", "height", "round")),
        )

    def on_built(self, block: Block, refused: int, build_s: float) -> None:
        self.node.build_s += build_s


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
        self.source: TxSource = (
            TraceTxs(config.trace, SIM_CHAIN_ID)
            if config.trace is not None
            else Transfers(
                SIM_CHAIN_ID, config.wallets, config.txs_per_block, config.block_interval_ms
            )
        )
        self.send_to = tuple(config.send_to) or tuple(range(n))
        if any(not 0 <= i < n for i in self.send_to):
            raise ValueError(f"send_to names nodes outside 0..{n - 1}: {list(self.send_to)}")
        seeds = [validator_seed(i) for i in range(n)]
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
                "balances": {a.hex(): b for a, b in self.source.balances().items()},
                "validators": [v.to_dict() for v in validators],
                "params": {
                    k: (v.hex() if isinstance(v, bytes) else v)
                    for k, v in config.genesis_params().items()
                },
            }
        )
        # one cache of checked vote signatures for the whole network: a pure
        # function's memo, so sharing it changes no outcome, only the cost
        self.verifier = SignatureVerifier(max_entries=1 << 18)
        # ... and the same for tx signatures
        self.verified_txs = VerifiedTxs(max_entries=1 << 18)
        self.tmpdir: str | None = None
        if self.scenario.crashes or config.durable:
            base = "/dev/shm" if Path("/dev/shm").is_dir() else None
            self.tmpdir = tempfile.mkdtemp(prefix="ordinet-sim-", dir=base)
        crashing = set(range(n)) if config.durable else {c.node for c in self.scenario.crashes}
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
        for node in self.nodes:
            node.skew_ms = self.scenario.skews.get(node.index, 0)
        self.honest = [node.index for node in self.nodes if not node.byzantine]
        #: validator key -> node name, for the readable log
        self.names = {crypto.keypair_from_seed(s)[1]: f"node{i}" for i, s in enumerate(seeds)}
        self.now = 0
        self.heap: list[tuple[int, int, int, Any, Any, Any]] = []
        self.seq = 0
        self._log = hashlib.sha256()
        self._lines: list[str] | None = [] if config.keep_log else None
        self.events = 0
        #: heap sequence numbers of messages lost by hand (node/sim/stepping.py)
        self.dropped: set[int] = set()
        #: per trace row: whether the node it was sent to admitted it
        self.admitted: dict[int, bool] = {}
        self.invariants = Invariants(self)
        # PoW: every node mines at the same simulated hash rate
        self.hashes_per_ms = config.pow_expected_hashes / (config.block_interval_ms * n)
        self.byzantine_hooks: dict[int, Callable[[SimNode, Any], list[tuple[int, Any]]]] = {}
        if self.scenario.byzantine:
            from node.sim.byzantine import Equivocator

            for i in self.scenario.byzantine:
                self.byzantine_hooks[i] = Equivocator(self, self.nodes[i]).split
        self._submissions: Iterator[Submission] = iter(self.source.submissions())
        self.max_msg_bytes = P2PConfig().max_msg_bytes  # the live node's frame limit
        self._started = False
        self._finished = False
        self._deadline = 0
        self._heal_ms = 0

    # -- the event log --------------------------------------------------------

    def log(
        self, node: int, kind: int, peer: int, digest: bytes, text: Callable[[], str] | None = None
    ) -> None:
        """Record an event; ``text`` narrates it for the readable log (called
        only when one is kept)."""
        self._log.update(_REC.pack(self.now, node, peer, kind))
        self._log.update(digest)
        if self._lines is not None:
            words = text() if text is not None else ""
            self._lines.append(f"t={self.now}ms node{node} {KIND_NAMES[kind]} {words}".rstrip())

    # -- scheduling --------------------------------------------------------------

    def push(self, at: int, kind: int, a: Any, b: Any = None, c: Any = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, a, b, c))

    def send(self, src: int, dst: int, kind: int, msg: Any) -> None:
        """Put ``msg`` on the wire from ``src`` to ``dst`` through the network model."""
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
                self.push(now + delay, kind, dst, src, msg)
                if s.dup_p and rng.random() < s.dup_p:
                    self.push(now + s.latency.draw(rng), kind, dst, src, msg)
                return
        self.push(now + s.latency.draw(self.rng), kind, dst, src, msg)

    # -- node lifecycle ----------------------------------------------------------

    def make_policy(self) -> Policy:
        c = self.config
        return load_policy(c.policy, model_path=c.model_path, model_hash=c.model_hash)

    def boot(self, node: SimNode) -> None:
        try:
            ledger = Ledger.open(node.path, self.genesis)
        except OrdinetError as exc:
            self.invariants.on_boot_failed(node, str(exc))
            return
        node.io = SimIO(self, node)
        node.timers = {}
        node.mining_job = None
        node.outbox = []
        node.accepted = {}
        node.core = NodeCore(
            genesis=self.genesis,
            ledger=ledger,
            policy=self.make_policy(),
            io=node.io,
            key_seed=node.seed,
            signs=True,
            observer=SimObserver(self, node),
            mempool_config=self.config.mempool,
            verifier=self.verifier,
            verified_txs=self.verified_txs,
        )
        node.alive = True
        self.invariants.on_boot(node)
        self._run_core(node, node.core.start)

    def crash(self, node: SimNode) -> None:
        """The process dies: memory (pool, engine, timers) is gone, the store
        keeps what it had committed."""
        node.alive = False
        core, node.core, node.io = node.core, None, None
        if core is not None:
            core.ledger.close()
        node.timers = {}
        node.mining_job = None
        node.outbox = []
        node.torn_arm = None

    def _run_core(self, node: SimNode, call: Callable[[], Any]) -> Any:
        """Run one step of a node's core; a crash armed to tear a store write
        ends the node there (the transaction in progress is lost)."""
        try:
            return call()
        except Exception:
            if node.torn_arm is None or not node.torn_arm.torn:
                raise
            self.log(node.index, TORN, 0, b"", lambda: "the crash cut a store write")
            self.crash(node)
            return None

    def _step(self, node: SimNode, event: NodeEvent) -> None:
        core = node.core
        assert core is not None
        self._run_core(node, lambda: core.step(event))

    # -- the loop ------------------------------------------------------------------

    def start(self) -> None:
        """Boot every node and schedule the faults (once; ``run`` calls it)."""
        if self._started:
            return
        self._started = True
        for c in self.scenario.crashes:
            self.push(c.start_ms, CRASH, c.node, c.torn)
            self.push(c.end_ms, RESTART, c.node)
        for node in self.nodes:
            self.boot(node)
        self._next_submission()
        self._heal_ms = self.scenario.heal_ms
        self._deadline = (
            self._heal_ms
            + self.config.liveness_bound_ms
            + self.config.blocks * 5 * self.config.block_interval_ms
        )

    def _next_submission(self) -> None:
        sub = next(self._submissions, None)
        if sub is not None:
            self.push(max(sub.at_ms, self.now), SUBMIT, sub)

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def lines(self) -> list[str] | None:
        """The readable log so far (with ``keep_log``)."""
        return self._lines

    def step(self) -> bool:
        """Handle the next event; False once the run is over."""
        if not self._started:
            self.start()
        if self._finished:
            return False
        heap = self.heap
        if not heap:
            self._finished = True
            return False
        at = heap[0][0]
        if at > self._deadline:
            self._finished = True
            return False
        _, seq, kind, a, b, c = heapq.heappop(heap)
        self.now = at
        if seq in self.dropped:
            self.dropped.discard(seq)
            return True
        self.events += 1
        self._handle(kind, a, b, c)
        if at >= self._heal_ms and self.invariants.done(at):
            self._finished = True
        return not self._finished

    def _handle(self, kind: int, a: Any, b: Any, c: Any) -> None:
        if kind == SUBMIT:
            self._submit(a)
            self._next_submission()
            return
        node = self.nodes[a]
        if kind == CRASH:
            if not node.alive:
                return
            if b is not None and node.ledger is not None:
                # it dies in a store write soon, at a random point of it
                node.torn_arm = arm_torn_write(node.ledger.store, b)
                self.log(a, CRASH, 1, b"", lambda: "(dies in its next store write)")
            else:
                self.log(a, CRASH, 0, b"")
                self.crash(node)
            return
        if kind == RESTART:
            if node.alive and node.ledger is not None:
                # the armed crash never met a write: the node dies now
                self.crash(node)
            self.log(a, RESTART, 0, b"", lambda: "from its store")
            self.boot(node)
            return
        if not node.alive:
            return
        if kind == DELIVER:
            self.log(
                a, DELIVER, b, c.digest, lambda: f"{narrate.message(c, self.names)} from node{b}"
            )
            self._step(node, MessageReceived(b, c))
        elif kind == TIMER:
            if node.timers.get(b) != c:
                return
            del node.timers[b]
            self.log(
                a, TIMER, b[2] & 0xFFFF, f"{b[0]}{b[1]}".encode(), lambda: narrate.timer(b)
            )
            self._step(node, TimerFired(b))
        elif kind == EVENT:
            self._step(node, b)
        elif kind == MINED:
            job, prefix, target = b
            if node.mining_job != job:
                return
            nonce = crypto.pow_search(prefix, target, 0, 1 << 40)
            assert nonce is not None
            node.mining_job = None
            self.log(a, MINED, 0, nonce.to_bytes(8, "big"), lambda: f"nonce={nonce} job={job}")
            self._step(node, MinedNonce(job, nonce))
        elif kind == TXS:
            self.log(a, TXS, b, c.digest, lambda: f"{len(c.txs)} tx(s) from node{b}")
            # what the pool holds it would refuse as a duplicate: not even asked
            pool = node.core.mempool
            fresh = [tx for tx in c.txs if tx.id not in pool]
            if fresh:
                self._receive(node, fresh, b)
        elif kind == FLUSH:
            self._flush(node)
        elif kind == GET_BLOCKS:
            core = node.core
            assert core is not None
            reply = core.blocks_for(c, self.max_msg_bytes)
            self.log(a, GET_BLOCKS, b, _digest(c), lambda: f"h={c.start}..{c.end} from node{b}")
            self.send(a, b, BLOCKS, reply)
        elif kind == BLOCKS:
            self.log(a, BLOCKS, b, _digest(c), lambda: f"{len(c.blocks)} block(s) from node{b}")
            self._step(node, BlocksReceived(b, c))

    def _submit(self, sub: Submission) -> None:
        """A client sends a tx to its node (the next live one if that one is down)."""
        targets = self.send_to
        start = sub.client % len(targets)
        for k in range(len(targets)):
            node = self.nodes[targets[(start + k) % len(targets)]]
            if node.alive:
                self.log(
                    node.index,
                    SUBMIT,
                    0,
                    sub.tx.id,
                    lambda: (
                        f"tx={narrate.short(sub.tx.id)} nonce={sub.tx.nonce} "
                        f"fee={sub.tx.fee} from client{sub.client}"
                    ),
                )
                results = self._receive(node, [sub.tx], None)
                if sub.row >= 0 and results is not None:
                    self.admitted[sub.row] = results[0].accepted
                return
        if sub.row >= 0:
            self.admitted[sub.row] = False

    def _receive(self, node: SimNode, txs: list[Transaction], origin: int | None) -> Any:
        core = node.core
        assert core is not None
        results = self._run_core(node, lambda: core.receive_txs(txs, origin))
        if results is not None:
            for tx, r in zip(txs, results, strict=True):
                if r.accepted:
                    node.accepted[tx.id] = self.now
        return results

    def _flush(self, node: SimNode) -> None:
        """Gossip the outbox: to each peer, what it did not send us and does
        not hold yet (a peer announces what it has, as in eth/68)."""
        outbox, node.outbox = node.outbox, []
        i = node.index
        for j, peer in enumerate(self.nodes):
            if j == i:
                continue
            pool = peer.core.mempool if peer.core is not None else None
            txs = tuple(
                tx for tx, origin in outbox if origin != j and (pool is None or tx.id not in pool)
            )
            if txs:
                self.send(i, j, TXS, TxBatch(txs))

    def run(self) -> RunResult:
        try:
            self.start()
            while self.step():
                pass
            return self.result()
        finally:
            self.close()

    def result(self) -> RunResult:
        inv = self.invariants
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
            final=None
            if self._lines is None
            else [narrate.node_state(f"node{n.index}", n) for n in self.nodes],
        )

    def close(self) -> None:
        for node in self.nodes:
            if node.alive:
                self.crash(node)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def _digest(msg: GetBlocks | Blocks) -> bytes:
    if isinstance(msg, GetBlocks):
        head = struct.pack(">QQ", msg.start, msg.end)
        return crypto.sha256(head + b"".join(msg.locator))
    return crypto.sha256(b"".join(block + commit for block, commit in msg.blocks))


def run_simulation(config: SimConfig, seed: int) -> RunResult:
    return Simulation(config, seed).run()

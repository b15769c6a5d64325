"""The classroom API: step a simulation one event at a time and break it by hand.

``Stepper`` wraps a ``Simulation`` whose every node keeps its store on
disk (so any node can be crashed and restarted) and whose readable log is
on. Between two steps a caller (a test, a notebook, the consensus lab's
page) may look and touch:

- ``step()`` handles the next event and returns what it did, in words;
  ``run_until_commit()`` steps until some node commits a block;
- ``nodes()`` is each node's state: head, engine step and round, locks,
  votes with their signers (BFT), pool size, clock skew, whether it is up;
- ``in_flight()`` lists the messages on the wire, each with an ``id``;
  ``drop(id)`` loses one, ``delay(id, ms)`` holds it back;
- ``crash(i)`` stops node i (its store survives), ``restart(i)`` boots it
  again from its store.

Every touch is an event of the run: it goes into the event log (and the
readable log), so a run with touches is as reproducible as one without,
given the same touches at the same steps.

    sim = Stepper(SimConfig(consensus="bft", nodes=4), seed=1)
    sim.run_until_commit()
    first = sim.in_flight()[0]
    sim.drop(first.id)
    sim.crash(2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.sim import narrate
from node.sim.simulator import (
    CRASH,
    DELAYED,
    DELIVER,
    DROPPED,
    GET_BLOCKS,
    KIND_NAMES,
    RESTART,
    TXS,
    WIRE_KINDS,
    SimConfig,
    Simulation,
)


@dataclass(frozen=True)
class InFlight:
    """A message on the wire: ``id`` names it for ``drop`` and ``delay``."""

    id: int
    deliver_at_ms: int
    kind: str  # "recv" (consensus), "txs", "getblocks", "blocks"
    src: int
    dst: int
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deliver_at_ms": self.deliver_at_ms,
            "kind": self.kind,
            "src": self.src,
            "dst": self.dst,
            "summary": self.summary,
        }


class Stepper:
    """A simulation to be stepped and touched between steps."""

    def __init__(self, config: SimConfig, seed: int) -> None:
        config.keep_log = True
        config.durable = True
        self.sim = Simulation(config, seed)
        self.sim.start()
        self._read = 0

    # -- moving ---------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self.sim.now

    @property
    def finished(self) -> bool:
        return self.sim.finished

    def step(self) -> list[str]:
        """Handle one event; the readable log lines it produced (none for an
        event that found its node down or its timer moved)."""
        self.sim.step()
        return self._new_lines()

    def run_until_commit(self, max_events: int = 100_000) -> list[str]:
        """Step until a node commits (or the run ends, or ``max_events``)."""
        lines: list[str] = []
        for _ in range(max_events):
            if self.sim.finished:
                break
            got = self.step()
            lines += got
            if any(line.split()[2] == "commit" for line in got):
                break
        return lines

    # -- looking --------------------------------------------------------------------

    def nodes(self) -> list[dict[str, Any]]:
        return [self.node(i) for i in range(len(self.sim.nodes))]

    def node(self, index: int) -> dict[str, Any]:
        """One node's state, as JSON-able values."""
        node = self.sim.nodes[index]
        out: dict[str, Any] = {
            "node": index,
            "alive": node.alive,
            "byzantine": node.byzantine,
            "clock_skew_ms": node.skew_ms,
            "penalties": node.penalties,
        }
        core = node.core
        if core is None:
            return out
        head = core.ledger.head
        names = self.sim.names
        engine = core.engine.status()
        for votes in engine.get("votes", {}).values():
            for key in ("prevote_signers", "precommit_signers"):
                for block, signers in votes.get(key, {}).items():
                    votes[key][block] = [names.get(bytes.fromhex(s), s) for s in signers]
        out.update(
            height=head.height,
            head=head.hash.hex(),
            pool=len(core.mempool),
            pool_bytes=core.mempool.size_bytes,
            syncing=core.catchup.syncing,
            engine=engine,
        )
        return out

    def in_flight(self) -> list[InFlight]:
        """The messages on the wire, soonest first."""
        out = []
        for at, seq, kind, dst, src, msg in sorted(self.sim.heap):
            if kind in WIRE_KINDS and seq not in self.sim.dropped:
                out.append(InFlight(seq, at, KIND_NAMES[kind], src, dst, self._summary(kind, msg)))
        return out

    def _summary(self, kind: int, msg: Any) -> str:
        if kind == DELIVER:
            return narrate.message(msg, self.sim.names)
        if kind == TXS:
            return f"{len(msg.txs)} tx(s)"
        if kind == GET_BLOCKS:
            return f"getblocks h={msg.start}..{msg.end}"
        return f"{len(msg.blocks)} block(s)"

    # -- touching -------------------------------------------------------------------

    def drop(self, message_id: int) -> bool:
        """Lose a message in flight; False if there is none by that id."""
        entry = self._find(message_id)
        if entry is None:
            return False
        self.sim.dropped.add(message_id)
        self.sim.log(
            entry[3],
            DROPPED,
            entry[4],
            message_id.to_bytes(8, "big"),
            lambda: (
                f"dropped by hand: {KIND_NAMES[entry[2]]} {self._summary(entry[2], entry[5])} "
                f"from node{entry[4]}"
            ),
        )
        return True

    def delay(self, message_id: int, ms: int) -> bool:
        """Deliver a message in flight ``ms`` later than planned."""
        entry = self._find(message_id)
        if entry is None or ms < 0:
            return False
        at, _, kind, dst, src, msg = entry
        self.sim.dropped.add(message_id)
        self.sim.push(at + ms, kind, dst, src, msg)
        self.sim.log(
            dst,
            DELAYED,
            src,
            message_id.to_bytes(8, "big"),
            lambda: (
                f"delayed by hand {ms}ms: {KIND_NAMES[kind]} {self._summary(kind, msg)} "
                f"from node{src}"
            ),
        )
        return True

    def crash(self, index: int) -> bool:
        """Stop node ``index`` now (its store keeps what it committed)."""
        node = self.sim.nodes[index]
        if not node.alive:
            return False
        self.sim.log(index, CRASH, 2, b"", lambda: "(by hand)")
        self.sim.crash(node)
        return True

    def restart(self, index: int) -> bool:
        """Boot a crashed node ``index`` from its store."""
        node = self.sim.nodes[index]
        if node.alive:
            return False
        self.sim.log(index, RESTART, 2, b"", lambda: "from its store (by hand)")
        self.sim.boot(node)
        return True

    def close(self) -> None:
        self.sim.close()

    # -- helpers --------------------------------------------------------------------

    def _find(self, message_id: int) -> tuple[int, int, int, Any, Any, Any] | None:
        if message_id in self.sim.dropped:
            return None
        for entry in self.sim.heap:
            if entry[1] == message_id and entry[2] in WIRE_KINDS:
                return entry
        return None

    def _new_lines(self) -> list[str]:
        lines = self.sim.lines or []
        new, self._read = lines[self._read :], len(lines)
        return new

"""The foreground run of ``ordinet testnet up``: load, faults, watching, a summary.

``Supervisor.run`` drives a started testnet for the profile's duration (or
until SIGINT/SIGTERM): the load generator, the perturbation schedule at
its times, and a monitor that samples every node's height twice a second.
From those samples each perturbation gets two recovery figures:

- ``next_block_s``: until some node holds block ``head + 2``, where
  ``head`` is the highest block any node had when it happened (the network
  is live again; ``+ 2`` because block ``head + 1`` may have been in flight);
- ``synced_s``: until every running node (killed and paused ones aside)
  holds block ``head + 2`` (everyone is back in step).

A figure is only taken before the next perturbation; a fault the network
cannot ride out (a BFT net cut in halves) shows as ``-`` until its repair.
At the end the load drains, and the summary checks agreement: every
running node must hold the same block at their common height. Block
hashes chain each header to its parent and commit the state root, so one
equal hash means equal blocks below and equal balances at that height.
It ends with the run's blocks per proposer, each with the policy its
blocks record (node.testnet.proposers): how validators with different
policies fared.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.client import AsyncClient
from node.errors import OrdinetError
from node.research.workloads import load_trace
from node.runtime.home import ACCOUNTS_DIR_NAME
from node.testnet.load import LoadGenerator, LoadReport, LoadSnapshot, nap
from node.testnet.manifest import PAUSED, RUNNING
from node.testnet.network import Testnet
from node.testnet.profile import (
    HEAL,
    PARTITION,
    RESTART,
    RESUME,
    Perturbation,
    TestnetProfile,
    format_groups,
)
from node.testnet.proposers import ProposerStats, proposer_stats
from node.wallet import Wallet

SAMPLE_S = 0.25
STATUS_TIMEOUT_S = 2.0
DRAIN_S = 60.0
AGREE_DEADLINE_S = 30.0

_NETWORK_ERRORS = (OrdinetError, OSError, TimeoutError)


@dataclass
class EventRecord:
    """One applied perturbation and how the network took it."""

    at_s: float
    action: str
    head: int  # the highest block any node had when it happened
    next_block_s: float | None = None
    synced_s: float | None = None
    error: str | None = None
    closed: bool = False  # the next perturbation came: stop measuring

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "closed"}


@dataclass
class NodeView:
    """What the monitor last saw of one node."""

    index: int
    state: str
    status: dict[str, Any] | None = None


@dataclass
class Summary:
    profile: str
    consensus: str
    policy: str
    nodes: int
    run_s: float
    start_height: int
    end_height: int
    agree: bool
    agree_detail: str
    load: LoadReport | None
    events: list[EventRecord] = field(default_factory=list)
    node_policies: list[str] = field(default_factory=list)  # each node's, by index
    # blocks first_block..last_block (of one running node) per proposer; None: not read
    proposers: list[ProposerStats] | None = None
    first_block: int = 0
    last_block: int = 0

    @property
    def blocks(self) -> int:
        return self.end_height - self.start_height

    @property
    def ok(self) -> bool:
        """The run kept its promises: one chain, nothing accepted lost or doubled."""
        lost = self.load.lost + self.load.duplicates if self.load else 0
        return self.agree and lost == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "consensus": self.consensus,
            "policy": self.policy,
            "nodes": self.nodes,
            "run_s": self.run_s,
            "start_height": self.start_height,
            "end_height": self.end_height,
            "blocks": self.blocks,
            "agree": self.agree,
            "agree_detail": self.agree_detail,
            "ok": self.ok,
            "load": None if self.load is None else self.load.to_json(),
            "events": [e.to_json() for e in self.events],
            "node_policies": self.node_policies,
            "proposers": None
            if self.proposers is None
            else {
                "first_block": self.first_block,
                "last_block": self.last_block,
                "nodes": [p.to_json() for p in self.proposers],
            },
        }


def load_wallets(accounts_dir: Path) -> list[Wallet]:
    """The funded accounts' keys (``accountN.key``, in N order)."""
    files = sorted(
        accounts_dir.glob("*.key"),
        key=lambda p: (len(p.stem), p.stem),
    )
    return [Wallet.load(f) for f in files]


class Supervisor:
    """Runs a started testnet in the foreground; see the module docstring."""

    def __init__(
        self,
        net: Testnet,
        profile: TestnetProfile,
        show: Callable[[Supervisor], None],
        note: Callable[[str], None],
    ) -> None:
        self.net = net
        self.profile = profile
        self.show = show
        self.note = note
        self.views = [NodeView(n.index, n.state) for n in net.nodes]
        self.events: list[EventRecord] = []
        self.load: LoadGenerator | None = None
        self.stop = asyncio.Event()
        self.start_s = 0.0
        self.interrupts = 0
        self._clients: list[AsyncClient] = []

    # -- what the display reads ----------------------------------------------------

    def elapsed_s(self) -> float:
        return time.monotonic() - self.start_s if self.start_s else 0.0

    def heights(self) -> list[int | None]:
        return [None if v.status is None else int(v.status["height"]) for v in self.views]

    def load_snapshot(self) -> LoadSnapshot | None:
        return None if self.load is None or not self.load.started else self.load.snapshot()

    # -- the run ------------------------------------------------------------------

    async def run(self) -> Summary:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._interrupted)
        self._clients = [AsyncClient(n.rpc_url, timeout=STATUS_TIMEOUT_S) for n in self.net.nodes]
        try:
            await self._sample()
            start_height = max((h for h in self.heights() if h is not None), default=0)
            self.start_s = time.monotonic()
            monitor = asyncio.create_task(self._monitor())
            schedule = asyncio.create_task(self._schedule())
            try:
                load_report = await self._run_load()
            finally:
                schedule.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await schedule
            run_s = self.elapsed_s()
            agree, detail, common = await self._agreement()
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
            end_height = max((h for h in self.heights() if h is not None), default=0)
            summary = Summary(
                profile=self.profile.name,
                consensus=self.profile.consensus,
                policy=self.profile.policy,
                nodes=len(self.net.nodes),
                run_s=run_s,
                start_height=start_height,
                end_height=end_height,
                agree=agree,
                agree_detail=detail,
                load=load_report,
                events=self.events,
                node_policies=[self.profile.policy_of(n.index) for n in self.net.nodes],
            )
            if common is not None:
                await self._proposers(summary, *common)
            return summary
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            for client in self._clients:
                await client.close()

    def _interrupted(self) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            self.note("stopping: draining the load, then the summary (Ctrl-C again to skip)")
        self.stop.set()

    async def _run_load(self) -> LoadReport | None:
        """The load for the duration (or, without load, just the wait); then drain."""
        spec = self.profile.load
        duration = self.profile.duration_s
        if spec.tps <= 0 and spec.workload is None:
            if duration:
                await nap(self.stop, duration)
            else:
                await self.stop.wait()
            return None
        wallets = load_wallets(self.net.home / ACCOUNTS_DIR_NAME)
        trace = None if spec.workload is None else load_trace(spec.workload, spec.seed)
        self.load = LoadGenerator(
            [n.rpc_url for n in self.net.nodes],
            wallets,
            tps=spec.tps,
            duration_s=duration,
            trace=trace,
            seed=spec.seed,
        )
        async with self.load as gen:
            await gen.run(self.stop)
            if self.interrupts < 2 and gen.open_count():
                self.note(f"load stopped; waiting for {gen.open_count()} open txs to commit")
                skip = asyncio.Event()
                watcher = asyncio.create_task(self._second_interrupt(skip))
                await gen.drain(DRAIN_S, skip)
                watcher.cancel()
            else:
                await gen.drain(0.0)
            return gen.report()

    async def _second_interrupt(self, skip: asyncio.Event) -> None:
        """Set ``skip`` at the next Ctrl-C (or SIGTERM)."""
        first = self.interrupts
        while self.interrupts == first:
            await asyncio.sleep(0.1)
        skip.set()

    # -- watching ------------------------------------------------------------------

    async def _sample(self) -> None:
        """Every node's status (nodes not running are not asked)."""
        states = {n.index: n.state for n in self.net.refresh()}

        async def one(view: NodeView) -> None:
            view.state = states[view.index]
            if view.state != RUNNING:
                view.status = None
                return
            try:
                view.status = await self._clients[view.index].status()
            except _NETWORK_ERRORS:
                view.status = None

        await asyncio.gather(*(one(v) for v in self.views))

    async def _monitor(self) -> None:
        last_show = 0.0
        while True:
            await self._sample()
            self._measure_recovery()
            if time.monotonic() - last_show >= 1.0:
                last_show = time.monotonic()
                self.show(self)
            await asyncio.sleep(SAMPLE_S)

    def _measure_recovery(self) -> None:
        now = self.elapsed_s()
        heights = self.heights()
        running = [h for v, h in zip(self.views, heights, strict=True) if v.state == RUNNING]
        for event in self.events:
            if event.closed or event.error:
                continue
            target = event.head + 2
            if event.next_block_s is None and any(h is not None and h >= target for h in heights):
                event.next_block_s = now - event.at_s
            if (
                event.synced_s is None
                and running
                and all(h is not None and h >= target for h in running)
            ):
                event.synced_s = now - event.at_s

    # -- perturbations -------------------------------------------------------------

    async def _schedule(self) -> None:
        for step in self.profile.perturbations:
            wait = step.at_s - self.elapsed_s()
            if wait > 0:
                await nap(self.stop, wait)
            if self.stop.is_set():
                return
            await self.apply(step)

    async def apply(self, step: Perturbation) -> None:
        for earlier in self.events:
            earlier.closed = True
        await self._sample()
        head = max((h for h in self.heights() if h is not None), default=0)
        record = EventRecord(at_s=self.elapsed_s(), action=step.describe(), head=head)
        self.events.append(record)
        self.note(f"[{record.at_s:6.1f} s] {record.action}")
        try:
            await self._act(step)
        except _NETWORK_ERRORS as exc:
            record.error = str(exc)
            self.note(f"[{self.elapsed_s():6.1f} s] {record.action} failed: {exc}")

    async def _act(self, step: Perturbation) -> None:
        net = self.net
        if step.action == PARTITION:
            assert step.groups is not None
            await asyncio.to_thread(net.partition, format_groups(step.groups))
        elif step.action == HEAL:
            await asyncio.to_thread(net.heal)
        else:
            assert step.node is not None
            # process verbs stay on this thread: a supervised node dies with
            # the thread that started it (PR_SET_PDEATHSIG)
            getattr(net, step.action)(step.node)
            if step.action in (RESTART, RESUME) and net.manifest.partition:
                await asyncio.to_thread(net.reapply_partition, step.node)

    # -- the end -----------------------------------------------------------------------

    async def _agreement(self) -> tuple[bool, str, tuple[int, int] | None]:
        """Whether the running nodes hold the same block at their common height
        (PoW: a few blocks below it, where forks have settled); and that height
        with a node that holds it (None: no node answered)."""
        depth = 3 if self.profile.consensus == "pow" else 0
        deadline = time.monotonic() + AGREE_DEADLINE_S
        detail = "no running node answers"
        common: tuple[int, int] | None = None
        while True:
            await self._sample()
            live = [v for v in self.views if v.status is not None]
            paused = [f"node{v.index}" for v in self.views if v.state == PAUSED]
            if live:
                height = max(0, min(int(v.status["height"]) for v in live if v.status) - depth)
                common = (height, live[0].index)
                hashes = await asyncio.gather(
                    *(self._hash_at(v.index, height) for v in live), return_exceptions=True
                )
                names = [f"node{v.index}" for v in live]
                distinct = {h for h in hashes if isinstance(h, str)}
                if len(distinct) == 1 and all(isinstance(h, str) for h in hashes):
                    head = next(iter(distinct))
                    detail = f"{', '.join(names)} hold block {height} {head[:12]}"
                    if paused:
                        detail += f" ({', '.join(paused)} paused: not compared)"
                    return True, detail, common
                detail = "at height {}: {}".format(
                    height,
                    ", ".join(
                        f"{n}={h[:12] if isinstance(h, str) else 'no answer'}"
                        for n, h in zip(names, hashes, strict=True)
                    ),
                )
            if time.monotonic() >= deadline:
                return False, detail, common
            await asyncio.sleep(SAMPLE_S)

    async def _proposers(self, summary: Summary, height: int, index: int) -> None:
        """Fill in the run's blocks per proposer, read from node ``index`` up to
        ``height`` (left out if the node stops answering)."""
        first = summary.start_height + 1
        gate = asyncio.Semaphore(8)

        async def block(h: int) -> dict[str, Any]:
            async with gate:
                return await self._clients[index].block(h)

        try:
            blocks = await asyncio.gather(*(block(h) for h in range(first, height + 1)))
        except _NETWORK_ERRORS as exc:
            self.note(f"the blocks per proposer are left out: node{index}: {exc}")
            return
        facts = {} if self.load is None else self.load.committed_facts()
        labelled = self.load is not None and self.load.labelled
        node_ids = [n.node_id for n in self.net.nodes]
        summary.proposers = proposer_stats(blocks, node_ids, facts, labelled=labelled)
        summary.first_block, summary.last_block = first, height

    async def _hash_at(self, index: int, height: int) -> str:
        if height == 0:
            return "genesis"
        return str((await self._clients[index].block(height))["hash"])

"""The node's Prometheus metrics, in a registry of its own.

Each node owns one ``CollectorRegistry`` (never prometheus_client's global
one), so several nodes can live in one process (tests, the simulator)
without clashing. Three kinds of figures:

- set by the runtime as things happen: the attributes below (blocks
  committed, block build time, consensus rounds and step durations, ...);
- set by the API: HTTP requests, txs submitted through POST /txs by
  result, websocket clients and events they lost;
- read at scrape time from sources the runtime attaches (``attach``): the
  mempool's own counters (admitted, refused by reason, evicted, ...) and
  the P2P transport's counters. Reading at scrape time keeps the hot path
  free of metric calls and the figures exact.

Names start with ``ordinet_``; durations are in seconds (Prometheus base
units), sizes in bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

PREFIX = "ordinet"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# consensus steps and block building take ms..s; a stalled round takes longer
_STEP_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BUILD_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_RPC_BUCKETS_S = (0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

StatsSource = Callable[[], Mapping[str, Any]]


class NodeMetrics:
    """Every metric of one node. The runtime updates the attributes directly
    (``metrics.blocks_committed.inc()``) or through the helpers."""

    #: the Content-Type of ``render()``'s output
    content_type = CONTENT_TYPE

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        p = PREFIX
        # -- chain -----------------------------------------------------------
        self.height = Gauge(f"{p}_height", "Height of the head block", registry=r)
        self.blocks_committed = Counter(
            f"{p}_blocks_committed", "Blocks committed (made or synced)", registry=r
        )
        self.blocks_synced = Counter(
            f"{p}_blocks_synced", "Blocks fetched from peers by block sync", registry=r
        )
        self.txs_committed = Counter(
            f"{p}_txs_committed", "Transactions committed in blocks", registry=r
        )
        self.block_build_seconds = Histogram(
            f"{p}_block_build_seconds",
            "Time to build a block proposal (select from the mempool, execute, root)",
            buckets=_BUILD_BUCKETS_S,
            registry=r,
        )
        self.block_commit_seconds = Histogram(
            f"{p}_block_commit_seconds",
            "Time to validate and store a committed block",
            buckets=_BUILD_BUCKETS_S,
            registry=r,
        )
        self.block_txs = Histogram(
            f"{p}_block_txs",
            "Transactions per committed block",
            buckets=(0, 1, 10, 100, 500, 1000, 2000, 5000, 10000, 50000),
            registry=r,
        )
        self.tx_commit_latency_seconds = Histogram(
            f"{p}_tx_commit_latency_seconds",
            "From admission to this node's mempool to commit",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        # -- mempool (gauges; counters come from the attached stats) ---------
        self.mempool_txs = Gauge(f"{p}_mempool_txs", "Transactions in the mempool", registry=r)
        self.mempool_bytes = Gauge(
            f"{p}_mempool_bytes", "Encoded bytes of the transactions in the mempool", registry=r
        )
        # -- consensus -------------------------------------------------------
        self.consensus_height = Gauge(
            f"{p}_consensus_height", "Height the engine is deciding", registry=r
        )
        self.consensus_round = Gauge(
            f"{p}_consensus_round", "Round of the height being decided", registry=r
        )
        self.consensus_rounds = Counter(
            f"{p}_consensus_rounds", "Consensus rounds entered (round 0 included)", registry=r
        )
        self.consensus_step_seconds = Histogram(
            f"{p}_consensus_step_seconds",
            "Time spent in each consensus step",
            ["step"],
            buckets=_STEP_BUCKETS_S,
            registry=r,
        )
        self.evidence = Counter(
            f"{p}_evidence", "Double-signing evidence recorded", ["kind"], registry=r
        )
        self.syncing = Gauge(f"{p}_syncing", "1 while the node is catching up", registry=r)
        # -- p2p (gauge; counters come from the attached transport) -----------
        self.peers = Gauge(f"{p}_peers", "Connected peers", registry=r)
        # -- API ---------------------------------------------------------------
        self.rpc_requests = Counter(
            f"{p}_rpc_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.rpc_request_seconds = Histogram(
            f"{p}_rpc_request_seconds",
            "Time to answer an HTTP request, by route",
            ["route"],
            buckets=_RPC_BUCKETS_S,
            registry=r,
        )
        self.rpc_txs = Counter(
            f"{p}_rpc_txs",
            "Transactions submitted through POST /txs, by result (accepted or refusal code)",
            ["result"],
            registry=r,
        )
        self.ws_clients = Gauge(f"{p}_ws_clients", "Connected /ws clients", registry=r)
        self.ws_events_missed = Counter(
            f"{p}_ws_events_missed", "Events dropped for /ws clients too slow to read", registry=r
        )
        self._sources = _Sources()
        r.register(self._sources)

    # -- sources read at scrape time -------------------------------------------

    def attach(
        self,
        *,
        mempool_stats: StatsSource | None = None,
        p2p_snapshot: StatsSource | None = None,
        http_stats: StatsSource | None = None,
    ) -> None:
        """Read these at each scrape: ``Mempool.stats``,
        ``Transport.metrics_snapshot`` and ``{listener: HttpServer.stats()}``
        (any may be attached later)."""
        if mempool_stats is not None:
            self._sources.mempool_stats = mempool_stats
        if p2p_snapshot is not None:
            self._sources.p2p_snapshot = p2p_snapshot
        if http_stats is not None:
            self._sources.http_stats = http_stats

    @property
    def has_mempool_stats(self) -> bool:
        return self._sources.mempool_stats is not None

    # -- helpers for the runtime ---------------------------------------------------

    def block_committed(self, height: int, tx_count: int, *, synced: bool = False) -> None:
        self.height.set(height)
        self.blocks_committed.inc()
        self.txs_committed.inc(tx_count)
        self.block_txs.observe(tx_count)
        if synced:
            self.blocks_synced.inc()

    def step_finished(self, step: str, seconds: float) -> None:
        self.consensus_step_seconds.labels(step=step).observe(seconds)

    def round_entered(self, height: int, round_: int) -> None:
        self.consensus_height.set(height)
        self.consensus_round.set(round_)
        self.consensus_rounds.inc()

    # -- rendering -------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric of this node."""
        return generate_latest(self.registry)


class _Sources(Collector):
    """Counters owned by other parts, turned into metric families at scrape time."""

    def __init__(self) -> None:
        self.mempool_stats: StatsSource | None = None
        self.p2p_snapshot: StatsSource | None = None
        self.http_stats: StatsSource | None = None

    def describe(self) -> Iterator[Metric]:
        # Names depend on the attached sources; describing none keeps the
        # registry from calling collect() at registration.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        if self.mempool_stats is not None:
            yield from _mempool_families(self.mempool_stats())
        if self.p2p_snapshot is not None:
            yield from _p2p_families(self.p2p_snapshot())
        if self.http_stats is not None:
            yield from _http_families(self.http_stats())


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def _labelled(name: str, doc: str, label: str, values: Mapping[str, Any]) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], float(value))
    return family


def _mempool_families(stats: Mapping[str, Any]) -> Iterator[Metric]:
    yield _counter(
        "mempool_admitted", "Transactions admitted to the mempool", stats.get("admitted", 0)
    )
    yield _labelled(
        "mempool_refused",
        "Transactions refused by the mempool, by reason code",
        "reason",
        stats.get("refused", {}),
    )
    left = {
        reason: stats[reason]
        for reason in ("evicted", "replaced", "expired", "included", "dropped", "removed")
        if reason in stats
    }
    yield _labelled("mempool_left", "Transactions that left the mempool, by reason", "reason", left)
    for name in ("pending", "queued", "senders"):
        if name in stats:
            yield GaugeMetricFamily(
                f"{PREFIX}_mempool_{name}", f"Mempool {name} count", value=stats[name]
            )


def _p2p_families(snap: Mapping[str, Any]) -> Iterator[Metric]:
    for key in ("msgs_in", "msgs_out", "bytes_in", "bytes_out"):
        if key in snap:
            yield _labelled(f"p2p_{key}", f"P2P {key.replace('_', ' ')} by kind", "kind", snap[key])
    for key in ("dropped", "refused", "penalties", "disconnects", "requests"):
        if key in snap:
            yield _labelled(f"p2p_{key}", f"P2P {key} by reason", "reason", snap[key])
    for key in ("connections", "bans", "dials", "dial_failures"):
        if key in snap:
            yield _counter(f"p2p_{key}", f"P2P {key.replace('_', ' ')}", snap[key])
    for key in ("known_addresses", "delay_ms"):
        value = snap.get(key)
        if isinstance(value, int | float):
            yield GaugeMetricFamily(f"{PREFIX}_p2p_{key}", f"P2P {key}", value=value)
    banned = snap.get("banned")
    if isinstance(banned, Mapping):
        family = GaugeMetricFamily(
            f"{PREFIX}_p2p_banned", "Active bans, by what is banned", labels=["target"]
        )
        for target, entries in sorted(banned.items()):
            family.add_metric([str(target)], len(entries))
        yield family
    blocked = snap.get("blocked")
    if isinstance(blocked, list):
        yield GaugeMetricFamily(
            f"{PREFIX}_p2p_blocked_peers", "Peers blocked by fault injection", value=len(blocked)
        )


def _http_families(by_listener: Mapping[str, Mapping[str, Any]]) -> Iterator[Metric]:
    """Families labelled by listener (rpc, p2p) from ``HttpServer.stats``."""
    gauges = {
        "open": "HTTP connections open",
        "max_connections": "HTTP connections allowed open at once",
    }
    counters = {
        "refused": "HTTP connections closed at accept: over max_connections",
        "bad_requests": "HTTP requests the parser rejected (answered 400)",
        "accept_errors": "accept() failures for lack of resources (EMFILE, ENFILE, ...)",
    }
    for key, doc in gauges.items():
        family = GaugeMetricFamily(f"{PREFIX}_http_{key}", doc, labels=["listener"])
        for name, stats in sorted(by_listener.items()):
            family.add_metric([name], float(stats.get(key, 0)))
        yield family
    for key, doc in counters.items():
        counter = CounterMetricFamily(f"{PREFIX}_http_{key}", doc, labels=["listener"])
        for name, stats in sorted(by_listener.items()):
            counter.add_metric([name], float(stats.get(key, 0)))
        yield counter
    timeouts = CounterMetricFamily(
        f"{PREFIX}_http_timeouts",
        "HTTP connections closed because the client was too slow, by phase (head, body)",
        labels=["listener", "phase"],
    )
    for name, stats in sorted(by_listener.items()):
        for phase, count in sorted(stats.get("timeouts", {}).items()):
            timeouts.add_metric([name, phase], float(count))
    yield timeouts

"""What ``ordinet testnet`` shows: the node table, the live view, the summary.

Everything here turns data into rich renderables and nothing else, so the
live view (redrawn in place on a terminal, printed every few seconds when
the output is a log) and ``testnet status`` share one table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from node.testnet.manifest import RUNNING, NodeEntry
from node.testnet.profile import describe_policies
from node.testnet.proposers import ProposerStats, policy_label

if TYPE_CHECKING:
    from node.testnet.load import LoadReport
    from node.testnet.session import Summary, Supervisor


def make_console() -> Console:
    """A console for stdout; wide enough for the tables when it is not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)
    return console


def node_table(
    nodes: list[NodeEntry], statuses: list[dict[str, Any] | None], *, pids: bool = False
) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("node", "state", "height", "head", "peers", "mempool", "policy", "rpc"):
        table.add_column(
            name, justify="right" if name in ("height", "peers", "mempool") else "left"
        )
    if pids:
        table.add_column("pid", justify="right")
    heights = [int(s["height"]) for s in statuses if s is not None]
    top = max(heights, default=0)
    for node, status in zip(nodes, statuses, strict=True):
        state = node.state
        if state == RUNNING and status is None:
            state = "no answer"
        style = "" if state == RUNNING else "yellow"
        if status is None:
            cells = [node.name, state, "-", "-", "-", "-", "-", node.rpc_url]
        else:
            height = int(status["height"])
            behind = f" (-{top - height})" if height < top else ""
            cells = [
                node.name,
                state + (" syncing" if status.get("syncing") else ""),
                f"{height}{behind}",
                str(status["head_hash"])[:12],
                str(status["peers"]),
                str(status["mempool_size"]),
                policy_label(status.get("policy"), status.get("model_hash")),
                node.rpc_url,
            ]
        if pids:
            cells.append("-" if node.pid is None else str(node.pid))
        table.add_row(*cells, style=style)
    return table


def live_view(sup: Supervisor) -> RenderableType:
    p = sup.profile
    length = f"{p.duration_s:.0f} s" if p.duration_s else "until Ctrl-C"
    head = Text(
        f"{p.name}: {p.consensus}, {len(sup.net.nodes)} nodes, {p.policy_text()}  "
        f"{sup.elapsed_s():5.1f} s of {length}",
        style="bold",
    )
    parts: list[RenderableType] = [head]
    partition = sup.net.partition_text()
    if partition:
        parts.append(Text(f"partition in force: {partition}", style="yellow"))
    parts.append(node_table(sup.net.nodes, [v.status for v in sup.views]))
    snap = sup.load_snapshot()
    if snap is not None:
        behind = f", {snap.behind} behind (every sender's window full)" if snap.behind else ""
        parts.append(
            Text(
                f"load: {snap.committed_tps_5s:7.1f} tx/s committed (last 5 s); "
                f"{snap.built} signed, {snap.accepted} accepted, {snap.committed} committed, "
                f"{snap.open} open{behind}"
            )
        )
    for event in sup.events[-3:]:
        parts.append(Text(f"  {event.at_s:6.1f} s  {event.action}  {_recovery(event)}"))
    return Group(*parts)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _recovery(event: Any) -> str:
    if event.error:
        return f"failed: {event.error}"
    return (
        f"next block after {_seconds(event.next_block_s)}, "
        f"all synced after {_seconds(event.synced_s)}"
    )


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def load_lines(r: LoadReport) -> list[tuple[str, str]]:
    """The load's rows of a summary (also printed by ``ordinet load``)."""
    target = "replayed workload" if r.target_tps == 0 else f"target {r.target_tps:g} tx/s"
    refused = ", ".join(f"{code} {n}" for code, n in sorted(r.refused.items())) or "none"
    return [
        ("load", f"{target} for {r.duration_s:.1f} s: {r.built} signed, {r.sends} sends"),
        ("accepted", f"{r.accepted} ({r.never_accepted} never accepted; refusals: {refused})"),
        (
            "committed",
            f"{r.committed} txs, {r.committed_tps:.1f} tx/s during the load "
            f"({r.committed_in_window} in its window)",
        ),
        (
            "latency",
            f"p50 {_ms(r.latency_ms_p50)}, p99 {_ms(r.latency_ms_p99)}, "
            f"max {_ms(r.latency_ms_max)} (first send to commit)",
        ),
        (
            "lost",
            f"{r.lost} accepted but never committed, {r.duplicates} committed twice; "
            f"{r.readmitted} resent after a node lost them",
        ),
    ]


def proposer_table(rows: list[ProposerStats]) -> Table:
    """Per proposer: the policy its blocks record, blocks, txs, fee income, the
    mean fee rate of its txs and, with a labelled workload, their utility."""
    utility = any(r.utility is not None for r in rows)
    table = Table(box=None, pad_edge=False, header_style="bold")
    names = ["node", "policy", "blocks", "txs", "fees", "mean fee rate"]
    for name in names + (["utility", "utility/block"] if utility else []):
        table.add_column(name, justify="left" if name in ("node", "policy") else "right")
    for r in rows:
        rate = "-" if r.fee_rate_mean is None else f"{r.fee_rate_mean:.3f}/B"
        cells = [r.node, ", ".join(r.policies) or "-", str(r.blocks), str(r.txs)]
        cells += [f"{r.fees:,}", rate]
        if utility:
            per_block = (r.utility or 0.0) / r.blocks if r.blocks else None
            cells += [_number(r.utility), _number(per_block)]
        table.add_row(*cells)
    return table


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def summary_view(s: Summary) -> RenderableType:
    rows: list[tuple[str, str]] = [
        (
            "run",
            f"{s.profile}: {s.consensus}, {s.nodes} nodes, "
            f"{describe_policies(s.node_policies or [s.policy])}, {s.run_s:.1f} s",
        ),
        (
            "blocks",
            f"{s.blocks} (height {s.start_height} -> {s.end_height}), "
            f"{s.blocks / max(s.run_s, 1e-9):.2f} blocks/s",
        ),
    ]
    if s.load is not None:
        rows.extend(load_lines(s.load))
    rows.append(("chain", ("all nodes agree: " if s.agree else "DISAGREE: ") + s.agree_detail))
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    parts: list[RenderableType] = [Text("Summary", style="bold underline"), table]
    if s.events:
        events = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("at", "perturbation", "next block after", "all synced after", "note"):
            events.add_column(name)
        for e in s.events:
            events.add_row(
                f"{e.at_s:.1f} s",
                e.action,
                _seconds(e.next_block_s),
                _seconds(e.synced_s),
                e.error or f"highest block then: {e.head}",
            )
        parts += [Text("Perturbations", style="bold underline"), events]
    if s.proposers:
        parts += [
            Text(f"Proposers (blocks {s.first_block}..{s.last_block})", style="bold underline"),
            proposer_table(s.proposers),
        ]
    verdict = "OK" if s.ok else "FAILED (see chain and lost above)"
    parts.append(Text(f"result: {verdict}", style="bold green" if s.ok else "bold red"))
    return Group(*parts)

"""``ordinet testnet ...`` and ``ordinet load``: local testnets from the command line.

- ``testnet up``: write a fresh testnet under ``--home`` (default ./testnet)
  from a profile and/or flags (``--policy-module`` adds plugins every node
  loads), start one process per node, wait until they
  are connected and committing, print their URLs; then, in the foreground,
  run the load and the perturbation schedule with a live table, and end
  with a summary (exit 1 if the nodes disagree or an accepted tx was lost).
  ``--detach`` returns once the net is up and leaves it running.
- ``testnet status | down | kill | restart | pause | resume | partition | heal``:
  act on the testnet of ``--home`` through its ``testnet.json``.
- ``load``: the load generator against any nodes (``--rpc``) or the
  testnet of ``--home``; prints a report, exit 1 if an accepted tx was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from node.argtypes import non_negative, positive_int, whole
from node.config import resolve_policy_modules
from node.errors import ConfigError
from node.testnet.profile import (
    CONSENSUS_CHOICES,
    TestnetProfile,
    describe_policies,
    format_groups,
    load_profile,
)

DEFAULT_HOME = Path("testnet")
READY_DEADLINE_S = 180.0
PROGRESS_EVERY_S = 5.0


def register(subparsers: Any) -> None:
    _register_testnet(subparsers)
    _register_load(subparsers)


# -- argument types -------------------------------------------------------------


def _home(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="the testnet's directory (./testnet)"
    )


# -- testnet ----------------------------------------------------------------------


def _register_testnet(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "testnet",
        help="run a multi-node testnet on this machine",
        description="Spin up a local testnet (one process per node on 127.0.0.1), load it, "
        "break it, watch it heal.",
    )
    sub = p.add_subparsers(dest="testnet_command", metavar="SUBCOMMAND", required=True)

    up = sub.add_parser(
        "up",
        help="write and start a testnet (foreground: load, faults, live table, summary)",
        description="Write a new testnet under --home and start it. In the foreground it runs "
        "the load and the profile's perturbations with a live table until --duration ends or "
        "Ctrl-C, then prints a summary and stops every node. --detach returns once the nodes "
        "are up and leaves them running.",
    )
    up.add_argument("--profile", type=Path, help="a testnet profile (configs/testnet/*.toml)")
    up.add_argument("--nodes", type=whole, help="how many nodes (4)")
    up.add_argument("--consensus", choices=CONSENSUS_CHOICES, help="engine (bft)")
    up.add_argument(
        "--policy",
        help="scheduling policy of the nodes without a [[node]] table in the profile: fifo, "
        "fee, fair-fee, package, learned or a plugin's (fee)",
    )
    up.add_argument(
        "--policy-module",
        action="append",
        default=[],
        metavar="PATH_OR_MODULE",
        help="a scheduling policy plugin every node loads: a .py file (relative to the "
        "working directory) or an importable module; repeatable, added to the profile's",
    )
    up.add_argument("--load", type=non_negative, metavar="TPS", help="tx/s to send (0: none)")
    up.add_argument("--duration", type=non_negative, metavar="S", help="seconds to run (0: Ctrl-C)")
    up.add_argument("--base-port", type=whole, metavar="P", help="ports P.. (default: free)")
    up.add_argument("--accounts", type=whole, help="funded accounts (256)")
    up.add_argument("--detach", action="store_true", help="leave the nodes running and return")
    _home(up)
    up.set_defaults(func=cmd_up)

    status = sub.add_parser(
        "status", help="each node's state, height, head, peers, mempool, policy"
    )
    _home(status)
    status.set_defaults(func=cmd_status)

    down = sub.add_parser("down", help="stop every node (data is kept)")
    _home(down)
    down.set_defaults(func=cmd_down)

    verbs = {
        "kill": "SIGKILL a node (a crash)",
        "restart": "restart a node from its data dir",
        "pause": "SIGSTOP a node (it freezes)",
        "resume": "SIGCONT a paused node",
    }
    for verb, text in verbs.items():
        v = sub.add_parser(verb, help=text, description=text + ".")
        v.add_argument("node", type=whole, metavar="NODE", help="node index (0, 1, ...)")
        _home(v)
        v.set_defaults(func=cmd_node_verb, verb=verb)

    part = sub.add_parser(
        "partition",
        help="cut the links between groups of nodes, e.g. 0,1/2,3",
        description="Cut the links between groups of nodes (every node in exactly one group), "
        "through the nodes' admin API; `heal` restores them.",
    )
    part.add_argument("groups", metavar="GROUPS", help="like 0,1/2,3")
    _home(part)
    part.set_defaults(func=cmd_partition)

    heal = sub.add_parser("heal", help="restore every link (and lift injected delays)")
    _home(heal)
    heal.set_defaults(func=cmd_heal)


def cmd_up(args: argparse.Namespace) -> int:
    from node.testnet.display import make_console
    from node.testnet.network import Testnet

    profile = load_profile(args.profile) if args.profile else TestnetProfile()
    if args.detach and (args.load or args.duration):
        raise ConfigError(
            "--load and --duration need the foreground run; with --detach, send load with "
            "`ordinet load --home HOME --tps N --duration S`"
        )
    profile = profile.with_flags(
        nodes=args.nodes,
        consensus=args.consensus,
        policy=args.policy,
        load_tps=args.load,
        duration_s=args.duration,
        base_port=args.base_port,
        accounts=args.accounts,
        policy_module=resolve_policy_modules(args.policy_module, Path.cwd()),
    ).check()
    console = make_console()
    home = args.home.resolve()
    console.print(
        f"testnet '{profile.name}': {profile.nodes} {profile.consensus} nodes, "
        f"{profile.policy_text()}, home {home}"
    )
    net = Testnet.create(profile, home, supervised=not args.detach)
    with _terminate_interrupts():
        try:
            if not args.detach:
                net.set_supervisor(os.getpid())
            net.start_all()
            _wait_ready(net, console)
        except BaseException:
            _stop_what_started(net)
            raise
    for node in net.nodes:
        console.print(f"  {node.name}  {node.rpc_url}  log {node.log_path}")
    console.print(f"  accounts: {home / 'accounts'}  manifest: {net.manifest.path}")
    if args.detach:
        _detached_hints(profile, home, console)
        return 0
    try:
        summary = asyncio.run(_foreground(net, profile, console))
    finally:
        forced = net.stop_all()
        if forced:
            console.print(f"{', '.join(forced)} did not stop on SIGTERM and were killed")
    from node.testnet.display import summary_view
    from node.testnet.network import SUMMARY_FILE_NAME

    (home / SUMMARY_FILE_NAME).write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    console.print(summary_view(summary))
    console.print(f"nodes stopped; summary in {home / SUMMARY_FILE_NAME}")
    return 0 if summary.ok else 1


@contextlib.contextmanager
def _terminate_interrupts() -> Iterator[None]:
    """During start-up SIGTERM interrupts like Ctrl-C, so either one stops
    the start-up and what it started (a detached node outlives `up`)."""
    before = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _stop_what_started(net: Any) -> None:
    """Stop every node of a failed or interrupted start-up; a second Ctrl-C
    must not cut this short and leave a node behind."""
    held = {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}
    before = {sig: signal.signal(sig, action) for sig, action in held.items()}
    try:
        started = [n.name for n in net.refresh() if n.pid is not None]
        if started:
            print(f"stopping {', '.join(started)} ...", file=sys.stderr, flush=True)
        net.stop_all()
    finally:
        for sig, action in before.items():
            signal.signal(sig, action)


def _wait_ready(net: Any, console: Any) -> None:
    console.print("starting nodes; waiting until they connect and commit a block ...")
    last = [time.monotonic()]

    def progress(statuses: list[dict[str, Any] | None]) -> None:
        if time.monotonic() - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = time.monotonic()
        parts = [
            f"node{i}: " + ("starting" if s is None else f"h={s['height']} peers={s['peers']}")
            for i, s in enumerate(statuses)
        ]
        console.print("  " + ", ".join(parts))

    started = time.monotonic()
    net.wait_ready(READY_DEADLINE_S, progress)
    console.print(f"all {len(net.nodes)} nodes up in {time.monotonic() - started:.1f} s")


def _detached_hints(profile: TestnetProfile, home: Path, console: Any) -> None:
    if profile.load.tps or profile.load.workload or profile.perturbations:
        console.print("(detached: the profile's load and perturbations are not run)")
    h = f"--home {home}" if home != DEFAULT_HOME.resolve() else ""
    console.print("running in the background. Next:")
    for line in (
        f"ordinet testnet status {h}",
        f"ordinet load {h} --tps 200 --duration 30",
        f"ordinet testnet kill 1 {h}   /  restart 1  /  pause 1  /  resume 1",
        f"ordinet testnet partition 0,1/2,3 {h}   /  heal",
        f"ordinet testnet down {h}",
    ):
        console.print("  " + " ".join(line.split()))


async def _foreground(net: Any, profile: TestnetProfile, console: Any) -> Any:
    from rich.live import Live

    from node.testnet.display import live_view
    from node.testnet.session import Supervisor

    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    last_print = [time.monotonic()]

    def show(sup: Supervisor) -> None:
        if live is not None:
            live.update(live_view(sup), refresh=True)
        elif time.monotonic() - last_print[0] >= 10.0:
            last_print[0] = time.monotonic()
            console.print(live_view(sup))

    supervisor = Supervisor(net, profile, show, console.print)
    with live if live is not None else contextlib.nullcontext():
        return await supervisor.run()


def cmd_status(args: argparse.Namespace) -> int:
    from node.testnet.display import make_console, node_table
    from node.testnet.network import Testnet

    net = Testnet.open(args.home)
    console = make_console()
    m = net.manifest
    policy = describe_policies([n.policy for n in m.nodes])
    console.print(f"testnet '{m.profile}' in {m.home}: chain {m.chain_id}, {m.consensus}, {policy}")
    statuses = [net.status(i) for i in range(len(net.nodes))]
    console.print(node_table(net.nodes, statuses, pids=True))
    if net.partition_text():
        console.print(f"partition in force: {net.partition_text()}")
    live = [s for s in statuses if s is not None]
    if len(live) > 1:
        heads = {s["head_hash"] for s in live if s["height"] == min(x["height"] for x in live)}
        same = "same head" if len(heads) == 1 else "different heads"
        console.print(f"lowest running height {min(s['height'] for s in live)}: {same}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from node.testnet.network import Testnet

    net = Testnet.open(args.home)
    supervisor = net.manifest.supervisor_pid
    if supervisor and _is_supervisor(supervisor):
        print(f"asking the foreground `testnet up` (pid {supervisor}) to stop ...")
        os.kill(supervisor, signal.SIGTERM)
        end = time.monotonic() + 120.0
        while _is_supervisor(supervisor) and time.monotonic() < end:
            time.sleep(0.2)
        net = Testnet.open(args.home)
    running = [n.name for n in net.nodes if n.pid is not None]
    forced = net.stop_all()
    print(f"stopped {len(running)} node(s)" + (f"; killed {', '.join(forced)}" if forced else ""))
    print(f"data kept in {net.home}; `ordinet testnet up` there starts a new chain")
    return 0


def _is_supervisor(pid: int) -> bool:
    """Whether ``pid`` is still a foreground `ordinet testnet up` (not a reused pid)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return pid != os.getpid() and any(
        a == b"testnet" and b == b"up" for a, b in itertools.pairwise(args)
    )


def cmd_node_verb(args: argparse.Namespace) -> int:
    from node.testnet.network import Testnet

    net = Testnet.open(args.home)
    node = getattr(net, args.verb)(args.node)
    if args.verb == "restart":
        net.reapply_partition(node.index)
        status = net.status(node.index)
        height = "?" if status is None else status["height"]
        print(f"{node.name} restarted (pid {node.pid}), height {height}")
    elif args.verb == "resume" and net.manifest.partition:
        net.reapply_partition(node.index)
        print(f"{node.name} resumed")
    else:
        print(f"{node.name} {_past(args.verb)}" + (f" (pid {node.pid})" if node.pid else ""))
    return 0


def _past(verb: str) -> str:
    return {"kill": "killed", "pause": "paused", "resume": "resumed"}.get(verb, verb)


def cmd_partition(args: argparse.Namespace) -> int:
    from node.testnet.network import Testnet

    groups = Testnet.open(args.home).partition(args.groups)
    print(f"partitioned: {format_groups(groups)}")
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    from node.testnet.network import Testnet

    Testnet.open(args.home).heal()
    print("healed: every link restored")
    return 0


# -- load ---------------------------------------------------------------------------


def _register_load(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "load",
        help="send signed transfers to nodes at a rate, and follow them to commit",
        description="Sign transfers from funded accounts (correct nonces, many senders), spread "
        "them over the nodes, resend what a node loses, and report submitted, accepted and "
        "committed txs and commit latency. Ctrl-C stops the load and drains; again skips the "
        "drain. Exit status 1 if an accepted tx was never committed.",
    )
    p.add_argument("--rpc", help="node API URLs, comma-separated (default: the testnet's)")
    _home(p)
    p.add_argument("--accounts", type=Path, help="funded account keys (default: HOME/accounts)")
    p.add_argument("--tps", type=non_negative, help="tx/s (with --workload: its mean rate)")
    p.add_argument("--duration", type=non_negative, required=True, help="seconds (0: until Ctrl-C)")
    p.add_argument("--workload", type=Path, help="a workload .toml or a .csv/.jsonl trace")
    p.add_argument("--seed", type=whole, default=1, help="for amounts, fees, workloads (1)")
    p.add_argument("--window", type=positive_int, default=16, help="open txs per sender (16)")
    p.add_argument(
        "--fee",
        choices=("usual", "estimate"),
        default="usual",
        help="usual: random fees (a workload: its fees); estimate: pay the nodes' fee "
        "estimate (GET /fees/estimate, 3 blocks at 0.9) for each tx's size",
    )
    p.add_argument("--drain", type=non_negative, default=60.0, help="seconds for commits (60)")
    p.add_argument("--out", type=Path, help="write the report as JSON (with accepted tx ids)")
    p.set_defaults(func=cmd_load)


def cmd_load(args: argparse.Namespace) -> int:
    from node.research.workloads import load_trace
    from node.testnet.display import load_lines
    from node.testnet.manifest import load_manifest
    from node.testnet.session import load_wallets

    if args.tps is None and args.workload is None:
        raise ConfigError("load: give --tps (or --workload to replay)")
    if args.rpc:
        urls = [u.strip() for u in args.rpc.split(",") if u.strip()]
        if not urls or not all(u.startswith(("http://", "https://")) for u in urls):
            raise ConfigError(f"load: --rpc takes http:// URLs, comma-separated, not {args.rpc!r}")
    else:
        urls = [n.rpc_url for n in load_manifest(args.home).nodes]
    accounts = args.accounts or args.home / "accounts"
    wallets = load_wallets(accounts)
    if not wallets:
        raise ConfigError(f"load: no account keys (*.key) in {accounts}")
    trace = None if args.workload is None else load_trace(args.workload, args.seed)
    report = asyncio.run(_load(args, urls, wallets, trace))
    width = max(len(k) for k, _ in load_lines(report))
    for key, value in load_lines(report):
        print(f"{key:<{width}}  {value}")
    if args.out:
        args.out.write_text(json.dumps(report.to_json(with_ids=True), indent=2) + "\n")
    return 0 if report.lost == 0 and report.duplicates == 0 else 1


async def _load(args: argparse.Namespace, urls: list[str], wallets: list[Any], trace: Any) -> Any:
    from node.testnet.load import LoadGenerator

    loop = asyncio.get_running_loop()
    stop, skip = asyncio.Event(), asyncio.Event()

    def interrupted() -> None:
        if stop.is_set():
            skip.set()
        else:
            print("stopping: draining (Ctrl-C again to skip)", file=sys.stderr)
            stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted)
    try:
        async with LoadGenerator(
            urls,
            wallets,
            tps=args.tps or 0.0,
            duration_s=args.duration,
            trace=trace,
            window=args.window,
            seed=args.seed,
            fee_estimate=args.fee == "estimate",
        ) as gen:
            print(f"load: {len(wallets)} accounts, {len(urls)} node(s), chain {gen.chain_id}")

            async def progress() -> None:
                while True:
                    await asyncio.sleep(PROGRESS_EVERY_S)
                    s = gen.snapshot()
                    print(
                        f"  {s.elapsed_s:6.1f} s  {s.built} signed, {s.accepted} accepted, "
                        f"{s.committed} committed, {s.open} open, "
                        f"{s.committed_tps_5s:.1f} tx/s committed (last 5 s)",
                        flush=True,
                    )

            ticker = asyncio.create_task(progress())
            await gen.run(stop)
            await gen.drain(args.drain, skip)
            ticker.cancel()
            return gen.report()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

"""``ordinet sim``: run the deterministic simulator over one or many seeds.

Without a workload the built-in users keep the pools busy and the run
reports the consensus invariants. With ``--workload`` (a workload .toml,
drawn with each run's seed, or a trace file) clients send its txs to the
nodes (``--send-to``), every node orders its pool with ``--policy``, and
each run also reports the scheduling metrics of ``sched bench``, measured
on the committed chain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from node.argtypes import int_in, positive, positive_int, whole
from node.errors import ConfigError
from node.sim.scenario import FAULT_KINDS, Latency
from node.sim.simulator import RunResult, SimConfig, Simulation

MAX_NODES = 1000


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sim",
        help="run consensus engines in the deterministic network simulator",
        description=(
            "Run N real engines over a simulated network and clock, K seeds starting "
            "at S. Prints, per seed, the height all honest nodes reached, the invariant "
            "violations and the SHA-256 of the event log (the same seed gives the same "
            "log). Exits 1 if any invariant was violated."
        ),
    )
    p.add_argument("--consensus", choices=("bft", "poa", "pow"), default="bft")
    p.add_argument("--nodes", type=int_in(1, MAX_NODES), default=4)
    p.add_argument(
        "--blocks",
        type=positive_int,
        default=None,
        help="target height of every honest node (default 10; with --workload, enough "
        "blocks to cover its arrivals)",
    )
    p.add_argument("--seed", type=whole, default=0)
    p.add_argument("--seeds", type=positive_int, default=1, help="number of seeds, from --seed on")
    p.add_argument(
        "--faults",
        default="",
        help=f"comma-separated, from: {','.join(FAULT_KINDS)} (byzantine: bft only)",
    )
    p.add_argument("--latency", default="uniform:5:60", help="uniform:LO:HI, exp:LO:HI, fixed:MS")
    p.add_argument("--fault-window-ms", type=whole, default=8_000)
    p.add_argument(
        "--txs-per-block",
        type=whole,
        default=2,
        help="the built-in users' txs per block interval (without --workload)",
    )
    p.add_argument(
        "--workload",
        metavar="FILE",
        help="a workload .toml (drawn with each seed) or trace file whose txs clients send",
    )
    p.add_argument(
        "--duration",
        type=positive,
        default=None,
        metavar="S",
        help="draw at most S seconds of a .toml --workload",
    )
    p.add_argument(
        "--send-to",
        default="",
        metavar="NODES",
        help="comma-separated node indices clients send to, each client sticking to one "
        "(default: all nodes)",
    )
    p.add_argument("--policy", default="fifo", help="every node's scheduling policy")
    p.add_argument(
        "--policy-module",
        action="append",
        default=[],
        metavar="PATH_OR_MODULE",
        help="a .py file or module whose @register policies --policy may name (repeatable)",
    )
    p.add_argument("--model", default=None, help="model file of a policy that uses one")
    p.add_argument("--model-hash", default=None, help="refuse --model unless it has this SHA-256")
    p.add_argument("--block-interval-ms", type=positive_int, default=1_000)
    p.add_argument(
        "--block-txs", type=whole, default=0, help="txs a block may hold (0: genesis default)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument(
        "--log",
        metavar="FILE",
        help="write a readable log of the (first) seed: the scenario, every event, "
        "each node's final state",
    )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, seed: int | None = None) -> SimConfig:
    """The run the options describe (a .toml workload is drawn with ``seed``)."""
    faults = frozenset(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = faults - set(FAULT_KINDS)
    if unknown:
        raise ConfigError(f"--faults: unknown {sorted(unknown)}; choose from {list(FAULT_KINDS)}")
    if "byzantine" in faults and args.consensus != "bft":
        raise ConfigError("--faults byzantine: only the bft engine tolerates Byzantine validators")
    try:
        latency = Latency.parse(args.latency)
    except ValueError as exc:
        raise ConfigError(f"--latency: {exc}") from None
    send_to = _node_list(args.send_to, args.nodes)
    _check_policy(args)
    trace = None
    blocks = args.blocks
    if args.workload:
        from node.research.bench import Workload
        from node.research.replay import BlockProduction

        workload = Workload.open(args.workload)
        trace = workload.trace(args.seed if seed is None else seed, args.duration)
        if len(trace) == 0:
            raise ConfigError(f"--workload {args.workload}: no transactions", code="bad_trace")
        if blocks is None:
            production = BlockProduction(interval_s=args.block_interval_ms / 1000)
            blocks = production.block_count(trace.sorted_by_arrival())
    elif args.duration is not None:
        raise ConfigError("--duration draws a --workload: give one")
    return SimConfig(
        consensus=args.consensus,
        nodes=args.nodes,
        blocks=blocks or 10,
        faults=faults,
        latency=latency,
        fault_window_ms=args.fault_window_ms,
        txs_per_block=args.txs_per_block,
        keep_log=bool(args.log),
        trace=trace,
        send_to=send_to,
        policy=args.policy,
        model_path=args.model,
        model_hash=args.model_hash,
        block_interval_ms=args.block_interval_ms,
        block_txs=args.block_txs,
    )


def _node_list(text: str, nodes: int) -> tuple[int, ...]:
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if not part.isdigit() or not 0 <= int(part) < nodes:
            raise ConfigError(f"--send-to: {part!r} is not a node index in 0..{nodes - 1}")
        out.append(int(part))
    if len(set(out)) != len(out):
        raise ConfigError(f"--send-to names a node twice: {text}")
    return tuple(out)


def _check_policy(args: argparse.Namespace) -> None:
    """The policy loads (a bad name or model fails before any run)."""
    from node.scheduling.plugins import ensure_entry_point_policies, load_policy_modules
    from node.scheduling.policy import load_policy

    load_policy_modules(args.policy_module)
    ensure_entry_point_policies()
    load_policy(args.policy, model_path=args.model, model_hash=args.model_hash)


def replay_command(args: argparse.Namespace, seed: int) -> str:
    parts = [
        "ordinet sim",
        f"--consensus {args.consensus}",
        f"--nodes {args.nodes}",
    ]
    if args.blocks is not None or not args.workload:
        parts.append(f"--blocks {args.blocks or 10}")
    parts.append(f"--seed {seed}")
    if args.faults:
        parts.append(f"--faults {args.faults}")
    if args.latency != "uniform:5:60":
        parts.append(f"--latency {args.latency}")
    if args.fault_window_ms != 8_000:
        parts.append(f"--fault-window-ms {args.fault_window_ms}")
    if args.txs_per_block != 2:
        parts.append(f"--txs-per-block {args.txs_per_block}")
    for flag, value, default in (
        ("--workload", args.workload, None),
        ("--duration", args.duration, None),
        ("--send-to", args.send_to, ""),
        ("--policy", args.policy, "fifo"),
        ("--model", args.model, None),
        ("--model-hash", args.model_hash, None),
        ("--block-interval-ms", args.block_interval_ms, 1_000),
        ("--block-txs", args.block_txs, 0),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    parts += [f"--policy-module {m}" for m in args.policy_module]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    config_from_args(args)  # every option checked before the first run
    with contextlib.ExitStack() as stack:
        # opened first: a log path that cannot be written fails before the simulation runs
        log_file = stack.enter_context(open(args.log, "w")) if args.log else None
        return _run(args, log_file)


@dataclass
class _Run:
    result: RunResult
    scheduling: Any = None  # PolicyMetrics of a workload run


def _run(args: argparse.Namespace, log_file: TextIO | None) -> int:
    runs: list[_Run] = []
    failed = 0
    started = time.perf_counter()
    for seed in range(args.seed, args.seed + args.seeds):
        config = config_from_args(args, seed)
        config.keep_log = log_file is not None and not runs
        run = _simulate(config, seed)
        runs.append(run)
        if config.keep_log and log_file is not None:
            _write_log(log_file, args, run.result)
        if run.result.violations:
            failed += 1
        if not args.json:
            _print_run(args, run.result)
            if run.scheduling is not None:
                _print_scheduling(run.scheduling)
    if args.json:
        doc = []
        for run in runs:
            entry = run.result.to_json()
            if run.scheduling is not None:
                entry["scheduling"] = run.scheduling.to_json()
            doc.append(entry)
        print(json.dumps({"runs": doc}, indent=2))
    else:
        wall = time.perf_counter() - started
        print(f"{len(runs)} seed(s), {failed} with violations, {wall:.1f}s wall")
    if failed and args.json:
        for r in (run.result for run in runs):
            if r.violations:
                print(
                    f"seed {r.seed} failed; replay: {replay_command(args, r.seed)}", file=sys.stderr
                )
    return 1 if failed else 0


def _simulate(config: SimConfig, seed: int) -> _Run:
    sim = Simulation(config, seed)
    try:
        sim.start()
        while sim.step():
            pass
        result = sim.result()
        scheduling = None
        if config.trace is not None:
            from node.research.bench import measure
            from node.sim.measure import committed_replay

            scheduling = measure(sim.source.trace, committed_replay(sim))  # type: ignore[union-attr]
        return _Run(result, scheduling)
    finally:
        sim.close()


def _write_log(out: TextIO, args: argparse.Namespace, r: RunResult) -> None:
    out.write(f"# {replay_command(args, r.seed)}\n")
    out.write(f"# scenario: {r.scenario}\n")
    out.write("\n".join(r.log or []) + "\n")
    out.write(f"# final state at t={r.sim_time_ms}ms\n")
    out.write("".join(f"# {line}\n" for line in r.final or []))
    verdict = "no violations" if not r.violations else "; ".join(r.violations)
    out.write(f"# {verdict}; event_log_sha256={r.event_log_sha256}\n")


def _print_scheduling(m: Any) -> None:
    def fmt(x: float | None, digits: int = 3) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    print(
        f"  utility={m.utility:,.1f} deadline_hit_rate={fmt(m.deadline_hit_rate)} "
        f"latency_p50={fmt(m.latency_p50_s, 2)}s p99={fmt(m.latency_p99_s, 2)}s "
        f"jain={m.jain_fairness:.3f} spam_admitted={m.spam_admitted} included={m.included}"
    )
    for name, c in m.by_class.items():
        print(
            f"    {name}: {c.included}/{c.txs} included, utility={c.utility:,.1f} "
            f"hit_rate={fmt(c.deadline_hit_rate)} p50={fmt(c.latency_p50_s, 2)}s "
            f"p99={fmt(c.latency_p99_s, 2)}s"
        )


def _print_run(args: argparse.Namespace, r: RunResult) -> None:
    verdict = "ok" if not r.violations else f"{len(r.violations)} VIOLATION(S)"
    print(
        f"seed {r.seed}: committed_height={r.committed_height} {verdict} "
        f"sim_time={r.sim_time_ms / 1000:.1f}s events={r.events} "
        f"event_log_sha256={r.event_log_sha256}"
    )
    if r.violations:
        print(f"  scenario: {r.scenario}")
        for v in r.violations:
            print(f"  - {v}")
        print(f"  replay: {replay_command(args, r.seed)}")

"""``ordinet sim``: run the deterministic simulator over one or many seeds."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from typing import Any, TextIO

from node.argtypes import int_in, positive_int, whole
from node.errors import ConfigError
from node.sim.scenario import FAULT_KINDS, Latency
from node.sim.simulator import RunResult, SimConfig, run_simulation

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
        "--blocks", type=positive_int, default=10, help="target height of every honest node"
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
    p.add_argument("--txs-per-block", type=whole, default=2)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--log", metavar="FILE", help="write the event log of the (first) seed as text")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
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
    return SimConfig(
        consensus=args.consensus,
        nodes=args.nodes,
        blocks=args.blocks,
        faults=faults,
        latency=latency,
        fault_window_ms=args.fault_window_ms,
        txs_per_block=args.txs_per_block,
        keep_log=bool(args.log),
    )


def replay_command(args: argparse.Namespace, seed: int) -> str:
    parts = [
        "ordinet sim",
        f"--consensus {args.consensus}",
        f"--nodes {args.nodes}",
        f"--blocks {args.blocks}",
        f"--seed {seed}",
    ]
    if args.faults:
        parts.append(f"--faults {args.faults}")
    if args.latency != "uniform:5:60":
        parts.append(f"--latency {args.latency}")
    if args.fault_window_ms != 8_000:
        parts.append(f"--fault-window-ms {args.fault_window_ms}")
    if args.txs_per_block != 2:
        parts.append(f"--txs-per-block {args.txs_per_block}")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    with contextlib.ExitStack() as stack:
        # opened first: a log path that cannot be written fails before the simulation runs
        log_file = stack.enter_context(open(args.log, "w")) if args.log else None
        return _run(args, config, log_file)


def _run(args: argparse.Namespace, config: SimConfig, log_file: TextIO | None) -> int:
    results: list[RunResult] = []
    failed = 0
    started = time.perf_counter()
    for seed in range(args.seed, args.seed + args.seeds):
        result = run_simulation(config, seed)
        results.append(result)
        if log_file is not None and result.log is not None and len(results) == 1:
            log_file.write("\n".join(result.log) + "\n")
            config.keep_log = False
        if result.violations:
            failed += 1
        if not args.json:
            _print_run(args, result)
    if args.json:
        print(json.dumps({"runs": [r.to_json() for r in results]}, indent=2))
    else:
        wall = time.perf_counter() - started
        print(f"{len(results)} seed(s), {failed} with violations, {wall:.1f}s wall")
    if failed and args.json:
        for r in results:
            if r.violations:
                print(
                    f"seed {r.seed} failed; replay: {replay_command(args, r.seed)}", file=sys.stderr
                )
    return 1 if failed else 0


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

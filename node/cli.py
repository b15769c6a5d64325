"""``ordinet``: the command line.

Each subsystem that has commands owns a ``cli`` module with a
``register(subparsers)`` function that adds its subcommands and sets
``func`` on each parser: ``func(args) -> int`` is the exit status. This
module only assembles them and turns expected errors into one clear line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from node import __version__
from node.errors import OrdinetError

COMMAND_MODULES = (
    "node.sim.cli",
    "node.scheduling.cli",
    "node.node_cli",
    "node.testnet.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ordinet",
        description="Ordinet: a lightweight blockchain node for experiments.",
    )
    parser.add_argument("--version", action="version", version=f"ordinet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except OrdinetError as exc:
        print(f"ordinet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ordinet: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())

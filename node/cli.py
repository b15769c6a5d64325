"""``ordinet``: the command line.

Each subsystem that has commands owns a ``cli`` module with a
``register(subparsers)`` function that adds its subcommands and sets
``func`` on each parser: ``func(args) -> int`` is the exit status. This
module assembles them and owns the one way a command fails, so that no
command needs a try/except of its own:

- a bad argument (argparse, or an ``argtypes`` type) is one line on stderr
  and exit status 2, before the command does anything;
- an ``OrdinetError`` (a config, file or node refused something), an
  ``OSError`` (a path that cannot be read or written) or a ``ValueError``
  raised by a command is one line ``ordinet: error: ...`` and exit status 2;
- a closed stdout (``ordinet sim | head -1``) ends the command quietly, as
  the Python docs recommend: the rest of the output goes to /dev/null and
  the exit status is 1 (Python's convention for EPIPE);
- Ctrl-C is ``ordinet: interrupted`` and exit status 130.

``ORDINET_TRACEBACK=1`` in the environment re-raises instead, for
debugging the CLI itself.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from node import __version__
from node.errors import OrdinetError

COMMAND_MODULES = (
    "node.sim.cli",
    "node.research.cli",
    "node.fees.cli",
    "node.node_cli",
    "node.testnet.cli",
)

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 1
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line (subparsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    try:
        try:
            args = parser.parse_args(argv)
            status: int = args.func(args)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except (OrdinetError, OSError, ValueError) as exc:
        if os.environ.get("ORDINET_TRACEBACK"):
            raise
        print(f"ordinet: error: {error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ordinet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return status


def error_line(exc: BaseException) -> str:
    """What went wrong, on one line (an OSError as ``PATH: reason``)."""
    if isinstance(exc, OSError) and not isinstance(exc, OrdinetError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _drop_stdout() -> None:
    """Point stdout at /dev/null so that the flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())

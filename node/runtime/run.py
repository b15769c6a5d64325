"""``run_node``: start a node, run until SIGINT/SIGTERM, stop it cleanly.

What ``ordinet run`` calls. The node stops in order (P2P links, then the
API and the node's loops, the worker thread, then the store), and the
function returns only when no task of the node is left. A loop that
crashes (a bug: an internal invariant broke) stops the node too, with a
non-zero exit status.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from node.config import NodeConfig
from node.runtime.node import build_node

log = logging.getLogger("node.runtime")

EXIT_OK = 0
EXIT_FAILED = 1


async def run_node(config: NodeConfig) -> int:
    """Run the node ``config`` describes until a stop signal; the exit status."""
    node = build_node(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
        stop_wait = asyncio.create_task(stop.wait(), name="stop-signal")
        fatal_wait = asyncio.create_task(node.fatal.wait(), name="fatal-error")
        try:
            await asyncio.wait({stop_wait, fatal_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stop_wait, fatal_wait):
                task.cancel()
            await asyncio.gather(stop_wait, fatal_wait, return_exceptions=True)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await node.stop()
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if leftover:
        log.warning(
            "node.tasks_left count=%d names=%s",
            len(leftover),
            ",".join(t.get_name() for t in leftover),
        )
    if node.fatal.is_set():
        log.error("node.exit status=%d reason=loop_crashed", EXIT_FAILED)
        return EXIT_FAILED
    return EXIT_OK

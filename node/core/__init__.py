"""The node composition: one node over an I/O interface, in both worlds.

``NodeCore`` (node.py) assembles the parts every node has (the ledger and
its store, the mempool with its scheduling policy, the consensus engine,
the evidence it keeps) and carries out the engine's actions with ONE
interpreter over a small I/O interface (``NodeIO`` in io.py: the clock,
sends and broadcasts, timers, the nonce search, tx relay, penalties). The
runtime (node/runtime) provides the real I/O: asyncio timers, the aiohttp
transport, SQLite on disk. The simulator (node/sim) provides a
deterministic one: a seeded network, a simulated clock per node, a store
that can lose its unsynced suffix. Catch-up (catchup.py) is served from
the store by the same code in both.

Nothing in this package imports asyncio or reads the clock: time comes
from ``io.now_ms()``.
"""

from node.core.io import NodeIO, Observer
from node.core.node import NodeCore

__all__ = ["NodeCore", "NodeIO", "Observer"]

"""The node runtime: one process's node, wired and run.

- ``node``: ``Node`` (ledger, mempool, policy, engine, P2P, API) and
  ``build_node(config)``, the one factory
- ``driver``: ``ConsensusDriver``, which feeds the engine its events in
  order and carries out its actions (timers, sends, proposals, mining)
- ``sync``: ``BlockSync``, catching up with peers that are ahead
- ``clock``: ``Clock``, the only place the runtime reads time
- ``logs``: structured log lines (key=value or JSON)
- ``run``: ``run_node``, what ``ordinet run`` does (signals, clean stop)
- ``home``: ``init_homes``, writing node homes (``ordinet init``, tests)
"""

from node.runtime.node import Node, build_node
from node.runtime.run import run_node

__all__ = ["Node", "build_node", "run_node"]

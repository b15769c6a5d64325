"""Local testnets: many node processes on one machine, load, faults, a summary.

- ``profile``: what to run (TOML profiles and flags), checked up front;
- ``manifest``: HOME/testnet.json, the record every command shares;
- ``procs``: node processes, by pid (start, state, signals);
- ``network``: ``Testnet``, the verbs (start, kill, pause, partition, ...);
- ``load``: the load generator and the chain follower;
- ``session``: the foreground run (schedule, monitor, summary);
- ``display``: tables and the live view;
- ``cli``: ``ordinet testnet ...`` and ``ordinet load``.

It sits above the runtime: it starts nodes as processes and talks to them
only through their REST API.
"""

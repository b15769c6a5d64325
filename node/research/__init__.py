"""The scheduling research harness: traces, workloads, replay, bench, training.

The serving core (what a node runs) is ``node.scheduling``; nothing there
imports this package, so a node never loads the harness.
"""

"""Consensus engines as pure state machines: poa, bft (Tendermint), pow.

``create_engine`` builds the engine a genesis names; the interface (events
in, actions out) is in events.py, the ledger interface in app.py, the wire
messages in messages.py. Nothing in this package imports asyncio, sockets,
threads or the clock, nor uses module-level randomness: see
docs/CONSENSUS.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.consensus.app import Application
from node.consensus.engine import Engine
from node.consensus.validators import SignatureVerifier

if TYPE_CHECKING:
    from node.genesis import Genesis

__all__ = ["Application", "Engine", "SignatureVerifier", "create_engine"]


def create_engine(
    genesis: Genesis,
    app: Application,
    *,
    seed: bytes | None = None,
    verifier: SignatureVerifier | None = None,
    **options: Any,
) -> Engine:
    """The engine of ``genesis.consensus``; ``seed`` is the validator's (or
    miner's) Ed25519 key seed, None for a node that only follows."""
    kind = genesis.consensus
    common: dict[str, Any] = {
        "app": app,
        "validators": genesis.validators,
        "params": genesis.params,
        "seed": seed,
        "verifier": verifier,
    }
    common.update(options)
    if kind == "bft":
        from node.consensus.bft import BftEngine

        return BftEngine(**common)
    if kind == "poa":
        from node.consensus.poa import PoaEngine

        return PoaEngine(**common)
    if kind == "pow":
        from node.consensus.pow import PowEngine

        return PowEngine(**common)
    raise ValueError(f"unknown consensus engine {kind!r}")

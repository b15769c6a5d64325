"""The scheduling policy interface: how a policy ranks pending transactions.

A policy sees transactions as columns (numpy arrays of what a node can
observe about each one) and returns one priority score per row: higher
goes into a block first. The mempool scores each admitted batch ONCE, in
one call, and keeps the score with the transaction; building a block is
then a heap walk over each sender's next transaction (nonce order is the
mempool's job, never the policy's). Ties go to the transaction seen first.

A researcher adds a policy in one file::

    from node.scheduling.policy import Policy, TxColumns, register

    @register
    class Cheapest(Policy):
        name = "cheapest"
        def score(self, txs: TxColumns) -> np.ndarray:
            return -txs.fee

and selects it with ``policy = "cheapest"`` in the node config or
``--policies cheapest`` on ``ordinet sched bench``. A policy that wants a
different selection than "greedy by score under nonce order" overrides
``order``, which sees the pending txs, their cached scores, the block
limits and the block's time, so it can re-score at build time.

Every score-based policy also comes with either block walk: ``NAME+package``
(a sender ranks by the best average worth per byte of its next tx and a run
of its successors, worth = score x size: ``baselines.package_order``) and
``NAME+greedy`` (the default heap walk, whatever ``order`` the policy has).

Nothing here reads the clock: times come in the columns and as ``now_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from node.errors import ConfigError

ZERO_HASH = bytes(32)


@dataclass(frozen=True)
class BlockLimits:
    """What one block may hold."""

    max_txs: int
    max_bytes: int


@dataclass(frozen=True)
class TxColumns:
    """Observable facts about a batch of transactions, one row each.

    ``arrival_s`` is when this node first saw the tx (seconds, on the
    caller's clock); ``nonce_gap`` is tx.nonce minus the sender's next
    nonce in the state at admission (0 = executable now); ``pool_size`` and
    ``pool_bytes`` describe congestion when the batch arrived. ``labels``
    holds a labelled workload's hidden columns (``value``, ``deadline_s``,
    ``class``): only the bench fills it, and only the oracle may read it.
    """

    arrival_s: np.ndarray  # float64
    fee: np.ndarray  # float64
    size: np.ndarray  # int64, encoded bytes
    nonce: np.ndarray  # uint64
    nonce_gap: np.ndarray  # int64
    sender: Sequence[bytes]
    recipient: Sequence[bytes]
    pool_size: int = 0
    pool_bytes: int = 0
    labels: Mapping[str, np.ndarray] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.fee)

    @property
    def fee_rate(self) -> np.ndarray:
        return self.fee / np.maximum(self.size, 1)


class Policy:
    """Base class of scheduling policies. Subclasses set ``name`` and ``score``."""

    name: ClassVar[str] = ""
    #: SHA-256 of the model file that produced the scores (ZERO_HASH: none).
    model_hash: bytes = ZERO_HASH
    #: The policy is built from a model file (``model_path``, ``model_hash``).
    uses_model: ClassVar[bool] = False
    #: The policy needs a labelled workload (the oracle): never in a node.
    bench_only: ClassVar[bool] = False

    def score(self, txs: TxColumns) -> np.ndarray:
        """One float64 priority per row; higher is included first."""
        raise NotImplementedError

    def order(
        self, pending: TxColumns, scores: np.ndarray, limits: BlockLimits, now_s: float
    ) -> list[int] | None:
        """Optionally choose the block yourself: row indices in block order.

        ``pending`` holds every executable pending tx (rows grouped by
        sender, each in nonce order), ``scores`` their cached scores,
        ``now_s`` the time of the block being built (the clock of
        ``TxColumns.arrival_s``). Return None (the default) to let the
        mempool take transactions greedily by score, each sender's in nonce
        order, within ``limits``.
        An override must itself respect nonce order and the limits: the
        mempool checks and refuses a selection that does not.
        """
        return None


_REGISTRY: dict[str, Callable[..., Policy]] = {}
#: The block walks a policy name may ask for with a ``+WALK`` suffix.
WALKS = ("package", "greedy")


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make a policy selectable by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def policy_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def is_policy_name(name: str) -> bool:
    """A registered name, or one with a ``+WALK`` suffix (``learned+greedy``)."""
    return _factory(name) is not None


def is_bench_only(name: str) -> bool:
    """A policy that reads a labelled workload's hidden columns (the oracles):
    it runs in the single-pool bench only, never in a node."""
    return bool(getattr(_factory(name), "bench_only", False))


def _factory(name: str) -> Callable[..., Policy] | None:
    _load_builtin()
    factory = _REGISTRY.get(name)
    if factory is not None or "+" not in name:
        return factory
    base, walk = name.rsplit("+", 1)
    inner = _REGISTRY.get(base)
    if inner is None or walk not in WALKS:
        return None
    from node.scheduling.baselines import walked_class

    return walked_class(inner, walk)


def make_policy(name: str, **options: object) -> Policy:
    """Build the policy registered as ``name``, or ``NAME+WALK`` (ValueError if unknown)."""
    factory = _factory(name)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(
            f"unknown scheduling policy {name!r} (known: {known}; each also as "
            f"NAME+{'/NAME+'.join(WALKS)})"
        )
    return factory(**options)


def load_policy(
    name: str,
    *,
    model_path: str | Path | None = None,
    model_hash: bytes | str | None = None,
) -> Policy:
    """Build the policy a node's configuration names.

    ``model_path``/``model_hash`` go to a policy that uses a model (the
    ``learned`` policy; without a path it loads the shipped default model
    and checks its recorded hash); a file whose SHA-256 differs from
    ``model_hash`` is refused. Errors are ConfigError: an unknown name, a
    bench-only policy (the oracle), or model options for a policy that
    takes none.
    """
    factory = _factory(name)
    if factory is None:
        known = ", ".join(
            n for n, f in sorted(_REGISTRY.items()) if not getattr(f, "bench_only", False)
        )
        raise ConfigError(
            f"unknown scheduling policy {name!r} (known: {known})", code="unknown_policy"
        )
    if getattr(factory, "bench_only", False):
        raise ConfigError(
            f"scheduling policy {name!r} needs a labelled workload and runs only in "
            "`ordinet sched bench`",
            code="bench_only_policy",
        )
    if getattr(factory, "uses_model", False):
        return factory(model_path=model_path, model_hash=model_hash)
    if model_path is not None or model_hash is not None:
        raise ConfigError(
            f"scheduling policy {name!r} uses no model: remove model_path and model_hash",
            code="unexpected_model",
        )
    return factory()


def _load_builtin() -> None:
    # Policies that need heavier imports (models) register when first asked for.
    import importlib

    for module in (
        "node.scheduling.baselines",
        "node.scheduling.learned",
        "node.scheduling.oracle",
    ):
        importlib.import_module(module)
    # installed packages' policies (the ``ordinet.policies`` entry points), once
    importlib.import_module("node.scheduling.plugins").ensure_entry_point_policies()


@register
class FifoPolicy(Policy):
    """First seen, first included."""

    name = "fifo"

    def score(self, txs: TxColumns) -> np.ndarray:
        return -np.asarray(txs.arrival_s, dtype=np.float64)


@register
class FeePolicy(Policy):
    """Highest fee per byte first, as geth's price heap (earliest on ties)."""

    name = "fee"

    def score(self, txs: TxColumns) -> np.ndarray:
        return np.asarray(txs.fee_rate, dtype=np.float64)

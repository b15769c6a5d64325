"""Exception types shared by every layer of the node.

Each error carries a machine-readable ``code`` (a short snake_case string)
that the RPC returns to clients, so a refusal can be told apart from
another without parsing its message. Errors caused by *remote* input (a
peer's message, an RPC body, a file) are subclasses of ``OrdinetError``;
a broken internal invariant is an ``AssertionError`` or a plain bug and
stops the node loudly instead.
"""

from __future__ import annotations


class OrdinetError(Exception):
    """Base class: something from outside the node was not acceptable."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class DecodeError(OrdinetError, ValueError):
    """Bytes that are not a canonical encoding of the expected type."""

    code = "decode_error"


class InvalidSignature(OrdinetError):
    """A signature that does not verify against its message and key."""

    code = "invalid_signature"


class InvalidTransaction(OrdinetError):
    """A well-formed transaction that the state cannot accept.

    ``code`` says why: ``wrong_chain_id``, ``bad_nonce``, ``nonce_too_low``,
    ``insufficient_funds``, ``overflow``, ``self_transfer``, ``too_large``,
    ``invalid_signature``, ...
    """

    code = "invalid_transaction"


class InvalidBlock(OrdinetError):
    """A block that does not extend the chain validly; ``code`` says why."""

    code = "invalid_block"


class MempoolError(OrdinetError):
    """The mempool refused a transaction; ``code`` says why."""

    code = "mempool_refused"


class MempoolFull(MempoolError):
    """The pool is at a cap and the newcomer ranks below everything in it."""

    code = "mempool_full"


class ConfigError(OrdinetError):
    """A configuration, genesis, profile or workload file is not valid.

    The message names the file, the field and why.
    """

    code = "config_error"


class StoreError(OrdinetError):
    """The store cannot do what was asked (unknown height, bad revert, ...)."""

    code = "store_error"

"""Account state: balances, nonces, transaction validity, block execution, state root.

This module is the ledger's rulebook. Everything that decides whether a
transaction or a block's transactions are acceptable, and what they change,
lives here, written once:

- an account is ``Account(balance, nonce)``; an address never seen is
  ``Account(0, 0)`` and such empty accounts are not stored;
- a transaction is valid against a state when its chain id is the state's,
  it is within the size limit, it does not pay its own sender
  (``self_transfer``), its nonce is exactly the sender's nonce, amount + fee
  fits in a u64 and is covered by the sender's balance, and the recipient's
  balance stays within a u64;
- executing a block applies its transactions in order (each one must be
  valid against the state left by the ones before it) and then credits the
  sum of their fees to the block proposer;
- the state root is the RFC 6962 Merkle root over the non-empty accounts
  sorted by address, each leaf being ``address || balance u64 BE || nonce
  u64 BE`` (48 bytes).

Signatures are NOT checked here: blocks have them batch-verified by the
ledger and the mempool verifies at admission. No I/O, no clock.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from node import crypto
from node.codec import U64_MAX
from node.errors import InvalidBlock, InvalidTransaction
from node.types import ADDRESS_SIZE, MAX_TX_SIZE, Transaction

# balance, nonce: the 16 bytes after the address in a state leaf
_ACCOUNT_VALUE = struct.Struct(">QQ")
_VALUE_SIZE = _ACCOUNT_VALUE.size
LEAF_SIZE = ADDRESS_SIZE + _VALUE_SIZE


class Account(NamedTuple):
    """What the ledger knows of an address."""

    balance: int
    nonce: int

    @property
    def is_empty(self) -> bool:
        return self.balance == 0 and self.nonce == 0


EMPTY_ACCOUNT = Account(0, 0)


def state_leaf(address: bytes, account: Account) -> bytes:
    """The 48-byte Merkle leaf of one account: address || balance || nonce (u64 BE)."""
    return address + _ACCOUNT_VALUE.pack(account.balance, account.nonce)


@dataclass
class StateDiff:
    """What executing some transactions changes, without touching the state.

    ``accounts`` holds the NEW value of every account whose value changed
    (an account that became empty maps to ``Account(0, 0)``). ``fees`` is
    what the proposer was credited, ``tx_count``/``tx_bytes`` count the
    transactions (encoded bytes). A diff is treated as immutable once made:
    ``State`` remembers the leaves computed for a diff by identity.
    """

    accounts: dict[bytes, Account] = field(default_factory=dict)
    fees: int = 0
    tx_count: int = 0
    tx_bytes: int = 0
    proposer: bytes = b""


class _Leaves:
    """The sorted addresses and packed leaves of the non-empty accounts.

    Kept beside the account dict so that the state root costs one Rust call
    over one contiguous buffer, and a block's changes cost one pass of
    memcpy instead of a sort of every account. Never mutated once built
    (``updated`` makes a new one), so states may share it.
    """

    __slots__ = ("addresses", "buf")

    def __init__(self, addresses: list[bytes], buf: bytearray) -> None:
        self.addresses = addresses
        self.buf = buf

    @classmethod
    def build(cls, accounts: Mapping[bytes, Account]) -> _Leaves:
        addresses = sorted(accounts)
        values = [accounts[a] for a in addresses]
        pack = _ACCOUNT_VALUE.pack
        buf = bytearray(
            b"".join([a + pack(b, n) for a, (b, n) in zip(addresses, values, strict=True)])
        )
        return cls(addresses, buf)

    def updated(self, changes: Mapping[bytes, Account]) -> _Leaves:
        """A new index with ``changes`` applied; ``self`` is left untouched."""
        addresses = self.addresses
        n = len(addresses)
        buf = bytearray(self.buf)
        pack = _ACCOUNT_VALUE.pack
        # (old position, 0 = insert before it / 1 = delete it, address)
        moves: list[tuple[int, int, bytes]] = []
        for address, (balance, nonce) in changes.items():
            i = bisect_left(addresses, address)
            present = i < n and addresses[i] == address
            empty = not (balance or nonce)
            if present and not empty:
                start = i * LEAF_SIZE + ADDRESS_SIZE
                buf[start : start + _VALUE_SIZE] = pack(balance, nonce)
            elif present:
                moves.append((i, 1, address))
            elif not empty:
                moves.append((i, 0, address))
        if not moves:
            return _Leaves(addresses, buf)  # the list is never mutated: share it
        moves.sort()
        new_addresses: list[bytes] = []
        pieces: list[bytes | memoryview] = []
        view = memoryview(buf)
        prev = 0
        for pos, kind, address in moves:
            new_addresses.extend(addresses[prev:pos])
            pieces.append(view[prev * LEAF_SIZE : pos * LEAF_SIZE])
            if kind == 0:
                new_addresses.append(address)
                pieces.append(state_leaf(address, changes[address]))
                prev = pos
            else:
                prev = pos + 1
        new_addresses.extend(addresses[prev:])
        pieces.append(view[prev * LEAF_SIZE :])
        return _Leaves(new_addresses, bytearray(b"".join(pieces)))

    def root(self) -> bytes:
        return crypto.merkle_root_packed(self.buf, LEAF_SIZE)


class State:
    """The accounts after some block, and the rules that change them.

    ``execute`` and ``select`` return a ``StateDiff`` and never mutate the
    state; ``apply`` is the only mutator.
    """

    __slots__ = ("_accounts", "_leaves", "_pending", "_root", "chain_id")

    def __init__(self, chain_id: str, accounts: Mapping[bytes, Account]) -> None:
        self.chain_id = chain_id
        kept: dict[bytes, Account] = {}
        for address, value in accounts.items():
            balance, nonce = value
            if len(address) != ADDRESS_SIZE:
                raise ValueError(f"address must be {ADDRESS_SIZE} bytes, got {len(address)}")
            if not (0 <= balance <= U64_MAX and 0 <= nonce <= U64_MAX):
                raise ValueError(f"account {address.hex()} is outside u64: {value}")
            if balance or nonce:
                kept[address] = value if type(value) is Account else Account(balance, nonce)
        self._accounts = kept
        self._leaves = _Leaves.build(self._accounts)
        self._root: bytes | None = None
        # The leaves and root after the last diff given to root(): a block is
        # validated (root(diff)) and then applied (apply(diff)) with the same
        # diff object, and the second pass over the leaves is then free.
        self._pending: tuple[StateDiff, _Leaves, bytes] | None = None

    # -- reading ----------------------------------------------------------

    def account(self, address: bytes) -> Account:
        return self._accounts.get(address, EMPTY_ACCOUNT)

    @property
    def accounts(self) -> Mapping[bytes, Account]:
        """A read-only view of the non-empty accounts."""
        return MappingProxyType(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def root(self, diff: StateDiff | None = None) -> bytes:
        """The state root now, or after ``diff`` when one is given."""
        if diff is None or not diff.accounts:
            if self._root is None:
                self._root = self._leaves.root()
            return self._root
        if self._pending is not None and self._pending[0] is diff:
            return self._pending[2]
        leaves = self._leaves.updated(diff.accounts)
        root = leaves.root()
        self._pending = (diff, leaves, root)
        return root

    # -- validity ---------------------------------------------------------

    def check_tx(self, tx: Transaction, *, pending: StateDiff | None = None) -> None:
        """Raise InvalidTransaction unless ``tx`` is executable now.

        "Now" is this state, or this state with ``pending`` applied on top.
        The signature is not checked.
        """
        changed = pending.accounts if pending is not None else {}
        self._after(tx, changed)

    def _lookup(self, changed: Mapping[bytes, Account], address: bytes) -> Account:
        found = changed.get(address)
        if found is None:
            found = self._accounts.get(address, EMPTY_ACCOUNT)
        return found

    def _after(self, tx: Transaction, changed: Mapping[bytes, Account]) -> tuple[Account, Account]:
        """Check ``tx`` against this state + ``changed``; return the new sender
        and recipient accounts. The order of the checks fixes which code a
        transaction with several faults gets (docs/PROTOCOL.md)."""
        if tx.chain_id != self.chain_id:
            raise InvalidTransaction(
                f"chain id {tx.chain_id!r} is not this chain's {self.chain_id!r}",
                code="wrong_chain_id",
            )
        if tx.size > MAX_TX_SIZE:
            raise InvalidTransaction(
                f"transaction of {tx.size} bytes exceeds {MAX_TX_SIZE}", code="too_large"
            )
        if tx.sender == tx.recipient:
            raise InvalidTransaction("sender and recipient are the same", code="self_transfer")
        sender = self._lookup(changed, tx.sender)
        if tx.nonce < sender.nonce:
            raise InvalidTransaction(
                f"nonce {tx.nonce} already used (next is {sender.nonce})", code="nonce_too_low"
            )
        if tx.nonce > sender.nonce:
            raise InvalidTransaction(
                f"nonce {tx.nonce} skips ahead (next is {sender.nonce})", code="nonce_gap"
            )
        cost = tx.amount + tx.fee
        if cost > U64_MAX:
            raise InvalidTransaction("amount + fee exceeds 2^64 - 1", code="overflow")
        if sender.balance < cost:
            raise InvalidTransaction(
                f"balance {sender.balance} < amount + fee {cost}", code="insufficient_funds"
            )
        recipient = self._lookup(changed, tx.recipient)
        if recipient.balance + tx.amount > U64_MAX:
            raise InvalidTransaction("recipient balance would exceed 2^64 - 1", code="overflow")
        return (
            Account(sender.balance - cost, sender.nonce + 1),
            Account(recipient.balance + tx.amount, recipient.nonce),
        )

    def _step(
        self, tx: Transaction, changed: dict[bytes, Account], proposer: bytes, fees: int
    ) -> None:
        """Apply ``tx`` to ``changed`` if valid, else raise and leave it untouched.

        Also refuses a transaction whose fee would push the proposer's
        balance (plus the fees already owed to it) beyond a u64, so that the
        credit at the end of the block can never overflow.
        """
        sender, recipient = self._after(tx, changed)
        if proposer == tx.sender:
            proposer_balance = sender.balance
        elif proposer == tx.recipient:
            proposer_balance = recipient.balance
        else:
            proposer_balance = self._lookup(changed, proposer).balance
        if proposer_balance + fees + tx.fee > U64_MAX:
            raise InvalidTransaction("proposer balance would exceed 2^64 - 1", code="overflow")
        changed[tx.sender] = sender
        changed[tx.recipient] = recipient

    def _finish(
        self, changed: dict[bytes, Account], proposer: bytes, fees: int, txs: int, size: int
    ) -> StateDiff:
        if fees:
            account = self._lookup(changed, proposer)
            changed[proposer] = Account(account.balance + fees, account.nonce)
        accounts = {a: v for a, v in changed.items() if v != self._accounts.get(a, EMPTY_ACCOUNT)}
        return StateDiff(accounts, fees=fees, tx_count=txs, tx_bytes=size, proposer=proposer)

    # -- blocks -----------------------------------------------------------

    def execute(self, txs: Sequence[Transaction], proposer: bytes) -> StateDiff:
        """What a block of ``txs`` proposed by ``proposer`` changes.

        All or nothing: the first invalid transaction raises InvalidBlock
        with that transaction's code, its index and id. Fees are credited to
        the proposer after the last transaction.
        """
        changed: dict[bytes, Account] = {}
        fees = 0
        size = 0
        for index, tx in enumerate(txs):
            try:
                self._step(tx, changed, proposer, fees)
            except InvalidTransaction as exc:
                raise InvalidBlock(
                    f"tx {index} ({tx.id.hex()}): {exc.message}", code=exc.code
                ) from None
            fees += tx.fee
            size += tx.size
        return self._finish(changed, proposer, fees, len(txs), size)

    def select(
        self,
        candidates: Iterable[Transaction],
        proposer: bytes,
        *,
        max_txs: int,
        max_bytes: int,
    ) -> tuple[list[Transaction], list[tuple[Transaction, InvalidTransaction]], StateDiff]:
        """The proposer's path: take ``candidates`` in order, skipping invalid ones.

        Stops before the first candidate that would exceed ``max_txs``
        transactions or ``max_bytes`` bytes of encoded transactions (it does
        not look past it, so a sender's later nonces are not judged against
        a gap the limit made). Returns the chosen transactions, the refused
        ones with their reason (relative to the block being built: a
        transaction after a refused one of the same sender fails with
        ``nonce_gap``), and the diff of the chosen ones.
        """
        changed: dict[bytes, Account] = {}
        chosen: list[Transaction] = []
        refused: list[tuple[Transaction, InvalidTransaction]] = []
        fees = 0
        size = 0
        for tx in candidates:
            if len(chosen) >= max_txs or size + tx.size > max_bytes:
                break
            try:
                self._step(tx, changed, proposer, fees)
            except InvalidTransaction as exc:
                refused.append((tx, exc))
                continue
            chosen.append(tx)
            fees += tx.fee
            size += tx.size
        return chosen, refused, self._finish(changed, proposer, fees, len(chosen), size)

    # -- mutation ---------------------------------------------------------

    def apply(self, diff: StateDiff) -> None:
        """Make ``diff`` (from ``execute``/``select`` on this state) the state."""
        if not diff.accounts:
            return
        if self._pending is not None and self._pending[0] is diff:
            _, self._leaves, self._root = self._pending
        else:
            self._leaves = self._leaves.updated(diff.accounts)
            self._root = None
        self._pending = None
        for address, account in diff.accounts.items():
            if account.is_empty:
                self._accounts.pop(address, None)
            else:
                self._accounts[address] = account

    def copy(self) -> State:
        other = State.__new__(State)
        other.chain_id = self.chain_id
        other._accounts = dict(self._accounts)
        other._leaves = self._leaves
        other._root = self._root
        other._pending = None
        return other

    def __repr__(self) -> str:
        return f"State({self.chain_id!r}, {len(self._accounts)} accounts)"

"""SQLite persistence: blocks, the tx index, account state, undo history,
the BFT signing state and a small key-value table.

One ``sqlite3`` connection, no threads, explicit transactions. The
guarantee the rest of the node builds on: ``save_block`` writes a block,
its tx index entries, its account changes and the undo rows that reverse
them (pruned to ``undo_depth``) in ONE transaction, and ``revert_to``
undoes blocks in ONE transaction, so after a crash at any instant (kill -9
included) the store holds either the old head or the new one, never a mix.

Journal: WAL with ``synchronous=FULL``: every commit fsyncs the WAL before
it returns, so a committed block or signing state survives a killed
process and a power failure alike.

Integrity, checked by ``Store.open`` (a file store; refused with a
``StoreError`` naming the file and how to recover):
- ``PRAGMA quick_check``: a damaged page (``store_corrupt``);
- the marker file beside the database (``<db>.marker``, overwritten in
  place and fsynced after each committed block and signing state, and
  before a revert; see ``Marker``): if it records a head or a signing state the database
  no longer holds, the database lost committed data, e.g. its ``-wal``
  file was deleted after a crash (``store_rolled_back``,
  ``store_mismatch``, ``signing_state_rolled_back``): a validator that
  went on from there could sign twice;
- a signing state above the head + 1 (``store_inconsistent``).

The schema is in docs/PROTOCOL.md; its version is ``PRAGMA user_version``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node.codec import U32
from node.errors import DecodeError, StoreError
from node.state import EMPTY_ACCOUNT, Account, StateDiff
from node.types import SIGNATURE_SIZE, Block, BlockHeader, Commit, Transaction

SCHEMA_VERSION = 1
# "ORDN": marks the file as an Ordinet store (PRAGMA application_id)
APPLICATION_ID = 0x4F52444E
_I64_MAX = 2**63 - 1
_ACCOUNT_VALUE = struct.Struct(">QQ")
# SQLite allows 32766 host parameters since 3.32; stay well under any build's limit
_IN_CHUNK = 500
# meta key: the lowest height revert_to may reach (u64 big-endian)
REVERT_FLOOR_KEY = "revert_floor"
# the marker beside the database: what it is known to hold (see the module doc)
MARKER_SUFFIX = ".marker"
# one marker slot: magic and version, sequence number, head height and hash,
# whether a signing state is recorded and its (height, round, step); then the
# SHA-256 of those bytes. Two slots, _SLOT_SIZE apart (one disk sector each).
_MARKER_MAGIC = b"ORDM\x01"
_MARKER_BODY = struct.Struct(">5sQQ32s?QQQ")
_MARKER_SLOT = struct.Struct(f">{_MARKER_BODY.size + 32}s")
_SLOT_SIZE = 512
# how many lines of quick_check's report go into the error
_QUICK_CHECK_LINES = 3
RECOVERY = (
    "to recover, stop the node, move its data directory aside and start it with an "
    "empty one: it syncs the chain again from its peers (a validator: start it with "
    "[consensus] validator = false until it has caught up; see docs/PROTOCOL.md, "
    "Store integrity)"
)

_SCHEMA = """
CREATE TABLE blocks (
    height      INTEGER PRIMARY KEY,
    hash        BLOB NOT NULL UNIQUE,
    prev_hash   BLOB NOT NULL,
    proposer    BLOB NOT NULL,
    tx_count    INTEGER NOT NULL,
    header      BLOB NOT NULL,
    block       BLOB NOT NULL,
    commit_cert BLOB
);
CREATE TABLE txs (
    id      BLOB PRIMARY KEY,
    height  INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    offset  INTEGER NOT NULL,
    size    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX txs_by_height ON txs (height);
CREATE TABLE accounts (
    address BLOB PRIMARY KEY,
    value   BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE undo (
    height  INTEGER NOT NULL,
    address BLOB NOT NULL,
    value   BLOB,
    PRIMARY KEY (height, address)
) WITHOUT ROWID;
CREATE TABLE signing_state (
    id     INTEGER PRIMARY KEY CHECK (id = 0),
    height INTEGER NOT NULL,
    round  INTEGER NOT NULL,
    step   INTEGER NOT NULL,
    extra  BLOB NOT NULL
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"""


def _unpack_account(value: bytes) -> Account:
    return Account(*_ACCOUNT_VALUE.unpack(value))


def _tx_offsets(block: Block, encoded: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each transaction inside the block's encoding.

    Follows the Block layout of docs/PROTOCOL.md: header, signature, last
    commit, u32 count, then u32 length + bytes per transaction.
    """
    pos = len(block.header.encode()) + SIGNATURE_SIZE + len(block.last_commit.encode())
    pos += U32.size
    out = []
    for tx in block.txs:
        size = tx.size
        pos += U32.size
        out.append((pos, size))
        pos += size
    assert pos == len(encoded), "block layout and _tx_offsets disagree"
    return out


def _quick_check(conn: sqlite3.Connection, name: str) -> None:
    """StoreError ``store_corrupt`` unless SQLite's quick_check finds the file sound."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchmany(_QUICK_CHECK_LINES)
    except sqlite3.DatabaseError as exc:
        rows = [(str(exc),)]
    report = [str(r[0]) for r in rows]
    if report != ["ok"]:
        raise StoreError(
            f"{name}: the database is damaged (quick_check: {'; '.join(report)}); {RECOVERY}",
            code="store_corrupt",
        )


class MarkerRecord:
    """What the marker says the database holds."""

    __slots__ = ("block_hash", "height", "signing")

    def __init__(
        self, height: int, block_hash: bytes, signing: tuple[int, int, int] | None
    ) -> None:
        self.height = height
        self.block_hash = block_hash
        self.signing = signing


class Marker:
    """A small file beside the database: the last head and signing state it
    committed. Written after the database commit (before, for a revert), so
    what the marker says the database holds is never more than the database
    held, unless the database lost it.

    The file is opened once, with the store, and never again: a node whose
    sockets exhausted its file descriptors can still commit and sign. It
    holds two fixed-size slots, each a record with a sequence number and a
    SHA-256 checksum; a write overwrites the older slot in place and is
    fsynced, so a torn write loses at most the newest record (the other
    slot still says no more than the database holds).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._seq = 0
        self._head: tuple[int, bytes] | None = None
        self._signing: tuple[int, int, int] | None = None

    def open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open: {exc.strerror}", code="store_io") from exc

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def load(self, store_path: str) -> MarkerRecord | None:
        """The newest intact record; None for an empty (new) marker."""
        assert self._fd is not None
        try:
            raw = os.pread(self._fd, 2 * _SLOT_SIZE, 0)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read: {exc.strerror}", code="store_io") from exc
        if not raw:
            return None
        records = [_unpack_marker_slot(raw[i : i + _MARKER_SLOT.size]) for i in (0, _SLOT_SIZE)]
        intact = [r for r in records if r is not None]
        if not intact:
            raise StoreError(
                f"{self.path}: the marker of {store_path} is unreadable (no intact record); "
                f"{RECOVERY}",
                code="store_marker_corrupt",
            )
        seq, record = max(intact, key=lambda r: r[0])
        self._seq = seq
        return record

    def adopt(self, head: BlockHeader, signing: tuple[int, int, int] | None) -> None:
        """Start from what the (checked) database holds: at least what was recorded."""
        self._head = (head.height, head.hash)
        self._signing = signing

    def save_head(
        self,
        store_path: str,
        height: int,
        block_hash: bytes,
        signing: tuple[int, int, int] | None = None,
    ) -> None:
        self._head = (height, block_hash)
        if signing is not None:
            self._signing = signing
        self._write(store_path)

    def save_signing(self, store_path: str, signing: tuple[int, int, int]) -> None:
        self._signing = signing
        if self._head is not None:
            self._write(store_path)

    def _write(self, store_path: str) -> None:
        assert self._head is not None and self._fd is not None
        self._seq += 1
        height, block_hash = self._head
        sh, sr, ss = self._signing if self._signing is not None else (0, 0, 0)
        body = _MARKER_BODY.pack(
            _MARKER_MAGIC, self._seq, height, block_hash, self._signing is not None, sh, sr, ss
        )
        slot = body + hashlib.sha256(body).digest()
        try:
            os.pwrite(self._fd, slot, (self._seq % 2) * _SLOT_SIZE)
            os.fsync(self._fd)
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot write the marker of {store_path}: {exc.strerror}",
                code="store_io",
            ) from exc


def _unpack_marker_slot(raw: bytes) -> tuple[int, MarkerRecord] | None:
    """(sequence number, record) of an intact slot, None for a torn or empty one."""
    if len(raw) != _MARKER_SLOT.size:
        return None
    body, digest = raw[: _MARKER_BODY.size], raw[_MARKER_BODY.size :]
    if hashlib.sha256(body).digest() != digest:
        return None
    magic, seq, height, block_hash, signed, sh, sr, ss = _MARKER_BODY.unpack(body)
    if magic != _MARKER_MAGIC or seq == 0:
        return None
    return seq, MarkerRecord(height, block_hash, (sh, sr, ss) if signed else None)


class Store:
    """The node's database. Open with ``Store.open(path)``; ":memory:" works.

    ``undo_depth`` is how many blocks below the head ``revert_to`` can undo:
    the undo rows of older blocks are deleted as blocks are saved, in the
    same transaction. 0 (BFT, PoA: committed blocks are final) keeps none.
    """

    def __init__(self, conn: sqlite3.Connection, path: str, undo_depth: int = 0) -> None:
        if undo_depth < 0:
            raise ValueError(f"undo_depth must be >= 0, not {undo_depth}")
        self._conn = conn
        self.path = path
        self.undo_depth = undo_depth
        self._head: BlockHeader | None = None
        self._head_loaded = False
        self._revert_floor: int | None = None
        self.marker = None if path == ":memory:" else Marker(Path(path + MARKER_SUFFIX))

    # -- opening ----------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, undo_depth: int = 0) -> Store:
        name = str(path)
        if name != ":memory:":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(name, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{name}: cannot open database: {exc}") from exc
        try:
            cls._prepare(conn, name)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{name}: not a usable Ordinet store: {exc}") from exc
        except StoreError:
            conn.close()
            raise
        store = cls(conn, name, undo_depth)
        try:
            store._check_marker()
        except BaseException:
            store.close()
            raise
        return store

    @staticmethod
    def _prepare(conn: sqlite3.Connection, name: str) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and tables == 0:
            # executescript commits any open transaction first, so the whole
            # schema goes in one script that is its own transaction.
            conn.executescript(
                "BEGIN IMMEDIATE;"
                + _SCHEMA
                + f"PRAGMA application_id = {APPLICATION_ID};"
                + f"PRAGMA user_version = {SCHEMA_VERSION};"
                + "COMMIT;"
            )
        elif app_id != APPLICATION_ID:
            raise StoreError(f"{name}: not an Ordinet store (application_id {app_id:#x})")
        elif version != SCHEMA_VERSION:
            raise StoreError(
                f"{name}: store schema version {version} is not the supported {SCHEMA_VERSION}",
                code="store_version",
            )
        if name != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{name}: cannot switch to WAL journal mode (got {mode})")
            _quick_check(conn, name)
        conn.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        self._conn.close()
        if self.marker is not None:
            self.marker.close()

    def on_progress(self, interrupt: Callable[[bool], bool], every: int) -> None:
        """Call ``interrupt(in_write)`` every ``every`` SQLite instructions;
        when it returns True the statement in progress fails (and its write
        transaction rolls back). The simulator's torn writes use it."""
        conn = self._conn
        conn.set_progress_handler(lambda: int(interrupt(conn.in_transaction)), every)

    def _check_marker(self) -> None:
        """Refuse a database that holds less than its marker says it committed."""
        marker = self.marker
        if marker is None:
            return
        marker.open()
        recorded = marker.load(self.path)
        head = self.head()
        signed = self.load_signing_state()
        signed_key = None if signed is None else signed[:3]
        if head is not None and signed_key is not None and signed_key[0] > head.height + 1:
            raise StoreError(
                f"{self.path}: the signing state (height {signed_key[0]}) is ahead of the "
                f"head block {head.height} + 1: the database is inconsistent; {RECOVERY}",
                code="store_inconsistent",
            )
        if recorded is None:
            # first open, or a store from before markers: start one
            if head is not None:
                marker.save_head(self.path, head.height, head.hash, signed_key)
            return
        height = -1 if head is None else head.height
        if recorded.height > height:
            raise StoreError(
                f"{self.path}: holds blocks up to height {height}, but {marker.path.name} "
                f"records block {recorded.height} as committed: committed blocks were lost "
                f"(a deleted or damaged -wal file?); {RECOVERY}",
                code="store_rolled_back",
            )
        stored = self.load_header(recorded.height)
        if stored is None or stored.hash != recorded.block_hash:
            raise StoreError(
                f"{self.path}: block {recorded.height} is not the one {marker.path.name} "
                f"records as committed ({recorded.block_hash.hex()[:16]}): the database was "
                f"replaced or damaged; {RECOVERY}",
                code="store_mismatch",
            )
        if recorded.signing is not None and (signed_key is None or signed_key < recorded.signing):
            raise StoreError(
                f"{self.path}: the signing state went back from {list(recorded.signing)} "
                f"({marker.path.name}) to {list(signed_key) if signed_key else None}: "
                f"signing from there could sign twice; {RECOVERY}",
                code="signing_state_rolled_back",
            )
        assert head is not None  # it holds the recorded block
        marker.adopt(head, signed_key)

    # -- helpers ----------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot {what}: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self.path}: cannot {what}: {exc}") from exc
            raise

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self._conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from exc

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from exc

    def _decode(self, cls: Any, raw: bytes, where: str) -> Any:
        try:
            return cls.decode(raw)
        except DecodeError as exc:
            raise StoreError(f"{self.path}: stored {where} is corrupt: {exc}") from exc

    # -- blocks -----------------------------------------------------------

    def head_height(self) -> int | None:
        head = self.head()
        return None if head is None else head.height

    def head(self) -> BlockHeader | None:
        if not self._head_loaded:
            row = self._one("SELECT header FROM blocks ORDER BY height DESC LIMIT 1")
            self._head = None if row is None else self._decode(BlockHeader, row[0], "head")
            self._head_loaded = True
        return self._head

    def save_block(self, block: Block, diff: StateDiff, commit: Commit | None = None) -> None:
        """Append ``block`` with the account changes ``diff`` it causes.

        ``commit`` is the block's own certificate, when already known.
        Refuses a block that does not extend the head (height head+1 and
        prev_hash the head's hash; height 0 on an empty store).
        """
        header = block.header
        if commit is not None:
            self._check_commit(header.height, header.hash, commit)
        encoded = block.encode()
        offsets = _tx_offsets(block, encoded)
        with self._transaction(f"save block {header.height}") as conn:
            row = conn.execute(
                "SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1"
            ).fetchone()
            if row is None:
                if header.height != 0:
                    raise StoreError(
                        f"empty store: the first block must have height 0, not {header.height}",
                        code="not_next",
                    )
            elif header.height != row[0] + 1 or header.prev_hash != row[1]:
                raise StoreError(
                    f"block {header.height} ({header.hash.hex()[:16]}) does not extend "
                    f"head {row[0]} ({row[1].hex()[:16]})",
                    code="not_next",
                )
            if header.height > _I64_MAX:
                raise StoreError(f"height {header.height} beyond what the store can index")
            height = header.height
            conn.execute(
                "INSERT INTO blocks (height, hash, prev_hash, proposer, tx_count, header, block,"
                " commit_cert) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    height,
                    header.hash,
                    header.prev_hash,
                    header.proposer,
                    header.tx_count,
                    header.encode(),
                    encoded,
                    None if commit is None else commit.encode(),
                ),
            )
            try:
                conn.executemany(
                    "INSERT INTO txs (id, height, idx, offset, size) VALUES (?, ?, ?, ?, ?)",
                    [
                        (tx.id, height, i, off, size)
                        for i, (tx, (off, size)) in enumerate(zip(block.txs, offsets, strict=True))
                    ],
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    f"block {height} repeats a transaction already in the chain",
                    code="duplicate_tx",
                ) from exc
            addresses = list(diff.accounts)
            if self.undo_depth > 0 and height > 0:  # nothing to revert the genesis to
                previous = self._select_accounts(conn, addresses)
                conn.executemany(
                    "INSERT INTO undo (height, address, value) VALUES (?, ?, ?)",
                    [(height, a, previous.get(a)) for a in addresses],
                )
            floor = self._prune_undo(conn, height)
            written: list[tuple[bytes, bytes]] = []
            emptied: list[tuple[bytes]] = []
            pack = _ACCOUNT_VALUE.pack
            for address, (balance, nonce) in diff.accounts.items():
                if balance or nonce:
                    written.append((address, pack(balance, nonce)))
                else:
                    emptied.append((address,))
            conn.executemany("DELETE FROM accounts WHERE address = ?", emptied)
            conn.executemany(
                "INSERT OR REPLACE INTO accounts (address, value) VALUES (?, ?)", written
            )
        self._head = header
        self._head_loaded = True
        self._revert_floor = floor
        if self.marker is not None:
            self.marker.save_head(self.path, header.height, header.hash)

    def _prune_undo(self, conn: sqlite3.Connection, head: int) -> int:
        """Inside save_block's transaction: drop the undo rows that no revert
        may use any more once ``head`` is saved; the new revert floor."""
        floor = max(self._load_revert_floor(conn), head - self.undo_depth)
        conn.execute("DELETE FROM undo WHERE height <= ?", (floor,))
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (REVERT_FLOOR_KEY, floor.to_bytes(8, "big")),
        )
        return floor

    @staticmethod
    def _load_revert_floor(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (REVERT_FLOOR_KEY,)).fetchone()
        # a store written before undo pruning kept every block's undo rows
        return 0 if row is None else int.from_bytes(row[0], "big")

    def revert_floor(self) -> int:
        """The lowest height ``revert_to`` can go back to (the undo rows of
        every block above it are kept)."""
        if self._revert_floor is None:
            try:
                self._revert_floor = self._load_revert_floor(self._conn)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: read failed: {exc}") from exc
        return self._revert_floor

    @staticmethod
    def _select_accounts(
        conn: sqlite3.Connection, addresses: Sequence[bytes]
    ) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for start in range(0, len(addresses), _IN_CHUNK):
            chunk = addresses[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                conn.execute(
                    f"SELECT address, value FROM accounts WHERE address IN ({marks})", chunk
                ).fetchall()
            )
        return found

    def _check_commit(self, height: int, block_hash: bytes, commit: Commit) -> None:
        if commit.height != height or commit.block_hash != block_hash:
            raise StoreError(
                f"commit for height {commit.height} ({commit.block_hash.hex()[:16]}) does not "
                f"certify block {height} ({block_hash.hex()[:16]})",
                code="commit_mismatch",
            )

    def save_commit(self, height: int, commit: Commit) -> None:
        """Attach (or replace) the certificate of the stored block at ``height``."""
        row = self._one("SELECT hash FROM blocks WHERE height = ?", (height,))
        if row is None:
            raise StoreError(f"no block at height {height}", code="unknown_height")
        self._check_commit(height, row[0], commit)
        with self._transaction(f"save commit {height}") as conn:
            conn.execute(
                "UPDATE blocks SET commit_cert = ? WHERE height = ?", (commit.encode(), height)
            )

    def load_block(self, height: int) -> Block | None:
        if not 0 <= height <= _I64_MAX:
            return None
        row = self._one("SELECT block FROM blocks WHERE height = ?", (height,))
        return None if row is None else self._decode(Block, row[0], f"block {height}")

    def load_block_by_hash(self, block_hash: bytes) -> Block | None:
        row = self._one("SELECT block FROM blocks WHERE hash = ?", (bytes(block_hash),))
        return None if row is None else self._decode(Block, row[0], "block")

    def height_of(self, block_hash: bytes) -> int | None:
        """The height of ``block_hash`` if it is on the stored chain."""
        row = self._one("SELECT height FROM blocks WHERE hash = ?", (bytes(block_hash),))
        return None if row is None else int(row[0])

    def load_header(self, height: int) -> BlockHeader | None:
        if not 0 <= height <= _I64_MAX:
            return None
        row = self._one("SELECT header FROM blocks WHERE height = ?", (height,))
        return None if row is None else self._decode(BlockHeader, row[0], f"header {height}")

    def load_commit(self, height: int) -> Commit | None:
        if not 0 <= height <= _I64_MAX:
            return None
        row = self._one("SELECT commit_cert FROM blocks WHERE height = ?", (height,))
        if row is None or row[0] is None:
            return None
        return self._decode(Commit, row[0], f"commit {height}")

    def load_blocks(self, start: int, end: int) -> list[Block]:
        """Blocks ``start..end`` inclusive that exist, in height order."""
        start, end = max(start, 0), min(end, _I64_MAX)
        if start > end:
            return []
        rows = self._all(
            "SELECT block FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height", (start, end)
        )
        return [self._decode(Block, r[0], "block") for r in rows]

    def load_raw_blocks(self, start: int, end: int, max_bytes: int) -> list[tuple[bytes, bytes]]:
        """Blocks ``start..end`` inclusive as stored, for serving to peers.

        Each is ``(block encoding, commit encoding or b"")``, in height order,
        nothing decoded; the list stops before the block that would take the
        total of both encodings past ``max_bytes``. A file store is read
        through a connection of its own, opened and closed here, so this may
        run in a worker thread while the store's connection writes (WAL
        readers see the last committed head); a ":memory:" store is read
        through its own connection, on its thread.
        """
        start, end = max(start, 0), min(end, _I64_MAX)
        if start > end or max_bytes <= 0:
            return []
        own = self.path != ":memory:"
        try:
            conn = (
                sqlite3.connect(Path(self.path).absolute().as_uri() + "?mode=ro", uri=True)
                if own
                else self._conn
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open for reading: {exc}") from exc
        try:
            out: list[tuple[bytes, bytes]] = []
            total = 0
            rows = conn.execute(
                "SELECT block, commit_cert FROM blocks WHERE height BETWEEN ? AND ?"
                " ORDER BY height",
                (start, end),
            )
            for block, commit in rows:
                pair = (bytes(block), b"" if commit is None else bytes(commit))
                total += len(pair[0]) + len(pair[1])
                if total > max_bytes:
                    break
                out.append(pair)
            return out
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from exc
        finally:
            if own:
                conn.close()

    def load_tx(self, tx_id: bytes) -> tuple[Transaction, int, int] | None:
        """The committed transaction ``tx_id`` with its (height, index in block)."""
        row = self._one(
            "SELECT substr(b.block, t.offset + 1, t.size), t.height, t.idx"
            " FROM txs t JOIN blocks b ON b.height = t.height WHERE t.id = ?",
            (bytes(tx_id),),
        )
        if row is None:
            return None
        return self._decode(Transaction, row[0], "transaction"), row[1], row[2]

    def load_tx_location(self, tx_id: bytes) -> tuple[int, int] | None:
        """(height, index) of a committed transaction, without loading it."""
        row = self._one("SELECT height, idx FROM txs WHERE id = ?", (bytes(tx_id),))
        return None if row is None else (row[0], row[1])

    # -- accounts ---------------------------------------------------------

    def load_account(self, address: bytes) -> Account:
        row = self._one("SELECT value FROM accounts WHERE address = ?", (bytes(address),))
        return EMPTY_ACCOUNT if row is None else _unpack_account(row[0])

    def load_accounts(self) -> dict[bytes, Account]:
        rows = self._all("SELECT address, value FROM accounts")
        return {a: _unpack_account(v) for a, v in rows}

    # -- revert -----------------------------------------------------------

    def revert_to(self, height: int) -> list[Block]:
        """Remove every block above ``height``; return them newest first."""
        head = self.head_height()
        if head is None or not 0 <= height <= head:
            raise StoreError(f"cannot revert to height {height}: head is {head}", code="bad_revert")
        floor = self.revert_floor()
        if height < floor:
            raise StoreError(
                f"{self.path}: cannot revert to height {height}: undo history is kept down "
                f"to height {floor} only (undo_depth {self.undo_depth} below head {head})",
                code="reorg_too_deep",
            )
        reverted = self.load_blocks(height + 1, head)
        reverted.reverse()
        if self.marker is not None:
            # before the revert: a crash in between leaves a database ahead of
            # its marker, which is fine; the other way round would not be
            target = self.load_header(height)
            assert target is not None
            self.marker.save_head(self.path, height, target.hash)
        with self._transaction(f"revert to {height}") as conn:
            for h in range(head, height, -1):
                undo = conn.execute(
                    "SELECT address, value FROM undo WHERE height = ?", (h,)
                ).fetchall()
                conn.executemany(
                    "DELETE FROM accounts WHERE address = ?", [(a,) for a, v in undo if v is None]
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO accounts (address, value) VALUES (?, ?)",
                    [(a, v) for a, v in undo if v is not None],
                )
                conn.execute("DELETE FROM undo WHERE height = ?", (h,))
                conn.execute("DELETE FROM txs WHERE height = ?", (h,))
                conn.execute("DELETE FROM blocks WHERE height = ?", (h,))
        self._head_loaded = False
        return reverted

    # -- consensus signing state and metadata -----------------------------

    def save_signing_state(self, height: int, round: int, step: int, extra: bytes = b"") -> None:
        """Record what this validator last signed; on disk before returning."""
        if not (0 <= height <= _I64_MAX and 0 <= round <= _I64_MAX and 0 <= step <= _I64_MAX):
            raise StoreError(f"signing state ({height}, {round}, {step}) out of range")
        with self._transaction("save signing state") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO signing_state (id, height, round, step, extra)"
                " VALUES (0, ?, ?, ?, ?)",
                (height, round, step, bytes(extra)),
            )
        if self.marker is not None:
            self.marker.save_signing(self.path, (height, round, step))

    def load_signing_state(self) -> tuple[int, int, int, bytes] | None:
        row = self._one("SELECT height, round, step, extra FROM signing_state WHERE id = 0")
        return None if row is None else (row[0], row[1], row[2], bytes(row[3]))

    def save_meta(self, key: str, value: bytes) -> None:
        with self._transaction(f"save meta {key!r}") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, bytes(value))
            )

    def load_meta(self, key: str) -> bytes | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else bytes(row[0])

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

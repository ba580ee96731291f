"""The webhook's audit batches on a SQLite file: a plain ``sqlite3`` appender on the caller's thread.

Through SQLAlchemy's async engine a batch goes to aiosqlite's worker thread and back for every
statement; under load each hand-off waits for the GIL held by the busy event loop, and the
write cost the webhook 15-30 us of CPU per audit row. The same rows in one ``executemany`` on
the event-loop thread cost ~5 us. So this appender keeps its own connection to the database
file and, when the write lock is free, writes a batch right there: ``BEGIN IMMEDIATE``, one
``executemany``, ``COMMIT``, no await. That is a blocking call on the event loop by design (a
deviation listed in docs/architecture.md), bounded by three rules:

- it never waits for a lock on the loop: the connection's busy timeout is 0, and when another
  connection or process (``kubecap serve``, a collection) holds the write lock, the batch is
  written in a worker thread instead, with the usual busy timeout, and the caller awaits it;
- it never waits for the disk on the loop: ``synchronous=NORMAL`` in WAL mode syncs at
  checkpoints only, not at every commit (a power cut may lose the last commits, never
  corrupt the database);
- it never checkpoints on the loop: automatic checkpoints are off on this connection (a
  commit would run one on the committing thread); a passive checkpoint runs in a worker
  thread once every ``checkpoint_rows`` rows, which keeps the WAL file bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kubecap.domain.audit import AuditEvent
from kubecap.store.control_repo import AUDIT_INSERT_SQLITE, sqlite_audit_rows
from kubecap.store.engine import SQLITE_BUSY_TIMEOUT_SECONDS

log = logging.getLogger("kubecap.store")

# Rows appended between two passive checkpoints. Measured with 200-row batches: a row takes ~370
# bytes in the database and ~630 bytes of WAL (each commit rewrites the partly filled last pages
# of the table and its two indexes), so 4,000 rows are ~2.5 MB (~620 pages) of WAL, below
# SQLite's own default of 1,000 pages. Checkpointing cost 0.35 us a row at this figure,
# 0.55 us at 500 rows, 0.3 us at 10,000 (6.3 MB of WAL): rarer checkpoints buy little.
CHECKPOINT_ROWS = 4000

_T = TypeVar("_T")
_Row = tuple[Any, ...]


class SqliteAuditAppender:
    """Appends audit events to the SQLite file at ``path`` (a database at the head revision, in WAL mode).

    The connection opens on the first ``append`` and closes with ``close``. Calls are
    serialised by a lock; errors are the driver's ``sqlite3.Error`` (or ValueError for a
    naive timestamp), and a failed batch leaves nothing written and no transaction open.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_SECONDS,
        checkpoint_rows: int = CHECKPOINT_ROWS,
    ) -> None:
        self._path = path
        self._busy_timeout_ms = max(0, round(busy_timeout_s * 1000))
        self._checkpoint_rows = checkpoint_rows
        self._connection: sqlite3.Connection | None = None
        # One transaction at a time on the connection, and a checkpoint never during a write.
        self._lock = asyncio.Lock()
        self._since_checkpoint = 0
        self.fast_batches = 0
        """Batches written on the caller's thread."""
        self.waited_batches = 0
        """Batches that found the write lock taken and were written in a worker thread."""
        self.checkpoints = 0

    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Write ``events`` in one transaction: on the caller's thread, or in a worker thread while
        another connection holds the write lock."""
        rows = sqlite_audit_rows(events)  # a naive timestamp fails here, before any lock
        if not rows:
            return
        async with self._lock:
            connection = self._connection
            if connection is None:
                # Once: opening reads the file and may wait for a lock, so not on the loop.
                connection = self._connection = await _in_thread(self._open)
            if _write(connection, rows, wait=False):
                self.fast_batches += 1
            else:
                await _in_thread(
                    lambda: _write(connection, rows, wait=True, timeout_ms=self._busy_timeout_ms)
                )
                self.waited_batches += 1
            self._since_checkpoint += len(rows)
            if self._since_checkpoint >= self._checkpoint_rows:
                self._since_checkpoint = 0
                await self._checkpoint(connection)

    async def close(self) -> None:
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                # The last connection to close checkpoints the whole WAL: in a thread too.
                await _in_thread(connection.close)

    def _open(self) -> sqlite3.Connection:
        # check_same_thread=False: the connection is used on the loop's thread and in worker
        # threads, one at a time under the lock. isolation_level=None: our own BEGIN / COMMIT.
        connection = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            # The engine has made the file WAL already (persistent); NORMAL is only safe in WAL mode.
            (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"the database is in {mode} journal mode, not WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            connection.execute("PRAGMA foreign_keys=ON")  # as on every kubecap connection
            connection.execute("PRAGMA busy_timeout=0")
        except BaseException:
            connection.close()
            raise
        return connection

    async def _checkpoint(self, connection: sqlite3.Connection) -> None:
        # The batch is committed: a failed checkpoint is only retried later, never the batch's failure.
        try:
            busy, log_frames, done = await _in_thread(
                lambda: connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            )
        except sqlite3.Error as exc:
            log.warning("checkpointing the audit WAL of %s failed: %s", self._path, exc)
            return
        self.checkpoints += 1
        if busy or done < log_frames:
            # Readers still use older frames; the next checkpoint copies the rest.
            log.debug("audit WAL checkpoint of %s: %d of %d frames", self._path, done, log_frames)


def _write(connection: sqlite3.Connection, rows: Sequence[_Row], *, wait: bool, timeout_ms: int = 0) -> bool:
    """``rows`` in one transaction; False (nothing written) when ``wait`` is False and the write
    lock is taken."""
    if wait:
        connection.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")
    try:
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not wait and _busy(exc):
                return False
            raise
        try:
            connection.executemany(AUDIT_INSERT_SQLITE, rows)
            connection.execute("COMMIT")
        except BaseException:
            _roll_back(connection)
            raise
        return True
    finally:
        if wait:
            connection.execute("PRAGMA busy_timeout=0")


def _busy(exc: sqlite3.OperationalError) -> bool:
    # Extended codes (SQLITE_BUSY_RECOVERY, ...) carry SQLITE_BUSY in their low byte.
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # not raised by SQLite itself
        return "database is locked" in str(exc)
    return code & 0xFF == sqlite3.SQLITE_BUSY


def _roll_back(connection: sqlite3.Connection) -> None:
    # Some errors (I/O, disk full) have rolled back already; a failing ROLLBACK must not hide
    # the error that made it necessary.
    if connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")


async def _in_thread(function: Callable[[], _T]) -> _T:
    """``function()`` in a worker thread, awaited to its end even when the caller is cancelled.

    A thread cannot be stopped: releasing the lock (or closing the connection) while it still
    runs would let two threads interleave statements on the connection. So a cancellation
    waits for the thread, then propagates.
    """
    future = asyncio.ensure_future(asyncio.to_thread(function))
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait((future,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation wins, the outcome is lost
        raise asyncio.CancelledError
    return future.result()

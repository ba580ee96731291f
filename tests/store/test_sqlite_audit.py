"""The webhook's audit appender on SQLite files (store/sqlite_audit.py): it writes on the caller's
thread when the write lock is free, waits in a worker thread when it is not, keeps the WAL
bounded with its own checkpoints, and leaves nothing half written."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubecap.domain.audit import AuditEvent, AuditFilter, AuditResult
from kubecap.errors import StoreError
from kubecap.store import Store, upgrade_database
from kubecap.store.sqlite_audit import CHECKPOINT_ROWS, SqliteAuditAppender
from kubecap.store.store import _sqlite_file_on_disk
from tests.store.test_audit_batch import COLUMNS

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def events(count: int, start: int = 0) -> list[AuditEvent]:
    return [
        AuditEvent(
            at=T0 + timedelta(milliseconds=i),
            actor="kubecap-webhook",
            action="webhook.mutate",
            cluster="prod",
            target=f"prod/shop/Deployment/web-{i}",
            result=AuditResult.OK,
            before={"replicas": 6},
            after={"replicas": 4, "app.limits.cpu": None},
            request_id=f"uid-{i}",
            message=f"UPDATE by alice #{i}",
        )
        for i in range(start, start + count)
    ]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "kubecap.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
async def store(db_file: Path) -> AsyncIterator[Store]:
    async with await Store.open(f"sqlite:///{db_file}") as opened:
        yield opened


@pytest.fixture
def holder(db_file: Path) -> Iterator[sqlite3.Connection]:
    """Another connection, as another process would be: BEGIN IMMEDIATE takes the write lock."""
    connection = sqlite3.connect(db_file, isolation_level=None, timeout=0)
    try:
        yield connection
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


def appender(store: Store) -> SqliteAuditAppender:
    audits = store._audits
    assert audits is not None
    return audits


def stored(db_file: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_file) as connection:
        return connection.execute(f"SELECT {COLUMNS} FROM audit_events ORDER BY id").fetchall()


def write_lock_is_free(db_file: Path) -> bool:
    connection = sqlite3.connect(db_file, isolation_level=None, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


async def tick_until(ticks: list[int], count: int, task: asyncio.Task[int]) -> None:
    """Tick every 10 ms until ``count`` ticks, checking that ``task`` is still waiting meanwhile."""
    while len(ticks) < count:
        await asyncio.sleep(0.01)
        ticks.append(1)
        assert not task.done(), "record_audits returned while another connection held the write lock"


def test_only_sqlite_files_get_the_appender(tmp_path: Path) -> None:
    assert _sqlite_file_on_disk(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}") == tmp_path / "k.db"
    assert _sqlite_file_on_disk("sqlite+aiosqlite:///relative.db") == Path("relative.db").absolute()
    assert _sqlite_file_on_disk("sqlite+aiosqlite:///:memory:") is None
    assert _sqlite_file_on_disk("sqlite+aiosqlite:///file:mem?mode=memory&cache=shared&uri=true") is None
    assert _sqlite_file_on_disk("postgresql+psycopg://u:p@localhost/db") is None


async def test_a_free_write_lock_is_taken_on_the_calling_thread(store: Store, db_file: Path) -> None:
    assert await store.record_audits(events(3)) == 3
    assert (appender(store).fast_batches, appender(store).waited_batches) == (1, 0)
    assert [row[4] for row in stored(db_file)] == [f"prod/shop/Deployment/web-{i}" for i in range(3)]


async def test_a_held_write_lock_is_waited_for_off_the_event_loop(
    store: Store, db_file: Path, holder: sqlite3.Connection
) -> None:
    await store.record_audits(events(2))  # opens the appender's connection
    expected = stored(db_file)
    with sqlite3.connect(db_file) as connection:
        connection.execute("DELETE FROM audit_events")

    holder.execute("BEGIN IMMEDIATE")
    writing = asyncio.create_task(store.record_audits(events(2)))
    ticks: list[int] = []
    # ~0.5 s of 10 ms ticks: the event loop runs while the batch waits for the lock.
    await tick_until(ticks, 50, writing)
    holder.execute("COMMIT")
    assert await writing == 2
    assert appender(store).waited_batches == 1
    # The waiting path stores what the fast path stores.
    assert stored(db_file) == expected
    assert write_lock_is_free(db_file)
    # And the next batch takes the fast path again.
    await store.record_audits(events(1, start=2))
    assert appender(store).fast_batches == 2


async def test_a_cancelled_wait_still_ends_before_the_connection_is_used_again(
    db_file: Path, holder: sqlite3.Connection
) -> None:
    audits = SqliteAuditAppender(db_file)
    try:
        await audits.append(events(1))
        holder.execute("BEGIN IMMEDIATE")
        writing = asyncio.create_task(audits.append(events(3, start=1)))
        await asyncio.sleep(0.05)
        writing.cancel()
        following = asyncio.create_task(audits.append(events(1, start=4)))
        await asyncio.sleep(0.05)
        holder.execute("COMMIT")
        with pytest.raises(asyncio.CancelledError):
            await writing
        await following
    finally:
        await audits.close()
    # The worker thread's transaction was not cut short by the cancellation.
    assert [row[8] for row in stored(db_file)] == [f"uid-{i}" for i in range(5)]
    assert write_lock_is_free(db_file)


async def test_a_lock_held_past_the_busy_timeout_fails_the_batch_cleanly(
    db_file: Path, holder: sqlite3.Connection
) -> None:
    audits = SqliteAuditAppender(db_file, busy_timeout_s=0.2)
    try:
        await audits.append(events(1))
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await audits.append(events(2, start=1))
        holder.execute("ROLLBACK")
        await audits.append(events(1, start=3))  # the busy timeout is back to 0: fast path
        assert audits.fast_batches == 2
    finally:
        await audits.close()
    assert [row[8] for row in stored(db_file)] == ["uid-0", "uid-3"]


async def test_the_wal_stays_bounded_over_a_long_run(store: Store, db_file: Path) -> None:
    wal = db_file.with_name(db_file.name + "-wal")
    largest = 0
    for start in range(0, 50_000, 500):
        await store.record_audits(events(500, start=start))
        largest = max(largest, wal.stat().st_size)
    assert appender(store).checkpoints >= 50_000 // CHECKPOINT_ROWS - 1
    # Without checkpoints the WAL holds all 50,000 rows (~20 MB); with them, a few thousand rows'.
    assert largest < CHECKPOINT_ROWS * 2 * 1024, largest
    assert (await store.audit_events(AuditFilter(limit=1)))[0].request_id == "uid-49999"


async def test_a_failure_mid_batch_writes_nothing_and_leaves_no_transaction(
    store: Store, db_file: Path
) -> None:
    await store.record_audits(events(1))
    with sqlite3.connect(db_file) as connection:
        connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_events WHEN NEW.request_id = 'uid-300' "
            "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
        )
    with pytest.raises(StoreError, match=r"recording 500 audit events failed .*refused by a test trigger"):
        await store.record_audits(events(500, start=1))
    connection_of = appender(store)._connection
    assert connection_of is not None and not connection_of.in_transaction
    assert write_lock_is_free(db_file)
    assert len(stored(db_file)) == 1  # the 299 rows before the failing one were rolled back
    with sqlite3.connect(db_file) as connection:
        connection.execute("DROP TRIGGER refuse")
    await store.record_audits(events(500, start=1))
    assert len(stored(db_file)) == 501


async def test_a_dropped_table_fails_the_batch_and_leaves_no_transaction(store: Store, db_file: Path) -> None:
    await store.record_audits(events(1))
    with sqlite3.connect(db_file) as connection:
        connection.execute("DROP TABLE audit_events")
    with pytest.raises(StoreError, match="no such table: audit_events"):
        await store.record_audits(events(2))
    connection_of = appender(store)._connection
    assert connection_of is not None and not connection_of.in_transaction
    assert write_lock_is_free(db_file)


async def test_closing_the_store_closes_the_appender(db_file: Path) -> None:
    store = await Store.open(f"sqlite:///{db_file}")
    await store.record_audits(events(10))
    await store.close()
    assert appender(store)._connection is None
    # The last connection checkpointed the WAL into the file and removed it.
    assert not db_file.with_name(db_file.name + "-wal").exists()
    assert len(stored(db_file)) == 10

"""Migrations: from empty to head, idempotent, equal to the schema, and refusals when not at head."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from kubecap.domain.usage import UsageProfile
from kubecap.errors import StoreError
from kubecap.store import Store, head_revision, normalise_url, upgrade_database
from kubecap.store.schema import FIGURE_COLUMNS, Base

# Every table the schema declares, made by the migrations alone (later migrations add to it).
TABLES = {"alembic_version", *Base.metadata.tables}


def sync_engine(url: str) -> Engine:
    return create_engine(normalise_url(url)[0])


def test_usage_table_has_one_column_per_profile_figure() -> None:
    assert UsageProfile.figure_names() == FIGURE_COLUMNS


def test_upgrade_from_empty_reaches_head_and_is_idempotent(empty_database_url: str) -> None:
    assert upgrade_database(empty_database_url) == head_revision()
    assert upgrade_database(empty_database_url) == head_revision()
    engine = sync_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head_revision()
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            assert versions == [head_revision()]
    finally:
        engine.dispose()


def test_migrated_database_matches_the_declared_schema(database_url: str) -> None:
    engine = sync_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_identifiers_compare_bytewise(database_url: str) -> None:
    engine = sync_engine(database_url)
    try:
        with engine.connect() as connection:
            collations: dict[str, str] = dict(
                connection.execute(
                    text(
                        "SELECT table_name || '.' || column_name, collation_name "
                        "FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND data_type = 'character varying' "
                        "AND table_name <> 'alembic_version' AND column_name <> 'status'"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert "workloads.name" in collations and "usage_daily.container" in collations
    assert set(collations.values()) == {"C"}, collations


async def test_sqlite_file_and_its_folders_are_created_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "kubecap.db"
    async with await Store.open(f"sqlite:///{path}") as store:
        assert await store.clusters() == []
    assert path.is_file()


async def test_a_database_not_at_head_is_refused_with_the_upgrade_command(empty_database_url: str) -> None:
    with pytest.raises(StoreError) as caught:
        await Store.open(empty_database_url, auto_upgrade=False)
    message = str(caught.value)
    assert (
        f"is at revision none (empty), kubecap needs {head_revision()}: run `kubecap db upgrade`" in message
    )
    assert "\n" not in message


async def test_postgresql_is_not_upgraded_unless_asked(backend: str, empty_database_url: str) -> None:
    if backend == "sqlite":
        async with await Store.open(empty_database_url) as store:  # SQLite: upgraded by default
            assert await store.clusters() == []
        return
    with pytest.raises(StoreError, match="kubecap db upgrade"):
        await Store.open(empty_database_url)
    async with await Store.open(empty_database_url, auto_upgrade=True) as store:
        assert await store.clusters() == []


async def test_a_database_from_a_newer_kubecap_is_refused(empty_database_url: str) -> None:
    database_url = empty_database_url
    upgrade_database(database_url)
    engine = sync_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="is at revision 9999, which this kubecap does not know"):
        await Store.open(database_url, auto_upgrade=False)
    with pytest.raises(StoreError, match="which this kubecap does not know"):
        upgrade_database(database_url)
    with pytest.raises(StoreError, match="which this kubecap does not know"):
        await Store.open(database_url, auto_upgrade=True)


@pytest.mark.parametrize(
    "url",
    ["postgresql://kubecap:s3cret@127.0.0.1:1/kubecap", "postgres://kubecap:s3cret@127.0.0.1:1/kubecap"],
)
async def test_unreachable_postgresql_is_one_sentence_with_the_fix(url: str) -> None:
    for auto_upgrade in (False, True):
        with pytest.raises(StoreError) as caught:
            await Store.open(url, auto_upgrade=auto_upgrade)
        message = str(caught.value)
        shown = url.replace(":s3cret@", ":***@")
        assert message.startswith(f"cannot connect to the database at {shown} (")
        assert message.endswith("): check --database-url or KUBECAP_DATABASE_URL")
        assert "s3cret" not in message
        assert "\n" not in message
        assert caught.value.__cause__ is not None


def test_upgrading_an_unreachable_postgresql_is_one_sentence() -> None:
    with pytest.raises(
        StoreError, match=r"^cannot connect to the database at postgresql://u:\*\*\*@127.0.0.1:1/k"
    ):
        upgrade_database("postgresql://u:pw@127.0.0.1:1/k")


async def test_a_sqlite_path_that_cannot_be_opened_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    url = f"sqlite:///{blocker / 'kubecap.db'}"
    with pytest.raises(StoreError) as caught:
        await Store.open(url)
    message = str(caught.value)
    assert message.startswith(f"cannot create the folder {blocker} for the SQLite database at {url} (")
    assert message.endswith("): check --database-url or KUBECAP_DATABASE_URL")
    assert "\n" not in message

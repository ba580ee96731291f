"""Database URLs as users write them, turned into the two URLs the store needs.

Migrations run on a synchronous driver and the application on an asynchronous one, so one
user-facing URL (``sqlite:///kubecap.db``, ``postgres://...``) maps to a pair. Passwords are
masked wherever a URL ends up in a message.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from kubecap.errors import ConfigError

_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
_EXAMPLES = "use sqlite:///PATH/kubecap.db or postgresql://USER:PASSWORD@HOST:5432/DATABASE"
_USERINFO_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _USERINFO_PASSWORD.sub(r"\1:***@", url)


def _parse(url: str) -> URL:
    if not url.strip():
        raise ConfigError(f"the database URL is empty: {_EXAMPLES}")
    try:
        return make_url(url.strip())
    except ArgumentError as exc:
        raise ConfigError(f"database URL {masked(url)!r} is not a URL: {_EXAMPLES}") from exc


def normalise_url(url: str) -> tuple[str, str]:
    """(synchronous URL for migrations, asynchronous URL for the application).

    Accepts ``sqlite:///path`` (relative to the working directory) or ``sqlite:////abs/path``,
    and ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://`` URLs.
    """
    parsed = _parse(url)
    if parsed.drivername == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # The migration and the application would each see their own empty database.
            raise ConfigError(
                f"database URL {masked(url)!r} is an in-memory SQLite database, which kubecap cannot keep: "
                "give a file path such as sqlite:///kubecap.db"
            )
        return _render(parsed), _render(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername in _POSTGRES_SCHEMES:
        psycopg = _render(parsed.set(drivername="postgresql+psycopg"))
        return psycopg, psycopg
    raise ConfigError(
        f"database URL {masked(url)!r} has an unsupported scheme {parsed.drivername!r}: {_EXAMPLES}"
    )


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, None for PostgreSQL."""
    parsed = _parse(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    return Path(parsed.database)


def is_sqlite(url: str) -> bool:
    return _parse(url).drivername.startswith("sqlite")


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)

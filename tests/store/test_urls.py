"""Database URLs: what users may write, and the sentence they get for anything else."""

from __future__ import annotations

import pytest

from kubecap.errors import ConfigError
from kubecap.store import masked_url, normalise_url


@pytest.mark.parametrize(
    ("url", "sync", "async_"),
    [
        (
            "sqlite:////var/lib/kubecap/k.db",
            "sqlite:////var/lib/kubecap/k.db",
            "sqlite+aiosqlite:////var/lib/kubecap/k.db",
        ),
        ("sqlite:///data/k.db", "sqlite:///data/k.db", "sqlite+aiosqlite:///data/k.db"),
        (
            "postgresql://u:p%40ss@db:5432/kc",
            "postgresql+psycopg://u:p%40ss@db:5432/kc",
            "postgresql+psycopg://u:p%40ss@db:5432/kc",
        ),
        ("postgres://u@db/kc", "postgresql+psycopg://u@db/kc", "postgresql+psycopg://u@db/kc"),
        (
            "postgresql+psycopg://u@db/kc?sslmode=require",
            "postgresql+psycopg://u@db/kc?sslmode=require",
            "postgresql+psycopg://u@db/kc?sslmode=require",
        ),
        ("  sqlite:///k.db  ", "sqlite:///k.db", "sqlite+aiosqlite:///k.db"),
    ],
)
def test_supported_urls_give_a_sync_and_an_async_url(url: str, sync: str, async_: str) -> None:
    assert normalise_url(url) == (sync, async_)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root:hunter2@db/kc", "unsupported scheme 'mysql'"),
        ("postgresql+asyncpg://u@db/kc", "unsupported scheme 'postgresql+asyncpg'"),
        ("sqlite+aiosqlite:///k.db", "unsupported scheme 'sqlite+aiosqlite'"),
        ("kubecap.db", "is not a URL"),
        ("", "is empty"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_other_urls_are_refused_with_one_sentence(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        normalise_url(url)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "hunter2" not in message
    assert "sqlite:///" in message  # says what to write instead


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://kc:s3cret@db:5432/kc", "postgresql://kc:***@db:5432/kc"),
        ("postgresql://kc@db/kc", "postgresql://kc@db/kc"),
        ("not a url://kc:s3cret@db", "not a url://kc:***@db"),
    ],
)
def test_passwords_are_masked(url: str, masked: str) -> None:
    assert masked_url(url) == masked

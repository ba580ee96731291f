"""Bad input gets one sentence naming the input and the fix: strategies, settings, history, filters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubecap.domain.window import DAY, DailyWindow
from kubecap.errors import ConfigError, KubecapError, NotFoundError
from kubecap.ports import WindowUsage
from kubecap.recommend.service import Job, Selection, recommend_from_store
from kubecap.recommend.settings import EngineSettings, parse_settings
from kubecap.recommend.strategies.percentile import PercentileSettings
from kubecap.recommend.strategies.registry import default_registry
from kubecap.store import Store

from .builders import day, days_of, flat, ref


def one_sentence(error: KubecapError) -> str:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_unknown_strategy() -> None:
    with pytest.raises(ConfigError) as caught:
        default_registry().get("krr")
    assert one_sentence(caught.value) == (
        "unknown strategy 'krr': choose one of crane, kubecap, peak, percentile, vpa (see --help)"
    )


def test_percentile_above_100() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            PercentileSettings, {"cpu_percentile": 120}, name_of=lambda f: "--" + f.replace("_", "-")
        )
    assert one_sentence(caught.value) == "--cpu-percentile 120 is out of range: use at most 100"


def test_negative_margin() -> None:
    strategy = default_registry().get("crane")
    with pytest.raises(ConfigError) as caught:
        parse_settings(strategy.settings_model, {"margin_percent": -5})
    assert one_sentence(caught.value) == "margin_percent -5 is out of range: use at least 0"


def test_bad_quantity_and_unknown_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(PercentileSettings, {"min_cpu": "ten", "half_life_hours": 3})
    message = one_sentence(caught.value)
    assert "min_cpu ten is invalid: 'ten' is not a Kubernetes quantity" in message
    assert "half_life_hours 3 is not a setting of this strategy" in message


def test_min_days_above_days() -> None:
    with pytest.raises(ConfigError, match=r"^min_days \(20\) cannot exceed days \(14\)$"):
        parse_settings(PercentileSettings, {"min_days": 20})


async def store_with(tmp_path: Path, rows: list) -> Store:  # type: ignore[type-arg]
    store = await Store.open(f"sqlite:///{tmp_path / 'k.db'}")
    for n in sorted({r.day for r in rows}):
        start = datetime(n.year, n.month, n.day, tzinfo=UTC)
        window = DailyWindow(n, DAY, start, start.replace(hour=23))
        await store.save_window(
            "prod", window, WindowUsage([r for r in rows if r.day == n and r.window == DAY])
        )
    return store


def job() -> list[Job]:
    strategy = default_registry().get("kubecap")
    return [Job(strategy, strategy.default_settings())]


async def test_empty_history(tmp_path: Path) -> None:
    async with await store_with(tmp_path, []) as store:
        with pytest.raises(ConfigError) as caught:
            await recommend_from_store(
                store, job(), EngineSettings(), Selection(), computed_at=datetime.now(UTC)
            )
    assert one_sentence(caught.value) == "the store holds no usage yet: run `kubecap collect` first"


async def test_filters_matching_nothing_and_bad_regex(tmp_path: Path) -> None:
    rows = days_of(ref(), "app", [flat(0.1)] * 2)
    async with await store_with(tmp_path, rows) as store:
        with pytest.raises(NotFoundError) as caught:
            await recommend_from_store(
                store, job(), EngineSettings(), Selection(namespace="team-.*"), computed_at=datetime.now(UTC)
            )
        assert one_sentence(caught.value) == (
            "no workload of namespace matching 'team-.*' has usage between 2026-10-20 and 2026-11-02: "
            "check the filters, or collect those days first"
        )
        assert caught.value.exit_code == 3
        with pytest.raises(ConfigError, match=r"^--namespace 'shop\(' is not a regular expression"):
            await recommend_from_store(
                store, job(), EngineSettings(), Selection(namespace="shop("), computed_at=datetime.now(UTC)
            )
        with pytest.raises(ConfigError, match="no usage rows for the peak window '09:00-10:00'"):
            await recommend_from_store(
                store,
                job(),
                EngineSettings(),
                Selection(),
                computed_at=datetime.now(UTC),
                peak_window="09:00-10:00",
            )


async def test_short_history_is_stored_as_not_enough_data(tmp_path: Path) -> None:
    rows = days_of(ref(), "app", [flat(0.1)])
    async with await store_with(tmp_path, rows) as store:
        found = await recommend_from_store(
            store, job(), EngineSettings(), Selection(), computed_at=datetime.now(UTC)
        )
        (stored,) = await store.recommendations()
    assert found[0].status.value == stored.status.value == "not-enough-data"
    assert stored.explanation.startswith(
        "Not enough data: only 1 day with usage in the 14 days from 2026-10-19"
    )
    assert stored.last_day == day(0)

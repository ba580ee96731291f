from datetime import UTC, date, datetime, time

import pytest

from kubecap.domain.window import (
    DAY,
    PeakWindow,
    WindowError,
    day_bounds,
    local_instant,
    parse_timezone,
    windows_of_day,
)

BERLIN = parse_timezone("Europe/Berlin")
SHANGHAI = parse_timezone("Asia/Shanghai")


def test_parse_and_name() -> None:
    w = PeakWindow.parse(" 9:05 - 11:30 ")
    assert (w.start, w.end, w.name) == (time(9, 5), time(11, 30), "09:05-11:30")
    assert not w.crosses_midnight


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("25:00-26:00", "hours run 00-23"),
        ("10:61-11:00", "minutes 00-59"),
        ("", "write it as HH:MM-HH:MM"),
        ("10:00", "write it as HH:MM-HH:MM"),
        ("10:00-10:00", "start and end are equal"),
    ],
)
def test_invalid_windows_name_the_input_and_the_fix(spec: str, fragment: str) -> None:
    with pytest.raises(WindowError) as caught:
        PeakWindow.parse(spec)
    assert fragment in str(caught.value)
    assert repr(spec) in str(caught.value)


def test_unknown_time_zone() -> None:
    with pytest.raises(WindowError, match="unknown time zone 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus")


def test_window_in_shanghai_is_utc_plus_8() -> None:
    start, end = PeakWindow.parse("10:00-11:30").bounds(date(2026, 11, 18), SHANGHAI)
    assert start == datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 18, 3, 30, tzinfo=UTC)


def test_cross_midnight_window_belongs_to_its_start_day() -> None:
    w = PeakWindow.parse("22:00-02:00")
    assert w.crosses_midnight
    start, end = w.bounds(date(2026, 11, 18), parse_timezone("UTC"))
    assert start == datetime(2026, 11, 18, 22, tzinfo=UTC)
    assert end == datetime(2026, 11, 19, 2, tzinfo=UTC)


def test_whole_day_lasts_23_or_25_hours_on_dst_days() -> None:
    spring = day_bounds(date(2026, 3, 29), BERLIN)
    autumn = day_bounds(date(2026, 10, 25), BERLIN)
    ordinary = day_bounds(date(2026, 11, 18), BERLIN)
    assert (spring[1] - spring[0]).total_seconds() == 23 * 3600
    assert (autumn[1] - autumn[0]).total_seconds() == 25 * 3600
    assert (ordinary[1] - ordinary[0]).total_seconds() == 24 * 3600


def test_skipped_local_time_moves_forward_by_the_gap() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29 (clocks jump 02:00 -> 03:00 local, 01:00 UTC).
    assert local_instant(date(2026, 3, 29), time(2, 30), BERLIN) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # A window wholly inside the skipped hour has no length that day and is not collected.
    gap = PeakWindow.parse("02:00-03:00")
    start, end = gap.bounds(date(2026, 3, 29), BERLIN)
    assert start == end
    assert [w.name for w in windows_of_day(date(2026, 3, 29), [gap], BERLIN)] == [DAY]
    # One that straddles the change is shorter by the gap.
    assert PeakWindow.parse("01:30-03:30").bounds(date(2026, 3, 29), BERLIN) == (
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    )


def test_ambiguous_local_time_is_its_first_occurrence() -> None:
    # 02:30 happens twice in Berlin on 2026-10-25; the first is 00:30 UTC (still CEST).
    assert local_instant(date(2026, 10, 25), time(2, 30), BERLIN) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_windows_of_day_end_with_the_whole_day() -> None:
    windows = windows_of_day(date(2026, 11, 18), [PeakWindow.parse("10:00-11:30")], SHANGHAI)
    assert [w.name for w in windows] == ["10:00-11:30", DAY]
    assert windows[0].seconds == 5400
    assert windows[1].seconds == 86400

"""Daily time windows in a cluster's own time zone.

A peak window is written ``HH:MM-HH:MM`` in local time. When the end is not after the start
the window crosses midnight and belongs to the day it starts on ("22:00-02:00" of
2026-11-18 ends at 02:00 on 2026-11-19). The whole-day window runs from local midnight to
the next local midnight, so it lasts 23 or 25 hours on DST change days.

DST rules: a local time that does not exist (skipped by a spring-forward change) is moved
forward by the gap; an ambiguous local time (repeated by a fall-back change) is its first
occurrence. So a window that lies wholly inside a skipped hour has no length on that day and
is not collected; one that straddles the change is shorter or longer by the change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = "day"
"""Name of the whole-day window in stored rows."""

_SPEC = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class WindowError(ValueError):
    """A window or time zone setting is invalid; the message says how to fix it."""


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA time zone ("Asia/Shanghai", "UTC"), or a WindowError naming the input."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC', 'Europe/Berlin' or 'Asia/Shanghai'"
        ) from exc


def _clock(hours: str, minutes: str, spec: str) -> time:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise WindowError(
            f"invalid peak window {spec!r}: hours run 00-23 and minutes 00-59, e.g. '10:00-11:30'"
        )
    return time(h, m)


@dataclass(frozen=True, slots=True)
class PeakWindow:
    """A daily window of local time; ``end <= start`` means it ends on the next day."""

    start: time
    end: time

    @classmethod
    def parse(cls, spec: str) -> PeakWindow:
        match = _SPEC.match(spec or "")
        if match is None:
            raise WindowError(
                f"invalid peak window {spec!r}: write it as HH:MM-HH:MM in local time, e.g. '10:00-11:30'"
            )
        start = _clock(match[1], match[2], spec)
        end = _clock(match[3], match[4], spec)
        if start == end:
            raise WindowError(
                f"invalid peak window {spec!r}: start and end are equal; a window needs a length"
            )
        return cls(start, end)

    @property
    def name(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def bounds(self, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
        """UTC start and end of this window on ``day`` (the local day it starts on)."""
        end_day = day + timedelta(days=1) if self.crosses_midnight else day
        return local_instant(day, self.start, tz), local_instant(end_day, self.end, tz)


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """UTC start and end of the whole local ``day``."""
    return local_instant(day, time(0), tz), local_instant(day + timedelta(days=1), time(0), tz)


def local_instant(day: date, clock: time, tz: tzinfo) -> datetime:
    """The UTC instant of a local wall-clock time, with the DST rules of this module."""
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # A skipped local time does not survive the round trip: move it forward by the gap.
    if first.astimezone(tz).replace(tzinfo=None) != naive:
        later = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
        return max(first, later)
    return first


def local_day(instant: datetime, tz: tzinfo) -> date:
    """The local calendar day of a UTC instant."""
    return instant.astimezone(tz).date()


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """One window of one local day, resolved to UTC instants: the unit of collection."""

    day: date
    name: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def windows_of_day(day: date, peaks: list[PeakWindow], tz: tzinfo) -> list[DailyWindow]:
    """The peak windows of ``day`` followed by its whole-day window; empty windows are left out."""
    resolved = [DailyWindow(day, p.name, *p.bounds(day, tz)) for p in peaks]
    return [w for w in (*resolved, DailyWindow(day, DAY, *day_bounds(day, tz))) if w.seconds > 0]

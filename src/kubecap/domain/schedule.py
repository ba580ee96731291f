"""When tasks fire: cron in a time zone, one-shot times, the missed-run policy and retry delays.

The missed-run policy (documented in docs/operations.md): when a runner claims a task whose
fire time has passed, the most recent fire time not after now runs if it is at most
``grace`` late; every earlier fire time that was skipped, and the latest one when it is
later than that, is recorded as one ``missed`` run that says how many were missed. A task
therefore never runs twice to catch up, and never runs hours late by surprise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from kubecap.domain.tasks import Schedule, TaskError
from kubecap.domain.window import WindowError, parse_timezone

# Counting missed fire times stops here: an every-minute task down for a month says "more than".
MAX_COUNTED_MISSES = 10_000
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(minutes=30)
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2})?$")


def zone(name: str) -> ZoneInfo:
    try:
        return parse_timezone(name)
    except WindowError as exc:
        raise TaskError(str(exc)) from None


def check_cron(expression: str) -> str:
    """The expression with spaces normalised, or a TaskError naming it."""
    text = " ".join(expression.split())
    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise TaskError(
            f"invalid cron expression {expression!r}: use five fields 'minute hour day month weekday', "
            "e.g. '0 22 * * *' for 22:00 every day"
        )
    return text


def parse_at(text: str, timezone: str, now: datetime) -> datetime:
    """A future instant from '2026-11-30 22:00' (in ``timezone``) or an ISO time with an offset."""
    tz = zone(timezone)
    stripped = text.strip()
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        parsed = None
    if parsed is None or (parsed.tzinfo is None and not _LOCAL_TIME.match(stripped)):
        raise TaskError(
            f"invalid time {text!r}: write 'YYYY-MM-DD HH:MM' in the task's time zone, "
            "or an ISO time with an offset such as 2026-11-30T22:00+01:00"
        )
    instant = (parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed).astimezone(UTC)
    if instant <= now:
        raise TaskError(
            f"time {text!r} ({instant.isoformat()}) is in the past: give a future time, "
            "or leave out --at to run now"
        )
    return instant


def make_schedule(
    *, at: datetime | None, cron: str | None, timezone: str, grace: timedelta, now: datetime
) -> Schedule:
    """A validated schedule; ``at`` must be aware and in the future."""
    zone(timezone)
    if at is not None and cron is not None:
        raise TaskError("give either a time (--at) or a cron expression (--cron), not both")
    if grace < timedelta(0):
        raise TaskError("the grace period must not be negative")
    if at is not None:
        if at.tzinfo is None:
            raise TaskError("a task time needs a time zone")
        if at <= now:
            raise TaskError(f"time {at.isoformat()} is in the past: give a future time")
        at = at.astimezone(UTC)
    return Schedule(
        at=at, cron=check_cron(cron) if cron is not None else None, timezone=timezone, grace=grace
    )


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC), or None for a one-shot schedule."""
    if schedule.cron is None:
        return None
    local = after.astimezone(zone(schedule.timezone))
    fire: datetime = croniter(schedule.cron, local).get_next(datetime)
    return fire.astimezone(UTC)


def first_run(schedule: Schedule, now: datetime) -> datetime:
    """When a new task first becomes due."""
    if schedule.cron is not None:
        fire = next_fire(schedule, now)
        assert fire is not None
        return fire
    return schedule.at or now


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    """What a runner does with a due task: run one fire time, record misses, and when next."""

    run_for: datetime | None
    missed_from: datetime | None
    missed_count: int
    next_run_at: datetime | None

    def missed_message(self, grace: timedelta) -> str:
        if self.missed_from is None:
            return ""
        count = (
            f"more than {MAX_COUNTED_MISSES}" if self.missed_count > MAX_COUNTED_MISSES else self.missed_count
        )
        plural = "" if self.missed_count == 1 else "s"
        return (
            f"{count} run{plural} from {self.missed_from.isoformat()} were missed while no runner was up "
            f"(runs later than the {int(grace.total_seconds())} s grace period are not caught up)"
        )


def plan_claim(schedule: Schedule, due: datetime, now: datetime) -> ClaimPlan:
    """Apply the missed-run policy to a task due at ``due`` that is claimed at ``now``."""
    if schedule.cron is None:
        if now - due <= schedule.grace:
            return ClaimPlan(run_for=due, missed_from=None, missed_count=0, next_run_at=None)
        return ClaimPlan(run_for=None, missed_from=due, missed_count=1, next_run_at=None)
    count = 1  # fire times from ``due`` up to ``latest``, both included
    latest = due
    while True:
        following = next_fire(schedule, latest)
        assert following is not None
        if following > now:
            break
        if count > MAX_COUNTED_MISSES:
            # Too many to count one by one: jump to the last fire time not after now.
            latest = _last_fire_not_after(schedule, now)
            count += 1  # now above the cap: reported as "more than"
            break
        count += 1
        latest = following
    after = next_fire(schedule, now)
    if now - latest <= schedule.grace:
        missed = count - 1
        return ClaimPlan(
            run_for=latest, missed_from=due if missed else None, missed_count=missed, next_run_at=after
        )
    return ClaimPlan(run_for=None, missed_from=due, missed_count=count, next_run_at=after)


def _last_fire_not_after(schedule: Schedule, now: datetime) -> datetime:
    assert schedule.cron is not None
    # get_prev is strict and cron has minute resolution: start just after now.
    local = (now + timedelta(seconds=1)).astimezone(zone(schedule.timezone))
    fire: datetime = croniter(schedule.cron, local).get_prev(datetime)
    return fire.astimezone(UTC)


def retry_delay(attempt: int) -> timedelta:
    """Delay before attempt ``attempt + 1`` after attempt ``attempt`` failed: 30 s, 2 min, 8 min … 30 min."""
    factor: int = 4 ** max(attempt - 1, 0)
    return min(RETRY_BASE * factor, RETRY_CAP)

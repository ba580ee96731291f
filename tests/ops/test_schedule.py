"""Schedules, the missed-run policy and validation of operations: pure, no servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubecap.domain.resources import ContainerResources, ResourcesError
from kubecap.domain.schedule import (
    MAX_COUNTED_MISSES,
    check_cron,
    first_run,
    make_schedule,
    next_fire,
    parse_at,
    plan_claim,
    retry_delay,
)
from kubecap.domain.tasks import Operation, OperationSpec, Schedule, TaskError
from kubecap.domain.workload import WorkloadKind, WorkloadRef

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WEB = WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, "web")


def daily(hour: int = 22, tz: str = "Europe/Berlin", grace: int = 900) -> Schedule:
    return Schedule(cron=f"0 {hour} * * *", timezone=tz, grace=timedelta(seconds=grace))


def test_cron_fires_in_its_time_zone() -> None:
    assert next_fire(daily(), NOW) == datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 22:00 CET
    assert next_fire(daily(tz="Asia/Shanghai"), NOW) == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def test_cron_follows_daylight_saving_time() -> None:
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Berlin switches to CEST on 29 March
    first = next_fire(daily(), before)
    assert first == datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    assert next_fire(daily(), first) == datetime(2026, 3, 29, 20, 0, tzinfo=UTC)


def test_weekly_cron() -> None:
    weekly = Schedule(cron="30 3 * * 0", timezone="UTC")  # Sundays 03:30
    fire = first_run(weekly, NOW)  # NOW is a Friday
    assert fire == datetime(2026, 11, 22, 3, 30, tzinfo=UTC)
    assert next_fire(weekly, fire) == fire + timedelta(days=7)


@pytest.mark.parametrize("expression", ["", "* * *", "61 * * * *", "0 25 * * *", "every day", "* * * * * *"])
def test_invalid_cron_is_one_sentence(expression: str) -> None:
    with pytest.raises(TaskError, match="invalid cron expression") as caught:
        check_cron(expression)
    assert "'0 22 * * *'" in str(caught.value)


def test_cron_spaces_are_normalised() -> None:
    assert check_cron(" 0  22 * *  * ") == "0 22 * * *"


def test_one_shot_runs_when_on_time_or_within_grace_else_missed() -> None:
    once = Schedule(at=NOW, grace=timedelta(minutes=15))
    on_time = plan_claim(once, NOW, NOW + timedelta(minutes=15))
    assert (on_time.run_for, on_time.missed_count, on_time.next_run_at) == (NOW, 0, None)
    late = plan_claim(once, NOW, NOW + timedelta(minutes=16))
    assert (late.run_for, late.missed_from, late.missed_count) == (None, NOW, 1)


def test_cron_down_for_days_runs_the_latest_within_grace_once_and_records_the_rest() -> None:
    schedule = daily(hour=22, tz="UTC")
    due = datetime(2026, 11, 17, 22, 0, tzinfo=UTC)
    now = datetime(2026, 11, 20, 22, 5, tzinfo=UTC)  # 17, 18, 19 missed; 20 is 5 min late
    plan = plan_claim(schedule, due, now)
    assert plan.run_for == datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    assert (plan.missed_from, plan.missed_count) == (due, 3)
    assert plan.next_run_at == datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    assert "3 runs from 2026-11-17T22:00:00+00:00 were missed" in plan.missed_message(schedule.grace)


def test_cron_whose_latest_fire_is_past_grace_records_all_as_missed() -> None:
    schedule = daily(hour=22, tz="UTC")
    due = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
    plan = plan_claim(schedule, due, datetime(2026, 11, 20, 23, 0, tzinfo=UTC))
    assert (plan.run_for, plan.missed_count) == (None, 2)
    assert plan.next_run_at == datetime(2026, 11, 21, 22, 0, tzinfo=UTC)


def test_an_every_minute_cron_down_for_weeks_is_counted_without_looping_forever() -> None:
    schedule = Schedule(cron="* * * * *", grace=timedelta(minutes=5))
    due = NOW - timedelta(days=30)
    plan = plan_claim(schedule, due, NOW)
    assert plan.run_for == NOW
    assert plan.missed_count > MAX_COUNTED_MISSES
    assert "more than" in plan.missed_message(schedule.grace)


def test_parse_at_reads_local_times_and_offsets() -> None:
    assert parse_at("2026-11-20 22:00", "Europe/Berlin", NOW) == datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    assert parse_at("2026-11-21T01:00+08:00", "UTC", NOW) == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "tz", "fragment"),
    [
        ("2026-11-20 11:00", "UTC", "is in the past"),
        ("tomorrow", "UTC", "invalid time 'tomorrow'"),
        ("2026-11-20", "UTC", "invalid time"),
        ("2026-11-21 10:00", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_times_are_one_sentence(text: str, tz: str, fragment: str) -> None:
    with pytest.raises(TaskError, match=fragment) as caught:
        parse_at(text, tz, NOW)
    assert "\n" not in str(caught.value)


def test_make_schedule_refuses_both_or_a_past_time() -> None:
    with pytest.raises(TaskError, match="not both"):
        make_schedule(
            at=NOW + timedelta(hours=1), cron="0 1 * * *", timezone="UTC", grace=timedelta(0), now=NOW
        )
    with pytest.raises(TaskError, match="in the past"):
        make_schedule(at=NOW - timedelta(seconds=1), cron=None, timezone="UTC", grace=timedelta(0), now=NOW)
    with pytest.raises(TaskError, match="unknown time zone"):
        make_schedule(at=None, cron="0 1 * * *", timezone="Nowhere", grace=timedelta(0), now=NOW)


def test_retry_delays_grow_and_are_capped() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 10)] == [30, 120, 480, 1800, 1800]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (OperationSpec(Operation.SCALE, WEB, replicas=-1), "replicas must be 0 or more, got -1"),
        (OperationSpec(Operation.SCALE, WEB), "needs a replica count"),
        (OperationSpec(Operation.SCALE, WEB, replicas=10**6), "above kubecap's limit"),
        (
            OperationSpec(
                Operation.SCALE, WorkloadRef("c", "n", WorkloadKind.DAEMONSET, "agent"), replicas=1
            ),
            "cannot be scaled",
        ),
        (OperationSpec(Operation.RESTART, WEB, replicas=1), "applies to scale only"),
        (OperationSpec(Operation.APPLY, WEB), "needs at least one container"),
        (OperationSpec(Operation.RESTART, WEB, source="recommendation:vpa"), "source applies to the apply"),
        (OperationSpec(Operation.RESTART, WEB, ends_override=True), "ending a temporary scale is a scale"),
        (
            OperationSpec(
                Operation.SCALE,
                WEB,
                replicas=1,
                ends_override=True,
                revert_at=datetime(2030, 1, 1, tzinfo=UTC),
            ),
            "cannot have an expiry itself",
        ),
        (
            OperationSpec(Operation.SCALE, WEB, replicas=1, revert_at=datetime(2030, 1, 1)),
            "expiry of a temporary scale needs a time zone",
        ),
    ],
)
def test_bad_operations_are_one_sentence(spec: OperationSpec, fragment: str) -> None:
    with pytest.raises(TaskError, match=fragment):
        spec.validate()


@pytest.mark.parametrize(
    ("resources", "fragment"),
    [
        (ContainerResources("app", {"cpu": "lots"}), "'lots' is not a Kubernetes quantity"),
        (ContainerResources("app", {"gpu": "1"}), "unknown resource 'gpu'"),
        (ContainerResources("app", {"cpu": "0"}), "must be positive"),
        (
            ContainerResources("app", {"memory": "1Gi"}, {"memory": "512Mi"}),
            "limit 512Mi is below the request 1Gi",
        ),
    ],
)
def test_bad_resources_are_one_sentence(resources: ContainerResources, fragment: str) -> None:
    with pytest.raises(ResourcesError, match=fragment):
        OperationSpec(Operation.APPLY, WEB, resources=(resources,)).validate()

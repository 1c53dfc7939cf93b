"""Daylight-saving change days, computed by the real Temporal dev server from the
schedule it holds (ListScheduleMatchingTimes over each change day; no clock is
advanced): a daily 02:30 in Europe/Berlin runs exactly once on both days. On the spring
day 02:30 does not exist and the run fires at 03:00 CEST (Temporal alone would skip the
day); on the autumn day 02:30 happens twice and the run fires once, at 02:30 CET."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from jobdeck.services.schedules import ScheduleService
from jobdeck.store import schedules as schedule_store
from tests.conftest import Stack, Tenant
from tests.schedules.test_schedules_api import create

BERLIN = ZoneInfo("Europe/Berlin")


async def runs_between(
    stack: Stack, tenant: Tenant, schedule_id: str, day: datetime
) -> list[datetime]:
    async with stack.db.read() as session:
        row = await schedule_store.get_schedule(
            session, organization_id=tenant.account.organization_id, schedule_id=schedule_id
        )
    service = ScheduleService(stack.runtime, stack.registry)
    start = day.astimezone(UTC)
    return await service.matching_times(row, start, start + timedelta(days=1))


async def test_a_0230_berlin_run_fires_once_on_both_change_days(
    stack: Stack, tenant: Tenant
) -> None:
    schedule = await create(tenant.api, cron="30 2 * * *", timezone="Europe/Berlin", paused=True)
    spring = await runs_between(stack, tenant, schedule["id"], datetime(2027, 3, 28, tzinfo=BERLIN))
    assert [t.astimezone(BERLIN).isoformat() for t in spring] == ["2027-03-28T03:00:00+02:00"]
    autumn = await runs_between(
        stack, tenant, schedule["id"], datetime(2027, 10, 31, tzinfo=BERLIN)
    )
    assert [t.astimezone(UTC).isoformat() for t in autumn] == ["2027-10-31T01:30:00+00:00"]
    assert autumn[0].astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CET"
    # The days around them: 02:30 local, once a day.
    for day in (
        datetime(2027, 3, 27, tzinfo=BERLIN),
        datetime(2027, 3, 29, tzinfo=BERLIN),
        datetime(2027, 10, 30, tzinfo=BERLIN),
    ):
        (only,) = await runs_between(stack, tenant, schedule["id"], day)
        assert only.astimezone(BERLIN).strftime("%H:%M") == "02:30"


async def test_times_outside_the_gap_get_no_extra_run(stack: Stack, tenant: Tenant) -> None:
    schedule = await create(tenant.api, cron="30 4 * * *", timezone="Europe/Berlin", paused=True)
    spring = await runs_between(stack, tenant, schedule["id"], datetime(2027, 3, 28, tzinfo=BERLIN))
    assert [t.astimezone(BERLIN).strftime("%H:%M") for t in spring] == ["04:30"]


async def test_the_form_preview_agrees_with_temporal(tenant: Tenant) -> None:
    from jobdeck.schedules.cron import next_times

    spring = next_times("30 2 * * *", BERLIN, datetime(2027, 3, 27, 12, tzinfo=UTC), 2)
    assert [t.isoformat() for t in spring] == [
        "2027-03-28T03:00:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]
    autumn = next_times("30 2 * * *", BERLIN, datetime(2027, 10, 30, 12, tzinfo=UTC), 1)
    assert autumn[0].astimezone(UTC).isoformat() == "2027-10-31T01:30:00+00:00"

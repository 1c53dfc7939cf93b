"""The charts' sealed buckets are counted once and kept (store/rollups.py); a row written
late is counted again; past EXACT_LIMIT durations the percentiles come from the sketches,
within about 1% of the exact ones. On both databases."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from jobdeck.clock import utcnow
from jobdeck.domain import JobSpec
from jobdeck.store import jobs as job_store
from jobdeck.store import operations as ops_store
from jobdeck.store.rollups import ALL_TYPES, SEAL_LAG, DurationSketch, sealed_until
from jobdeck.store.tables import Job, JobRollup
from tests.api.test_timeseries import _bucket_of, _job
from tests.conftest import Stack, Tenant, new_tenant


def test_a_sketch_reads_percentiles_within_one_percent() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(2, 1.5) for _ in range(5000))
    halves = DurationSketch(), DurationSketch()
    for i, v in enumerate(values):
        halves[i % 2].add(v)
    sketch = DurationSketch.from_json(halves[0].to_json())
    sketch.merge(DurationSketch.from_json(halves[1].to_json()))
    assert sketch.count == 5000 and sketch.longest == values[-1]
    for q in (0.5, 0.9, 0.99):
        exact = ops_store._percentile(values, q)
        assert sketch.quantile(q) == pytest.approx(exact, rel=0.015)
    tiny = DurationSketch()
    tiny.add(0.0)
    tiny.add(-1.0)  # a clock step back: no negative durations
    assert tiny.quantile(0.5) == 0.0 and tiny.count == 2
    assert DurationSketch().quantile(0.5) == 0.0


async def _rollups(stack: Stack, org: str) -> int:
    async with stack.db.read() as session:
        stmt = select(func.count()).select_from(JobRollup)
        stmt = stmt.where(JobRollup.organization_id == org, JobRollup.type == ALL_TYPES)
        return int((await session.execute(stmt)).scalar_one())


async def test_sealed_buckets_are_counted_once_and_a_late_row_again(
    stack: Stack, tenant: Tenant
) -> None:
    org, user = tenant.account.organization_id, tenant.account.user_id
    now = utcnow()
    old = now - timedelta(minutes=40)
    async with stack.db.write() as session:
        await session.execute(insert(Job), [_job(org, user, created_at=old)])
    first = (await tenant.api.get("/api/stats/timeseries", params={"range": "hour"})).json()
    assert _bucket_of(first, old)["created"] == 1
    # The sealed minutes (all but the last five or so) are kept, each once.
    kept = await _rollups(stack, org)
    assert 54 <= kept <= 56
    again = (await tenant.api.get("/api/stats/timeseries", params={"range": "hour"})).json()
    assert again["buckets"] == first["buckets"] and await _rollups(stack, org) == kept

    # A row the job's first step writes after an outage, with the created_at of long ago.
    spec = JobSpec(
        job_id=str(uuid.uuid4()),
        organization_id=org,
        user_id=user,
        type="test-steps",
        name="late",
        data={},
        created_at=old.isoformat(),
    )
    async with stack.db.write() as session:
        assert await job_store.insert_job(session, spec=spec, now=utcnow()) is not None
    late = (await tenant.api.get("/api/stats/timeseries", params={"range": "hour"})).json()
    assert _bucket_of(late, old)["created"] == 2
    assert sum(b["created"] for b in late["buckets"]) == 2

    # A job created now is in the unsealed tail, counted from the jobs table.
    async with stack.db.write() as session:
        await session.execute(insert(Job), [_job(org, user, created_at=utcnow())])
    fresh = (await tenant.api.get("/api/stats/timeseries", params={"range": "hour"})).json()
    assert sum(b["created"] for b in fresh["buckets"]) == 3


async def test_past_the_exact_limit_percentiles_come_from_the_sketches(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, user = tenant.account.organization_id, tenant.account.user_id
    now = utcnow()
    rng = random.Random(5)
    rows: list[dict[str, Any]] = []
    for i in range(400):
        finished = now - timedelta(minutes=10 + i % 40)
        seconds = rng.uniform(1, 600)
        status = "failed" if i % 10 == 0 else "completed"
        rows.append(
            _job(
                org,
                user,
                type="data-conversion" if i % 4 else "fine-tuning",
                status=status,
                created_at=finished - timedelta(seconds=seconds + 1),
                started_at=finished - timedelta(seconds=seconds),
                finished_at=finished,
            )
        )
    async with stack.db.write() as session:
        await session.execute(insert(Job), rows)
    exact = (await tenant.api.get("/api/stats/timeseries", params={"range": "hour"})).json()
    assert all(not d["approximate"] for d in exact["durations"])

    monkeypatch.setattr(ops_store, "EXACT_LIMIT", 100)
    sketched = (await tenant.api.get("/api/stats/timeseries", params={"range": "hour"})).json()
    assert sketched["buckets"] == exact["buckets"]
    assert [d["type"] for d in sketched["durations"]] == ["data-conversion", "fine-tuning"]
    for approx, right in zip(sketched["durations"], exact["durations"], strict=True):
        assert approx["approximate"] and approx["count"] == right["count"]
        assert approx["max"] == pytest.approx(right["max"], abs=0.01)
        for p in ("p50", "p90", "p99"):
            assert approx[p] == pytest.approx(right[p], rel=0.03), p
    typed = await tenant.api.get(
        "/api/stats/timeseries", params={"range": "hour", "type": "fine-tuning"}
    )
    [only] = typed.json()["durations"]
    assert only["type"] == "fine-tuning" and only["count"] == 100


async def test_the_warmer_counts_the_week_of_organizations_with_recent_jobs(
    stack: Stack, tenant: Tenant
) -> None:
    org, user = tenant.account.organization_id, tenant.account.user_id
    now = utcnow()
    async with stack.db.write() as session:
        await session.execute(insert(Job), [_job(org, user, created_at=now - timedelta(days=2))])
    assert await ops_store.warm(stack.db, now=now) >= 1
    # Each range's sealed buckets: of its 168 hours, 96 quarters or 60 minutes, those that
    # ended SEAL_LAG before now (one or two fewer than all, by where now falls in its
    # bucket; a range-based check failed a third of the time).
    async with stack.db.read() as session:
        stmt = select(JobRollup.bucket_s, func.count()).where(
            JobRollup.organization_id == org, JobRollup.type == ALL_TYPES
        )
        kept = dict((await session.execute(stmt.group_by(JobRollup.bucket_s))).all())
    for span, bucket in ops_store.RANGES.values():
        start, _ = ops_store.window(now, span, bucket)
        step = int(bucket.total_seconds())
        sealed = (sealed_until(now, step) - start) // bucket
        assert kept[step] == sealed, (step, kept[step], sealed)
        assert span // bucket - SEAL_LAG // bucket - 2 <= sealed < span // bucket
    week = (await tenant.api.get("/api/stats/timeseries", params={"range": "week"})).json()
    assert _bucket_of(week, now - timedelta(days=2))["created"] == 1
    other = await new_tenant(stack)  # no jobs: nothing counted for it
    await ops_store.warm(stack.db, now=now)
    assert await _rollups(stack, other.organization_id) == 0

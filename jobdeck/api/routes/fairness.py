"""An organization's limits, usage and line (issue 16): what it may run at once, what it
runs, where its pending jobs wait; its admin sets its own concurrency limits."""

from __future__ import annotations

from fastapi import APIRouter

from jobdeck.activities.slots import SlotKeeper
from jobdeck.api.deps import AdminUser, CurrentUser, RegistryDep, RuntimeDep
from jobdeck.api.fairness_schemas import (
    ConcurrencyPublic,
    LimitsPublic,
    LimitsUpdate,
    PendingPlace,
    QuotasPublic,
    RateLimitPublic,
    StorageQuotaPublic,
)
from jobdeck.api.ratelimit import bucket_report
from jobdeck.clock import utcnow
from jobdeck.errors import InvalidInput
from jobdeck.fairness.limits import (
    ACTIVE_JOBS,
    Limits,
    check_limit,
    fairness_weight,
    type_limit_name,
)
from jobdeck.fairness.quotas import (
    JOB_HISTORY_DAYS,
    MAX_HISTORY_DAYS,
    MAX_STORAGE_BYTES,
    STORAGE_BYTES,
    Quotas,
    check_quota,
)
from jobdeck.store import limits as limit_store
from jobdeck.store import quotas as quota_store
from jobdeck.store.accounts import Principal

router = APIRouter(prefix="/api/limits", tags=["limits"])

_SHOWN_PENDING = 100


async def _report(runtime: RuntimeDep, principal: Principal) -> LimitsPublic:
    org = principal.organization_id
    settings = runtime.settings
    async with runtime.db.read() as session:
        overrides = await limit_store.overrides(session, organization_id=org)
        limits = Limits.of(settings, overrides)
        quotas = Quotas.of(settings, overrides)
        stored = await quota_store.storage_used(session, organization_id=org)
        held, waiting = await limit_store.slot_usage(session, organization_id=org)
        line = await limit_store.line(session, organization_id=org, limit=_SHOWN_PENDING)
    rates = await bucket_report(runtime.buckets, settings, principal)
    types = sorted(set(limits.by_type) | set(held) | set(waiting))
    concurrency = [
        ConcurrencyPublic(
            type=None,
            limit=limits.active_jobs,
            active=sum(held.values()),
            waiting=sum(waiting.values()),
        ),
        *(
            ConcurrencyPublic(type=t, limit=limits.for_type(t), active=held[t], waiting=waiting[t])
            for t in types
        ),
    ]
    return LimitsPublic(
        organization_id=org,
        fairness_weight=fairness_weight(settings, org),
        concurrency=concurrency,
        rate_limits=[RateLimitPublic(**r) for r in rates],
        websockets_per_key=settings.ws_connections_per_key,
        quotas=QuotasPublic(
            storage=StorageQuotaPublic(limit=quotas.storage_bytes, used=stored),
            job_history_days=quotas.job_history_days,
        ),
        pending=[
            PendingPlace(job_id=s.job_id, type=s.job_type, priority=s.priority, ahead=i)
            for i, s in enumerate(line)
        ],
    )


@router.get("", response_model=LimitsPublic)
async def get_limits(runtime: RuntimeDep, principal: CurrentUser) -> LimitsPublic:
    """The organization's limits, its usage of them, and its pending jobs' places in line."""
    return await _report(runtime, principal)


@router.put("", response_model=LimitsPublic)
async def set_limits(
    body: LimitsUpdate, runtime: RuntimeDep, registry: RegistryDep, admin: AdminUser
) -> LimitsPublic:
    """Set the organization's own concurrency limits and quotas (admins only); null resets
    one to the default. Takes effect at once: jobs a raised limit lets through start now."""
    values: dict[str, int | None] = {}
    if "active_jobs" in body.model_fields_set:
        values[ACTIVE_JOBS] = (
            None if body.active_jobs is None else check_limit("activeJobs", body.active_jobs)
        )
    for field, name, unit, most in (
        ("storage_bytes", STORAGE_BYTES, "bytes", MAX_STORAGE_BYTES),
        ("job_history_days", JOB_HISTORY_DAYS, "days", MAX_HISTORY_DAYS),
    ):
        if field in body.model_fields_set:
            value = getattr(body, field)
            label = "storageBytes" if field == "storage_bytes" else "jobHistoryDays"
            values[name] = (
                None if value is None else check_quota(label, value, unit=unit, most=most)
            )
    known = {t.name for t in registry.all()}
    for job_type, value in body.by_type.items():
        if job_type not in known:
            raise InvalidInput(
                f"byType.{job_type}: no such job type (known: {', '.join(sorted(known))})"
            )
        values[type_limit_name(job_type)] = (
            None if value is None else check_limit(f"byType.{job_type}", value)
        )
    async with runtime.db.write() as session:
        await limit_store.set_overrides(
            session, organization_id=admin.organization_id, values=values, now=utcnow()
        )
    await SlotKeeper(runtime).rebalance(admin.organization_id)
    return await _report(runtime, admin)

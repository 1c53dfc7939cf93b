"""Starting a fine-tune: the provider chosen from the registry, its datasets checked,
its job started through job control, and its fine-tuning record written at once so the
caller can read it back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.activities.fine_tuning.provider import FineTuningProvider
from jobdeck.activities.fine_tuning.providers import PROVIDERS
from jobdeck.clock import utcnow
from jobdeck.errors import InvalidInput, NotFound
from jobdeck.inputs import FineTuningData
from jobdeck.runtime import Runtime
from jobdeck.services.jobs import JobControl, NewJob
from jobdeck.store import datasets as dataset_store
from jobdeck.store import fine_tuning as ft_store
from jobdeck.store.accounts import Principal
from jobdeck.store.tables import FineTuning


class FineTuningService:
    def __init__(self, runtime: Runtime, jobs: JobControl) -> None:
        self.runtime = runtime
        self.jobs = jobs

    async def create(
        self,
        principal: Principal,
        request: FineTuningData,
        *,
        name: str,
        idempotency_key: str | None = None,
    ) -> tuple[FineTuning, bool]:
        """Start a fine-tune; returns its record and whether it is new (False: an
        idempotent replay of an earlier request)."""
        provider = PROVIDERS.require(request.provider)
        why = await provider.unavailable(self.runtime)
        if why:
            raise InvalidInput(why)
        await self._check_datasets(principal, request)
        job, created = await self.jobs.create(
            principal,
            NewJob(type=provider.job_type, name=name, data=_job_data(provider, request)),
            idempotency_key=idempotency_key,
        )

        async def work(session: AsyncSession) -> FineTuning:
            await ft_store.ensure_record(
                session, job=job, provider=provider.name, phase=None, now=utcnow()
            )
            return await ft_store.get_fine_tuning(
                session, organization_id=principal.organization_id, fine_tuning_id=job.id
            )

        record: FineTuning = await self.runtime.db.transact(work)
        return record, created

    async def _check_datasets(self, principal: Principal, request: FineTuningData) -> None:
        async with self.runtime.db.read() as session:
            for dataset_id in filter(None, (request.dataset_id, request.validation_dataset_id)):
                try:
                    await dataset_store.get_dataset(
                        session, organization_id=principal.organization_id, dataset_id=dataset_id
                    )
                except NotFound:
                    raise InvalidInput(
                        f"dataset {dataset_id} not found in your organization"
                    ) from None


def _job_data(provider: FineTuningProvider, request: FineTuningData) -> object:
    if provider.job_data is not None:
        return provider.job_data(request)
    extra = set(type(request).model_fields) - set(FineTuningData.model_fields)  # e.g. name
    return request.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=extra)

"""The dataset jobs' side effects: convert a dataset (registering the output as a new
dataset with its lineage) and validate one as OpenAI fine-tuning data.

The reading and writing run in a worker thread (jobdeck.activities.conversion), so the
worker's event loop stays free; this side heartbeats through ProgressReporter, and when a
cancel arrives it stops the thread, waits for it, and deletes the partial output.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.base import ActivityGroup
from jobdeck.activities.conversion.errors import DataError
from jobdeck.activities.progress import ProgressReporter
from jobdeck.clock import utcnow
from jobdeck.dataformats import DatasetFormat, OutputFormat, extension
from jobdeck.dataset_files import discard, storage_key
from jobdeck.errors import NotFound
from jobdeck.store import datasets as dataset_store
from jobdeck.store.tables import Dataset

if TYPE_CHECKING:
    from jobdeck.activities.base import JobActions
    from jobdeck.activities.conversion.pipeline import Control
    from jobdeck.runtime import Runtime

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Output datasets get ids derived from their job's id, so a retried step re-registers
# the same dataset instead of making a second one.
_OUTPUT_NAMESPACE = uuid.UUID("0f4d6a57-5c1e-4b7a-9d43-2f8e1c6b9a10")
POLL_S = 0.25  # how often the thread's progress is reported (and a cancel looked for)


@dataclass
class ConversionInput:
    job_id: str
    organization_id: str
    user_id: str
    dataset_id: str
    output_format: str
    input_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    mapping: dict[str, Any] | None = None
    validation: bool = True
    model: str = "gpt-4o-mini-2024-07-18"
    epochs: int | None = None
    name: str | None = None


@dataclass
class ValidationInput:
    job_id: str
    organization_id: str
    dataset_id: str
    model: str = "gpt-4o-mini-2024-07-18"
    epochs: int | None = None


def output_id(job_id: str) -> str:
    return str(uuid.uuid5(_OUTPUT_NAMESPACE, job_id))


def _failure(err: DataError) -> ApplicationError:
    return ApplicationError(err.message, err.details, type=err.kind, non_retryable=True)


def _message(rows: int, position: int, total: int, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-6)
    return (
        f"{rows:,} rows, {position / 1e6:,.1f} of {total / 1e6:,.1f} MB "
        f"({rows / elapsed:,.0f} rows/s)"
    )


class DatasetActivities(ActivityGroup):
    def __init__(self, runtime: Runtime, jobs: JobActions) -> None:
        super().__init__(runtime, jobs)
        # Only workers build this: load the conversion code (Arrow and all) now rather than
        # in the first job. The API imports this module too, and must not pay for it.
        import jobdeck.activities.conversion.pipeline  # noqa: F401

    async def _source(self, organization_id: str, dataset_id: str) -> Dataset:
        """The dataset to read, in the job's organization only, with its file."""
        try:
            async with self.db.read() as session:
                dataset = await dataset_store.get_dataset(
                    session, organization_id=organization_id, dataset_id=dataset_id
                )
        except NotFound:
            raise _failure(
                DataError(
                    f"dataset {dataset_id} not found in your organization; list yours with "
                    "GET /api/datasets",
                    kind="DatasetNotFound",
                )
            ) from None
        if not await self.files.exists(dataset.storage_key):  # deleted meanwhile
            raise _failure(
                DataError(
                    f"the file of dataset {dataset.name!r} ({dataset.id}) is gone from storage; "
                    "upload it again",
                    kind="DatasetNotFound",
                )
            )
        return dataset

    async def _in_thread(
        self, work: Callable[[Control], T], control: Control, progress: ProgressReporter
    ) -> T:
        """Run `work` in a thread, reporting its progress until it ends. A cancel reaches
        here (at the wait) through the heartbeat; the thread is then told to stop and
        awaited, so the caller's cleanup never races it."""
        total = int(progress.progress.total or 0)
        started = time.monotonic()
        task = asyncio.ensure_future(asyncio.to_thread(work, control))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=POLL_S)
                message = _message(control.rows, control.position, total, started)
                await progress.update(min(control.position, total), message=message)
        except asyncio.CancelledError:
            control.cancel.set()
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: the thread stopped with Cancelled, as told
            raise
        try:
            return task.result()
        except DataError as err:
            raise _failure(err) from None

    @activity.defn(name="datasets.convert")
    async def convert(self, request: ConversionInput) -> dict[str, Any]:
        from jobdeck.activities.conversion.pipeline import Control, ConversionPlan, convert

        source = await self._source(request.organization_id, request.dataset_id)
        settings = self.settings
        output = OutputFormat(request.output_format)
        input_format = DatasetFormat(request.input_format or source.format)
        scratch = self.files.scratch(extension(output.dataset_format))
        try:
            async with (
                self.files.local_path(source.storage_key) as path,
                ProgressReporter(
                    self.records, total=source.size_bytes, unit="bytes", stage="converting"
                ) as progress,
            ):
                plan = ConversionPlan(
                    source=path,
                    name=source.name,
                    input_format=input_format,
                    output_format=output,
                    max_row_bytes=settings.dataset_max_row_bytes,
                    encoding=request.encoding,
                    delimiter=request.delimiter,
                    sheet=request.sheet,
                    mapping=request.mapping,
                    validation=request.validation,
                    model=request.model,
                    epochs=request.epochs,
                )
                outcome = await self._in_thread(
                    lambda control: convert(plan, scratch, control), Control(), progress
                )
            dataset_id = output_id(request.job_id)
            key = storage_key(request.organization_id, dataset_id, output.dataset_format)
            await self.files.put(key, scratch)
        finally:
            discard(scratch)  # gone already after a put; a partial output otherwise

        stem = source.name.rsplit(".", 1)[0]
        name = request.name or f"{stem}{extension(output.dataset_format)}"

        async def register(session: AsyncSession) -> Dataset:
            if source.row_count is None:  # now counted: keep it on the source too
                await dataset_store.update_dataset(
                    session,
                    organization_id=source.organization_id,
                    dataset_id=source.id,
                    values={
                        "row_count": outcome.rows_in,
                        "details": {
                            **(source.details or {}),
                            **outcome.details,
                            "columns": outcome.columns,
                        },
                    },
                )
            return await dataset_store.insert_dataset(
                session,
                dataset_id=dataset_id,
                organization_id=request.organization_id,
                user_id=request.user_id,
                name=name[:255],
                format=output.dataset_format.value,
                size_bytes=outcome.size,
                sha256=outcome.sha256,
                storage_key=key,
                now=utcnow(),
                row_count=outcome.rows_out,
                source_dataset_id=source.id,
                job_id=request.job_id,
                details={"outputFormat": output.value},
                validation=outcome.report,
            )

        dataset = await self.db.transact(register)
        activity.logger.info(
            f"read {outcome.rows_in} rows of {source.name}; wrote {outcome.rows_out} rows "
            f"({outcome.size} bytes, {output.value}) as dataset {dataset.id}"
        )
        logger.info(
            "dataset converted",
            extra={"job_id": request.job_id, "dataset_id": dataset.id, "rows": outcome.rows_out},
        )
        result: dict[str, Any] = {
            "datasetId": dataset.id,
            "sourceDatasetId": source.id,
            "format": dataset.format,
            "outputFormat": output.value,
            "rows": outcome.rows_out,
            "sizeBytes": outcome.size,
            "sha256": outcome.sha256,
        }
        if outcome.report is not None:
            from jobdeck.activities.conversion.validate import summary

            result["validation"] = summary(outcome.report)
        return result

    @activity.defn(name="datasets.validate")
    async def validate(self, request: ValidationInput) -> dict[str, Any]:
        from jobdeck.activities.conversion.pipeline import Control, validate
        from jobdeck.activities.conversion.validate import summary

        source = await self._source(request.organization_id, request.dataset_id)
        if source.format != DatasetFormat.JSONL.value:
            raise _failure(
                DataError(
                    f"dataset {source.name!r} is {source.format}; validation checks OpenAI chat "
                    "JSONL: convert it first (a data-conversion job with outputFormat "
                    "openai-chat)"
                )
            )
        settings = self.settings
        async with (
            self.files.local_path(source.storage_key) as path,
            ProgressReporter(
                self.records, total=source.size_bytes, unit="bytes", stage="validating"
            ) as progress,
        ):
            report, rows = await self._in_thread(
                lambda control: validate(
                    path,
                    source.name,
                    model=request.model,
                    epochs=request.epochs,
                    max_row_bytes=settings.dataset_max_row_bytes,
                    control=control,
                ),
                Control(),
                progress,
            )

        async def store(session: AsyncSession) -> None:
            values: dict[str, Any] = {"validation": report}
            if source.row_count is None:
                values["row_count"] = rows
            await dataset_store.update_dataset(
                session,
                organization_id=source.organization_id,
                dataset_id=source.id,
                values=values,
            )

        await self.db.transact(store)
        return {"datasetId": source.id, **summary(report)}

"""The document-processing job: a collection's documents, parse -> chunk -> embed ->
write, one item each on the item runner (workflows/items.py: heartbeating chunks of two
documents, continue-as-new), so a crash redoes at most the chunk in hand and 100,000
documents keep a small history.

A job over a dataset (`datasetId`, `textColumn`) turns the dataset's rows into documents
of the collection as it lists its items (activities/document_sources.py).

The job fails only when more than `allowedFailureRatio` of its documents failed, naming
them, or when it made no chunk at all and skipped none (nothing would be searchable); a
retry of a failed or cancelled job works only the documents that failed or were not
reached.

Queries: `progress` (from JobWorkflow).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from jobdeck.workflows.items import ITEM_RETRY, ItemRun, ItemSteps, run_items
from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.document_sources import prepare_ingest
    from jobdeck.activities.documents import DocumentActivities, DocumentSummaryInput
    from jobdeck.domain import JobSpec
    from jobdeck.inputs import DocumentProcessingData
    from jobdeck.workflows.resumes import DocumentsResume


@workflow.defn(name="document-processing")
class DocumentProcessingWorkflow(JobWorkflow[DocumentProcessingData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: DocumentProcessingData) -> dict[str, Any] | None:
        resume = self.resumed(DocumentsResume)
        params: dict[str, Any] = {
            "collectionId": data.collection_id,
            "documentIds": data.document_ids,
            "force": data.force,
        }
        if data.dataset_id is not None:
            # Only then: the seed's input in the histories of upload jobs stays as it was.
            params |= {
                "datasetId": data.dataset_id,
                "textColumn": data.text_column,
                "titleColumn": data.title_column,
            }
        steps = ItemSteps(
            seed=DocumentActivities.seed,
            work=DocumentActivities.work,
            unit="documents",
            stage="processing",
            params=params,
            chunk_size=2,
            max_items=200,
            max_seconds=120,
            heartbeat_timeout=timedelta(seconds=30),  # it beats after each document
        )
        run = await run_items(
            self, steps, resume.items if resume else ItemRun(), lambda r: DocumentsResume(items=r)
        )
        summary = await workflow.execute_activity_method(
            DocumentActivities.summary,
            DocumentSummaryInput(spec.job_id),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=ITEM_RETRY,
        )
        counts = run.counts
        result = {
            "collectionId": data.collection_id,
            "documents": run.total,
            **{k: v for k, v in counts.items() if k != "pending"},
            "pages": summary.pages,
            "chunks": summary.chunks,
            "tokens": summary.tokens,
            "failedDocuments": summary.failed,
        }
        failed = counts.get("failed", 0)
        if run.total and failed / run.total > data.allowed_failure_ratio:
            names = ", ".join(str(f["filename"]) for f in summary.failed)
            raise ApplicationError(
                f"{failed} of {run.total} documents failed (more than "
                f"{data.allowed_failure_ratio:.0%} allowed): {names}",
                result,
                type="DocumentsFailed",
                non_retryable=True,
            )
        # Never "succeeded" with nothing searchable: no chunk made and none already there.
        if run.total and not summary.chunks and not counts.get("skipped", 0):
            raise ApplicationError(
                f"no chunk was made from {run.total} documents: none has text to index "
                f"({counts.get('needs_ocr', 0)} need OCR)",
                result,
                type="NoChunks",
                non_retryable=True,
            )
        return result


JOB_TYPE = JobType(
    workflow=DocumentProcessingWorkflow,
    description="Parse, chunk, embed and index a collection's documents",
    activities=[DocumentActivities.seed, DocumentActivities.work, DocumentActivities.summary],
    prepare=prepare_ingest,
)

"""The workflow-execution job's side effects: load the pinned spec, record each step's
state (the run's progress and its live events), run the steps that do I/O (transform,
http, llm), read large outputs from file storage, and prepare child jobs.

Large step outputs go to file storage and travel as a blob marker (see
pipelines/refs.py), so the workflow's history holds only small values. Their bytes count
toward the organization's storage quota (store/pipeline_blobs.py): an output that would
pass it fails its step, QuotaExceeded, with nothing stored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import jmespath
from jmespath.exceptions import JMESPathError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.base import ActivityGroup
from jobdeck.activities.pipeline_http import call_http, step_client
from jobdeck.activities.pipeline_llm import chat
from jobdeck.clock import utcnow
from jobdeck.dataset_files import discard
from jobdeck.domain import EventKind, JobSpec
from jobdeck.errors import InvalidInput, NotFound, QuotaExceeded, Unavailable
from jobdeck.fairness.limits import fairness_weight
from jobdeck.pipelines import refs
from jobdeck.pipelines.runs import TERMINAL_STEP_STATUSES, StepStatus
from jobdeck.pipelines.spec import PipelineSpec
from jobdeck.pipelines.validate import dependencies, upstream
from jobdeck.store import jobs as job_store
from jobdeck.store import pipeline_blobs as blob_store
from jobdeck.store import pipelines as pipeline_store
from jobdeck.store import quotas as quota_store
from jobdeck.store.accounts import Principal, Role

logger = logging.getLogger(__name__)
RUN_TYPE = "workflow-execution"  # a job step of this type starts a nested run


@dataclass
class LoadInput:
    job_id: str
    organization_id: str
    pipeline_id: str
    version: int
    rerun_of: str | None = None
    from_step: str | None = None


@dataclass
class LoadedRun:
    spec: dict[str, Any]
    # Steps a rerun takes over from the earlier run: id -> {status, output, error}.
    reused: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The largest step output (bytes of JSON) kept inline rather than in file storage,
    # so the workflow can evaluate a transform itself as run_step would (None: runs
    # loaded before this field existed).
    inline_output_bytes: int | None = None


@dataclass
class RecordInput:
    job_id: str
    # Each: step_id, and the columns it sets (status, attempts, output, error, reason,
    # child_job_id, details); `output` is the step's value itself; `at`, where given, is
    # when the change happened (ISO 8601), for the row's started_at / finished_at.
    changes: list[dict[str, Any]]
    progress: dict[str, Any] | None = None


@dataclass
class StepRun:
    job_id: str
    organization_id: str
    step: dict[str, Any]  # the step as in the spec
    context: dict[str, Any]  # {inputs, steps: {id: {output, status, error}}}: what it reads


@dataclass
class StepResult:
    output: Any = None  # the value, or a blob marker
    details: dict[str, Any] | None = None


@dataclass
class EvalInput:
    job_id: str
    organization_id: str
    context: dict[str, Any]
    expression: str | None = None  # JMESPath over the context, or:
    value: Any = None  # a value whose references are resolved


@dataclass
class ChildJobInput:
    run_job_id: str
    organization_id: str
    user_id: str
    step_id: str
    job_id: str  # chosen by the workflow (deterministic)
    job_type: str
    name: str
    data: dict[str, Any]
    context: dict[str, Any]
    priority: int
    created_at: str
    progress_interval_s: float | None = None
    # False: `data` is the child's as it is (a map step's: its step reads ${item} later).
    resolve: bool = True


@dataclass
class ChildJobPlan:
    spec: JobSpec
    task_queue: str
    search_attributes: bool = True  # tag the child's workflow (the worker's setting)
    # The child's Temporal fairness key and weight: its organization, as for any job.
    fairness_key: str | None = None
    fairness_weight: float | None = None


def _fail(message: str, kind: str, details: Any = None) -> ApplicationError:
    return ApplicationError(message, details, type=kind, non_retryable=True)


def _blob_keys(value: Any) -> set[str]:
    """The file storage keys of the blob markers in a step's output."""
    if refs.is_blob(value):
        return {value[refs.BLOB]}
    if isinstance(value, dict):
        return {key for item in value.values() for key in _blob_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _blob_keys(item)}
    return set()


class PipelineActivities(ActivityGroup):
    _http: httpx.AsyncClient | None = None

    def http_client(self) -> httpx.AsyncClient:
        """The http steps' client, opened on first use, closed with the runtime."""
        if self._http is None:
            self._http = step_client(self.settings)
            self.runtime.closers.append(self._http.aclose)
        return self._http

    @activity.defn(name="pipeline.load")
    async def load(self, request: LoadInput) -> LoadedRun:
        """The pinned version's spec, and the step rows of the run (all pending, or taken
        over from the earlier run for a rerun)."""
        async with self.db.read() as session:
            try:
                pipeline = await pipeline_store.get_pipeline(
                    session,
                    organization_id=request.organization_id,
                    pipeline_id=request.pipeline_id,
                )
                version = await pipeline_store.get_version(
                    session, pipeline_id=pipeline.id, version=request.version
                )
            except NotFound as err:
                raise _fail(str(err), "PipelineNotFound") from None
            # Archiving promises no new runs; a schedule saved before the archive still
            # fires (its action is the run itself), so the run ends here, at once.
            if pipeline.archived_at is not None:
                raise _fail(
                    f"pipeline {pipeline.name!r} is archived ({pipeline.id}); save a new "
                    "version to restore it",
                    "PipelineArchived",
                )
            earlier = (
                await pipeline_store.list_steps(session, job_id=request.rerun_of)
                if request.rerun_of
                else []
            )
        spec = PipelineSpec.model_validate(version.spec)
        reused: dict[str, dict[str, Any]] = {}
        if request.rerun_of and request.from_step:
            keep = upstream(dependencies(spec), request.from_step)
            for row in earlier:
                if row.step_id in keep and row.status in (
                    StepStatus.COMPLETED,
                    StepStatus.SKIPPED,
                ):
                    reused[row.step_id] = {
                        "status": row.status,
                        "output": (row.output or {}).get("value"),
                        "error": row.error,
                        "reason": row.reason,
                    }
        now = utcnow()
        changes = []
        for seq, step in enumerate(spec.steps):
            change: dict[str, Any] = {"step_id": step.id, "seq": seq, "kind": step.kind}
            if step.id in reused:
                was = reused[step.id]
                change.update(
                    status=was["status"],
                    output={"value": was["output"]},
                    reason=f"reused from run {request.rerun_of}",
                    started_at=now,
                    finished_at=now,
                )
            else:
                change["status"] = StepStatus.PENDING.value
            changes.append(change)

        taken_over = {key for was in reused.values() for key in _blob_keys(was["output"])}

        async def work(session: AsyncSession) -> None:
            await pipeline_store.save_steps(
                session, job_id=request.job_id, changes=changes, now=now
            )
            if request.rerun_of:
                # The earlier run's stored outputs now serve this run too: they stay
                # while either run does (counted once).
                await blob_store.share(
                    session,
                    from_job_id=request.rerun_of,
                    to_job_id=request.job_id,
                    keys=taken_over,
                    now=now,
                )

        await self.db.transact(work)
        return LoadedRun(
            spec=version.spec,
            reused=reused,
            inline_output_bytes=self.settings.pipeline_inline_output_bytes,
        )

    @activity.defn(name="pipeline.record")
    async def record(self, request: RecordInput) -> None:
        """Step changes and the run's progress, in one transaction with their event: the
        feed carries each step's new status. A batch may change a step more than once
        (running, then completed): its row is written once, with the changes merged in
        order; the event lists every change."""
        now = utcnow()
        rows: dict[str, dict[str, Any]] = {}
        for change in request.changes:
            row = dict(change)
            # When the change happened, where the run says (it may record it later).
            at = row.pop("at", None)
            when = datetime.fromisoformat(at) if at is not None else now
            if "output" in row:
                row["output"] = {"value": row["output"]}
            status = row.get("status")
            if status == StepStatus.RUNNING:
                row.setdefault("started_at", when)
            if status in TERMINAL_STEP_STATUSES:
                row.setdefault("finished_at", when)
            rows.setdefault(row["step_id"], {}).update(row)
        changes = list(rows.values())
        public = [
            {
                "stepId": c["step_id"],
                "status": c.get("status"),
                **({"reason": c["reason"]} if c.get("reason") else {}),
                **({"childJobId": c["child_job_id"]} if c.get("child_job_id") else {}),
                **({"error": c["error"]} if c.get("error") else {}),
            }
            for c in request.changes
        ]

        async def work(conn: AsyncConnection) -> None:
            await pipeline_store.save_steps(conn, job_id=request.job_id, changes=changes, now=now)
            values = {"progress": request.progress} if request.progress is not None else {}
            await job_store.change_job(
                conn,
                job_id=request.job_id,
                kind=EventKind.PROGRESS,
                now=now,
                values=values,
                event_data={"steps": public},
            )

        await self.db.transact_core(work)

    async def _expand(self, value: Any) -> Any:
        """`value` with every blob marker replaced by the stored value."""
        if refs.is_blob(value):
            async with self.files.local_path(value[refs.BLOB]) as path:
                return json.loads(path.read_text(encoding="utf-8"))
        if isinstance(value, dict):
            return {k: await self._expand(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self._expand(v) for v in value]
        return value

    async def _keep(self, organization_id: str, job_id: str, name: str, value: Any) -> Any:
        """A step's output as it travels: itself when small, else a blob marker. A stored
        output is charged to the organization's storage quota in the transaction that
        stores it; one that would pass the quota fails the step with nothing stored."""
        data = json.dumps(value).encode()
        size = len(data)
        if size <= self.settings.pipeline_inline_output_bytes:
            return value
        key = f"pipelines/{organization_id}/{job_id}/{name}.json"
        scratch = self.files.scratch(".json")
        scratch.write_bytes(data)

        async def store(session: AsyncSession) -> None:
            room = await quota_store.hold_storage(session, self.settings, organization_id)
            await blob_store.hold(
                session,
                job_id=job_id,
                key=key,
                organization_id=organization_id,
                size_bytes=size,
                now=utcnow(),
            )
            await quota_store.check_storage(
                session, room, organization_id, what=f"the output of step {name}"
            )
            # Under the storage lock, last: a refused or failed write rolls the row back
            # and leaves the stored files as they were.
            await self.files.put(key, scratch)

        try:
            await self.db.transact(store)
        except QuotaExceeded as err:
            raise _fail(f"step {name}: {err}", "QuotaExceeded", err.body) from None
        finally:
            discard(scratch)  # gone already once stored
        return {refs.BLOB: key, "bytes": size}

    @activity.defn(name="pipeline.evaluate")
    async def evaluate(self, request: EvalInput) -> Any:
        """A condition or a value that reads a large output (the workflow cannot)."""
        context = await self._expand(request.context)
        try:
            if request.expression is not None:
                return jmespath.search(request.expression, context)
            return refs.resolve(request.value, context)
        except (JMESPathError, refs.ReferenceProblem) as err:
            raise _fail(str(err), "InvalidExpression") from None

    @activity.defn(name="pipeline.run_step")
    async def run_step(self, request: StepRun) -> StepResult:
        """Run a transform, http or llm step with its references resolved."""
        step = request.step
        context = await self._expand(request.context)
        try:
            output, details = await self.compute(step, context)
        except (JMESPathError, refs.ReferenceProblem) as err:
            raise _fail(f"step {step['id']}: {err}", "InvalidExpression") from None
        kept = await self._keep(request.organization_id, request.job_id, step["id"], output)
        return StepResult(output=kept, details=details)

    async def compute(
        self, step: dict[str, Any], context: dict[str, Any]
    ) -> tuple[Any, dict[str, Any] | None]:
        """A transform, http or llm step's output (and details) over `context`, expanded;
        a map runs it once per item with the item in the context."""
        kind = step["kind"]
        if kind == "transform":
            data = context if step.get("input") is None else refs.resolve(step["input"], context)
            return jmespath.search(step["expression"], data), None
        if kind == "http":
            return await call_http(self.http_client(), refs.resolve(step, context))
        if kind == "llm":
            return await chat(self.settings, refs.resolve(step, context), self.runtime)
        raise _fail(f"a {kind} step does not run as an activity", "StepKind")

    @activity.defn(name="pipeline.prepare_job")
    async def prepare_job(self, request: ChildJobInput) -> ChildJobPlan:
        """A child job's spec, checked as POST /api/jobs checks a job (type, data, name,
        priority, whether this deployment can run it now); the workflow starts it."""
        data = request.data
        if request.resolve:
            context = await self._expand(request.context)
            try:
                data = refs.resolve(request.data, context)
            except refs.ReferenceProblem as err:
                raise _fail(f"step {request.step_id}: {err}", "InvalidExpression") from None
        if request.job_type == RUN_TYPE:
            await self._check_depth(request.run_job_id, request.step_id)
        principal = Principal(
            user_id=request.user_id,
            organization_id=request.organization_id,
            role=Role.MEMBER,
            key_id=f"pipeline:{request.run_job_id}",
        )
        try:
            spec, queue = await self.jobs.prepare_started(
                principal,
                type=request.job_type,
                name=request.name,
                data=data,
                priority=request.priority,
                job_id=request.job_id,
                parent_id=request.run_job_id,
                created_at=request.created_at,
                progress_interval_s=request.progress_interval_s,
            )
        except Unavailable:
            raise  # retried
        except InvalidInput as err:
            raise _fail(f"step {request.step_id}: {err}", "InvalidJobData") from None
        return ChildJobPlan(
            spec=spec,
            task_queue=queue,
            search_attributes=self.settings.temporal_search_attributes,
            fairness_key=spec.organization_id,
            fairness_weight=fairness_weight(self.settings, spec.organization_id),
        )

    async def _check_depth(self, parent_id: str, step_id: str) -> None:
        """Refuse a child run that would nest deeper than pipeline_max_depth: a pipeline
        that leads back to itself through a reference (not seen on save) ends here."""
        limit = self.settings.pipeline_max_depth
        async with self.db.read() as session:
            chain = await pipeline_store.run_chain(session, job_id=parent_id, limit=4 * limit + 4)
        depth = sum(1 for _, kind in chain if kind == RUN_TYPE)
        if depth + 1 > limit:
            raise _fail(
                f"step {step_id}: pipeline runs nest at most {limit} deep "
                f"(JOBDECK_PIPELINE_MAX_DEPTH) and this run is {depth} deep already; "
                "does the pipeline start itself, directly or through another?",
                "PipelineTooDeep",
                {"depth": depth, "limit": limit, "runs": [job for job, _ in chain]},
            )

"""Creating, cancelling and retrying jobs: used by the REST API, the CLI and (through the
worker) the bulk-operation job.

Creation order makes a crash harmless: the workflow is started first (its id is the job
id), then the row is written. If the process dies in between, the workflow's first step
writes the row itself from its input; if starting fails, nothing was written at all.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from jobdeck import tracing
from jobdeck.clock import utcnow
from jobdeck.domain import EventKind, JobSpec, JobStatus
from jobdeck.errors import Conflict, InvalidInput, Unavailable
from jobdeck.registry import JobTypeRegistry
from jobdeck.runtime import Runtime
from jobdeck.services.fairness import job_priority
from jobdeck.store import dependencies as dependency_store
from jobdeck.store import jobs as job_store
from jobdeck.store.accounts import Principal
from jobdeck.store.engine import is_outage
from jobdeck.store.events import as_session
from jobdeck.store.tables import Job
from jobdeck.temporal import bounded, job_search_attributes
from jobdeck.workflows.jobtype import JobType

logger = logging.getLogger(__name__)

_KEY_REUSED = (
    "this Idempotency-Key was already used for a different request; use a new key for a new job"
)
# Idempotency keys map to job ids in this namespace, so two racing requests with one key
# start one workflow.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0c6f1e-2f4a-4f55-9a8e-6a7c3b1d9e21")
PRIORITY_HIGHEST, PRIORITY_DEFAULT, PRIORITY_LOWEST = 1, 3, 5


@dataclass
class NewJob:
    type: str
    name: str
    data: Any = None
    description: str | None = None
    priority: int = PRIORITY_DEFAULT
    # Jobs of the same organization that must complete before this one starts.
    depends_on: list[str] = field(default_factory=list)


class JobControl:
    def __init__(self, runtime: Runtime, registry: JobTypeRegistry) -> None:
        self.runtime = runtime
        self.registry = registry

    async def create(
        self,
        principal: Principal,
        new: NewJob,
        *,
        idempotency_key: str | None = None,
        retry_of: str | None = None,
        parent_id: str | None = None,
        schedule_id: str | None = None,
    ) -> tuple[Job, bool]:
        """Start a job; returns it and whether it is new (False: an idempotent replay)."""
        job_type, data, name = await self._checked(principal, new)
        org = principal.organization_id
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 200:
                raise InvalidInput("Idempotency-Key must be 1 to 200 characters")
            job_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{org}:{idempotency_key}"))
        else:
            job_id = str(uuid.uuid4())
        tracing.tag_job(job_id)  # with tracing on: the request's trace is this job's
        if idempotency_key is not None:  # a fresh uuid4 cannot exist yet
            async with self.runtime.db.read() as session:
                existing = await job_store.find_job(session, job_id=job_id)
            if existing is not None:
                same = self._same_request(existing, job_type.name, name, data)
                if (existing.depends_on or []) != new.depends_on:
                    raise Conflict(_KEY_REUSED)
                return same, False
        if new.depends_on:
            await self._check_dependencies(org, job_id, new.depends_on)

        spec = JobSpec(
            job_id=job_id,
            organization_id=org,
            user_id=principal.user_id,
            type=job_type.name,
            name=name,
            description=new.description,
            data=data,
            priority=new.priority,
            retry_of=retry_of,
            parent_id=parent_id,
            schedule_id=schedule_id,
            idempotency_key=idempotency_key,
            created_at=utcnow().isoformat(),
            progress_interval_s=self.runtime.settings.progress_interval_s,
            depends_on=list(new.depends_on),
        )
        started = await self._start_workflow(spec, job_type.workflow, job_type.task_queue)
        try:
            # One Core transaction of prebuilt statements (the row, its dependencies, its
            # created event): every create passes here, and an ORM insert costs more CPU.
            async with self.runtime.db.write_core(urgent=True, organization=org) as conn:
                row = await job_store.insert_job_row(conn, spec=spec, now=utcnow(), whole=True)
                if row is not None:
                    job: Job | None = job_store.detached_job(row)
                else:  # the workflow's first step wrote the row already; either is fine
                    async with as_session(conn) as session:
                        job = await job_store.find_job(session, job_id=job_id)
        except DBAPIError as err:
            if is_outage(err):  # the workflow writes the row itself once the database is back
                raise Unavailable(
                    "the database is unreachable; the job was started and will be recorded "
                    "when it is back (retry with the same Idempotency-Key to be sure)"
                ) from err
            # Refused for good: the workflow's first step fails the same way and ends it.
            raise InvalidInput(
                f"the job cannot be stored: {str(err.orig).splitlines()[0][:300]}"
            ) from err
        assert job is not None
        if not started:
            job = self._same_request(job, job_type.name, name, data)
        logger.info("job created", extra={"job_id": job_id, "job_type": job_type.name})
        return job, started

    async def _check_dependencies(
        self, organization_id: str, job_id: str, depends_on: list[str]
    ) -> None:
        """The jobs a new job will wait for: existing jobs of its organization, each once,
        not itself, none failed or cancelled (it would be cancelled at once: refused
        instead, so that the caller learns it now). One that ends before the new job's
        first check is seen by that check."""
        if len(depends_on) > dependency_store.MAX_DEPENDENCIES:
            raise InvalidInput(
                f"dependsOn: at most {dependency_store.MAX_DEPENDENCIES} jobs, "
                f"not {len(depends_on)}"
            )
        seen: set[str] = set()
        for other in depends_on:
            if other in seen:
                raise InvalidInput(f"dependsOn: job {other} is listed twice")
            seen.add(other)
        if job_id in seen:
            raise InvalidInput("dependsOn: a job cannot depend on itself")
        async with self.runtime.db.read() as session:
            found = await dependency_store.states(
                session, job_ids=depends_on, organization_id=organization_id
            )
        # Another organization's job is reported exactly like a missing one.
        missing = [other for other in depends_on if other not in found]
        if missing:
            which = "job " + missing[0] if len(missing) == 1 else "jobs " + ", ".join(missing)
            raise InvalidInput(f"dependsOn: {which} not found")
        for other in depends_on:
            state = found[other]
            if state.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                raise Conflict(
                    f"dependsOn: job {other} ({state.name}) is {state.status}, so this job "
                    "could never start; retry that job and depend on the retry"
                )

    async def _checked(
        self, principal: Principal, new: NewJob
    ) -> tuple[JobType, dict[str, Any], str]:
        """The job's type, its data checked (and prepared, for types that do) and its name;
        InvalidInput for anything wrong, Unavailable when it cannot be told now."""
        job_type, data = self.registry.validate(new.type, new.data)
        name = new.name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name must be 1 to 200 characters")
        if not PRIORITY_HIGHEST <= new.priority <= PRIORITY_LOWEST:
            raise InvalidInput("priority must be 1 (highest) to 5 (lowest)")
        if job_type.unavailable is not None:
            try:
                why = await job_type.unavailable(self.runtime)
            except (RPCError, RuntimeError) as err:
                raise Unavailable("the job engine (Temporal) is unreachable; try again") from err
            if why:
                raise InvalidInput(why)
        if job_type.prepare is not None:
            data = await job_type.prepare(self.runtime, principal, data)
        return job_type, data, name

    async def prepare_started(
        self,
        principal: Principal,
        *,
        type: str,
        name: str,
        data: dict[str, Any],
        priority: int,
        job_id: str,
        created_at: str,
        progress_interval_s: float | None,
        description: str | None = None,
        parent_id: str | None = None,
        schedule_id: str | None = None,
    ) -> tuple[JobSpec, str]:
        """The spec and task queue of a job a workflow starts as its child (a pipeline's
        `job` step or map item, a schedule's run), checked as `create` checks a job; the
        child's workflow writes its row on its first step."""
        new = NewJob(type=type, name=name, data=data, description=description, priority=priority)
        job_type, data, name = await self._checked(principal, new)
        spec = JobSpec(
            job_id=job_id,
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            type=job_type.name,
            name=name,
            description=description,
            data=data,
            priority=priority,
            parent_id=parent_id,
            schedule_id=schedule_id,
            created_at=created_at,
            progress_interval_s=progress_interval_s,
        )
        return spec, job_type.task_queue or self.runtime.settings.task_queue

    @staticmethod
    def _same_request(job: Job, type_: str, name: str, data: dict[str, Any]) -> Job:
        if (job.type, job.name, job.data) != (type_, name, data):
            raise Conflict(_KEY_REUSED)
        return job

    async def _start_workflow(self, spec: JobSpec, workflow: type[Any], queue: str | None) -> bool:
        """Start the job's workflow; False if one with its id exists already."""
        try:
            async with bounded(self.runtime.settings) as rpc_timeout:
                await self.runtime.temporal.start_workflow(
                    workflow.run,
                    spec,
                    rpc_timeout=rpc_timeout,
                    id=spec.job_id,
                    task_queue=queue or self.runtime.settings.task_queue,
                    search_attributes=(
                        job_search_attributes(spec)
                        if self.runtime.settings.temporal_search_attributes
                        else None
                    ),
                    priority=job_priority(self.runtime.settings, spec),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                )
        except WorkflowAlreadyStartedError:
            # The same idempotency key raced us, or a client retried after a crash.
            return False
        # RuntimeError: a lazy client's failed connect; Unavailable: no answer in time.
        except (RPCError, RuntimeError, Unavailable) as err:
            logger.warning(
                "cannot start workflow", extra={"job_id": spec.job_id, "error": str(err)}
            )
            raise Unavailable(
                "the job engine (Temporal) is unreachable, so the job may not have been "
                "created; retry with the same Idempotency-Key to be sure of one job"
            ) from err
        return True

    async def cancel(self, principal: Principal, job_id: str) -> Job:
        """Ask the job's workflow to cancel; the workflow ends the job `cancelled`."""
        async with self.runtime.db.read() as session:
            job = await job_store.get_job(
                session, organization_id=principal.organization_id, job_id=job_id
            )
        if JobStatus(job.status).is_terminal:
            raise Conflict(
                f"job {job_id} is {job.status}; only pending or active jobs can be cancelled"
            )
        handle = self.runtime.temporal.get_workflow_handle(job_id)
        try:
            async with bounded(self.runtime.settings) as rpc_timeout:
                await handle.cancel(rpc_timeout=rpc_timeout)
        except RuntimeError as err:  # a lazy client's failed connect
            raise Unavailable("the job engine (Temporal) is unreachable; try again") from err
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise Unavailable("the job engine (Temporal) is unreachable; try again") from err
            # The workflow ended between our read and the cancel; its row says how.
        async with self.runtime.db.write() as session:
            await job_store.note_event(
                session,
                job_id=job_id,
                kind=EventKind.CANCEL_REQUESTED,
                now=utcnow(),
                data={"by": principal.user_id},
            )
            job = await job_store.get_job(
                session, organization_id=principal.organization_id, job_id=job_id
            )
        return job

    async def _retried_dependencies(self, principal: Principal, depends_on: list[str]) -> list[str]:
        """What a retry waits for: the same jobs, each one that failed or was cancelled
        replaced by its newest retry, if it has one (create then checks them all again)."""
        if not depends_on:
            return []
        org = principal.organization_id
        async with self.runtime.db.read() as session:
            found = await dependency_store.states(session, job_ids=depends_on, organization_id=org)
            resolved = []
            for other in depends_on:
                state = found.get(other)
                retried = None
                if state is not None and state.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                    retried = await dependency_store.latest_retry(
                        session, organization_id=org, job_id=other
                    )
                resolved.append(retried or other)
        return list(dict.fromkeys(resolved))

    async def retry(
        self, principal: Principal, job_id: str, *, idempotency_key: str | None = None
    ) -> Job:
        """A new job with the same input as a failed or cancelled one, linked by retry_of."""
        async with self.runtime.db.read() as session:
            original = await job_store.get_job(
                session, organization_id=principal.organization_id, job_id=job_id
            )
        if original.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise Conflict(
                f"job {job_id} is {original.status}; only failed or cancelled jobs can be retried"
            )
        new = NewJob(
            type=original.type,
            name=original.name,
            data=original.data,
            description=original.description,
            priority=original.priority,
            depends_on=await self._retried_dependencies(principal, original.depends_on or []),
        )
        job, created = await self.create(
            principal, new, idempotency_key=idempotency_key, retry_of=original.id
        )
        if created:
            async with self.runtime.db.write() as session:
                await job_store.note_event(
                    session,
                    job_id=original.id,
                    kind=EventKind.RETRIED,
                    now=utcnow(),
                    data={"newJobId": job.id},
                )
        return job

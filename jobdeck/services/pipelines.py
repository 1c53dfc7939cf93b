"""Pipelines: saving definitions as immutable versions (checked first: nothing invalid is
stored), archiving them, starting runs and reruns, and deciding approval steps. Used by
the REST API and the CLI."""

from __future__ import annotations

import json
import logging
from typing import Any

import yaml
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from jobdeck.activities.fine_tuning.providers import PROVIDERS
from jobdeck.clock import utcnow
from jobdeck.domain import JobStatus
from jobdeck.errors import Conflict, InvalidInput, NotFound, Unavailable
from jobdeck.pipelines.spec import PipelineSpec
from jobdeck.pipelines.validate import (
    SpecInvalid,
    SpecProblem,
    data_problems,
    nested_runs,
    parse_spec,
)
from jobdeck.pipelines.views import StepView, step_views
from jobdeck.registry import JobTypeRegistry
from jobdeck.runtime import Runtime
from jobdeck.services.jobs import JobControl, NewJob
from jobdeck.store import jobs as job_store
from jobdeck.store import pipelines as pipeline_store
from jobdeck.store.accounts import Principal
from jobdeck.store.tables import Job, Pipeline, PipelineVersion
from jobdeck.temporal import bounded
from jobdeck.workflows.pipeline import Decision, PipelineWorkflow

logger = logging.getLogger(__name__)
RUN_TYPE = "workflow-execution"


def read_spec_text(text: str, max_bytes: int) -> Any:
    """A spec sent as JSON or YAML text. YAML aliases are refused: they can make a small
    text expand without bound."""
    if len(text.encode()) > max_bytes:
        raise SpecInvalid([SpecProblem("spec", f"larger than {max_bytes} bytes")])
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise SpecInvalid([SpecProblem("spec", "YAML aliases (*name) are not accepted")])
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecInvalid([SpecProblem("spec", f"not JSON or YAML: {err}")]) from None


class PipelineService:
    def __init__(self, runtime: Runtime, registry: JobTypeRegistry, jobs: JobControl) -> None:
        self.runtime = runtime
        self.registry = registry
        self.jobs = jobs

    def _check_job(self, job_type: str, data: dict[str, Any]) -> list[tuple[str, str]] | None:
        try:
            declared = self.registry.get(job_type)
        except InvalidInput:
            return None
        context = {"job_type": declared.name, "fine_tuning_providers": PROVIDERS}
        try:
            declared.input_model.model_validate(data, context=context)
        except ValidationError as err:
            return data_problems(err, data)
        return []

    def parse(self, raw: dict[str, Any] | str) -> PipelineSpec:
        """A spec checked in full (SpecInvalid names each problem)."""
        limit = self.runtime.settings.pipeline_max_spec_bytes
        if isinstance(raw, str):
            raw = read_spec_text(raw, limit)
        elif len(json.dumps(raw)) > limit:
            raise SpecInvalid([SpecProblem("spec", f"larger than {limit} bytes")])
        return parse_spec(raw, self._check_job)

    async def _check_nesting(
        self, principal: Principal, spec: PipelineSpec, *, pipeline_id: str | None, name: str
    ) -> None:
        """Refuse a spec whose job steps start a pipeline run that leads back to a run
        already on the way (this pipeline itself, directly or through others): it would
        nest without end. Follows the pipelines named literally, at the version each
        step pins or the latest; the spec being saved stands for this pipeline's latest."""
        new_node = (pipeline_id or "", -1)
        names = {new_node[0]: name}
        specs: dict[tuple[str, int], PipelineSpec] = {new_node: spec}
        async with self.runtime.db.read() as session:

            async def edges(node: tuple[str, int]) -> list[tuple[str, tuple[str, int]]]:
                out = []
                for step_id, target, version in nested_runs(specs[node]):
                    try:
                        found = await pipeline_store.get_pipeline(
                            session,
                            organization_id=principal.organization_id,
                            pipeline_id=target,
                        )
                    except NotFound:
                        continue  # refused when the run prepares its child
                    names[found.id] = found.name
                    if found.id == pipeline_id and version is None:
                        out.append((step_id, new_node))
                        continue
                    key = (found.id, version or found.latest_version)
                    if key not in specs:
                        try:
                            stored = await pipeline_store.get_version(
                                session, pipeline_id=found.id, version=key[1]
                            )
                        except NotFound:
                            continue
                        specs[key] = PipelineSpec.model_validate(stored.spec)
                    out.append((step_id, key))
                return out

            path: list[tuple[tuple[str, int], str]] = []  # (node, the step it leaves by)
            done: set[tuple[str, int]] = set()

            async def visit(node: tuple[str, int]) -> list[str] | None:
                if len(done) > 1000:  # a graph this large is not followed further
                    return None
                for step_id, nxt in await edges(node):
                    path.append((node, step_id))
                    on_path = [n for n, _ in path]
                    if nxt in on_path:
                        loop = path[on_path.index(nxt) :]
                        return [f"{names[n[0]]} (step {s})" for n, s in loop] + [names[nxt[0]]]
                    if nxt not in done:
                        found = await visit(nxt)
                        if found:
                            return found
                    path.pop()
                done.add(node)
                return None

            cycle = await visit(new_node)
        if cycle:
            first_step = path[0][1]
            raise SpecInvalid(
                [
                    SpecProblem(
                        f"steps.{first_step}.data.workflowId",
                        f"cycle of pipeline runs: {' -> '.join(cycle)}; each run would "
                        "start the next without end",
                    )
                ]
            )

    async def create(
        self, principal: Principal, *, name: str, description: str | None, raw: dict[str, Any] | str
    ) -> tuple[Pipeline, PipelineVersion]:
        spec = self.parse(raw)
        name = name.strip()
        if not name:
            raise InvalidInput("name must not be blank")
        await self._check_nesting(principal, spec, pipeline_id=None, name=name)
        async with self.runtime.db.write() as session:
            return await pipeline_store.create_pipeline(
                session,
                organization_id=principal.organization_id,
                user_id=principal.user_id,
                name=name,
                description=description,
                spec=spec.dump(),
                now=utcnow(),
            )

    async def save_version(
        self,
        principal: Principal,
        pipeline_id: str,
        *,
        raw: dict[str, Any] | str,
        description: str | None,
    ) -> tuple[Pipeline, PipelineVersion]:
        async with self.runtime.db.read() as session:
            pipeline = await self.get(session, principal, pipeline_id)
        spec = self.parse(raw)
        await self._check_nesting(principal, spec, pipeline_id=pipeline.id, name=pipeline.name)
        async with self.runtime.db.write() as session:
            return await pipeline_store.add_version(
                session,
                pipeline_id=pipeline_id,
                user_id=principal.user_id,
                spec=spec.dump(),
                description=description,
                now=utcnow(),
            )

    @staticmethod
    async def get(session: Any, principal: Principal, pipeline_id: str) -> Pipeline:
        return await pipeline_store.get_pipeline(
            session, organization_id=principal.organization_id, pipeline_id=pipeline_id
        )

    async def archive(self, principal: Principal, pipeline_id: str) -> Pipeline:
        async with self.runtime.db.write() as session:
            pipeline = await self.get(session, principal, pipeline_id)
            return await pipeline_store.archive(session, pipeline=pipeline, now=utcnow())

    async def run(
        self,
        principal: Principal,
        pipeline_id: str,
        *,
        inputs: dict[str, Any],
        version: int | None = None,
        name: str | None = None,
        priority: int = 3,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        async with self.runtime.db.read() as session:
            pipeline = await self.get(session, principal, pipeline_id)
        data: dict[str, Any] = {"workflowId": pipeline.id, "inputs": inputs}
        if version is not None:
            data["version"] = version
        new = NewJob(type=RUN_TYPE, name=name or pipeline.name, data=data, priority=priority)
        return await self.jobs.create(principal, new, idempotency_key=idempotency_key)

    async def _run_job(self, principal: Principal, job_id: str) -> Job:
        async with self.runtime.db.read() as session:
            job = await job_store.get_job(
                session, organization_id=principal.organization_id, job_id=job_id
            )
        if job.type != RUN_TYPE:
            raise NotFound(f"job {job_id} is a {job.type} job, not a pipeline run")
        return job

    async def rerun(
        self,
        principal: Principal,
        job_id: str,
        *,
        from_step: str,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """A new run of the same version and inputs that reuses the outputs of every step
        upstream of `from_step` and runs the rest; linked by retryOf."""
        earlier = await self._run_job(principal, job_id)
        data = {
            "workflowId": earlier.data["workflowId"],
            "version": earlier.data.get("version"),
            "inputs": earlier.data.get("inputs", {}),
            "rerunOf": earlier.id,
            "fromStep": from_step,
        }
        new = NewJob(
            type=RUN_TYPE,
            name=earlier.name,
            data=data,
            description=earlier.description,
            priority=earlier.priority,
        )
        return await self.jobs.create(
            principal, new, idempotency_key=idempotency_key, retry_of=earlier.id
        )

    async def decide(
        self, principal: Principal, job_id: str, step_id: str, *, approve: bool, note: str | None
    ) -> dict[str, Any]:
        """Approve or reject an approval step that is waiting (a workflow update, so the
        answer says whether it was taken)."""
        job = await self._run_job(principal, job_id)
        if JobStatus(job.status).is_terminal:
            raise Conflict(f"run {job_id} is {job.status}; its steps can no longer be decided")
        handle = self.runtime.temporal.get_workflow_handle(job_id)
        decision = Decision(step_id=step_id, approve=approve, by=principal.user_id, note=note)
        try:
            async with bounded(self.runtime.settings) as rpc_timeout:
                result: dict[str, Any] = await handle.execute_update(
                    PipelineWorkflow.decide, decision, rpc_timeout=rpc_timeout
                )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise Conflict(str(getattr(cause, "message", None) or cause or err)) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise Conflict(f"run {job_id} has ended") from None
            raise Unavailable("the job engine (Temporal) is unreachable; try again") from err
        except RuntimeError as err:
            raise Unavailable("the job engine (Temporal) is unreachable; try again") from err
        logger.info(
            "approval step decided",
            extra={"job_id": job_id, "step": step_id, "approved": approve},
        )
        return result

    async def steps(self, principal: Principal, job_id: str) -> list[Any]:
        await self._run_job(principal, job_id)
        async with self.runtime.db.read() as session:
            return await pipeline_store.list_steps(session, job_id=job_id)

    async def run_view(
        self, principal: Principal, job_id: str
    ) -> tuple[list[Any], dict[str, StepView]]:
        """A run's step rows and what its page shows of each step beyond them (upstream
        steps, resolved input), from the version the run pinned."""
        job = await self._run_job(principal, job_id)
        data = job.data or {}
        async with self.runtime.db.read() as session:
            rows = await pipeline_store.list_steps(session, job_id=job_id)
            try:
                version = await pipeline_store.get_version(
                    session,
                    pipeline_id=str(data.get("workflowId")),
                    version=int(data.get("version") or 0),
                )
            except NotFound:  # a run refused before it pinned one: its rows alone
                return rows, {}
        spec = PipelineSpec.model_validate(version.spec)
        return rows, step_views(spec, rows, data.get("inputs") or {})

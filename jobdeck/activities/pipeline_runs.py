"""What a pipeline run's data becomes before its job starts (the workflow-execution job
type's `prepare`): the version pinned (the latest unless given), the inputs checked
against the spec with defaults filled in, and a rerun's claims checked; and who may
start a map step's child job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobdeck.domain import JobStatus
from jobdeck.errors import Conflict, InvalidInput, NotFound
from jobdeck.inputs import WorkflowExecutionData
from jobdeck.pipelines.maps import MAP_TYPE
from jobdeck.pipelines.runs import StepStatus
from jobdeck.pipelines.spec import PipelineSpec
from jobdeck.pipelines.validate import check_inputs, dependencies, upstream
from jobdeck.store import jobs as job_store
from jobdeck.store import pipelines as pipeline_store

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime
    from jobdeck.store.accounts import Principal

REUSABLE = (StepStatus.COMPLETED, StepStatus.SKIPPED)


async def prepare_map(
    runtime: Runtime, principal: Principal, data: dict[str, Any]
) -> dict[str, Any]:
    """A map step's child job is started by its run only (its data is the run's, its
    output goes back to the run): not by POST /api/jobs, nor retried on its own."""
    if not principal.key_id.startswith("pipeline:"):
        raise InvalidInput(
            f"a {MAP_TYPE} job is started by a pipeline run's map step; run the pipeline, "
            "or rerun the run from that step"
        )
    return data


async def prepare_run(
    runtime: Runtime, principal: Principal, data: dict[str, Any]
) -> dict[str, Any]:
    run = WorkflowExecutionData.model_validate(data)
    org = principal.organization_id
    async with runtime.db.read() as session:
        try:
            pipeline = await pipeline_store.get_pipeline(
                session, organization_id=org, pipeline_id=run.workflow_id
            )
        except NotFound:
            raise InvalidInput(
                f"data.workflowId: no pipeline {run.workflow_id} in your organization"
            ) from None
        if pipeline.archived_at is not None:
            raise InvalidInput(
                f"data.workflowId: pipeline {pipeline.name!r} is archived; save a new version "
                "to restore it"
            )
        number = run.version or pipeline.latest_version
        try:
            version = await pipeline_store.get_version(
                session, pipeline_id=pipeline.id, version=number
            )
        except NotFound:
            raise InvalidInput(
                f"data.version: pipeline {pipeline.name!r} has versions 1 to "
                f"{pipeline.latest_version}, not {number}"
            ) from None
        spec = PipelineSpec.model_validate(version.spec)
        if run.rerun_of is not None and run.from_step is not None:
            await _check_rerun(session, org, run.rerun_of, run.from_step, spec)
    inputs = check_inputs(spec, run.inputs)
    return {**data, "version": number, "inputs": inputs}


async def _check_rerun(
    session: Any, org: str, rerun_of: str, from_step: str, spec: PipelineSpec
) -> None:
    try:
        earlier = await job_store.get_job(session, organization_id=org, job_id=rerun_of)
    except NotFound:
        raise InvalidInput(f"data.rerunOf: no run {rerun_of} in your organization") from None
    if earlier.type != "workflow-execution":
        raise InvalidInput(f"data.rerunOf: job {rerun_of} is a {earlier.type} job, not a run")
    if not JobStatus(earlier.status).is_terminal:
        raise Conflict(f"run {rerun_of} is {earlier.status}; rerun it once it has ended")
    if from_step not in {s.id for s in spec.steps}:
        known = ", ".join(s.id for s in spec.steps)
        raise InvalidInput(f"fromStep: the pipeline has no step {from_step!r}; its steps: {known}")
    steps = {row.step_id: row for row in await pipeline_store.list_steps(session, job_id=rerun_of)}
    for needed in sorted(upstream(dependencies(spec), from_step)):
        row = steps.get(needed)
        if row is None or row.status not in REUSABLE:
            status = row.status if row is not None else "never run"
            raise Conflict(
                f"step {needed} (upstream of {from_step}) is {status} in run {rerun_of}: "
                "there is no output to reuse; rerun from it or from a step before it"
            )

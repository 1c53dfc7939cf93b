"""Pipelines: definitions, versions and runs (issue 14); a run's steps, approvals and
reruns."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse

from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.pipeline_schemas import (
    PipelineCreate,
    PipelineLinks,
    PipelinePublic,
    PipelineRunCreate,
    PipelinesPublic,
    PipelineVersionCreate,
    PipelineVersionPublic,
    PipelineVersionsPublic,
    RerunCreate,
    RunStepPublic,
    RunStepsPublic,
    StepDecided,
    StepDecisionBody,
)
from jobdeck.api.schemas import JobPublic, Problem, ValidationProblem
from jobdeck.api.views import job_public
from jobdeck.errors import NotFound
from jobdeck.pipelines import refs
from jobdeck.pipelines.spec import json_schema
from jobdeck.pipelines.validate import SpecInvalid
from jobdeck.pipelines.views import StepView
from jobdeck.services.pipelines import PipelineService
from jobdeck.store import pipelines as pipeline_store
from jobdeck.store.tables import Pipeline, PipelineRunStep, PipelineVersion

router = APIRouter(tags=["pipelines"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Repeat a request safely: same key, same run"),
]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Conflicts with the current state"}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationProblem, "description": "Each problem with the spec, by field"}
}


async def get_service(request: Request) -> PipelineService:
    state = request.app.state
    return PipelineService(state.runtime, state.registry, state.jobs)


ServiceDep = Annotated[PipelineService, Depends(get_service)]


def _invalid(err: SpecInvalid) -> JSONResponse:
    errors = [{"field": p.field, "message": p.message} for p in err.problems]
    return JSONResponse({"detail": str(err), "errors": errors}, status_code=422)


def _public(pipeline: Pipeline, spec: dict[str, Any] | None = None) -> PipelinePublic:
    return PipelinePublic(
        id=pipeline.id,
        name=pipeline.name,
        description=pipeline.description,
        latest_version=pipeline.latest_version,
        archived=pipeline.archived_at is not None,
        created_at=pipeline.created_at,
        updated_at=pipeline.updated_at,
        spec=spec,
        links=PipelineLinks(
            self=f"/api/pipelines/{pipeline.id}",
            versions=f"/api/pipelines/{pipeline.id}/versions",
            runs="/api/jobs?type=workflow-execution",
        ),
    )


def _version(version: PipelineVersion) -> PipelineVersionPublic:
    return PipelineVersionPublic(
        pipeline_id=version.pipeline_id,
        version=version.version,
        spec=version.spec,
        user_id=version.user_id,
        created_at=version.created_at,
    )


def _step(row: PipelineRunStep, view: StepView | None = None) -> RunStepPublic:
    return RunStepPublic(
        step_id=row.step_id,
        kind=row.kind,
        status=row.status,
        attempts=row.attempts,
        output=(row.output or {}).get("value"),
        error=row.error,
        reason=row.reason,
        child_job_id=row.child_job_id,
        details=row.details,
        started_at=row.started_at,
        finished_at=row.finished_at,
        name=view.name if view else None,
        depends_on=view.depends_on if view else [],
        input=view.input if view else None,
        input_resolved=view.input_resolved if view else False,
    )


@router.get("/api/pipelines/schema", response_model=dict[str, Any])
async def pipeline_schema(principal: CurrentUser) -> dict[str, Any]:
    """The JSON Schema of a pipeline spec."""
    return json_schema()


@router.post(
    "/api/pipelines",
    status_code=status.HTTP_201_CREATED,
    response_model=PipelinePublic,
    responses={**_CONFLICT, **_INVALID},
)
async def create_pipeline(
    body: PipelineCreate, service: ServiceDep, principal: CurrentUser, response: Response
) -> PipelinePublic | JSONResponse:
    """Save a new pipeline (version 1); the spec is checked first, nothing invalid is kept."""
    try:
        pipeline, version = await service.create(
            principal, name=body.name, description=body.description, raw=body.spec
        )
    except SpecInvalid as err:
        return _invalid(err)
    response.headers["Location"] = f"/api/pipelines/{pipeline.id}"
    return _public(pipeline, version.spec)


@router.get("/api/pipelines", response_model=PipelinesPublic)
async def list_pipelines(
    runtime: RuntimeDep,
    principal: CurrentUser,
    archived: Annotated[bool, Query(description="Include archived pipelines")] = False,
    name: Annotated[str | None, Query(max_length=200, description="Only this name")] = None,
    limit: Annotated[int, Query(ge=1, le=pipeline_store.pages.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PipelinesPublic:
    """The organization's pipelines, newest first."""
    async with runtime.db.read() as session:
        rows, next_cursor = await pipeline_store.list_pipelines(
            session,
            organization_id=principal.organization_id,
            archived=archived,
            name=name,
            limit=limit,
            cursor=cursor,
        )
    return PipelinesPublic(data=[_public(p) for p in rows], next_cursor=next_cursor)


@router.get("/api/pipelines/{pipeline_id}", response_model=PipelinePublic)
async def get_pipeline(
    pipeline_id: str, runtime: RuntimeDep, service: ServiceDep, principal: CurrentUser
) -> PipelinePublic:
    """One pipeline, with its latest version's spec."""
    async with runtime.db.read() as session:
        pipeline = await service.get(session, principal, pipeline_id)
        version = await pipeline_store.get_version(
            session, pipeline_id=pipeline.id, version=pipeline.latest_version
        )
    return _public(pipeline, version.spec)


async def _save_version(
    pipeline_id: str, body: PipelineVersionCreate, service: PipelineService, principal: Any
) -> PipelineVersionPublic | JSONResponse:
    try:
        _, version = await service.save_version(
            principal, pipeline_id, raw=body.spec, description=body.description
        )
    except SpecInvalid as err:
        return _invalid(err)
    return _version(version)


@router.put(
    "/api/pipelines/{pipeline_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=PipelineVersionPublic,
    responses=_INVALID,
)
async def put_pipeline(
    pipeline_id: str, body: PipelineVersionCreate, service: ServiceDep, principal: CurrentUser
) -> PipelineVersionPublic | JSONResponse:
    """Save a new version of a pipeline (an archived one is restored); runs keep theirs."""
    return await _save_version(pipeline_id, body, service, principal)


@router.post(
    "/api/pipelines/{pipeline_id}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=PipelineVersionPublic,
    responses=_INVALID,
)
async def add_version(
    pipeline_id: str, body: PipelineVersionCreate, service: ServiceDep, principal: CurrentUser
) -> PipelineVersionPublic | JSONResponse:
    """Save a new version of a pipeline (the same as PUT /api/pipelines/{id})."""
    return await _save_version(pipeline_id, body, service, principal)


@router.get("/api/pipelines/{pipeline_id}/versions", response_model=PipelineVersionsPublic)
async def list_versions(
    pipeline_id: str, runtime: RuntimeDep, service: ServiceDep, principal: CurrentUser
) -> PipelineVersionsPublic:
    """Every version of a pipeline, newest first."""
    async with runtime.db.read() as session:
        pipeline = await service.get(session, principal, pipeline_id)
        versions = await pipeline_store.list_versions(session, pipeline_id=pipeline.id)
    return PipelineVersionsPublic(data=[_version(v) for v in versions])


@router.get("/api/pipelines/{pipeline_id}/versions/{version}", response_model=PipelineVersionPublic)
async def get_version(
    pipeline_id: str, version: int, runtime: RuntimeDep, service: ServiceDep, principal: CurrentUser
) -> PipelineVersionPublic:
    """One version of a pipeline, as saved."""
    async with runtime.db.read() as session:
        pipeline = await service.get(session, principal, pipeline_id)
        found = await pipeline_store.get_version(session, pipeline_id=pipeline.id, version=version)
    return _version(found)


@router.delete("/api/pipelines/{pipeline_id}", response_model=PipelinePublic)
async def archive_pipeline(
    pipeline_id: str, service: ServiceDep, principal: CurrentUser
) -> PipelinePublic:
    """Archive a pipeline: hidden from the list, no new runs; its versions and runs stay."""
    return _public(await service.archive(principal, pipeline_id))


@router.post(
    "/api/pipelines/{pipeline_id}/run",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    tags=["jobs"],
)
async def run_pipeline(
    pipeline_id: str,
    body: PipelineRunCreate,
    runtime: RuntimeDep,
    service: ServiceDep,
    principal: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """Start a run (a workflow-execution job) of the pipeline's latest or given version."""
    job, created = await service.run(
        principal,
        pipeline_id,
        inputs=body.inputs,
        version=body.version,
        name=body.name,
        priority=body.priority,
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_public(job, runtime.settings)


@router.post(
    "/api/jobs/{job_id}/rerun",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    tags=["jobs"],
    responses=_CONFLICT,
)
async def rerun(
    job_id: str,
    body: RerunCreate,
    runtime: RuntimeDep,
    service: ServiceDep,
    principal: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """A new run of an ended one from `fromStep`: every step upstream of it keeps its
    recorded output (nothing redone), the rest runs again."""
    job, _ = await service.rerun(
        principal, job_id, from_step=body.from_step, idempotency_key=idempotency_key
    )
    return job_public(job, runtime.settings)


@router.get("/api/jobs/{job_id}/steps", response_model=RunStepsPublic, tags=["jobs"])
async def run_steps(job_id: str, service: ServiceDep, principal: CurrentUser) -> RunStepsPublic:
    """A pipeline run's steps in spec order: status, output, error, reason, child job, the
    steps each waits for and its input."""
    rows, views = await service.run_view(principal, job_id)
    return RunStepsPublic(data=[_step(row, views.get(row.step_id)) for row in rows])


@router.get("/api/jobs/{job_id}/steps/{step_id}/output", tags=["jobs"])
async def step_output(
    job_id: str, step_id: str, runtime: RuntimeDep, service: ServiceDep, principal: CurrentUser
) -> Response:
    """A step's output in full (a large one is read from file storage)."""
    rows = {row.step_id: row for row in await service.steps(principal, job_id)}
    row = rows.get(step_id)
    if row is None:
        raise NotFound(f"run {job_id} has no step {step_id}")
    value: Any = (row.output or {}).get("value")
    if refs.is_blob(value):
        async with runtime.files.local_path(value[refs.BLOB]) as path:
            return Response(path.read_bytes(), media_type="application/json")
    return Response(json.dumps(value), media_type="application/json")


async def _decide(
    service: PipelineService, principal: Any, job_id: str, step_id: str, approve: bool, note: Any
) -> StepDecided:
    result = await service.decide(principal, job_id, step_id, approve=approve, note=note)
    return StepDecided(step_id=result["stepId"], approved=result["approved"])


@router.post(
    "/api/jobs/{job_id}/steps/{step_id}/approve",
    response_model=StepDecided,
    tags=["jobs"],
    responses=_CONFLICT,
)
async def approve_step(
    job_id: str,
    step_id: str,
    service: ServiceDep,
    principal: CurrentUser,
    body: StepDecisionBody | None = None,
) -> StepDecided:
    """Approve a waiting approval step; the run goes on."""
    return await _decide(service, principal, job_id, step_id, True, body.note if body else None)


@router.post(
    "/api/jobs/{job_id}/steps/{step_id}/reject",
    response_model=StepDecided,
    tags=["jobs"],
    responses=_CONFLICT,
)
async def reject_step(
    job_id: str,
    step_id: str,
    service: ServiceDep,
    principal: CurrentUser,
    body: StepDecisionBody | None = None,
) -> StepDecided:
    """Reject a waiting approval step: it fails (and with it the run, unless
    continueOnError)."""
    return await _decide(service, principal, job_id, step_id, False, body.note if body else None)

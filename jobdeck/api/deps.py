"""Dependencies handed to routes: the process's runtime (its clients), the job-type
registry, the services, and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobdeck.api.routes.session import COOKIE, SAFE_METHODS, same_origin, session_principal
from jobdeck.registry import JobTypeRegistry
from jobdeck.runtime import Runtime
from jobdeck.services.fine_tuning import FineTuningService
from jobdeck.services.jobs import JobControl
from jobdeck.store.accounts import Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key: Authorization: Bearer jd_...")


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_registry(request: Request) -> JobTypeRegistry:
    registry: JobTypeRegistry = request.app.state.registry
    return registry


async def get_jobs(request: Request) -> JobControl:
    jobs: JobControl = request.app.state.jobs
    return jobs


async def get_fine_tuning(request: Request) -> FineTuningService:
    service: FineTuningService = request.app.state.fine_tuning
    return service


RegistryDep = Annotated[JobTypeRegistry, Depends(get_registry)]
JobsDep = Annotated[JobControl, Depends(get_jobs)]
FineTuningDep = Annotated[FineTuningService, Depends(get_fine_tuning)]


async def current_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the API key as a bearer, else from the dashboard's session cookie
    (jobdeck/api/routes/session.py); a cookie is not enough for a change sent from
    another origin (CSRF)."""
    if credentials is None or not credentials.credentials:
        token = request.cookies.get(COOKIE)
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API key: send the header 'Authorization: Bearer <your key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if request.method not in SAFE_METHODS and not same_origin(request, runtime.settings):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "cross-origin request refused: a session cookie only works from this site's "
                "own pages; other clients send 'Authorization: Bearer <your key>'",
            )
        principal = await session_principal(runtime, token)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the session has ended (signed out, expired, or its API key revoked)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return principal
    # Every request passes here: a Core connection and one prebuilt statement, no session.
    async with runtime.db.reader_engine.connect() as conn:
        principal = await authenticate(conn, key=credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "API key is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin of the organization")
    return principal


AdminUser = Annotated[Principal, Depends(admin_principal)]

"""The dashboard's browser session: an API key traded once for a session cookie.

`POST /api/session {key}` checks the key and sets `jobdeck_session`: HttpOnly (page scripts
never see it), SameSite=Strict (no other site's page makes the browser send it), Path=/,
Secure over https, and no Max-Age (it ends with the browser session). It holds no key, only
`<key id>.<expiry>.<HMAC-SHA256 of both>` signed with `session_secret`; every request looks
the key id up, so revoking or deleting the key ends the session at once (and closes its
feeds, jobdeck/api/key_watch.py). A token expires after SESSION_TTL_S whatever the browser
keeps. `DELETE /api/session` clears the cookie: every tab of that browser is signed out.

A cookie is sent by the browser on its own, so a request authenticated by it that changes
something must come from the API's own pages (`same_origin`): a form or script elsewhere is
refused (CSRF), as the WebSocket feed refuses foreign origins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from pathlib import Path
from urllib.parse import urlparse

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import Field

from jobdeck.api.schemas import Me, Schema
from jobdeck.api.text import StorableText
from jobdeck.config import Settings
from jobdeck.runtime import Runtime
from jobdeck.store import accounts

router = APIRouter(prefix="/api", tags=["accounts"])

COOKIE = "jobdeck_session"
SESSION_TTL_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_secrets: dict[Path, bytes] = {}


class SessionCreate(Schema, StorableText):
    key: str = Field(max_length=200, description="An API key: jd_...")


def _secret(settings: Settings) -> bytes:
    """The signing secret: the setting, else one made once into the data directory (0600)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    path = (settings.data_dir / "session-secret").resolve()
    if path not in _secrets:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
        secret = path.read_text().strip()
        if not secret:  # a writer beside us has not written yet, or an empty file
            raise RuntimeError(f"{path} is empty: delete it, or set JOBDECK_SESSION_SECRET")
        _secrets[path] = secret.encode()
    return _secrets[path]


def _sign(settings: Settings, key_id: str, expires: int) -> str:
    mac = hmac.new(_secret(settings), f"session|{key_id}|{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def mint(settings: Settings, key_id: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + SESSION_TTL_S)
    return f"{key_id}.{expires}.{_sign(settings, key_id, expires)}"


def key_id_of(settings: Settings, token: str | None) -> str | None:
    """The API key id a session token was minted for, or None if forged or expired."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    key_id, expires, signature = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(signature, _sign(settings, key_id, expires)):
        return None
    return key_id if time.time() < expires else None


async def session_principal(runtime: Runtime, token: str | None) -> accounts.Principal | None:
    """The caller behind a session cookie, or None (forged, expired, or its key revoked)."""
    key_id = key_id_of(runtime.settings, token)
    if key_id is None:
        return None
    async with runtime.db.read() as session:
        return await accounts.principal_of_key(session, key_id=key_id)


def same_origin(request: Request, settings: Settings, *, required: bool = True) -> bool:
    """Whether the browser says the request comes from the API's own pages (or an allowed
    origin). Without Origin and Sec-Fetch-Site (not a browser) the answer is `not required`."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        if site is not None:
            return site == "same-origin"
        return origin is None and not required
    return origin in settings.allowed_origins or urlparse(origin).netloc == request.headers.get(
        "host"
    )


def _refuse_cross_origin() -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused")


@router.post(
    "/session",
    response_model=Me,
    responses={
        401: {"description": "The key is unknown or revoked"},
        403: {"description": "Sent from another origin"},
    },
)
async def create_session(body: SessionCreate, request: Request, response: Response) -> Me:
    """Trade an API key for a session cookie (the dashboard's sign-in): HttpOnly,
    SameSite=Strict; it holds no key, and ends with the key's revocation or sign-out."""
    runtime: Runtime = request.app.state.runtime
    if not same_origin(request, runtime.settings, required=False):
        raise _refuse_cross_origin()
    async with runtime.db.read() as session:
        principal = await accounts.authenticate(session, key=body.key.strip())
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "API key is unknown or revoked")
    response.set_cookie(
        COOKIE,
        mint(runtime.settings, principal.key_id),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return Me(
        user_id=principal.user_id, organization_id=principal.organization_id, role=principal.role
    )


@router.get(
    "/session",
    response_model=Me,
    responses={204: {"description": "No session: signed out, expired, or its key revoked"}},
)
async def read_session(request: Request) -> Response | Me:
    """Who the session cookie signs in, or 204 when there is none (the dashboard asks this
    on load, so that a signed-out browser sees no error)."""
    runtime: Runtime = request.app.state.runtime
    principal = await session_principal(runtime, request.cookies.get(COOKIE))
    if principal is None:
        return Response(
            status_code=status.HTTP_204_NO_CONTENT, headers={"Cache-Control": "no-store"}
        )
    return Me(
        user_id=principal.user_id, organization_id=principal.organization_id, role=principal.role
    )


@router.delete(
    "/session",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"description": "Sent from another origin"}},
)
async def delete_session(request: Request) -> Response:
    """Sign out: clear the session cookie (every tab of the browser shares it)."""
    runtime: Runtime = request.app.state.runtime
    if COOKIE in request.cookies and not same_origin(request, runtime.settings):
        raise _refuse_cross_origin()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response

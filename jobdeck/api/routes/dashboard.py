"""The web dashboard: static files from jobdeck/dashboard, served by the API itself.

Only the dashboard's own paths are routed here (its pages and /assets/), so nothing under
/api, /ws, /docs, /openapi.json or the health checks can be shadowed, and an unknown API
path still answers a JSON 404. Pages are client-side routes of one HTML document: a deep
link such as /jobs/<id> or /?status=failed loads the app, which renders that view.
There is no build step, so asset names carry no content hash: every response is
`no-cache` (the browser revalidates with the ETag and mostly gets a 304).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.datastructures import Headers
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboard"
INDEX = DASHBOARD_DIR / "index.html"

# Explicit, so that the answer does not depend on the host's mime.types (ES modules must
# come as JavaScript or the browser refuses them).
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
# Everything the page loads comes from this server; the feed is a same-origin WebSocket.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_ASSET_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class _Assets(StaticFiles):
    """StaticFiles (safe path lookup, ETag, 304) with fixed media types and cache headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type = _MEDIA_TYPES.get(Path(full_path).suffix.lower())
        if media_type and response.status_code == 200:
            response.headers["content-type"] = media_type
        response.headers.update(_ASSET_HEADERS)
        return response


_assets = _Assets(directory=DASHBOARD_DIR / "assets", check_dir=False)
router = APIRouter(include_in_schema=False)


@router.api_route("/assets/{path:path}", methods=["GET", "HEAD"])
async def asset(path: str, request: Request) -> Response:
    """A dashboard asset (JavaScript module, stylesheet, icon)."""
    return await _assets.get_response(posixpath.normpath(path), request.scope)


def _page(request: Request) -> Response:
    response = FileResponse(
        INDEX, headers=_PAGE_HEADERS, media_type=_MEDIA_TYPES[".html"], stat_result=INDEX.stat()
    )
    if _not_modified(response, request):
        return Response(status_code=304, headers={"etag": response.headers["etag"]})
    return response


def _not_modified(response: Response, request: Request) -> bool:
    return _assets.is_not_modified(response.headers, Headers(scope=request.scope))


@router.api_route("/", methods=["GET", "HEAD"])
async def dashboard(request: Request) -> Response:
    """The dashboard: the jobs list (filters in the query string)."""
    return _page(request)


@router.api_route("/jobs", methods=["GET", "HEAD"])
@router.api_route("/jobs/{job_id}", methods=["GET", "HEAD"])
@router.api_route("/datasets", methods=["GET", "HEAD"])
@router.api_route("/datasets/{dataset_id}", methods=["GET", "HEAD"])
@router.api_route("/collections", methods=["GET", "HEAD"])  # issue 13: collections, search
@router.api_route("/collections/{collection_id}", methods=["GET", "HEAD"])
@router.api_route("/fine-tuning", methods=["GET", "HEAD"])
@router.api_route("/fine-tuning/{rest:path}", methods=["GET", "HEAD"])
@router.api_route("/pipelines", methods=["GET", "HEAD"])  # issue 14: editor, versions, run
@router.api_route("/pipelines/{pipeline_id}", methods=["GET", "HEAD"])
@router.api_route("/schedules", methods=["GET", "HEAD"])  # issue 15: schedules
@router.api_route("/notifications", methods=["GET", "HEAD"])  # issue 15: channels, rules, log
@router.api_route("/operations", methods=["GET", "HEAD"])  # issue 18: charts, queues
@router.api_route("/new-job", methods=["GET", "HEAD"])  # issue 18: the new-job form
async def dashboard_page(request: Request) -> Response:
    """A deep link into the dashboard; the app renders the view from its URL."""
    return _page(request)

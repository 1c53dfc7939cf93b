"""How the API serves the dashboard: its pages and assets, and nothing else shadowed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jobdeck.api.routes.dashboard import DASHBOARD_DIR
from tests.conftest import Stack

pytestmark = pytest.mark.browser


@pytest.fixture
async def web(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.client(None) as client:
        yield client


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?status=failed&q=x",
        "/jobs",
        "/jobs/0b7c",
        "/datasets",
        "/datasets/1f2e",
        "/collections",
        "/collections/1f2e",
        "/fine-tuning",
    ],
)
async def test_pages_and_deep_links_load_the_app(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert '<script type="module" src="/assets/js/main.js">' in response.text


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/assets/js/main.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ],
)
async def test_assets_have_their_types_and_revalidate(
    web: httpx.AsyncClient, path: str, media_type: str
) -> None:
    response = await web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["cache-control"] == "no-cache"
    again = await web.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_every_module_the_page_imports_is_served(web: httpx.AsyncClient) -> None:
    modules = sorted((DASHBOARD_DIR / "assets" / "js").glob("*.js"))
    assert len(modules) >= 10
    for module in modules:
        response = await web.get(f"/assets/js/{module.name}")
        assert response.status_code == 200, module.name
        # Nothing is fetched from the internet at run time: no absolute URLs in imports.
        assert 'from "http' not in response.text and 'import("http' not in response.text


@pytest.mark.parametrize(
    "path", ["/assets/../routes/dashboard.py", "/assets/%2e%2e/index.html", "/assets/nope.js"]
)
async def test_nothing_outside_the_assets_is_served(web: httpx.AsyncClient, path: str) -> None:
    assert (await web.get(path)).status_code == 404


async def test_the_api_paths_are_not_shadowed(web: httpx.AsyncClient) -> None:
    unknown = await web.get("/api/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/json"
    assert (await web.get("/api/jobs")).status_code == 401  # the API, not the app
    assert (await web.get("/healthz")).status_code == 200
    assert (await web.get("/openapi.json")).json()["info"]["title"] == "jobdeck"
    assert "swagger" in (await web.get("/docs")).text.lower()
    assert (await web.get("/no-such-page")).status_code == 404
    paths = (await web.get("/openapi.json")).json()["paths"]
    assert not any(p.startswith(("/assets", "/jobs", "/datasets", "/fine-tuning")) for p in paths)

"""Every page of the dashboard's route table (assets/js/routes.js) is served by the API at
its own path, so that a reload or a shared link opens it (the server keeps its own list of
page paths: nothing outside them is sent the page)."""

from __future__ import annotations

import re
from pathlib import Path

import jobdeck
from tests.conftest import Stack

ROUTES_JS = Path(jobdeck.__file__).parent / "dashboard" / "assets" / "js" / "routes.js"


def _page_paths() -> list[str]:
    paths = re.findall(r'\{ path: "([^"]+)"', ROUTES_JS.read_text())
    assert len(paths) > 10, paths
    return [re.sub(r":\w+", "an-id", path) for path in paths]


async def test_every_page_of_the_route_table_is_served(stack: Stack) -> None:
    async with stack.client(None) as anonymous:
        for path in _page_paths():
            response = await anonymous.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html"), path
        # And a path that is no page is not.
        assert (await anonymous.get("/no-such-page")).status_code == 404

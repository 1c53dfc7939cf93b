"""Browser tests: the real dashboard in Debian's Chromium (driven by Playwright), against a
real API server (uvicorn on a free port, serving the `stack` app), the real worker and the
Temporal dev server.

They run on the SQLite stack only: the dashboard speaks to the REST and WebSocket API,
which the API and feed tests already check on both databases, and a second browser run
would double the time for nothing new. Chromium comes from Debian (`apt-get install
chromium`, as .ci/run does); `playwright install` is never used."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    async_playwright,
    expect,
)

from jobdeck.clock import utcnow
from jobdeck.domain import JobSpec
from jobdeck.store import jobs as job_store
from tests.conftest import Stack, Tenant
from tests.fine_tuning.conftest import (  # noqa: F401 (fixtures)
    FineTuneStack,
    fake_servers,
    ft,
    tiny_base,
)

BROWSER_DIR = Path(__file__).parent
CHROMIUM = os.environ.get("JOBDECK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY_STORAGE = "jobdeck.apiKey"

expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests use the SQLite stack only (see the module docstring)."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        in_here = BROWSER_DIR in Path(str(item.path)).parents
        (drop if in_here and params.get("database_url") == "postgres" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn serving an app whose lifespan already runs; it can be stopped and started
    again on the same port, as an API restart looks to a browser."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)
        raise AssertionError("uvicorn did not start")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None


@pytest.fixture
async def server(stack: Stack) -> AsyncIterator[Server]:
    srv = Server(stack.app_transport.app)  # type: ignore[arg-type]
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(
    browser: Browser, *, key: str | None = None, **options: object
) -> BrowserContext:
    context = await browser.new_context(**options)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    if key is not None:
        await context.add_init_script(f"sessionStorage.setItem({KEY_STORAGE!r}, {key!r})")
    return context


class Problems:
    """Console errors and uncaught exceptions of a page: a test fails on any."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda err: self.messages.append(f"uncaught: {err}"))
        page.on("console", self._console)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.messages.append(f"console: {msg.text}")

    def check(self, allowed: tuple[str, ...] = ()) -> None:
        real = [m for m in self.messages if not any(a in m for a in allowed)]
        assert not real, real


@pytest.fixture
def allowed_console() -> list[str]:
    """Console errors a test expects (e.g. refused connections while the API is down)."""
    return []


@asynccontextmanager
async def signed_in_page(
    browser: Browser, server: Server, key: str, allowed_console: list[str]
) -> AsyncIterator[Page]:
    """A page signed in with `key` on the dashboard's jobs list, once the feed is live; it
    fails the test on console errors other than the allowed ones."""
    context = await new_context(browser, key=key)
    page = await context.new_page()
    problems = Problems(page)
    await page.goto(server.url + "/")
    await expect(live_indicator(page)).to_have_text("Live")
    try:
        yield page
        problems.check(allowed=tuple(allowed_console))
    finally:
        await context.close()


@pytest.fixture
async def page(
    browser: Browser, server: Server, tenant: Tenant, allowed_console: list[str]
) -> AsyncIterator[Page]:
    """A signed-in page on the jobs list of a fresh organization, live."""
    async with signed_in_page(browser, server, tenant.account.key, allowed_console) as page:
        yield page


def live_indicator(page: Page) -> Locator:
    return page.get_by_role("status", name="Live updates")


def row(page: Page, name: str) -> Locator:
    """The table row of the job with this name."""
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


@pytest.fixture
async def ft_server(ft: FineTuneStack) -> AsyncIterator[Server]:  # noqa: F811 (the fixture)
    """The `ft` stack's app (a worker and API wired to the fake OpenAI and Ollama servers),
    served to the browser as `server` serves the plain stack's."""
    srv = Server(ft.stack.app_transport.app)  # type: ignore[arg-type]
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def ft_page(
    browser: Browser, ft_server: Server, tenant: Tenant, allowed_console: list[str]
) -> AsyncIterator[Page]:
    """A signed-in page of the `ft` stack's dashboard, live."""
    async with signed_in_page(browser, ft_server, tenant.account.key, allowed_console) as page:
        yield page


async def store_jobs(stack: Stack, tenant: Tenant, count: int) -> None:
    """`count` finished-looking jobs of the tenant, a second apart, written straight to the
    store (named "stored job NN", oldest first): pages of a list without running them."""
    now = utcnow()
    async with stack.db.write() as session:
        for i in range(count):
            spec = JobSpec(
                job_id=str(uuid.uuid4()),
                organization_id=tenant.account.organization_id,
                user_id=tenant.account.user_id,
                type="test-steps",
                name=f"stored job {i:02d}",
                created_at=(now - timedelta(seconds=count - i)).isoformat(),
            )
            await job_store.insert_job(session, spec=spec, now=now)

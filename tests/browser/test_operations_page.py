"""The Operations page in Chromium: jobs over time drawn as inline SVG (no library, no
request but the API's), duration percentiles by type, the task queues with their workers,
and the warning for a queue whose work no worker polls for."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import insert

from jobdeck.clock import utcnow
from jobdeck.store.tables import Job
from tests.browser.conftest import Problems, Server, live_indicator, new_context, signed_in_page
from tests.conftest import Stack, Tenant, open_stack

pytestmark = pytest.mark.browser


async def _charted(stack: Stack, tenant: Tenant) -> None:
    """Three conversions finished 20 minutes ago (after 2, 4 and 6 s, one failed), one job
    created 3 days ago."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for seconds, status in [(2, "completed"), (4, "completed"), (6, "failed")]:
        finished = now - timedelta(minutes=20)
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "organization_id": tenant.account.organization_id,
                "user_id": tenant.account.user_id,
                "type": "data-conversion",
                "name": "charted",
                "status": status,
                "priority": 3,
                "data": {},
                "attempts": 1,
                "created_at": now - timedelta(minutes=30),
                "updated_at": finished,
                "started_at": finished - timedelta(seconds=seconds),
                "finished_at": finished,
            }
        )
    rows.append({**rows[0], "id": str(uuid.uuid4()), "created_at": now - timedelta(days=3)})
    rows[-1].update(status="pending", started_at=None, finished_at=None)
    async with stack.db.write() as session:
        await session.execute(insert(Job), rows)


async def test_charts_over_time_and_durations(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    await _charted(stack, tenant)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await page.get_by_role("link", name="Operations").click()
    await expect(page).to_have_url(re.compile("/operations$"))
    await expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()

    chart = page.get_by_role("img", name="Jobs over the last hour, by minute")
    await expect(chart).to_be_visible()
    lines = chart.locator("polyline")
    await expect(lines).to_have_count(4)
    points = await lines.first.get_attribute("points")
    assert points is not None and len(points.split()) == 60
    legend = page.locator(".ts-legend")
    await expect(legend).to_contain_text("Created (3)")
    await expect(legend).to_contain_text("Completed (2)")
    await expect(legend).to_contain_text("Failed (1)")

    durations = page.get_by_role("table", name=re.compile("Duration percentiles"))
    row = durations.get_by_role("row", name=re.compile("data-conversion"))
    await expect(row).to_contain_text("3")  # finished
    await expect(row).to_contain_text("4.0 s")  # the median of 2, 4 and 6 s
    await expect(row).to_contain_text("6.0 s")  # the longest

    await page.get_by_label("Range", exact=True).select_option("week")
    await expect(page).to_have_url(re.compile(r"/operations\?range=week$"))
    week = page.get_by_role("img", name="Jobs over the last week, by hour")
    await expect(week.locator("polyline").first).to_have_attribute(
        "points", re.compile(r"^(\S+ ){167}\S+$")
    )
    await expect(legend).to_contain_text("Created (4)")
    await page.get_by_label("Type", exact=True).select_option("bulk-operation")
    await expect(legend).to_contain_text("Created (0)")
    await expect(page.get_by_text("No job finished in this range.")).to_be_visible()
    # Everything came from this server: no CDN, no chart library.
    assert all(url.startswith(server.url) for url in requests), requests

    queues = page.get_by_role("region", name="Task queues and workers")
    default = queues.get_by_role("article", name=f"Queue {stack.settings.task_queue}", exact=True)
    await expect(default).to_be_visible()
    await expect(default.locator("tr[data-kind=workflow] .pollers")).to_contain_text("@")
    await expect(default.locator("tr[data-kind=activity] .pollers")).to_contain_text("@")
    await expect(queues.get_by_role("alert")).to_have_count(0)


async def test_a_queue_with_work_and_no_worker_is_flagged(
    browser: Browser, stack: Stack, tenant: Tenant, allowed_console: list[str]
) -> None:
    queue = f"unserved-{uuid.uuid4().hex[:8]}"
    async with open_stack(stack, workers=False, task_queue=queue, worker_training="off") as idle:
        server = Server(idle.app_transport.app)  # type: ignore[arg-type]
        await server.start()
        try:
            now = utcnow()
            async with idle.db.write() as session:
                await session.execute(
                    insert(Job),
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "organization_id": tenant.account.organization_id,
                            "user_id": tenant.account.user_id,
                            "type": "model-training",
                            "name": "waits for a GPU",
                            "status": "active",
                            "priority": 3,
                            "data": {},
                            "attempts": 1,
                            "created_at": now,
                            "updated_at": now,
                        }
                    ],
                )
            async with signed_in_page(browser, server, tenant.account.key, allowed_console) as page:
                await page.goto(server.url + "/operations")
                training = page.get_by_role("article", name=f"Queue {queue}-training")
                await expect(training.get_by_role("alert")).to_have_text(
                    f"1 job(s) of its types are pending or active and no worker polls "
                    f"'{queue}-training': they cannot progress until one does"
                )
                await expect(training.locator(".no-pollers")).to_have_text("none")
                running = page.get_by_role("table", name=re.compile("newest running jobs"))
                await expect(
                    running.get_by_role("row", name=re.compile("waits for a GPU"))
                ).to_be_visible()
        finally:
            await server.stop()


async def test_a_session_opened_on_operations_fetches_no_jobs_list_until_it_is_shown(
    browser: Browser, server: Server, stack: Stack, tenant: Tenant
) -> None:
    """The jobs list starts when first shown: opened on another page, the session neither
    fetches a page of jobs nor the counts, and asks for the job types once."""
    await _charted(stack, tenant)
    context = await new_context(browser, key=tenant.account.key)
    try:
        page = await context.new_page()
        problems = Problems(page)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url.removeprefix(server.url)))
        await page.goto(server.url + "/operations?range=week")
        legend = page.locator(".ts-legend")
        await expect(legend).to_contain_text("Created (4)")
        await expect(live_indicator(page)).to_have_text("Live")
        await page.wait_for_timeout(500)  # room for any late request
        lists = [u for u in asked if u.startswith(("/api/jobs?", "/api/jobs/stats"))]
        assert lists == [], lists
        assert [u for u in asked if u == "/api/jobs/types"] == ["/api/jobs/types"], asked

        # The list, when shown, loads with the filters of its URL.
        await page.evaluate("history.pushState(null, '', '/?status=failed')")
        await page.evaluate("dispatchEvent(new PopStateEvent('popstate'))")
        await expect(page.get_by_role("row", name=re.compile("charted"))).to_have_count(1)
        assert any(u.startswith("/api/jobs?") and "status=failed" in u for u in asked), asked
        problems.check()
    finally:
        await context.close()

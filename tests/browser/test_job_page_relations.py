"""The job page shows a job's input, its attempts with each failed try's error, the job that
started it, the schedule that fired it, and the jobs it started (live)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from jobdeck.clock import utcnow
from jobdeck.domain import JobSpec
from jobdeck.store import jobs as job_store
from tests.browser.conftest import Server
from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job

pytestmark = pytest.mark.browser


async def _stored_job(
    stack: Stack,
    tenant: Tenant,
    name: str,
    *,
    parent_id: str | None = None,
    schedule_id: str | None = None,
) -> str:
    job_id = str(uuid.uuid4())
    spec = JobSpec(
        job_id=job_id,
        organization_id=tenant.account.organization_id,
        user_id=tenant.account.user_id,
        type="test-steps",
        name=name,
        data={"steps": 1},
        parent_id=parent_id,
        schedule_id=schedule_id,
    )
    async with stack.db.write() as session:
        await job_store.insert_job(session, spec=spec, now=utcnow())
    return job_id


async def test_input_attempts_parent_schedule_and_children(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    parent = await create_job(
        tenant.api,
        name="flaky parent",
        data={"steps": 1, "step_seconds": 0, "fail_times": 2, "note": "payload-marker"},
    )
    await wait_for_job(tenant.api, parent["id"])
    first_child = await _stored_job(stack, tenant, "first child", parent_id=parent["id"])

    await page.goto(f"{server.url}/jobs/{parent['id']}")
    input_box = page.get_by_role("region", name="Input")
    await expect(input_box).to_contain_text('"note": "payload-marker"')
    await expect(input_box).to_contain_text('"fail_times": 2')

    attempts = page.get_by_role("region", name="Attempts")
    tries = attempts.get_by_role("listitem")
    await expect(tries).to_have_count(2)
    await expect(tries.nth(0)).to_contain_text("Attempt 1")
    await expect(tries.nth(0)).to_contain_text("RuntimeError")
    await expect(tries.nth(0)).to_contain_text("flaky failure on attempt 1")
    await expect(tries.nth(0)).to_contain_text("next try in")
    await expect(tries.nth(1)).to_contain_text("flaky failure on attempt 2")
    await expect(attempts).to_contain_text("3 tries, 2 failed.")

    related = page.get_by_role("region", name="Related jobs")
    await expect(related).to_contain_text("Parent")
    await expect(related).to_contain_text("none")
    children = related.get_by_role("listitem")
    await expect(children).to_have_count(1)
    await expect(children.first.get_by_role("link", name="first child")).to_be_visible()

    # A child started while the page is open appears live, at the top.
    await _stored_job(stack, tenant, "second child", parent_id=parent["id"])
    await expect(children).to_have_count(2)
    await expect(children.first).to_contain_text("second child")

    # The child's page links back to its parent.
    await children.get_by_role("link", name="first child").click()
    await expect(page).to_have_url(re.compile(f"/jobs/{first_child}$"))
    child_related = page.get_by_role("region", name="Related jobs")
    await expect(child_related).to_contain_text("It started no other job.")
    await child_related.get_by_role("link", name="the job that started it").click()
    await expect(page).to_have_url(re.compile(f"/jobs/{parent['id']}$"))
    await expect(page.get_by_role("heading", name="flaky parent")).to_be_visible()


async def test_a_scheduled_job_links_to_its_schedule(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    job_id = await _stored_job(stack, tenant, "nightly run", schedule_id="nightly-report")
    await page.goto(f"{server.url}/jobs/{job_id}")
    related = page.get_by_role("region", name="Related jobs")
    link = related.get_by_role("link", name="the schedule that fired it")
    await expect(link).to_have_attribute("href", "/schedules/nightly-report")
    attempts = page.get_by_role("region", name="Attempts")
    await expect(attempts).to_contain_text("Not started yet.")
    await expect(attempts.get_by_role("listitem")).to_have_count(0)


async def test_a_job_links_to_the_jobs_it_depends_on(
    page: Page, server: Server, tenant: Tenant
) -> None:
    first = await create_job(tenant.api, name="first", data={"steps": 1, "step_seconds": 0})
    second = await create_job(tenant.api, name="second", data={"steps": 1, "step_seconds": 0})
    job = await create_job(
        tenant.api, name="after both", data={"steps": 1}, dependsOn=[first["id"], second["id"]]
    )
    await page.goto(f"{server.url}/jobs/{job['id']}")
    related = page.get_by_role("region", name="Related jobs")
    await expect(related).to_contain_text("Depends on")
    link = related.get_by_role("link", name=f"job {second['id'][:8]}")
    await expect(link).to_have_attribute("href", f"/jobs/{second['id']}")
    await link.click()
    await expect(page.get_by_role("heading", name="second")).to_be_visible()
    await wait_for_job(tenant.api, job["id"])

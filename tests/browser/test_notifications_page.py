"""The notifications page: add a webhook channel (its secret shown once) and a rule, see a
finished job's delivery in the channel's log, redeliver it, and see a channel disabled
for failing flagged; add an email channel whose server a private CA signed, its CA
certificate refused with a clear message (never the pasted text) until it is one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from jobdeck.clock import utcnow
from jobdeck.store.tables import NotificationChannel
from tests.browser.conftest import Server, signed_in_page
from tests.conftest import Stack
from tests.helpers import create_job, wait_for_job
from tests.notifications.conftest import (  # noqa: F401 (fixtures)
    Org,
    Served,
    notify_stack,
    org,
    receiver,
)
from tests.notifications.test_delivery import settled
from tests.notifications.test_starttls import (  # noqa: F401 (fixtures)
    Authority,
    TlsServer,
    authority,
    server_context,
    tls_server,
)

pytestmark = pytest.mark.browser


@pytest.fixture
async def notify_page(
    browser: Browser,
    notify_stack: Stack,  # noqa: F811
    org: Org,  # noqa: F811
    allowed_console: list[str],
) -> AsyncIterator[Page]:
    server = Server(notify_stack.app_transport.app)  # type: ignore[arg-type]
    await server.start()
    try:
        key = org.api.headers["Authorization"].removeprefix("Bearer ")
        async with signed_in_page(browser, server, key, allowed_console) as page:
            yield page
    finally:
        await server.stop()


async def test_channels_rules_log_and_redeliver(
    notify_page: Page,
    org: Org,  # noqa: F811
    receiver: Served,  # noqa: F811
) -> None:
    page = notify_page
    nav = page.get_by_role("navigation", name="Sections")
    await nav.get_by_role("link", name="Notifications").click()
    await expect(page.get_by_role("heading", level=1, name="Notifications")).to_be_visible()
    await expect(page.get_by_text("No channels yet. Add one above.")).to_be_visible()

    await page.get_by_label("Channel name").fill("ops hooks")
    await page.get_by_label("Kind").select_option("webhook")
    await page.get_by_label("URL").fill(receiver.url)
    await page.get_by_role("button", name="Add channel").click()
    secret = page.locator("#nt-secret")
    await expect(secret).to_contain_text("shown only now")
    shown = (await secret.text_content() or "").rsplit(" ", 1)[-1]
    assert shown.startswith("whsec_")
    receiver.receiver.secrets = [shown]
    channel_row = page.get_by_role("table", name="Channels").get_by_role("row")
    channel_row = channel_row.filter(has_text="ops hooks")
    await expect(channel_row).to_contain_text("enabled")

    await page.get_by_label("Rule name").fill("job ends")
    await page.get_by_label("Send to").select_option(label="ops hooks")
    await page.get_by_label("job.completed").check()
    await page.get_by_role("button", name="Add rule").click()
    rules = page.get_by_role("table", name="Rules")
    await expect(rules.get_by_role("row").filter(has_text="job ends")).to_contain_text(
        "job.completed"
    )

    job = await create_job(org.api, name="nightly", data={"steps": 1, "step_seconds": 0})
    await wait_for_job(org.api, job["id"])
    [got] = await receiver.receiver.wait_for(1)
    assert got.verified is True  # signed with the secret the page showed
    [channel] = (await org.api.get("/api/notifications/channels")).json()["items"]
    await settled(org, channel["id"], 1)

    await channel_row.get_by_role("button", name="Log").click()
    log = page.get_by_role("region", name="Delivery log of “ops hooks”")
    log_row = log.get_by_role("row").filter(has_text="job.completed")
    await expect(log_row).to_contain_text("delivered")
    await expect(log_row).to_contain_text("204")
    await log_row.get_by_role("button", name="Redeliver").click()
    again = await receiver.receiver.wait_for(2)
    assert again[1].msg_id == got.msg_id
    await settled(org, channel["id"], 1)
    await page.get_by_role("button", name="Refresh log").click()
    await expect(log_row.locator("td").nth(3)).to_have_text("2")

    # A channel disabled for failing is flagged at the top of the page.
    async with org.stack.db.write() as session:
        row = await session.get(NotificationChannel, channel["id"])
        assert row is not None
        row.disabled_at, row.disabled_reason = utcnow(), "every delivery failed for 24.0 h"
    await page.reload()
    await expect(page.locator("#nt-disabled")).to_contain_text("1 channel(s) were disabled")
    await expect(channel_row).to_contain_text("disabled")
    await channel_row.get_by_role("button", name="Enable").click()
    await expect(page.locator("#nt-disabled")).to_be_hidden()


async def test_an_email_channel_with_its_ca_certificate(
    notify_page: Page,
    org: Org,  # noqa: F811
    tls_server: TlsServer,  # noqa: F811
    authority: Authority,  # noqa: F811
    allowed_console: list[str],
) -> None:
    allowed_console.append("422")  # the refused certificate, as the browser logs it
    page = notify_page
    nav = page.get_by_role("navigation", name="Sections")
    await nav.get_by_role("link", name="Notifications").click()
    await expect(page.get_by_role("heading", level=1, name="Notifications")).to_be_visible()

    await page.get_by_label("Channel name").fill("ops mail")
    await page.get_by_label("Kind").select_option("email")
    await expect(page.get_by_label("URL")).to_be_hidden()
    await page.get_by_label("SMTP server").fill("127.0.0.1")
    await page.get_by_label("Port").fill(str(tls_server.port))
    await expect(page.get_by_label("Security")).to_have_value("starttls")
    await page.get_by_label("From").fill("jobdeck@example.com")
    await page.get_by_label("To (comma-separated)").fill("ops@example.com, oncall@example.com")
    ca = page.get_by_label("CA certificate (optional, PEM)")
    await expect(ca).to_have_accessible_description(re.compile("private or self-signed CA"))

    # Damaged: the last lines cut off. Refused, saying what is wrong, not what was pasted.
    damaged = authority.pem.replace("-----END CERTIFICATE-----", "ZZpastedZZ")
    await ca.fill(damaged)
    await page.get_by_role("button", name="Add channel").click()
    refused = page.locator("#nt-email-ca-error")
    await expect(refused).to_have_text(
        "The CA certificate was refused: not a readable PEM certificate: a "
        "-----BEGIN CERTIFICATE----- line has no -----END CERTIFICATE----- line after it "
        "(copied in part?)"
    )
    await expect(ca).to_have_attribute("aria-invalid", "true")
    # Said once, under the field (an alert); the form's own line is for other problems.
    alerts = page.get_by_role("form", name="New channel").get_by_role("alert")
    await expect(alerts).to_have_count(1)
    await expect(alerts).to_have_id("nt-email-ca-error")
    body = await page.locator("main").inner_text()
    assert "ZZpastedZZ" not in body and authority.pem.splitlines()[1] not in body
    assert (await org.api.get("/api/notifications/channels")).json()["items"] == []

    await ca.fill(authority.pem)
    await page.get_by_role("button", name="Add channel").click()
    channel_row = page.get_by_role("table", name="Channels").get_by_role("row")
    channel_row = channel_row.filter(has_text="ops mail")
    await expect(channel_row).to_contain_text("ops@example.com, oncall@example.com")
    await expect(refused).to_be_hidden()
    await expect(page.get_by_label("Kind")).to_have_value("webhook")  # the form starts over
    [created] = (await org.api.get("/api/notifications/channels")).json()["items"]
    assert created["email"]["caCert"] == authority.pem.strip()
    assert created["email"]["port"] == tls_server.port

    # A test over STARTTLS: the server's certificate checked against that CA.
    await channel_row.get_by_role("button", name="Test").click()
    await expect(page.get_by_text("Test sent to “ops mail”")).to_be_visible()
    assert len(tls_server.inbox.messages) == 1

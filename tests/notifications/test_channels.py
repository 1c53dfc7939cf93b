"""Slack, Discord and email channels against real local servers, and a channel that
fails for too long being disabled (24 h in production, a second here)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from jobdeck.notifications.announce import announce
from tests.conftest import new_tenant, open_stack
from tests.fakes.serving import free_port
from tests.notifications.conftest import Org, Served
from tests.notifications.test_delivery import settled


async def channel(org: Org, events: list[str], **body: Any) -> dict[str, Any]:
    response = await org.api.post("/api/notifications/channels", json={"name": "c", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    response = await org.api.post(
        "/api/notifications/rules",
        json={"name": "r", "channelId": created["id"], "events": events},
    )
    assert response.status_code == 201, response.text
    return created


async def stuck(org: Org, name: str = "a job", **payload: Any) -> None:
    await announce(
        org.stack.runtime,
        organization_id=org.organization_id,
        event="job.stuck",
        job_id=None,
        payload={"jobName": name, "reason": "no progress for 14 min", **payload},
    )


async def test_slack_gets_text_and_blocks(org: Org, receiver: Served) -> None:
    created = await channel(org, ["job.stuck"], kind="slack", url=receiver.url)
    await stuck(org, name="<!channel> nightly & co")
    [got] = await receiver.receiver.wait_for(1)
    body = got.json
    assert body["text"].startswith("Job “<!channel> nightly & co” is stuck")
    assert [b["type"] for b in body["blocks"]] == ["header", "section"]
    # mrkdwn is escaped, so a job's name cannot ping a channel from the fields.
    assert "no progress for 14 min" in body["blocks"][0]["text"]["text"]
    await settled(org, created["id"], 1)


async def test_discord_429_retry_after_is_honoured(org: Org, receiver: Served) -> None:
    receiver.receiver.rate_limit_first = 1
    receiver.receiver.retry_after_s = 1.5  # far longer than the first scheduled delay
    created = await channel(org, ["job.stuck"], kind="discord", url=receiver.url)
    await stuck(org, name="x" * 5000)
    [got] = await receiver.receiver.wait_for(1)
    [limited] = receiver.receiver.refused
    assert got.at - limited.at >= 1.5
    body = got.json
    assert len(body["content"]) <= 2000 and body["embeds"][0]["title"]
    assert body["allowed_mentions"] == {"parse": []}
    [delivery] = await settled(org, created["id"], 1)
    log = (await org.api.get(f"/api/notifications/deliveries/{delivery['id']}")).json()
    assert [a["statusCode"] for a in log["attemptLog"]] == [429, 204]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_email_is_sent_as_text_and_html(org: Org, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    email = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "jobdeck@example.com",
        "to": ["ops@example.com", "lead@example.com"],
    }
    created = await channel(org, ["job.stuck"], kind="email", email=email)
    assert created["email"]["to"] == ["ops@example.com", "lead@example.com"]
    await stuck(org, name="<b>bold</b> job")
    [delivery] = await settled(org, created["id"], 1)
    assert delivery["status"] == "delivered", delivery
    [message] = inbox.messages
    assert inbox.envelopes[0].rcpt_tos == ["ops@example.com", "lead@example.com"]
    assert message["Subject"].startswith("Job “<b>bold</b> job” is stuck")
    assert message["Message-ID"] == f"<{delivery['id']}@jobdeck>"
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in message.walk()}
    assert b"no progress for 14 min" in parts["text/plain"]
    assert b"&lt;b&gt;bold&lt;/b&gt;" in parts["text/html"]


async def test_starttls_required_but_not_offered_fails_clearly(
    org: Org, smtp: tuple[Inbox, int]
) -> None:
    _, port = smtp
    email = {"host": "127.0.0.1", "port": port, "sender": "a@example.com", "to": ["b@example.com"]}
    created = await channel(org, ["job.stuck"], kind="email", email=email)
    response = await org.api.post(f"/api/notifications/channels/{created['id']}/test")
    result = response.json()
    assert result["delivered"] is False and "STARTTLS" in result["error"].upper(), result


async def test_a_channel_failing_too_long_is_disabled(org: Org, receiver: Served) -> None:
    receiver.receiver.down_until = time.monotonic() + 3600
    async with open_stack(
        org.stack, task_queue=f"tq-notify-{uuid.uuid4().hex[:8]}", notification_disable_after_s=1.0
    ) as short:
        account = await new_tenant(short)
        async with short.client(account.key) as api:
            scoped = Org(short, api, account.organization_id)
            created = await channel(scoped, ["job.stuck"], kind="webhook", url=receiver.url)
            await stuck(scoped)
            [delivery] = await settled(scoped, created["id"], 1)
            listed = (await api.get("/api/notifications/channels")).json()
            assert listed["disabledCount"] == 1
            [shown] = listed["items"]
            assert shown["disabled"] and "disabled" in shown["disabledReason"]
            # The tries left after the stop were not sent.
            assert delivery["status"] == "skipped", delivery
            assert delivery["lastError"] == "the channel is disabled"
            # New events skip it until someone enables it again.
            await stuck(scoped, name="later")
            await asyncio.sleep(0.3)
            assert (
                len(
                    (
                        await api.get(f"/api/notifications/channels/{created['id']}/deliveries")
                    ).json()["items"]
                )
                == 1
            )
            enabled = await api.patch(
                f"/api/notifications/channels/{created['id']}", json={"enabled": True}
            )
            assert enabled.json()["disabled"] is False and enabled.json()["failingSince"] is None

"""What each channel kind receives for an event: a Standard Webhooks JSON body, a Slack
message (`text` + `blocks`), a Discord message (`content` of 2,000 characters at most, one
embed, no mentions), or an email (subject, plain text and HTML)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

DISCORD_CONTENT_MAX = 2000
_COLOURS = {"job.completed": 0x2E7D32, "job.failed": 0xC62828, "job.stuck": 0xEF6C00}


@dataclass(frozen=True)
class Message:
    title: str  # one line
    details: list[tuple[str, str]]  # label, value


def _one_line(text: Any, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe(body: dict[str, Any]) -> Message:
    """A person's summary of an event body ({"type", "timestamp", "data"})."""
    event = str(body.get("type", ""))
    data: dict[str, Any] = body.get("data") or {}
    job: dict[str, Any] = data.get("job") or {}
    name = _one_line(job.get("name") or data.get("jobName") or data.get("jobId") or "")
    kind = job.get("type") or data.get("jobType")
    subject = f"Job “{name}”" + (f" ({kind})" if kind else "")
    error = (job.get("error") or {}).get("message") if isinstance(job.get("error"), dict) else None
    reason = data.get("reason") or data.get("message")
    schedule = _one_line(data.get("scheduleName") or data.get("scheduleId") or "")
    titles = {
        "job.completed": f"{subject} completed",
        "job.failed": f"{subject} failed" + (f": {_one_line(error, 300)}" if error else ""),
        "job.cancelled": f"{subject} was cancelled",
        "job.stuck": f"{subject} is stuck" + (f": {_one_line(reason, 300)}" if reason else ""),
        "schedule.missed": f"Schedule “{schedule}” missed a run"
        + (f": {_one_line(reason, 300)}" if reason else ""),
        "pipeline.approval_waiting": f"{subject} is waiting for approval",
        "test": "Test notification from jobdeck",
    }
    details = [("Event", event)]
    for label, value in (
        ("Job", data.get("jobId")),
        ("Status", job.get("status")),
        ("Priority", job.get("priority")),
        ("Schedule", data.get("scheduleId")),
        ("Time", body.get("timestamp")),
    ):
        if value is not None and value != "":
            details.append((label, _one_line(value)))
    return Message(title=titles.get(event, f"jobdeck: {event}"), details=details)


def webhook_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(body: dict[str, Any]) -> bytes:
    message = describe(body)
    fields = "\n".join(f"*{k}:* {_slack_escape(v)}" for k, v in message.details)
    payload = {
        "text": message.title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": fields[:3000]}},
        ],
    }
    return json.dumps(payload).encode()


def discord_body(body: dict[str, Any]) -> bytes:
    message = describe(body)
    event = str(body.get("type", ""))
    payload = {
        "content": message.title[:DISCORD_CONTENT_MAX],
        "embeds": [
            {
                "title": message.title[:256],
                "color": _COLOURS.get(event, 0x546E7A),
                "fields": [
                    {"name": k[:256], "value": v[:1024], "inline": True}
                    for k, v in message.details[:25]
                ],
            }
        ],
        # A job's name must not ping @everyone.
        "allowed_mentions": {"parse": []},
    }
    return json.dumps(payload).encode()


def email_parts(body: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, plain text and HTML."""
    message = describe(body)
    text = message.title + "\n\n" + "\n".join(f"{k}: {v}" for k, v in message.details) + "\n"
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in message.details
    )
    markup = f"<html><body><h2>{html.escape(message.title)}</h2><table>{rows}</table></body></html>"
    return _one_line(message.title, 200), text, markup

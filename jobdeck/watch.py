"""`jobdeck jobs watch [ID]`: live progress bars in the terminal, fed by the WebSocket feed,
resuming after a dropped connection from the last event id it saw."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

TERMINAL = ("completed", "failed", "cancelled")
BAR = 24
CLOSE_UNAUTHORIZED, CLOSE_NOT_FOUND = 4401, 4404


class WatchError(Exception):
    """The feed refused us for good (bad key, unknown job)."""


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


def render(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    percent = progress.get("percent")
    filled = round(BAR * (percent or 0) / 100)
    bar = "#" * filled + "." * (BAR - filled) if percent is not None else "?" * BAR
    name = str(job.get("name") or job.get("id") or "")
    parts = [f"{name[:30]:<30}", f"[{bar}]"]
    parts.append(f"{percent:5.1f}%" if percent is not None else "    -")
    if progress.get("total") is not None:
        parts.append(
            f"{_number(progress.get('current'))}/{_number(progress['total'])} "
            f"{progress.get('unit', '')}"
        )
    if progress.get("rate"):
        parts.append(f"{progress['rate']:.1f}/s")
    if progress.get("eta") is not None and job.get("status") == "active":
        parts.append(f"eta {progress['eta']:.0f}s")
    parts.append(str(job.get("status", "")))
    return "  ".join(parts)


@dataclass
class Screen:
    """Redraws the bars in place on a terminal; elsewhere prints a line per change."""

    out: TextIO
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _drawn: int = 0

    def update(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = {**self.jobs.get(job["id"], {}), **job}
        if self.out.isatty():
            self._redraw()
        else:
            print(render(self.jobs[job["id"]]), file=self.out, flush=True)

    def _redraw(self) -> None:
        lines = [render(j) for j in self.jobs.values()]
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F")
        self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)
        self._drawn = 0


async def watch(
    base_url: str,
    key: str,
    job_id: str | None = None,
    *,
    out: TextIO | None = None,
    max_backoff_s: float = 5.0,
) -> str | None:
    """Watch one job until it ends (returns its status) or every job until cancelled."""
    ws_base = base_url.replace("https://", "wss://").replace("http://", "ws://").rstrip("/")
    path = f"/ws/jobs/{job_id}" if job_id else "/ws/jobs"
    screen = Screen(out or sys.stdout)  # looked up now: tests and tools swap sys.stdout
    after: int | None = None
    backoff = 0.5
    while True:
        url = ws_base + path + (f"?after={after}" if after is not None else "")
        try:
            async with connect(
                url,
                additional_headers={"Authorization": f"Bearer {key}"},
                proxy=None,
                open_timeout=5,
            ) as ws:
                backoff = 0.5
                async for raw in ws:
                    message = json.loads(raw)
                    kind = message.get("type")
                    if kind == "snapshot":
                        for job in message.get("jobs") or [message["job"]]:
                            screen.update(job)
                    elif kind == "event":
                        after = message["event"]["id"]
                        screen.update(message["event"]["data"]["job"])
                    elif kind in ("ready", "heartbeat"):
                        after = message["lastEventId"] if after is None else after
                    if job_id and screen.jobs.get(job_id, {}).get("status") in TERMINAL:
                        return str(screen.jobs[job_id]["status"])
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code in (CLOSE_UNAUTHORIZED, CLOSE_NOT_FOUND):
                raise WatchError(closed.rcvd.reason if closed.rcvd else "refused") from None
        except InvalidStatus as err:
            raise WatchError(f"the server refused the feed: {err}") from None
        except (OSError, TimeoutError, WebSocketException):
            pass
        screen.note(
            f"connection lost; reconnecting in {backoff:.1f} s (resuming after event {after})"
        )
        await asyncio.sleep(backoff)
        backoff = min(max_backoff_s, backoff * 2)

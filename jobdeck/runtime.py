"""The long-lived clients that activities and the API share, opened once per process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client

from jobdeck.config import Settings
from jobdeck.control import JobControl
from jobdeck.jobtypes import JobTypeRegistry
from jobdeck.store.engine import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    temporal: Client
    registry: JobTypeRegistry
    # Clients that activities open (HTTP, provider SDKs), closed with the runtime.
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.closers.clear()

    @property
    def control(self) -> JobControl:
        return JobControl(self)

"""The long-lived clients that activities and the API share, opened once per process."""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def control(self) -> JobControl:
        return JobControl(self)

"""The interface every hosted fine-tuning provider implements, and the shapes it returns.

Provider statuses are an open set: each provider maps the ones it knows to a `phase`, and
an unknown status is carried through as text and treated as still running."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

Phase = Literal[
    "validating", "queued", "training", "finalizing", "succeeded", "failed", "cancelled"
]
TERMINAL_PHASES = ("succeeded", "failed", "cancelled")


@dataclass
class ProviderJob:
    id: str
    status: str  # the provider's own word, shown as it is
    phase: Phase
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    estimated_finish: int | None = None  # unix seconds, when the provider says
    error: dict[str, Any] | None = None  # {code, message, param}

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES


@dataclass
class ProviderEvent:
    id: str
    created_at: int
    message: str
    level: str = "info"
    type: str = "message"
    data: dict[str, Any] | None = None


@dataclass
class CreateRequest:
    base_model: str
    training_file: str
    validation_file: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    suffix: str | None = None
    seed: int | None = None


class HostedFineTuner(Protocol):
    """A provider that trains on its own machines and is polled until done. Every call that
    creates something takes `key` (derived from the job id) and finds what a previous try
    with that key created before creating again."""

    name: str

    async def upload_file(self, *, key: str, path: Path) -> str: ...

    async def create_job(self, *, key: str, request: CreateRequest) -> ProviderJob: ...

    async def find_job(self, *, key: str) -> ProviderJob | None: ...

    async def get_job(self, job_id: str) -> ProviderJob: ...

    async def events_since(self, job_id: str, last_event_id: str | None) -> list[ProviderEvent]:
        """Events newer than `last_event_id`, oldest first."""
        ...

    async def cancel_job(self, job_id: str) -> None: ...

    async def checkpoints(self, job_id: str) -> list[dict[str, Any]]: ...

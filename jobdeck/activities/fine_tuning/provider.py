"""What a fine-tuning provider declares (`FineTuningProvider`), the interface a hosted one
implements (`HostedFineTuner`), and the shapes it returns.

Provider statuses are an open set: each provider maps the ones it knows to a `phase`, and
an unknown status is carried through as text and treated as still running."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime

# Which option sections of a fine-tuning request a provider takes.
Option = Literal["hyperparameters", "parameters", "training"]

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

    async def upload_file(self, *, key: str, path: Path) -> str: ...

    async def create_job(self, *, key: str, request: CreateRequest) -> ProviderJob: ...

    async def find_job(self, *, key: str) -> ProviderJob | None: ...

    async def get_job(self, job_id: str) -> ProviderJob: ...

    async def events_since(self, job_id: str, last_event_id: str | None) -> list[ProviderEvent]:
        """Events newer than `last_event_id`, oldest first."""
        ...

    async def cancel_job(self, job_id: str) -> ProviderJob:
        """Cancel it (a job that has ended already stays as it ended); the job as it is now."""
        ...

    async def checkpoints(self, job_id: str) -> list[dict[str, Any]]: ...


def _same(name: str) -> str:
    return name


@dataclass(frozen=True)
class FineTuningProvider:
    """One provider, declared once in its own module and listed in `providers.py`. The
    API, the fine-tuning workflow and the dashboard (through the API) read only this."""

    name: str
    label: str  # how a person reads its name
    description: str
    job_type: str  # the job type that runs its fine-tunes
    options: tuple[Option, ...]
    # Why a fine-tune cannot be started with it here (None: it can); asked at creation.
    unavailable: Callable[[Runtime], Awaitable[str | None]]
    # The base models it offers now, and why it is not usable (None: it is); for the list.
    status: Callable[[Runtime], Awaitable[tuple[list[str], str | None]]]
    # What to do when it offers no base models.
    no_models_hint: str = "No base models available"
    # Its own activities, beside the shared hosted steps (see hosted.py).
    activities: Sequence[Callable[..., Any]] = ()
    # A provider that trains on its own machines and is polled: its client.
    open_hosted: Callable[[Runtime], HostedFineTuner] | None = None
    # A base model's canonical name (an alias becomes the name the provider bills).
    canonical_model: Callable[[str], str] = _same
    # Whether token counts and cost in the validation report follow its base model.
    prices_tokens: bool = False
    # A fine-tuning request (FineTuningCreate) as the data of a job of `job_type`; None:
    # the request's own fields.
    job_data: Callable[[Any], dict[str, Any]] | None = None

    @property
    def hosted(self) -> bool:
        return self.open_hosted is not None


def model_name(base_model: str, suffix: str | None, job_id: str, *, default_suffix: str) -> str:
    """A fine-tuned model's name: `<base>-<suffix>:<8 chars of the job>`, unique per job,
    readable in `ollama list`. The base is the last part of a path or repository name,
    without its tag."""
    base = base_model.split(":", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "model"
    return f"{base}-{suffix or default_suffix}:{job_id[:8]}".lower()

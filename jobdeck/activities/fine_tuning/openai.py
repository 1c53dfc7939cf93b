"""The `openai` provider: supervised fine-tuning on OpenAI's machines, driven by the
shared hosted steps (upload, create, poll, cancel) through the official SDK, which is
imported on first use (it costs every worker ~13 MB it may never need)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobdeck.activities.fine_tuning.provider import FineTuningProvider, HostedFineTuner
from jobdeck.fine_tuning_models import MODELS, find_model

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime

NAME = "openai"


async def _unavailable(runtime: Runtime) -> str | None:
    if runtime.settings.openai_api_key is None:
        return "the openai provider is not configured on this server: set JOBDECK_OPENAI_API_KEY"
    return None


async def _status(runtime: Runtime) -> tuple[list[str], str | None]:
    return list(MODELS), await _unavailable(runtime)


def _open(runtime: Runtime) -> HostedFineTuner:
    settings = runtime.settings
    if settings.openai_api_key is None:
        from temporalio.exceptions import ApplicationError

        raise ApplicationError(
            "the openai provider is not configured: set JOBDECK_OPENAI_API_KEY",
            type="ProviderNotConfigured",
            non_retryable=True,
        )
    from jobdeck.activities.fine_tuning.openai_client import OpenAIFineTuner
    from jobdeck.providers.transport import openai_client

    # No SDK retries: Temporal retries, with backoff; one layer only (a 429 is waited out
    # by the provider budget's transport).
    client = openai_client(runtime.budgets, settings, max_retries=0)
    runtime.closers.append(client.close)
    return OpenAIFineTuner(client)


PROVIDER = FineTuningProvider(
    name=NAME,
    label="OpenAI",
    description="Supervised fine-tuning on OpenAI's machines, polled until it ends.",
    job_type="fine-tuning",
    options=("hyperparameters",),
    unavailable=_unavailable,
    status=_status,
    open_hosted=_open,
    canonical_model=lambda name: find_model(name).name,
    prices_tokens=True,
)

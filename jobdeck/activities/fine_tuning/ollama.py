"""Jobs on Ollama: the fine-tuning job (pull the base model, then create the customized
model from it with a system prompt and few-shot messages taken from the chat dataset), and
publishing a LoRA adapter trained here (pull the base, upload the adapter's files as
blobs, create the model with `adapters`). The `ollama` provider is declared here."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.base import ActivityGroup
from jobdeck.activities.fine_tuning.ollama_client import OllamaBuilder
from jobdeck.activities.fine_tuning.provider import FineTuningProvider, model_name
from jobdeck.activities.progress import ProgressReporter
from jobdeck.clock import utcnow
from jobdeck.errors import NotFound
from jobdeck.providers.transport import budgeted_client
from jobdeck.redact import Redactor
from jobdeck.store import fine_tuning as ft_store
from jobdeck.store.tables import Model

if TYPE_CHECKING:
    from jobdeck.activities.base import JobActions
    from jobdeck.runtime import Runtime

NAME = "ollama"

FEW_SHOT_EXAMPLES = 8


@dataclass
class PublishInput:
    job_id: str
    organization_id: str
    model_id: str
    base_model: str | None = None
    name: str | None = None


@dataclass
class OllamaBuildInput:
    job_id: str
    organization_id: str
    dataset_id: str
    base_model: str
    name: str
    suffix: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def few_shot(lines: list[str]) -> tuple[str | None, list[dict[str, str]]]:
    """The first system prompt and up to FEW_SHOT_EXAMPLES user/assistant pairs."""
    system: str | None = None
    messages: list[dict[str, str]] = []
    for line in lines:
        example = json.loads(line)
        turns = [m for m in example.get("messages", []) if isinstance(m, dict)]
        system = system or next((m["content"] for m in turns if m.get("role") == "system"), None)
        pair = [m for m in turns if m.get("role") in ("user", "assistant")][:2]
        if [m["role"] for m in pair] == ["user", "assistant"]:
            messages += [{"role": m["role"], "content": str(m["content"])} for m in pair]
        if len(messages) >= 2 * FEW_SHOT_EXAMPLES:
            break
    return system, messages


class OllamaActivities(ActivityGroup):
    def __init__(self, runtime: Runtime, jobs: JobActions) -> None:
        super().__init__(runtime, jobs)
        client = budgeted_client(
            runtime.budgets,
            "ollama",
            base_url=runtime.settings.ollama_base_url,
            timeout=httpx.Timeout(runtime.settings.provider_timeout_s),
        )
        runtime.closers.append(client.aclose)
        self.redactor = Redactor.of(runtime.settings)
        self.builder = OllamaBuilder(client)

    async def _examples(self, request: OllamaBuildInput) -> tuple[str | None, list[dict[str, str]]]:
        dataset = await self.records.find_dataset(request.organization_id, request.dataset_id)
        lines: list[str] = []
        async with self.files.local_path(dataset.storage_key) as path:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        lines.append(line)
                    if len(lines) >= 4 * FEW_SHOT_EXAMPLES:
                        break
        return few_shot(lines)

    async def _message(self, job_id: str, text: str) -> None:
        """One of Ollama's status lines on the job's timeline (redacted, as it is text
        from outside)."""
        await self.records.note_message(job_id, self.redactor.text(text), source="ollama")

    async def _pull(self, job_id: str, model: str, progress: ProgressReporter) -> None:
        """Pull a model, its download as progress in bytes, each new status a message.

        Ollama reports each layer (digest) on its own, one after another, each from 0 to
        its size: the progress is their sum, completed over total, of the layers seen so
        far, so it never goes back when the next layer starts."""
        last_status: str | None = None
        layers: dict[str, tuple[int, int]] = {}

        async def on_pull(item: dict[str, Any]) -> None:
            nonlocal last_status
            status = str(item.get("status", ""))
            if "total" in item:
                key = str(item.get("digest") or status)
                done_before, _ = layers.get(key, (0, 0))
                total = int(item["total"] or 0)
                done = min(total, max(done_before, int(item.get("completed") or 0)))
                layers[key] = (done, total)
                await progress.update(
                    sum(d for d, _ in layers.values()),
                    total=sum(t for _, t in layers.values()),
                    message=status,
                )
            else:
                activity.heartbeat(status)
            if status != last_status and not status.startswith("pulling "):
                last_status = status
                await self._message(job_id, status)

        await self.builder.pull(model, on_pull)

    async def _create(self, job_id: str, body: dict[str, Any]) -> None:
        async def on_create(item: dict[str, Any]) -> None:
            activity.heartbeat(item)
            await self._message(job_id, str(item.get("status", "")))

        await self.builder.create(body, on_create)

    @activity.defn(name="fine-tuning.ollama-build")
    async def build(self, request: OllamaBuildInput) -> dict[str, Any]:
        system, messages = await self._examples(request)
        name = model_name(
            request.base_model, request.suffix, request.job_id, default_suffix="jobdeck"
        )
        async with ProgressReporter(self.records, unit="bytes", stage="pulling") as progress:
            await self._pull(request.job_id, request.base_model, progress)
            await progress.update(
                progress.progress.current, stage="creating", message=f"creating {name}"
            )

            body: dict[str, Any] = {"model": name, "from": request.base_model, "messages": messages}
            if system:
                body["system"] = system
            if request.parameters:
                body["parameters"] = request.parameters
            await self._create(request.job_id, body)

        async def work(session: AsyncSession) -> str:
            model = await ft_store.record_model(
                session,
                fine_tuning_id=request.job_id,
                organization_id=request.organization_id,
                name=name,
                provider=NAME,
                base_model=request.base_model,
                dataset_id=request.dataset_id,
                details={"fewShotExamples": len(messages) // 2, "system": bool(system)},
                now=utcnow(),
                values={"provider_status": "success"},
            )
            return model.id

        model_id = await self.db.transact(work)
        return {"fineTunedModel": name, "modelId": model_id}

    @activity.defn(name="models.publish-ollama")
    async def publish(self, request: PublishInput) -> dict[str, Any]:
        """A LoRA adapter trained here, as a new Ollama model on its base model."""
        source = await self._adapter_model(request)
        base = request.base_model or (source.details or {}).get("ollamaBaseModel")
        if not base:
            raise ApplicationError(
                "say which Ollama model the adapter was trained on (baseModel)",
                type="PublishBaseMissing",
                non_retryable=True,
            )
        adapter = self.settings.adapter_dir(str(source.job_id))
        files = sorted(p for p in adapter.glob("adapter_*") if p.is_file())
        if not any(p.suffix == ".safetensors" for p in files):
            raise ApplicationError(
                f"the adapter files of model {source.id} are gone from {adapter}",
                type="AdapterMissing",
                non_retryable=True,
            )
        name = request.name or source.name
        async with ProgressReporter(self.records, unit="bytes", stage="pulling") as progress:
            await self._pull(request.job_id, base, progress)
            await progress.update(progress.progress.current, stage="uploading", message=name)
            digests = {p.name: await self.builder.push_blob(p) for p in files}
            await progress.update(progress.progress.current, stage="creating", message=name)
            await self._create(request.job_id, {"model": name, "from": base, "adapters": digests})

        async def work(session: AsyncSession) -> str:
            now = utcnow()
            model = await ft_store.ensure_model(
                session,
                organization_id=request.organization_id,
                job_id=request.job_id,
                name=name,
                provider=NAME,
                base_model=base,
                dataset_id=source.dataset_id,
                details={"adapterOf": source.id, "adapterDigests": digests},
                now=now,
            )
            await ft_store.note_published(
                session, model_id=source.id, published={"ollama": name, "modelId": model.id}
            )
            return model.id

        model_id = await self.db.transact(work)
        return {"ollamaModel": name, "modelId": model_id, "adapterOf": source.id}

    async def _adapter_model(self, request: PublishInput) -> Model:
        try:
            async with self.db.read() as session:
                model = await ft_store.get_model(
                    session, organization_id=request.organization_id, model_id=request.model_id
                )
        except NotFound:
            raise ApplicationError(
                f"model {request.model_id} not found in your organization",
                type="ModelNotFound",
                non_retryable=True,
            ) from None
        if (model.details or {}).get("kind") != "lora-adapter" or model.job_id is None:
            raise ApplicationError(
                f"model {model.name} is not a LoRA adapter trained by jobdeck",
                type="NotAnAdapter",
                non_retryable=True,
            )
        return model


async def _status(runtime: Runtime) -> tuple[list[str], str | None]:
    """The models Ollama has now (its /api/tags), or why it cannot be asked. Not under
    the provider budget: a look of at most two seconds for a form, not a job's call."""
    url = runtime.settings.ollama_base_url
    try:
        async with asyncio.timeout(2), httpx.AsyncClient(base_url=url) as client:
            tags = (await client.get("/api/tags")).json()
        return sorted(m.get("name") or m.get("model") for m in tags.get("models", [])), None
    except (httpx.HTTPError, TimeoutError, ValueError):
        return [], f"Ollama does not answer at {url}"


async def _never_refused(_runtime: Runtime) -> str | None:
    return None  # an Ollama that is down now is retried by the job's step


PROVIDER = FineTuningProvider(
    name=NAME,
    label="Ollama",
    description=(
        "Ollama does not train. It customizes a base model: jobdeck pulls the base model "
        "and creates a new one from it with the dataset's system prompt and a few of its "
        "examples as few-shot messages."
    ),
    job_type="fine-tuning",
    options=("parameters",),
    unavailable=_never_refused,
    status=_status,
    activities=(OllamaActivities.build,),
)

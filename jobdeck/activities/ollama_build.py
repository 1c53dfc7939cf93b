"""The fine-tuning job on Ollama: pull the base model, then create the customized model
from it with a system prompt and few-shot messages taken from the chat dataset."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.progress import ProgressReporter
from jobdeck.activities.providers.ollama import OllamaBuilder
from jobdeck.activities.records import JobRecords
from jobdeck.control import utcnow
from jobdeck.domain import EventKind
from jobdeck.errors import NotFound
from jobdeck.storage import open_storage
from jobdeck.store import datasets as dataset_store
from jobdeck.store import finetuning as ft_store
from jobdeck.store import jobs as job_store

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime

FEW_SHOT_EXAMPLES = 8


@dataclass
class OllamaBuildInput:
    job_id: str
    organization_id: str
    dataset_id: str
    base_model: str
    name: str
    suffix: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def model_name(base_model: str, suffix: str | None, job_id: str) -> str:
    """`<base>-<suffix>:<8 chars of the job>`: unique per job, readable in `ollama list`."""
    base = base_model.split(":", 1)[0].replace("/", "-")
    return f"{base}-{suffix or 'jobdeck'}:{job_id[:8]}".lower()


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


class OllamaActivities:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.records = JobRecords(runtime.db, runtime.settings)
        self.storage = open_storage(runtime.settings)
        client = httpx.AsyncClient(
            base_url=runtime.settings.ollama_base_url,
            timeout=httpx.Timeout(runtime.settings.provider_timeout_s),
        )
        runtime.closers.append(client.aclose)
        self.builder = OllamaBuilder(client)

    def all(self) -> list[Any]:
        return [self.build]

    async def _examples(self, request: OllamaBuildInput) -> tuple[str | None, list[dict[str, str]]]:
        try:
            async with self.runtime.db.read() as session:
                dataset = await dataset_store.get_dataset(
                    session,
                    organization_id=request.organization_id,
                    dataset_id=request.dataset_id,
                )
        except NotFound:
            raise ApplicationError(
                f"dataset {request.dataset_id} not found in your organization",
                type="DatasetNotFound",
                non_retryable=True,
            ) from None
        lines: list[str] = []
        async with self.storage.local_path(dataset.storage_key) as path:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        lines.append(line)
                    if len(lines) >= 4 * FEW_SHOT_EXAMPLES:
                        break
        return few_shot(lines)

    async def _message(self, job_id: str, text: str) -> None:
        async def work(session: AsyncSession) -> None:
            await job_store.note_event(
                session,
                job_id=job_id,
                kind=EventKind.MESSAGE,
                now=utcnow(),
                data={"message": text, "source": "ollama"},
            )

        await self.runtime.db.transact(work)

    @activity.defn(name="fine-tuning.ollama-build")
    async def build(self, request: OllamaBuildInput) -> dict[str, Any]:
        system, messages = await self._examples(request)
        name = model_name(request.base_model, request.suffix, request.job_id)
        last_status: str | None = None
        async with ProgressReporter(self.records, unit="bytes", stage="pulling") as progress:

            async def on_pull(item: dict[str, Any]) -> None:
                nonlocal last_status
                status = str(item.get("status", ""))
                if "total" in item:
                    await progress.update(
                        item.get("completed", 0), total=item["total"], message=status
                    )
                else:
                    activity.heartbeat(status)
                if status != last_status and not status.startswith("pulling "):
                    last_status = status
                    await self._message(request.job_id, status)

            await self.builder.pull(request.base_model, on_pull)
            await progress.update(
                progress.progress.current, stage="creating", message=f"creating {name}"
            )

            async def on_create(item: dict[str, Any]) -> None:
                activity.heartbeat(item)
                await self._message(request.job_id, str(item.get("status", "")))

            body: dict[str, Any] = {"model": name, "from": request.base_model, "messages": messages}
            if system:
                body["system"] = system
            if request.parameters:
                body["parameters"] = request.parameters
            await self.builder.create(body, on_create)

        async def work(session: AsyncSession) -> str:
            now = utcnow()
            model = await ft_store.ensure_model(
                session,
                organization_id=request.organization_id,
                job_id=request.job_id,
                name=name,
                provider="ollama",
                base_model=request.base_model,
                dataset_id=request.dataset_id,
                details={"fewShotExamples": len(messages) // 2, "system": bool(system)},
                now=now,
            )
            await ft_store.update_fine_tuning(
                session,
                fine_tuning_id=request.job_id,
                now=now,
                values={
                    "phase": "succeeded",
                    "fine_tuned_model": name,
                    "model_id": model.id,
                    "finished_at": now,
                    "provider_status": "success",
                },
            )
            return model.id

        model_id = await self.runtime.db.transact(work)
        return {"fineTunedModel": name, "modelId": model_id}

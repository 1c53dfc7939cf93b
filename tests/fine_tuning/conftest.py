"""A worker and API wired to the fake OpenAI and Ollama servers (real SDK, real HTTP)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import Stack, open_stack
from tests.fakes.clock import FakeClock
from tests.fakes.ollama_server import create_ollama_fake
from tests.fakes.ollama_state import OllamaControl
from tests.fakes.openai_control import FakeControl
from tests.fakes.openai_jobs import Timeline
from tests.fakes.openai_server import control_of, create_openai_fake
from tests.fakes.serving import Switchable, serving
from tests.training.tiny_model import BASE, build_tiny_model
from tests.training.tiny_model import chat_examples as tiny_examples

# A sentinel that must never leave the activities: not in history, events, logs, responses.
SENTINEL_KEY = "sk-sentinel-" + "7e57" * 8


@dataclass
class Fakes:
    openai: FakeControl
    ollama: OllamaControl
    clock: FakeClock


@dataclass
class FineTuneStack:
    stack: Stack
    api: httpx.AsyncClient
    fakes: Fakes


@pytest.fixture(scope="session")
async def fake_servers() -> AsyncIterator[tuple[Switchable, str, Switchable, str]]:
    openai_switch, ollama_switch = Switchable(), Switchable()
    async with serving(openai_switch) as openai_url, serving(ollama_switch) as ollama_url:
        yield openai_switch, openai_url, ollama_switch, ollama_url


@pytest.fixture
async def ft(
    stack: Stack, fake_servers: tuple[Switchable, str, Switchable, str], tenant: Any
) -> AsyncIterator[FineTuneStack]:
    openai_switch, openai_url, ollama_switch, ollama_url = fake_servers
    # Fake time runs 200x: a job of 20 one-second steps takes a tenth of a second.
    clock = FakeClock(speed=200.0)
    openai_app = create_openai_fake(
        clock,
        api_key=SENTINEL_KEY,
        timeline=Timeline(validating_s=2, queued_s=2, step_s=1, finalize_s=2, total_steps=20),
    )
    ollama_app = create_ollama_fake(clock)
    openai_switch.app, ollama_switch.app = openai_app, ollama_app
    async with (
        open_stack(
            stack,
            task_queue=f"ft-{uuid.uuid4().hex[:8]}",
            openai_api_key=SecretStr(SENTINEL_KEY),
            openai_base_url=f"{openai_url}/v1",
            ollama_base_url=ollama_url,
            fine_tuning_poll_interval_s=0.1,
            provider_timeout_s=2.0,
            training_heartbeat_timeout_s=10.0,
        ) as ft_stack,
        ft_stack.client(tenant.account.key) as api,
    ):
        yield FineTuneStack(
            ft_stack, api, Fakes(control_of(openai_app), ollama_app.state.control, clock)
        )


@pytest.fixture(scope="session")
def tiny_base(stack: Stack) -> Path:
    """The tiny model (tests/training/tiny_model.py), in the base-models directory the
    workers read; built once per database backend."""
    folder = stack.settings.base_models_root / BASE
    if not (folder / "config.json").is_file():
        build_tiny_model(folder, tiny_examples(64))
    return folder


def chat_jsonl(examples: int = 12) -> bytes:
    lines = [
        {
            "messages": [
                {"role": "system", "content": "You answer like a pirate."},
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"Arr, {2 * i} it be."},
            ]
        }
        for i in range(examples)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


async def upload_dataset(api: httpx.AsyncClient, content: bytes, name: str = "chat.jsonl") -> str:
    response = await api.post("/api/datasets", files={"file": (name, content)})
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


async def start_fine_tune(api: httpx.AsyncClient, dataset_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "pirate",
        "datasetId": dataset_id,
        "baseModel": "gpt-4o-mini",
        "provider": "openai",
        **extra,
    }
    response = await api.post("/api/fine-tuning/jobs", json=body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record

"""Fixtures for the fakes' own tests: one server per fake for the session, a fresh fake (and
fresh state) per test behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.ollama_server import create_ollama_fake
from tests.fakes.ollama_state import OllamaControl
from tests.fakes.openai_control import FakeControl
from tests.fakes.openai_server import control_of, create_openai_fake
from tests.fakes.serving import Switchable, serving

API_KEY = "sk-test-fake"
START = 1_750_000_000.0


@dataclass
class Served:
    switch: Switchable
    url: str


@dataclass
class OpenAIFake:
    base_url: str  # ends in /v1, as the SDK wants it
    control: FakeControl

    def client(self, **kwargs: object) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=API_KEY, **kwargs)  # type: ignore[arg-type]


@dataclass
class OllamaFake:
    http: httpx.AsyncClient
    control: OllamaControl


@pytest.fixture(scope="session")
async def openai_served() -> AsyncIterator[Served]:
    switch = Switchable()
    async with serving(switch) as url:
        yield Served(switch, url)


@pytest.fixture(scope="session")
async def ollama_served() -> AsyncIterator[Served]:
    switch = Switchable()
    async with serving(switch) as url:
        yield Served(switch, url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def fake(clock: FakeClock, openai_served: Served) -> OpenAIFake:
    app = create_openai_fake(clock, api_key=API_KEY)
    openai_served.switch.app = app
    return OpenAIFake(f"{openai_served.url}/v1", control_of(app))


@pytest.fixture
async def client(fake: OpenAIFake) -> AsyncIterator[openai.AsyncOpenAI]:
    async with fake.client() as client:
        yield client


@pytest.fixture
async def ollama(clock: FakeClock, ollama_served: Served) -> AsyncIterator[OllamaFake]:
    app = create_ollama_fake(clock, pull_chunks=3)
    ollama_served.switch.app = app
    async with httpx.AsyncClient(base_url=ollama_served.url, timeout=10) as http:
        yield OllamaFake(http, app.state.control)

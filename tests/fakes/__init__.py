"""Fake provider servers that speak the real OpenAI and Ollama HTTP APIs, for tests and demos.

    from tests.fakes import FakeClock, create_openai_fake, create_ollama_fake, serving

Each factory returns a FastAPI app whose `app.state.control` steers it (clock, counters,
scripted faults). The names below load lazily, so `python -m tests.fakes.openai_server` and
`python -m tests.fakes.ollama_server` run without importing each other.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.clock import FakeClock
    from tests.fakes.ollama_server import create_ollama_fake
    from tests.fakes.ollama_state import OllamaControl
    from tests.fakes.openai_control import BLOCKED_MESSAGE, FakeControl
    from tests.fakes.openai_jobs import JobFailure, Timeline
    from tests.fakes.openai_server import create_openai_fake
    from tests.fakes.serving import free_port, serving

_EXPORTS = {
    "FakeClock": "tests.fakes.clock",
    "create_ollama_fake": "tests.fakes.ollama_server",
    "OllamaControl": "tests.fakes.ollama_state",
    "BLOCKED_MESSAGE": "tests.fakes.openai_control",
    "FakeControl": "tests.fakes.openai_control",
    "JobFailure": "tests.fakes.openai_jobs",
    "Timeline": "tests.fakes.openai_jobs",
    "create_openai_fake": "tests.fakes.openai_server",
    "free_port": "tests.fakes.serving",
    "serving": "tests.fakes.serving",
}
__all__ = [
    "BLOCKED_MESSAGE",
    "FakeClock",
    "FakeControl",
    "JobFailure",
    "OllamaControl",
    "Timeline",
    "create_ollama_fake",
    "create_openai_fake",
    "free_port",
    "serving",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tests.fakes' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

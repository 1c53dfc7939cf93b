"""The fake Ollama's memory: a pretend model library, local models, blobs; and its control.

Endpoint names for counters and faults: `pull`, `create`, `blobs.head`, `blobs.create`,
`tags`, `show`, `delete`; `"*"` is all of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.clock import FakeClock
from tests.fakes.faults import Fault, FaultBook


def sha256(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def normalize(name: str) -> str:
    """`llama3.2` -> `llama3.2:latest`, as Ollama names models."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def rfc3339(when: float) -> str:
    text = datetime.fromtimestamp(when, tz=UTC).isoformat()
    return text.replace("+00:00", "Z")


@dataclass
class LibraryModel:
    """A model the fake's pretend registry can pull: its layers are (digest, size)."""

    name: str
    family: str
    parameter_size: str
    quantization_level: str
    layers: list[tuple[str, int]]

    @classmethod
    def make(cls, name: str, size: int, family: str, params: str, quant: str) -> LibraryModel:
        name = normalize(name)
        layers = [
            (sha256(f"{name}/model"), size),
            (sha256(f"{name}/template"), 1_429),
            (sha256(f"{name}/license"), 7_711),
            (sha256(f"{name}/params"), 96),
        ]
        return cls(name, family, params, quant, layers)

    def details(self, parent: str = "") -> dict[str, Any]:
        return {
            "parent_model": parent,
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


def default_library() -> dict[str, LibraryModel]:
    models = [
        LibraryModel.make("llama3.2:latest", 2_019_377_376, "llama", "3.2B", "Q4_K_M"),
        LibraryModel.make("llama3.2:1b", 1_321_082_688, "llama", "1.2B", "Q8_0"),
        LibraryModel.make("llama3.2:1b-instruct-fp16", 2_479_595_424, "llama", "1.2B", "F16"),
        LibraryModel.make("qwen2.5:0.5b", 397_807_936, "qwen2", "494.03M", "Q4_K_M"),
        LibraryModel.make("smollm2:135m", 270_898_368, "llama", "134.52M", "F16"),
    ]
    return {model.name: model for model in models}


@dataclass
class LocalModel:
    name: str
    base: LibraryModel
    modified_at: float
    parent: str = ""
    system: str = ""
    template: str = "{{ .Prompt }}"
    license: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    adapters: dict[str, str] = field(default_factory=dict)
    extra_layers: list[tuple[str, int]] = field(default_factory=list)
    quantization_level: str | None = None

    @property
    def layers(self) -> list[tuple[str, int]]:
        return self.base.layers + self.extra_layers

    @property
    def size(self) -> int:
        return sum(size for _, size in self.layers)

    @property
    def digest(self) -> str:
        manifest = json.dumps({"name": self.name, "layers": self.layers}, sort_keys=True)
        return sha256(manifest).removeprefix("sha256:")

    def details(self) -> dict[str, Any]:
        details = self.base.details(self.parent)
        if self.quantization_level:
            details["quantization_level"] = self.quantization_level
        return details

    def tag(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": rfc3339(self.modified_at),
            "size": self.size,
            "digest": self.digest,
            "details": self.details(),
        }

    def parameters_text(self) -> str:
        lines: list[str] = []
        for key, value in self.parameters.items():
            for item in value if isinstance(value, list) else [value]:
                shown = json.dumps(item) if isinstance(item, str) else str(item)
                lines.append(f"{key:<30} {shown}")
        return "\n".join(lines)

    def modelfile(self) -> str:
        lines = [f"FROM {self.parent or self.base.name}"]
        lines += [f"ADAPTER {name}" for name in self.adapters]
        lines.append(f'TEMPLATE """{self.template}"""')
        if self.system:
            lines.append(f'SYSTEM """{self.system}"""')
        for key, value in self.parameters.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"PARAMETER {key} {item}")
        lines += [f"MESSAGE {m.get('role')} {m.get('content')}" for m in self.messages]
        return "\n".join(lines)


class OllamaState:
    def __init__(self, clock: FakeClock, *, max_blob_bytes: int = 64 * 1024 * 1024) -> None:
        self.clock = clock
        self.library = default_library()
        self.models: dict[str, LocalModel] = {}
        self.blobs: dict[str, bytes] = {}
        self.max_blob_bytes = max_blob_bytes

    def install(self, name: str) -> LocalModel:
        """Put a library model on the fake's disk, as if pulled earlier."""
        base = self.library[normalize(name)]
        model = LocalModel(base.name, base, self.clock.now(), license=["fake license"])
        self.models[model.name] = model
        return model


@dataclass
class StreamFault:
    endpoint: str
    after_lines: int
    error: str
    remaining: int | None

    def matches(self, endpoint: str) -> bool:
        return self.remaining != 0 and self.endpoint in ("*", endpoint)


class OllamaControl(FaultBook):
    """Steers one fake Ollama app; it is `app.state.control`."""

    def __init__(
        self, state: OllamaState, *, line_delay: float = 0.0, pull_chunks: int = 4
    ) -> None:
        super().__init__()
        self.state = state
        self.line_delay = line_delay  # real seconds between streamed lines
        self.pull_chunks = pull_chunks  # progress lines per layer in a pull
        self._stream_faults: list[StreamFault] = []

    @property
    def clock(self) -> FakeClock:
        return self.state.clock

    @property
    def models(self) -> dict[str, LocalModel]:
        return self.state.models

    @property
    def blobs(self) -> dict[str, bytes]:
        return self.state.blobs

    def install(self, name: str) -> LocalModel:
        return self.state.install(name)

    def add_library_model(
        self,
        name: str,
        size: int = 1_000_000,
        *,
        family: str = "llama",
        parameter_size: str = "1B",
        quantization_level: str = "Q4_K_M",
    ) -> LibraryModel:
        model = LibraryModel.make(name, size, family, parameter_size, quantization_level)
        self.state.library[model.name] = model
        return model

    def fail(
        self, endpoint: str, status: int, error: str = "scripted failure", *, times: int | None = 1
    ) -> Fault:
        """Answer the next `times` requests to `endpoint` with `status` and `{"error": ...}`."""
        return self.add_fault(endpoint, status, {"error": error}, times=times)

    def fail_stream(
        self,
        endpoint: str = "*",
        *,
        after_lines: int = 1,
        error: str = "an error was encountered while running the model",
        times: int | None = 1,
    ) -> StreamFault:
        """Cut the next `times` streams of `endpoint` after `after_lines` lines with an
        `{"error": ...}` line (HTTP 200 already sent, as Ollama does mid-stream)."""
        fault = StreamFault(endpoint, after_lines, error, times)
        self._stream_faults.append(fault)
        return fault

    def slow_stream(self, seconds_per_line: float) -> None:
        """Wait `seconds_per_line` of real time before each streamed line."""
        self.line_delay = seconds_per_line

    def take_stream_fault(self, endpoint: str) -> StreamFault | None:
        for fault in self._stream_faults:
            if fault.matches(endpoint):
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def clear(self) -> None:
        super().clear()
        self._stream_faults.clear()

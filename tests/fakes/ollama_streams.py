"""The NDJSON lines the fake Ollama streams for `/api/pull` and `/api/create`.

Each generator yields progress lines (`{"status", "digest"?, "total"?, "completed"?}`, zero
fields omitted as Go's `omitempty` does) and at most one error line `{"error", "status"?}`,
after which it stops. Side effects (a model appearing on disk) happen when the stream reaches
them, so a stream cut short leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.fakes.ollama_state import LocalModel, OllamaControl, normalize, sha256

Line = dict[str, Any]
NEITHER = "neither 'from' or 'files' was specified"
NEW_LAYERS = ("template", "system", "license", "parameters", "messages")


class BadRequest(ValueError):
    """A request Ollama refuses before streaming anything (HTTP 400)."""


def check_create(body: dict[str, Any]) -> None:
    """The type checks Go's JSON binding makes before `/api/create` streams."""
    if not isinstance(body.get("parameters") or {}, dict):
        raise BadRequest("json: cannot unmarshal parameters into map[string]any")
    messages = body.get("messages") or []
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("json: cannot unmarshal messages into []api.Message")
    if not isinstance(body.get("adapters") or {}, dict):
        raise BadRequest("json: cannot unmarshal adapters into map[string]string")
    license = body.get("license") or []
    if not isinstance(license, str | list):
        raise BadRequest(f"unknown license type: {type(license).__name__}")


class Streams:
    def __init__(self, control: OllamaControl) -> None:
        self.control = control
        self.state = control.state

    def pull(self, name: str) -> Iterator[Line]:
        for line in self._pull_progress(name):
            yield line
            if "error" in line:
                return
        yield {"status": "success"}

    def _pull_progress(self, name: str) -> Iterator[Line]:
        """What Ollama's PullModel reports; then the model is on disk (no "success")."""
        yield {"status": "pulling manifest"}
        library = self.state.library.get(name)
        if library is None:
            yield {"error": "pull model manifest: file does not exist"}
            return
        cached = name in self.state.models
        chunks = max(1, self.control.pull_chunks)
        for digest, size in library.layers:
            line = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size}
            if cached:
                yield {**line, "completed": size}
                continue
            yield line
            for i in range(1, chunks + 1):
                yield {**line, "completed": size * i // chunks}
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        if not cached:
            self.state.install(name)

    def create(self, name: str, body: dict[str, Any]) -> Iterator[Line]:
        source = body.get("from")
        if isinstance(source, str) and source:
            base_name = normalize(source)
            if base_name not in self.state.models:  # Ollama pulls a missing base model first
                for line in self._pull_progress(base_name):
                    yield line
                    if "error" in line:
                        return
            base = self.state.models[base_name]
        elif body.get("files"):
            yield {"error": "the fake Ollama cannot import model files; use 'from'", "status": 400}
            return
        else:
            yield {"error": NEITHER, "status": 400}
            return
        adapters: dict[str, str] = body.get("adapters") or {}
        new_layers: list[tuple[str, int]] = []
        if adapters:
            yield from self._adapter(adapters, new_layers)
            if not new_layers:
                return
        wanted = body.get("quantize") or body.get("quantization")
        if wanted:
            quant = base.details()["quantization_level"]
            if quant not in ("F16", "F32"):
                yield {"error": "quantization is only supported for F16 and F32 models"}
                return
            size = base.base.layers[0][1]
            status = f"quantizing {quant} model to {str(wanted).upper()}"
            for i in range(1, 4):
                yield {
                    "status": status,
                    "digest": "0" * 19,
                    "total": size,
                    "completed": size * i // 3,
                }
            yield {"status": "verifying conversion"}
        license = body.get("license") or []
        model = LocalModel(
            name,
            base.base,
            self.state.clock.now(),
            parent=base.name,
            system=body.get("system") or base.system,
            template=body.get("template") or base.template,
            license=[license] if isinstance(license, str) else [str(x) for x in license],
            parameters=dict(body.get("parameters") or {}),
            messages=list(body.get("messages") or []),
            adapters=dict(adapters),
            extra_layers=base.extra_layers + new_layers,
            quantization_level=str(wanted).upper() if wanted else base.quantization_level,
        )
        for digest, _ in base.layers + new_layers:
            yield {"status": f"using existing layer {digest}"}
        for key in NEW_LAYERS:
            if body.get(key):
                yield {"status": f"creating new layer {sha256(json.dumps(body[key]))}"}
        yield {"status": "writing manifest"}
        self.state.models[name] = model
        yield {"status": "success"}

    def _adapter(self, adapters: dict[str, str], layers: list[tuple[str, int]]) -> Iterator[Line]:
        """As Ollama's convertModelFromFiles: the file names say the kind. A safetensors
        adapter is a set of files (the weights and adapter_config.json, which the
        conversion reads); a GGUF adapter is one file."""
        if any(name.endswith(".safetensors") for name in adapters):
            yield from self._safetensors_adapter(adapters, layers)
            return
        if len(adapters) > 1:
            yield {"error": "only one adapter is currently supported", "status": 400}
            return
        filename, digest = next(iter(adapters.items()))
        blob = self.state.blobs.get(str(digest).replace("-", ":", 1))
        if blob is None and not filename.endswith(".gguf"):
            yield {"error": "unknown type", "status": 400}  # Ollama cannot sniff a missing blob
            return
        yield {"status": "parsing GGUF"}
        if blob is None:
            yield {"error": f"open {_blob_path(digest)}: no such file or directory", "status": 400}
        elif not blob.startswith(b"GGUF"):
            yield {"error": "supplied file was not in GGUF format", "status": 400}
        else:
            layers.append((str(digest), len(blob)))

    def _safetensors_adapter(
        self, adapters: dict[str, str], layers: list[tuple[str, int]]
    ) -> Iterator[Line]:
        yield {"status": "converting adapter"}
        files: dict[str, bytes] = {}
        for name, digest in adapters.items():
            blob = self.state.blobs.get(str(digest).replace("-", ":", 1))
            if blob is None:
                yield {"error": f"open {_blob_path(digest)}: no such file or directory"}
                return
            files[name] = blob
        if "adapter_config.json" not in files:
            yield {"error": "open adapter_config.json: file does not exist"}
            return
        try:
            config = json.loads(files["adapter_config.json"])
        except ValueError as err:
            yield {"error": f"invalid character in adapter_config.json: {err}"}
            return
        if not isinstance(config, dict) or "r" not in config or "lora_alpha" not in config:
            yield {"error": "adapter_config.json has no LoRA rank (r) and lora_alpha"}
            return
        for name, blob in files.items():
            if name.endswith(".safetensors") and not _is_safetensors(blob):
                yield {"error": f"{name}: invalid safetensors header"}
                return
        converted = b"".join(files[name] for name in sorted(files))
        layers.append((sha256(b"GGUF-adapter" + converted), len(converted)))


def _blob_path(digest: str) -> str:
    return f"/root/.ollama/models/blobs/{str(digest).replace(':', '-')}"


def _is_safetensors(blob: bytes) -> bool:
    """An 8-byte little-endian header length, then that many bytes of JSON."""
    if len(blob) < 10:
        return False
    size = int.from_bytes(blob[:8], "little")
    try:
        return isinstance(json.loads(blob[8 : 8 + size]), dict)
    except ValueError:
        return False

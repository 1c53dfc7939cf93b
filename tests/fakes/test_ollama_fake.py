"""The fake Ollama, driven with httpx over HTTP, NDJSON streams included."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.fakes.conftest import OllamaFake
from tests.fakes.serving import free_port

GGUF = b"GGUF" + bytes(range(256)) * 4


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def stream(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        return [json.loads(line) async for line in response.aiter_lines() if line]


async def test_pull_streams_byte_progress(ollama: OllamaFake) -> None:
    lines = await stream(ollama.http, "/api/pull", {"model": "llama3.2"})
    assert lines[0] == {"status": "pulling manifest"}
    assert [line["status"] for line in lines[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    progress = [line for line in lines if "digest" in line]
    layers = {line["digest"] for line in progress}
    assert len(layers) == 4 and all(d.startswith("sha256:") for d in layers)
    for layer in layers:
        mine = [line for line in progress if line["digest"] == layer]
        assert "completed" not in mine[0]  # Go omits zero fields
        done = [line["completed"] for line in mine[1:]]
        assert done == sorted(done) and done[-1] == mine[0]["total"]
        assert mine[0]["status"] == f"pulling {layer[7:19]}"
    tags = (await ollama.http.get("/api/tags")).json()["models"]
    assert [(m["name"], m["model"]) for m in tags] == [("llama3.2:latest", "llama3.2:latest")]
    assert tags[0]["size"] > 2_000_000_000 and len(tags[0]["digest"]) == 64
    assert set(tags[0]["details"]) >= {"format", "family", "parameter_size", "quantization_level"}
    again = await ollama.http.post("/api/pull", json={"model": "llama3.2", "stream": False})
    assert again.status_code == 200 and again.json() == {"status": "success"}


async def test_pull_of_an_unknown_model(ollama: OllamaFake) -> None:
    lines = await stream(ollama.http, "/api/pull", {"model": "no-such-model"})
    assert lines == [
        {"status": "pulling manifest"},
        {"error": "pull model manifest: file does not exist"},
    ]
    whole = await ollama.http.post("/api/pull", json={"model": "no-such-model", "stream": False})
    assert whole.status_code == 500 and "file does not exist" in whole.json()["error"]
    assert (await ollama.http.get("/api/tags")).json() == {"models": []}


async def test_blobs(ollama: OllamaFake) -> None:
    key = digest(GGUF)
    assert (await ollama.http.head(f"/api/blobs/{key}")).status_code == 404
    wrong = await ollama.http.post(f"/api/blobs/{key}", content=b"not it")
    assert wrong.status_code == 400 and "digest mismatch" in wrong.json()["error"]
    assert (await ollama.http.post(f"/api/blobs/{key}", content=GGUF)).status_code == 201
    assert (await ollama.http.head(f"/api/blobs/{key}")).status_code == 200
    assert (await ollama.http.post(f"/api/blobs/{key}", content=GGUF)).status_code == 200
    bad = await ollama.http.head("/api/blobs/sha256:xyz")
    assert bad.status_code == 400
    assert ollama.control.calls["blobs.head"] == 3 and ollama.control.calls["blobs.create"] == 3


async def test_create_customizes_a_base_model(ollama: OllamaFake) -> None:
    ollama.control.install("llama3.2")
    await ollama.http.post(f"/api/blobs/{digest(GGUF)}", content=GGUF)
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]
    lines = await stream(
        ollama.http,
        "/api/create",
        {
            "model": "support-bot",
            "from": "llama3.2",
            "system": "You answer support tickets.",
            "messages": messages,
            "parameters": {"temperature": 0.2, "stop": ["<|eot_id|>"]},
            "adapters": {"adapter.gguf": digest(GGUF)},
            "license": "MIT",
        },
    )
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "parsing GGUF" and statuses[-2:] == ["writing manifest", "success"]
    assert f"using existing layer {digest(GGUF)}" in statuses
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    shown = (await ollama.http.post("/api/show", json={"model": "support-bot"})).json()
    assert shown["system"] == "You answer support tickets." and shown["messages"] == messages
    assert shown["license"] == "MIT" and "temperature" in shown["parameters"]
    assert shown["details"]["parent_model"] == "llama3.2:latest"
    assert "ADAPTER adapter.gguf" in shown["modelfile"]
    names = [(m["name"], m["model"]) for m in (await ollama.http.get("/api/tags")).json()["models"]]
    assert names[0] == ("support-bot:latest", "support-bot:latest")


async def test_create_pulls_a_missing_base_and_fails_on_an_unknown_one(ollama: OllamaFake) -> None:
    lines = await stream(ollama.http, "/api/create", {"model": "tiny", "from": "qwen2.5:0.5b"})
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    assert "qwen2.5:0.5b" in ollama.control.models and "tiny:latest" in ollama.control.models
    lines = await stream(ollama.http, "/api/create", {"model": "ghost", "from": "ghost-model"})
    assert lines[-1] == {"error": "pull model manifest: file does not exist"}
    assert "ghost:latest" not in ollama.control.models


async def test_create_refusals(ollama: OllamaFake) -> None:
    ollama.control.install("llama3.2")
    neither = await ollama.http.post("/api/create", json={"model": "x"})
    assert neither.status_code == 400
    assert neither.json() == {"error": "neither 'from' or 'files' was specified"}
    two = {"a.gguf": digest(b"a"), "b.gguf": digest(b"b")}
    many = await ollama.http.post(
        "/api/create", json={"model": "x", "from": "llama3.2", "adapters": two}
    )
    assert many.status_code == 400 and "only one adapter" in many.json()["error"]
    missing = {"adapter.gguf": digest(b"never uploaded")}
    lines = await stream(
        ollama.http, "/api/create", {"model": "x", "from": "llama3.2", "adapters": missing}
    )
    assert lines[0] == {"status": "parsing GGUF"} and "no such file" in lines[-1]["error"]
    await ollama.http.post(f"/api/blobs/{digest(b'plain text')}", content=b"plain text")
    lines = await stream(
        ollama.http,
        "/api/create",
        {"model": "x", "from": "llama3.2", "adapters": {"a.gguf": digest(b"plain text")}},
    )
    assert lines[-1] == {"error": "supplied file was not in GGUF format"}
    body = {"model": "x", "from": "llama3.2", "quantize": "q4_K_M"}
    quantize = await ollama.http.post("/api/create", json=body)  # fails before any line: HTTP
    assert quantize.status_code == 500
    assert quantize.json() == {"error": "quantization is only supported for F16 and F32 models"}
    assert "x:latest" not in ollama.control.models


async def test_error_line_mid_stream_and_slow_streams(ollama: OllamaFake) -> None:
    ollama.control.fail_stream("pull", after_lines=3, error="connection reset by peer")
    lines = await stream(ollama.http, "/api/pull", {"model": "smollm2:135m"})
    assert len(lines) == 4 and lines[-1] == {"error": "connection reset by peer"}
    assert ollama.control.models == {}  # a pull cut short leaves nothing behind
    ollama.control.fail_stream("pull", after_lines=2, error="disk full")
    cut = await ollama.http.post("/api/pull", json={"model": "smollm2:135m", "stream": False})
    assert cut.status_code == 500 and cut.json() == {"error": "disk full"}
    ollama.control.fail_stream("create", after_lines=0, error="server busy")
    early = await ollama.http.post("/api/create", json={"model": "y", "from": "smollm2:135m"})
    assert early.status_code == 500 and early.json() == {"error": "server busy"}
    ollama.control.slow_stream(0.02)
    started = time.monotonic()
    lines = await stream(ollama.http, "/api/pull", {"model": "smollm2:135m"})
    assert lines[-1] == {"status": "success"} and time.monotonic() - started >= 0.02 * len(lines)
    ollama.control.slow_stream(0.0)
    ollama.control.fail("tags", 500, "boom")
    failed = await ollama.http.get("/api/tags")
    assert failed.status_code == 500 and failed.json() == {"error": "boom"}
    assert (await ollama.http.get("/api/tags")).status_code == 200
    assert ollama.control.calls["pull"] == 3 and ollama.control.faulted["tags"] == 1


async def test_show_and_delete(ollama: OllamaFake) -> None:
    ollama.control.install("llama3.2:1b-instruct-fp16")
    lines = await stream(
        ollama.http,
        "/api/create",
        {"model": "small", "from": "llama3.2:1b-instruct-fp16", "quantize": "q4_K_M"},
    )
    assert (
        lines[0]["status"] == "quantizing F16 model to Q4_K_M" and lines[-1]["status"] == "success"
    )
    shown = await ollama.http.post("/api/show", json={"model": "small"})
    assert shown.json()["details"]["quantization_level"] == "Q4_K_M"
    deleted = await ollama.http.request("DELETE", "/api/delete", json={"model": "small"})
    assert deleted.status_code == 200
    gone = await ollama.http.request("DELETE", "/api/delete", json={"model": "small"})
    assert gone.status_code == 404 and gone.json() == {"error": "model 'small' not found"}
    missing = await ollama.http.post("/api/show", json={"model": "small"})
    assert missing.status_code == 404


@pytest.mark.slow
def test_runs_by_hand() -> None:
    port = free_port()
    command = [sys.executable, "-m", "tests.fakes.ollama_server", "--port", str(port)]
    process = subprocess.Popen([*command, "--speed", "100"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/api/tags")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.05)
        assert reply.json() == {"models": []}
    finally:
        process.terminate()
        process.communicate(timeout=10)


def _safetensors(header: dict[str, object]) -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw


async def test_a_safetensors_adapter_is_a_set_of_files(ollama: OllamaFake) -> None:
    ollama.control.install("llama3.2")
    weights = _safetensors({"__metadata__": {"format": "pt"}})
    config = json.dumps({"r": 8, "lora_alpha": 16, "peft_type": "LORA"}).encode()
    for blob in (weights, config, b"not json"):
        await ollama.http.post(f"/api/blobs/{digest(blob)}", content=blob)
    files = {"adapter_model.safetensors": digest(weights), "adapter_config.json": digest(config)}
    lines = await stream(
        ollama.http, "/api/create", {"model": "tuned", "from": "llama3.2", "adapters": files}
    )
    assert lines[0] == {"status": "converting adapter"} and lines[-1] == {"status": "success"}
    shown = (await ollama.http.post("/api/show", json={"model": "tuned"})).json()
    assert "ADAPTER adapter_model.safetensors" in shown["modelfile"]
    without_config = {"adapter_model.safetensors": digest(weights)}
    bad_config = {**files, "adapter_config.json": digest(b"not json")}
    bad_weights = {**files, "adapter_model.safetensors": digest(config)}
    for adapters, error in (
        (without_config, "open adapter_config.json: file does not exist"),
        (bad_config, "invalid character in adapter_config.json"),
        (bad_weights, "adapter_model.safetensors: invalid safetensors header"),
    ):
        body = {"model": "broken", "from": "llama3.2", "adapters": adapters}
        lines = await stream(ollama.http, "/api/create", body)
        assert lines[-1]["error"].startswith(error), lines
    assert "broken:latest" not in ollama.control.models

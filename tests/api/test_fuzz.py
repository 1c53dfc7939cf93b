"""A bounded property-based fuzz of the whole OpenAPI surface (schemathesis): every
documented operation, the multipart dataset upload included, gets generated requests,
valid and invalid, and every answer is checked against the document: never a 5xx, a
documented status code, and the documented content type, headers and body shape.

The stack is async and in-process while schemathesis' pytest integration is sync, so the
fuzz runs in two steps per operation: hypothesis draws the cases (derandomized: the same
cases every run; no example database), then each is sent through an httpx client on the
stack's ASGI transport, with the fuzzing organization's admin key, and checked with
`case.validate_response`. Operations addressed by an id are fuzzed with generated ids
(unknown: 404) and with ids of a job, a dataset and a spare API key made for the run, so
their success bodies are checked too. The fuzz works in an organization of its own, so
what it creates or revokes touches no other test; the key it sends is never offered for
revocation. The WebSocket routes are not in the OpenAPI document and are not fuzzed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Stack, new_tenant

pytestmark = pytest.mark.slow

BASE_URL = "http://jobdeck.test"
# Cases per operation: generated inputs (ids too), then with the ids of what the run made.
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
KNOWN_ID_EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


@pytest.fixture(scope="session")
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis' caches go to a temporary folder, not `.hypothesis/` in the checkout."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    try:
        yield
    finally:
        set_hypothesis_home_dir(None)


def _draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones every run."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Any) -> None:
        drawn.append(case)

    collect()
    return drawn


def _cases(operation: APIOperation, known: dict[str, str]) -> Iterator[tuple[str, Any]]:
    for mode, count in EXAMPLES.items():
        try:
            yield from ((mode.value, c) for c in _draw(operation.as_strategy(mode), count))
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no input at all
    ids = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
    if ids and len(ids) == len(operation.path_parameters):
        strategy = operation.as_strategy(path_parameters=ids)
        yield from (("known ids", c) for c in _draw(strategy, KNOWN_ID_EXAMPLES))


def _as_httpx(case: Any) -> dict[str, Any]:
    """The request schemathesis would send (as `requests` arguments) in raw bytes and
    headers that httpx sends unchanged: the multipart body is schemathesis' encoding."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    names = {"method", "url", "headers", "params", "cookies", "data", "json", "files"}
    prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in names}).prepare()
    body = prepared.body
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, io.IOBase):
        body = body.read()
    # The client's own key authenticates every request.
    headers = {k: v for k, v in prepared.headers.items() if k.lower() != "authorization"}
    return {"method": prepared.method, "url": prepared.url, "headers": headers, "content": body}


async def _made_for_the_run(api: httpx.AsyncClient) -> dict[str, str]:
    """A job, a chat JSONL dataset and a spare API key: ids the fuzz may use and revoke."""
    job = await api.post("/api/jobs", json={"type": "test-steps", "name": "fuzz"})
    assert job.status_code == 201, job.text
    content = (json.dumps(CHAT) + "\n").encode()
    dataset = await api.post("/api/datasets", files={"file": ("chat.jsonl", content)})
    assert dataset.status_code == 201, dataset.text
    key = await api.post("/api/keys", json={"name": "spare"})
    assert key.status_code == 201, key.text
    return {
        "job_id": job.json()["id"],
        "dataset_id": dataset.json()["id"],
        "key_id": key.json()["id"],
    }


@pytest.mark.usefixtures("hypothesis_home")
async def test_the_openapi_surface_holds_under_fuzzing(stack: Stack) -> None:
    account = await new_tenant(stack)
    async with stack.client(account.key) as api:
        document = (await api.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document, config=SchemathesisConfig())
        # Deletions last, so the other operations see the ids made for the run first.
        operations = sorted(
            (result.ok() for result in schema.get_all_operations()),
            key=lambda op: op.method == "delete",
        )
        assert {"POST /api/datasets", "DELETE /api/keys/{key_id}"} <= {
            op.label for op in operations
        }
        known = await _made_for_the_run(api)
        found: dict[str, str] = {}
        sent = 0
        for operation in operations:
            for kind, case in _cases(operation, known):
                request = _as_httpx(case)
                response = await api.request(**request)
                sent += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as group:
                    key = f"{operation.label} [{kind}] -> {response.status_code}: " + "; ".join(
                        f.title for f in group.exceptions
                    )
                    found.setdefault(
                        key,
                        f"{request['method']} {request['url']} {request['content']!r:.300}"
                        f" -> {response.text[:300]!r}"
                        + "".join(f"\n    {f.message}" for f in group.exceptions),
                    )
        assert sent >= 10 * len(operations)  # it did fuzz
        # The key it sends still works: the fuzz never revoked it.
        assert (await api.get("/api/me")).status_code == 200
    assert not found, f"{len(found)} kinds of failure in {sent} requests:\n" + "\n".join(
        f"{key}\n  e.g. {example}" for key, example in found.items()
    )

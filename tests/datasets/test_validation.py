"""The fine-tuning validation report: each of OpenAI's rules on a crafted file, exact token
counts, context limits, and billing; POST /api/datasets/{id}/validate runs it as a job."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from jobdeck import tiktokens
from jobdeck.activities.conversion import tokens
from tests.conftest import Stack, Tenant
from tests.datasets.conftest import qa_csv, upload
from tests.helpers import wait_for_job
from tests.workflows.test_replay import record_history


def _line(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _ex(*messages: tuple[str, str]) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in messages]}


CRAFTED = [
    _ex(("user", "Hello"), ("assistant", "Hi there")),  # 1: fine
    "this is not json",  # 2
    [1, 2],  # 3
    {"prompt": "x", "completion": "y"},  # 4: the legacy format
    _ex(("user", "hi")),  # 5: no assistant
    _ex(("robot", "beep"), ("assistant", "ok")),  # 6
    _ex(("user", "   "), ("assistant", "ok")),  # 7: empty content
    {
        "messages": [
            {"role": "user", "content": "a", "mood": "x"},
            {"role": "assistant", "content": "b"},
        ]
    },
    {"messages": [{"role": "user"}, {"role": "assistant", "content": "b"}]},  # 9
    _ex(("system", "Be kind."), ("user", "Hello"), ("assistant", "Hi there")),  # 10: fine
    "",  # 11: a blank line is skipped
    _ex(("user", "hi"), ("assistant", "")),  # 12: empty assistant content
]


async def _validate(
    tenant: Tenant, content: str, record_as: tuple[Stack, str] | None = None, **body: Any
) -> dict[str, Any]:
    dataset = await upload(tenant.api, "train.jsonl", content.encode())
    response = await tenant.api.post(f"/api/datasets/{dataset['id']}/validate", json=body)
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["type"] == "dataset-validation"
    done = await wait_for_job(tenant.api, job["id"])
    assert done["status"] == "completed", done
    stored = (await tenant.api.get(f"/api/datasets/{dataset['id']}")).json()
    assert stored["validation"]["valid"] == done["result"]["valid"]
    if record_as is not None:
        await record_history(record_as[0], job["id"], record_as[1])
    report: dict[str, Any] = stored["validation"]
    return report


async def test_report_names_every_kind_of_error_with_its_first_lines(tenant: Tenant) -> None:
    report = await _validate(tenant, "\n".join(_line(x) for x in CRAFTED) + "\n")
    assert report["valid"] is False
    assert report["examples"] == 11
    errors = {e["kind"]: (e["count"], e["firstLines"]) for e in report["errors"]}
    assert errors == {
        "invalid_json": (1, [2]),
        "data_type": (1, [3]),
        "missing_messages": (1, [4]),
        "unrecognized_key": (1, [4]),
        "message_missing_key": (1, [9]),
        "message_unrecognized_key": (1, [8]),
        "unrecognized_role": (1, [6]),
        "missing_content": (3, [7, 9, 12]),
        "missing_assistant_message": (1, [5]),
    }
    assert all(e["message"] for e in report["errors"])
    assert report["warnings"] == []


async def test_token_counts_are_exact_and_billing_follows_openai(
    stack: Stack, tenant: Tenant
) -> None:
    examples = [_ex(("user", "Hello"), ("assistant", "Hi there")) for _ in range(4)]
    report = await _validate(
        tenant,
        "\n".join(map(_line, examples)),
        record_as=(stack, "dataset-validation-completed"),
        model="gpt-4o-mini",
    )
    enc = tokens.encoding("o200k_base")
    n = len(enc.encode_ordinary("Hello")) + len(enc.encode_ordinary("Hi there"))
    # 3 to prime the reply; per message 3 plus its role's token and its content's.
    per_example = 3 + (3 + 1) * 2 + n
    assert per_example == 14
    tokens_ = report["tokens"]
    assert tokens_ == {
        "encoding": "o200k_base",
        "exact": True,
        "total": 4 * per_example,
        "min": per_example,
        "max": per_example,
        "mean": float(per_example),
        "contextLimit": 65_536,
        "overContextLimit": 0,
    }
    billing = report["billing"]
    # Fewer than 100 examples: OpenAI's default epochs rise to min(25, 100 // 4).
    assert (billing["epochs"], billing["epochsDefaulted"]) == (25, True)
    assert billing["tokensPerEpoch"] == 4 * per_example
    assert billing["billedTokens"] == 25 * 4 * per_example
    assert billing["estimatedCostUsd"] == round(25 * 4 * per_example * 3.0 / 1e6, 4)
    assert [e["kind"] for e in report["errors"]] == ["too_few_examples"]


async def test_examples_over_the_context_limit_are_flagged_and_billed_at_the_limit(
    tenant: Tenant,
) -> None:
    long = _ex(("user", "hello" + " hello" * 17_000), ("assistant", "ok"))
    short = _ex(("user", "Hello"), ("assistant", "Hi there"))
    content = "\n".join(_line(x) for x in [short] * 9 + [long] + [short])
    report = await _validate(tenant, content, model="gpt-3.5-turbo", epochs=2)
    assert report["model"] == "gpt-3.5-turbo-0125"
    assert report["tokens"]["encoding"] == "cl100k_base"
    assert report["warnings"] == [
        {
            "kind": "over_context_limit",
            "message": report["warnings"][0]["message"],
            "count": 1,
            "firstLines": [10],
        }
    ]
    assert report["tokens"]["max"] > 16_385
    per_short = report["tokens"]["min"]
    assert report["billing"]["tokensPerEpoch"] == 10 * per_short + 16_385
    assert report["billing"]["billedTokens"] == 2 * (10 * per_short + 16_385)
    assert report["valid"] is True


async def test_validate_refuses_a_dataset_that_is_not_jsonl(tenant: Tenant) -> None:
    dataset = await upload(tenant.api, "qa.csv", qa_csv())
    response = await tenant.api.post(f"/api/datasets/{dataset['id']}/validate")
    assert response.status_code == 422
    assert "convert it first" in response.json()["detail"]
    missing = await tenant.api.post("/api/datasets/nope/validate")
    assert missing.status_code == 404


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counts_match_an_independent_implementation_offline(
    encoding: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tiktoken, fed from the bundled vocabulary through an empty cache (no network here),
    counts what bpe-openai's separate Rust encoder counts, on text of many kinds."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tiktokens._encoding.cache_clear()
    try:
        enc = tokens.encoding(encoding)
        assert len(list(tmp_path.iterdir())) == 1  # the primed vocabulary
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai

            other = bpe_openai.get_encoding(encoding)
        texts = [
            "Hello, world!",
            "naïve café — 東京タワー 123456789 and emoji 🎉🎉",
            "  leading and\ttabs\n\nnew lines   ",
            "def f(x):\n    return x ** 2  # code",
            " ".join(f"word{i % 97}  x\n{i}" for i in range(5_000)),
        ]
        for text in texts:
            assert tokens.count(enc, text) == len(other.encode_ordinary(text)), text[:40]
    finally:
        tiktokens._encoding.cache_clear()

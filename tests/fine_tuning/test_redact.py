"""Secrets are found in the settings by their type, and taken out of text, values and
exceptions (jobdeck/redact.py); the fine-tuning tests check that none leaves a job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, SecretStr
from temporalio.exceptions import ApplicationError

from jobdeck.config import Settings
from jobdeck.redact import MASK, Redactor, secrets_of

KEY = "sk-sentinel-" + "ab12" * 8


class Smtp(BaseModel):
    host: str = "smtp.example.com"
    password: SecretStr = SecretStr("smtp-password-1")


class LaterSettings(Settings):
    """Settings as they may grow: secrets of any name, nested and in lists."""

    webhook_signing_secret: SecretStr = SecretStr("whsec_abcdef")
    smtp: Smtp = Smtp()
    slack_tokens: list[SecretStr] = [SecretStr("xoxb-1234")]
    short: SecretStr = SecretStr("ab")  # too short to be worth redacting


def test_every_secret_field_is_found_whatever_its_name() -> None:
    settings = LaterSettings(openai_api_key=SecretStr(KEY))
    assert set(secrets_of(settings)) == {KEY, "whsec_abcdef", "smtp-password-1", "xoxb-1234"}
    assert secrets_of(Settings(openai_api_key=None)) == []


def test_text_and_values_lose_their_secrets() -> None:
    redactor = Redactor.of(LaterSettings(openai_api_key=SecretStr(KEY)))
    assert redactor.text(f"Authorization: Bearer {KEY}") == f"Authorization: Bearer {MASK}"

    @dataclass
    class Answer:
        status: str
        error: dict[str, object] | None

    clean = Answer("running", {"code": None})
    assert redactor.value(clean) is clean  # nothing to take out: the same object
    dirty = Answer("failed", {"message": [f"key {KEY}", "whsec_abcdef"], "n": 3})
    assert redactor.value(dirty) == Answer("failed", {"message": [f"key {MASK}", MASK], "n": 3})
    assert KEY in str(dirty.error)  # the original is left alone


def test_an_exception_keeps_its_meaning_without_the_secret() -> None:
    redactor = Redactor([KEY])
    try:
        try:
            raise ValueError(f"HTTP 400: {{'authorization': 'Bearer {KEY}'}}")
        except ValueError as cause:
            raise ApplicationError(
                f"refused: {KEY}",
                {"body": KEY},
                type="OpenAI400",
                non_retryable=True,
                next_retry_delay=timedelta(seconds=3),
            ) from cause
    except ApplicationError as err:
        shown = redactor.exception(err)
    assert isinstance(shown, ApplicationError)
    assert (shown.message, shown.type, shown.non_retryable) == (
        f"refused: {MASK}",
        "OpenAI400",
        True,
    )
    assert shown.next_retry_delay == timedelta(seconds=3)
    assert list(shown.details) == [{"body": MASK}]
    assert isinstance(shown.__cause__, ApplicationError)
    assert shown.__cause__.type == "ValueError" and KEY not in shown.__cause__.message
    assert shown.__traceback__ is not None

    plain = RuntimeError("Ollama did not answer")
    assert redactor.exception(plain) is plain
    leaky = RuntimeError(f"Ollama answered 500: {KEY}")
    rebuilt = redactor.exception(leaky)
    assert isinstance(rebuilt, ApplicationError)
    # Retryable, and named as before for the retry policy's non-retryable types.
    assert (rebuilt.type, rebuilt.non_retryable) == ("RuntimeError", False)

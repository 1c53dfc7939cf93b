"""The `data` each built-in job type accepts, checked at the HTTP edge before a job exists."""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from jobdeck.dataformats import DatasetFormat, OutputFormat
from jobdeck.domain import JobStatus
from jobdeck.finetune_models import DEFAULT_MODEL, find_model


class _Data(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class JobFilterData(_Data):
    statuses: list[JobStatus] = Field(default_factory=list, max_length=5)
    types: list[str] = Field(default_factory=list, max_length=50)
    q: str | None = Field(default=None, max_length=200)
    ids: list[str] = Field(default_factory=list, max_length=10_000)


class BulkOperationData(_Data):
    action: Literal["cancel", "retry"]
    filter: JobFilterData = Field(default_factory=JobFilterData)


def _known_model(name: str) -> str:
    try:
        return find_model(name).name
    except ValueError as err:
        raise ValueError(str(err)) from None


def _known_encoding(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(
            f"unknown text encoding {name!r}; e.g. utf-8, cp1252, latin-1, utf-16"
        ) from None


FineTuneModelName = Annotated[str, AfterValidator(_known_model)]


class ChatTemplateData(_Data):
    """Content of each role: text with {column} fields ({{ and }} for literal braces)."""

    system: str | None = Field(default=None, max_length=100_000)
    user: str = Field(min_length=1, max_length=100_000)
    assistant: str = Field(min_length=1, max_length=100_000)


class ChatMappingData(_Data):
    """Which columns make a chat example: system/user/assistant columns, or prompt/
    completion columns, or a template; `systemPrompt` is a system message for every row."""

    system: str | None = None
    user: str | None = None
    assistant: str | None = None
    prompt: str | None = None
    completion: str | None = None
    template: ChatTemplateData | None = None
    system_prompt: str | None = Field(default=None, max_length=100_000)

    @model_validator(mode="after")
    def _one_shape(self) -> ChatMappingData:
        columns = (self.user, self.assistant, self.prompt, self.completion)
        roles = self.user is not None and self.assistant is not None
        prompt = self.prompt is not None and self.completion is not None
        used = sum(v is not None for v in columns) + (self.template is not None)
        # Exactly one shape and nothing beside it.
        if not ((roles or prompt) and used == 2 or self.template is not None and used == 1):
            raise ValueError(
                "give exactly one of: user and assistant columns (system optional), prompt "
                "and completion columns, or a template"
            )
        if self.system is not None and not roles:
            raise ValueError("a system column goes with user and assistant columns only")
        return self


class DataConversionData(_Data):
    dataset_id: str = Field(min_length=1, max_length=36)
    output_format: OutputFormat
    input_format: DatasetFormat | None = Field(
        default=None, description="Default: the dataset's format"
    )
    encoding: str | None = Field(default=None, description="CSV/TSV text encoding; detected")
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    sheet: str | None = Field(default=None, max_length=200, description="XLSX: default first")
    mapping: ChatMappingData | None = None
    validation: bool = Field(default=True, description="openai-chat: build the report")
    model: FineTuneModelName = DEFAULT_MODEL
    epochs: int | None = Field(default=None, ge=1, le=50)
    name: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        return _known_encoding(value)

    @model_validator(mode="after")
    def _mapping_for_chat(self) -> DataConversionData:
        chat = self.output_format is OutputFormat.OPENAI_CHAT
        if chat and self.mapping is None:
            raise ValueError(
                "outputFormat openai-chat needs a mapping: e.g. "
                '{"user": "question", "assistant": "answer"}'
            )
        if not chat and self.mapping is not None:
            raise ValueError("a mapping only applies to outputFormat openai-chat")
        return self


class DatasetValidationData(_Data):
    dataset_id: str = Field(min_length=1, max_length=36)
    model: FineTuneModelName = DEFAULT_MODEL
    epochs: int | None = Field(default=None, ge=1, le=50)


Auto = Literal["auto"]


class HyperparametersData(_Data):
    """OpenAI's supervised hyperparameters: each "auto" (the provider picks) or a number."""

    n_epochs: Auto | Annotated[int, Field(ge=1, le=50)] | None = None
    batch_size: Auto | Annotated[int, Field(ge=1, le=256)] | None = None
    learning_rate_multiplier: Auto | Annotated[float, Field(gt=0, le=10)] | None = None


class FineTuningData(_Data):
    dataset_id: str = Field(min_length=1, max_length=36)
    validation_dataset_id: str | None = Field(default=None, min_length=1, max_length=36)
    base_model: str = Field(min_length=1, max_length=200)
    provider: Literal["openai", "ollama"]
    hyperparameters: HyperparametersData | None = None
    suffix: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    seed: int | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description="Ollama only: model parameters, e.g. temperature"
    )

    @model_validator(mode="after")
    def _known_openai_model(self) -> FineTuningData:
        if self.provider == "openai":  # an alias becomes the dated name OpenAI bills
            self.base_model = find_model(self.base_model).name
        return self

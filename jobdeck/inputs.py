"""The `data` each built-in job type accepts, checked at the HTTP edge before a job exists."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from jobdeck.dataformats import DatasetFormat, OutputFormat
from jobdeck.domain import JobStatus
from jobdeck.fine_tuning_models import DEFAULT_MODEL, find_model


class _Data(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC (as GET /api/jobs reads it)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JobFilterData(_Data):
    """The jobs a bulk operation means: GET /api/jobs's filters, under the same names as
    JobFilter (`owner` as the list's: `me`, who starts the operation, or a user id)."""

    statuses: list[JobStatus] = Field(default_factory=list, max_length=5)
    types: list[str] = Field(default_factory=list, max_length=50)
    q: str | None = Field(default=None, max_length=200)
    ids: list[str] = Field(default_factory=list, max_length=10_000)
    priorities: list[Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=list, max_length=5)
    owner: str | None = Field(default=None, min_length=1, max_length=36)
    created_after: Annotated[datetime | None, AfterValidator(_utc)] = None
    created_before: Annotated[datetime | None, AfterValidator(_utc)] = None

    @model_validator(mode="after")
    def _a_range(self) -> JobFilterData:
        after, before = self.created_after, self.created_before
        if after is not None and before is not None and after >= before:
            raise ValueError("createdAfter must be earlier than createdBefore")
        return self


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


class LoraData(_Data):
    rank: int = Field(default=8, ge=1, le=512)
    alpha: float = Field(default=16.0, gt=0, le=4096)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None,
        max_length=64,
        description='Module names, or ["all-linear"]; default: peft\'s for the architecture',
    )


class TrainingOptionsData(_Data):
    """How a local LoRA fine-tune trains; every field has a default."""

    lora: LoraData = Field(default_factory=LoraData)
    epochs: int = Field(default=1, ge=1, le=100)
    learning_rate: float = Field(default=2e-4, gt=0, le=1)
    batch_size: int = Field(default=4, ge=1, le=1024)
    max_seq_length: int = Field(default=512, ge=16, le=131_072)
    warmup_steps: int = Field(default=0, ge=0, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = Field(default=50, ge=1, le=1_000_000, description="In steps")
    log_every: int = Field(default=10, ge=1, le=1_000_000, description="Loss every N steps")
    ollama_base_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The same base model's name in Ollama, for publishing the adapter there",
    )


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
    provider: str = Field(min_length=1, max_length=50, description="openai, ollama, local...")
    hyperparameters: HyperparametersData | None = None
    suffix: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    seed: int | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description="Ollama only: model parameters, e.g. temperature"
    )
    training: TrainingOptionsData | None = Field(
        default=None, description="local only: LoRA, learning rate, device, checkpoints..."
    )

    @model_validator(mode="after")
    def _fits_provider(self, info: ValidationInfo) -> FineTuningData:
        """At the edge, `fine_tuning_providers` (the provider registry) is in the context;
        inside the workflow the data was checked already and is only typed."""
        context = info.context or {}
        providers = context.get("fine_tuning_providers")
        if providers is None:
            return self
        provider = providers.get(self.provider)
        if provider is None:
            known = ", ".join(p.name for p in providers)
            raise ValueError(f"unknown provider {self.provider!r}; known providers: {known}")
        job_type = context.get("job_type")
        if job_type is not None and provider.job_type != job_type:
            raise ValueError(
                f"the {provider.name} provider runs as a {provider.job_type} job; start it "
                "with POST /api/fine-tuning/jobs"
            )
        self.base_model = provider.canonical_model(self.base_model)
        for option in ("hyperparameters", "parameters", "training"):
            if getattr(self, option) is not None and option not in provider.options:
                takers = [p.name for p in providers if option in p.options]
                raise ValueError(f"{option} apply to the {', '.join(takers)} provider only")
        return self

    def as_training(self) -> dict[str, Any]:
        """A local fine-tune is a model-training job: this is its data, which the job type
        then checks. OpenAI-style hyperparameters (and seed) fill the training options that
        `training` leaves unset; a learning-rate multiplier scales the default rate."""
        training = self.training or TrainingOptionsData()
        options = training.model_dump(mode="json", by_alias=True)
        given = self.hyperparameters or HyperparametersData()
        mapped = {
            "epochs": given.n_epochs,
            "batch_size": given.batch_size,
            "learning_rate": 2e-4 * given.learning_rate_multiplier
            if isinstance(given.learning_rate_multiplier, float | int)
            else None,
            "seed": self.seed,
        }
        for name, value in mapped.items():
            if isinstance(value, int | float) and name not in training.model_fields_set:
                options[TrainingOptionsData.model_fields[name].alias or name] = value
        return {
            **options,
            "datasetId": self.dataset_id,
            "validationDatasetId": self.validation_dataset_id,
            "baseModel": self.base_model,
            "suffix": self.suffix,
        }


class ModelTrainingData(TrainingOptionsData):
    dataset_id: str = Field(min_length=1, max_length=36)
    validation_dataset_id: str | None = Field(default=None, min_length=1, max_length=36)
    base_model: str = Field(
        min_length=1,
        max_length=500,
        description="A folder under the base-models directory (or a path inside it), or a "
        "model id in the training worker's Hugging Face cache",
    )
    suffix: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")

    @field_validator("base_model")
    @classmethod
    def _no_climbing(cls, value: str) -> str:
        if ".." in value.replace("\\", "/").split("/"):
            raise ValueError("a base model path may not contain '..'")
        return value


class PublishOptions(_Data):
    """Where and as what a trained adapter is published (the body of POST .../publish)."""

    target: Literal["ollama"] = "ollama"
    base_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The base model's name in Ollama; default: the training's ollamaBaseModel",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:/-]+$",
        description="The new Ollama model's name; default: the model's",
    )


class ModelPublishData(PublishOptions):
    model_id: str = Field(min_length=1, max_length=36)


class WorkflowExecutionData(_Data):
    """A pipeline run: which pipeline (its id), at which version (default: the latest when
    the run is created; the run keeps it), with which inputs; a rerun names the run it
    reuses and the step it runs from."""

    workflow_id: str = Field(min_length=1, max_length=36, description="The pipeline's id")
    version: int | None = Field(default=None, ge=1, description="Default: the latest")
    inputs: dict[str, Any] = Field(default_factory=dict)
    rerun_of: str | None = Field(default=None, min_length=1, max_length=36)
    from_step: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _rerun_whole(self) -> WorkflowExecutionData:
        if (self.rerun_of is None) != (self.from_step is None):
            raise ValueError("a rerun gives both rerunOf and fromStep")
        return self


class DocumentProcessingData(_Data):
    """Ingest a collection's documents (all of them, or these), or a dataset's rows as
    documents of the collection: parse, chunk, embed, write."""

    collection_id: str = Field(min_length=1, max_length=36)
    document_ids: list[str] = Field(default_factory=list, max_length=100_000)
    # Each row of this dataset becomes a document of the collection (a row already there,
    # unchanged, is skipped like an unchanged upload), processed as uploaded ones are.
    dataset_id: str | None = Field(default=None, min_length=1, max_length=36)
    text_column: str | None = Field(
        default=None, min_length=1, max_length=255, description="The dataset's text column"
    )
    title_column: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="A column naming each row's document (default: the row's number)",
    )
    # The job fails when more than this share of its documents failed (and names them).
    allowed_failure_ratio: float = Field(default=0.1, ge=0, le=1)
    force: bool = Field(default=False, description="Redo documents that are unchanged")

    @model_validator(mode="after")
    def _one_source(self) -> DocumentProcessingData:
        if self.dataset_id is None:
            if self.text_column is not None or self.title_column is not None:
                raise ValueError("textColumn and titleColumn go with datasetId")
        elif self.text_column is None:
            raise ValueError("a datasetId needs textColumn: the column holding each row's text")
        elif self.document_ids:
            raise ValueError("give documentIds or datasetId, not both")
        return self

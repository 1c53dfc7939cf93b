"""The fake OpenAI's memory: uploaded files, fine-tuning jobs, and request validation."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tests.fakes.clock import FakeClock
from tests.fakes.openai_jobs import ErrorForm, Job, JobFailure, Timeline, random_id

FILE_PURPOSES = (
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
)
METHODS = ("supervised", "dpo", "reinforcement")
HYPERPARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "n_epochs": (int,),
    "batch_size": (int,),
    "learning_rate_multiplier": (int, float),
}


class ApiError(Exception):
    """An OpenAI-style error answer: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        self.headers = headers or {}


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    created_at: int
    content: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": len(self.content),
            "created_at": self.created_at,
            "expires_at": None,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class PendingFailure:
    failure: JobFailure
    remaining: int | None


class OpenAIState:
    def __init__(
        self,
        clock: FakeClock,
        *,
        timeline: Timeline | None = None,
        organization_id: str = "org-fakejobdeck0000000000000",
        organization_name: str = "jobdeck-fake",
        max_file_bytes: int = 64 * 1024 * 1024,
        fine_tunable_models: tuple[str, ...] | None = None,
    ) -> None:
        self.clock = clock
        self.timeline = timeline or Timeline()
        self.organization_id = organization_id
        self.organization_name = organization_name
        self.max_file_bytes = max_file_bytes
        self.fine_tunable_models = fine_tunable_models  # None: any model name
        self.error_form: ErrorForm = "nulls"
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}
        self.pending_failures: list[PendingFailure] = []

    # -- files ------------------------------------------------------------------------

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        if purpose not in FILE_PURPOSES:
            raise ApiError(400, f"'{purpose}' is not one of {list(FILE_PURPOSES)} - 'purpose'")
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            raise ApiError(400, "Invalid file format for Fine-Tuning API. Must be .jsonl")
        stored = StoredFile(
            random_id("file-", 22), filename, purpose, self.clock.timestamp(), content
        )
        self.files[stored.id] = stored
        return stored

    def file(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def _result_file(self, job: Job) -> str:
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for step in range(1, job.total_steps + 1):
            m = job.metrics(step)
            rows.append(
                f"{step},{m['train_loss']},{m['train_mean_token_accuracy']},"
                f"{m.get('valid_loss', '')},{m.get('valid_mean_token_accuracy', '')}"
            )
        content = ("\n".join(rows) + "\n").encode()
        file_id = random_id("file-", 22)
        created = int(job.ends_at)
        stored = StoredFile(file_id, "step_metrics.csv", "fine-tune-results", created, content)
        self.files[stored.id] = stored
        return stored.id

    # -- jobs -------------------------------------------------------------------------

    def job(self, job_id: str) -> Job:
        found = self.jobs.get(job_id)
        if found is None:
            raise ApiError(
                404, f"Could not find fine-tuning job: {job_id}", param="fine_tuning_job_id"
            )
        found.advance(self.clock.now(), self._result_file)
        return found

    def all_jobs(self) -> list[Job]:
        """Every job, newest first, advanced to now."""
        now = self.clock.now()
        for job in self.jobs.values():
            job.advance(now, self._result_file)
        return list(reversed(self.jobs.values()))

    def create_job(self, body: Any) -> Job:
        if not isinstance(body, dict):
            raise ApiError(400, "We could not parse the JSON body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "Missing required parameter: 'model'.", param="model")
        if self.fine_tunable_models is not None and model not in self.fine_tunable_models:
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        training = self._fine_tune_file(body.get("training_file"), "training_file", required=True)
        validation = self._fine_tune_file(body.get("validation_file"), "validation_file")
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise ApiError(400, "suffix must be a string of at most 64 characters", param="suffix")
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and len(metadata) <= 16
            and all(
                isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in metadata.items()
            )
        ):
            raise ApiError(400, "Invalid metadata: up to 16 string pairs", param="metadata")
        seed = body.get("seed")
        if seed is None:
            seed = random.randrange(2**31)
        elif not isinstance(seed, int):
            raise ApiError(400, "seed must be an integer", param="seed")
        method_type, extra, requested = _parse_method(body)
        lines = [line for line in training.content.splitlines() if line.strip()]
        job = Job(
            id=random_id("ftjob-"),
            created=self.clock.now(),
            model=model,
            training_file=training.id,
            validation_file=validation.id if validation else None,
            suffix=suffix,
            seed=seed,
            metadata=metadata,
            method_type=method_type,
            method_extra=extra,
            requested=requested,
            n_examples=len(lines),
            tokens_per_epoch=max(1, len(training.content) // 4),
            timeline=self.timeline,
            organization_id=self.organization_id,
            organization_name=self.organization_name,
            failure=self._take_failure(),
        )
        self.jobs[job.id] = job
        return job

    def _fine_tune_file(self, file_id: Any, param: str, *, required: bool = False) -> Any:
        if file_id is None and not required:
            return None
        if not isinstance(file_id, str) or not file_id:
            raise ApiError(400, f"Missing required parameter: '{param}'.", param=param)
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(400, f"invalid {param}: {file_id}", param=param, code="invalid_file")
        if stored.purpose != "fine-tune":
            raise ApiError(
                400,
                f"File {file_id} has purpose '{stored.purpose}'; fine-tuning needs 'fine-tune'.",
                param=param,
            )
        return stored

    def _take_failure(self) -> JobFailure | None:
        for pending in self.pending_failures:
            if pending.remaining != 0:
                if pending.remaining is not None:
                    pending.remaining -= 1
                return pending.failure
        return None


def _parse_method(body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(method type, its other settings, its hyperparameters with "auto" filled in)."""
    method = body.get("method")
    hyper: Any = body.get("hyperparameters") or {}
    method_type, extra = "supervised", {}
    if method is not None:
        if not isinstance(method, dict) or method.get("type") not in METHODS:
            raise ApiError(400, f"method.type must be one of {list(METHODS)}", param="method")
        method_type = method["type"]
        settings = method.get(method_type) or {}
        if not isinstance(settings, dict):
            raise ApiError(400, f"method.{method_type} must be an object", param="method")
        extra = {k: v for k, v in settings.items() if k != "hyperparameters"}
        hyper = settings.get("hyperparameters") or hyper
    if not isinstance(hyper, dict):
        raise ApiError(400, "hyperparameters must be an object", param="hyperparameters")
    requested: dict[str, Any] = {}
    for name, types in HYPERPARAMETER_TYPES.items():
        value = hyper.get(name, "auto")
        if value == "auto":
            ok = True
        elif isinstance(value, bool) or not isinstance(value, int | float):
            ok = False
        else:
            ok = value > 0 and isinstance(value, types)
        if not ok:
            raise ApiError(
                400,
                f"Invalid value for {name}: expected 'auto' or a positive number, got {value!r}",
                param=f"hyperparameters.{name}",
            )
        requested[name] = value
    return method_type, extra, requested

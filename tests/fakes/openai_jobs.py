"""A fake OpenAI fine-tuning job: its timeline, events, metrics and checkpoints.

A job's life is a pure function of its creation time and the fake clock: validating for
`validating_s`, queued for `queued_s`, then `total_steps` steps of `step_s` each, then
`finalize_s` before it succeeds. `advance(now)` materializes whatever happened up to `now`
(events get stable ids, so polling twice shows the same history).
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass, field
from typing import Any, Literal

ALNUM = string.ascii_letters + string.digits
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
MIN_EXAMPLES = 10
ErrorForm = Literal["nulls", "empty", "null"]


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(random.choices(ALNUM, k=length))


@dataclass(frozen=True)
class Timeline:
    """How long each phase of a fake job lasts, in fake-clock seconds."""

    validating_s: float = 5.0
    queued_s: float = 10.0
    step_s: float = 1.0
    finalize_s: float = 5.0
    total_steps: int | None = None  # None: n_epochs x ceil(examples / batch_size)
    metrics_every: int = 1  # one metrics event every N steps (and at the last step)


@dataclass(frozen=True)
class JobFailure:
    """A scripted provider-side failure: at the end of validation, or at step `at_step`."""

    code: str
    message: str
    param: str | None = None
    at_step: int | None = None


@dataclass
class Job:
    id: str
    created: float
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    method_type: str
    method_extra: dict[str, Any]
    requested: dict[str, Any]
    n_examples: int
    tokens_per_epoch: int
    timeline: Timeline
    organization_id: str
    organization_name: str
    failure: JobFailure | None = None
    status: str = "validating_files"
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    checkpoints: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    resolved: dict[str, Any] = field(default_factory=dict)
    total_steps: int = 0
    steps_done: int = 0
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    error: dict[str, Any] | None = None
    trained_tokens: int | None = None
    result_files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resolved = resolve_hyperparameters(self.requested, self.n_examples)
        batches = math.ceil(self.n_examples / self.resolved["batch_size"])
        default_steps = max(1, self.resolved["n_epochs"] * batches)
        self.total_steps = self.timeline.total_steps or default_steps
        self._event(self.created, f"Created fine-tuning job: {self.id}")
        self._event(self.created, f"Validating training file: {self.training_file}")
        if self.validation_file:
            self._event(self.created, f"Validating validation file: {self.validation_file}")

    # -- the timeline -------------------------------------------------------------------

    @property
    def validated_at(self) -> float:
        return self.created + self.timeline.validating_s

    @property
    def started_at(self) -> float:
        return self.validated_at + self.timeline.queued_s

    @property
    def ends_at(self) -> float:
        return self.started_at + self.total_steps * self.timeline.step_s + self.timeline.finalize_s

    def advance(self, now: float, add_result_file: Any) -> None:
        """Apply every transition scheduled at or before `now`."""
        while self.status not in TERMINAL:
            if self.status == "validating_files":
                if self.validated_at > now:
                    return
                self._validate()
            elif self.status == "queued":
                if self.started_at > now:
                    return
                self.status = "running"
                self._event(self.started_at, "Fine-tuning job started")
            elif self.steps_done < self.total_steps:
                at = self.started_at + (self.steps_done + 1) * self.timeline.step_s
                if at > now:
                    return
                self._step(at)
            else:
                if self.ends_at > now:
                    return
                self._succeed(add_result_file)

    def cancel(self, now: float) -> None:
        self.status = "cancelled"
        self.finished_at = int(now)
        self._event(now, "Fine-tuning job cancelled")

    def _validate(self) -> None:
        at = self.validated_at
        if self.n_examples < MIN_EXAMPLES:
            message = (
                f"Training file has {self.n_examples} example(s), but must have at least "
                f"{MIN_EXAMPLES} examples"
            )
            self._fail(at, JobFailure("invalid_n_examples", message, "training_file"))
        elif self.failure is not None and self.failure.at_step is None:
            self._fail(at, self.failure)
        else:
            self.status = "queued"
            self._event(at, "Files validated, moving job to queued state")

    def _step(self, at: float) -> None:
        self.steps_done += 1
        step, total = self.steps_done, self.total_steps
        if self.failure is not None and self.failure.at_step == step:
            self._fail(at, self.failure)
            return
        data = self.metrics(step)
        if step % max(1, self.timeline.metrics_every) == 0 or step == total:
            message = f"Step {step}/{total}: training loss={data['train_loss']:.2f}"
            if "valid_loss" in data:
                message += f", validation loss={data['valid_loss']:.2f}"
            self._event(at, message, kind="metrics", data=data)
        per_epoch = max(1, total // self.resolved["n_epochs"])
        if step % per_epoch == 0 and step < total:
            checkpoint = self._checkpoint(at, step, data)
            self._event(
                at,
                f"Checkpoint created at step {step} with Snapshot ID: "
                f"{checkpoint['fine_tuned_model_checkpoint']}",
            )

    def _succeed(self, add_result_file: Any) -> None:
        at = self.ends_at
        self.fine_tuned_model = self._model_name()
        self._checkpoint(at, self.total_steps, self.metrics(self.total_steps))
        self.trained_tokens = self.tokens_per_epoch * self.resolved["n_epochs"]
        self.result_files = [add_result_file(self)]
        self._event(at, f"New fine-tuned model created: {self.fine_tuned_model}")
        self._event(at, "Evaluating model against our usage policies")
        self._event(at, "Usage policy evaluations completed, model is now enabled for sampling")
        self._event(at, "The job has successfully completed")
        self.status = "succeeded"
        self.finished_at = int(at)

    def _fail(self, at: float, failure: JobFailure) -> None:
        self.status = "failed"
        self.finished_at = int(at)
        self.error = {"code": failure.code, "message": failure.message, "param": failure.param}
        self._event(at, failure.message, level="error")

    # -- what the job produces ----------------------------------------------------------

    def metrics(self, step: int) -> dict[str, Any]:
        """A plausible, seeded loss curve: the same job always reports the same numbers."""
        rng = random.Random(f"{self.id}:{step}")
        frac = step / self.total_steps
        loss = round(0.25 + 2.0 * math.exp(-4 * frac) + rng.uniform(-0.08, 0.08), 4)
        accuracy = round(min(0.99, 0.45 + 0.5 * (1 - math.exp(-4 * frac))), 4)
        data: dict[str, Any] = {
            "step": step,
            "train_loss": loss,
            "total_steps": self.total_steps,
            "train_mean_token_accuracy": accuracy,
        }
        if self.validation_file:
            data["valid_loss"] = round(loss + 0.1 + rng.uniform(0.0, 0.05), 4)
            data["valid_mean_token_accuracy"] = round(accuracy - 0.03, 4)
            if step == self.total_steps:
                data["full_valid_loss"] = round(loss + 0.12, 4)
                data["full_valid_mean_token_accuracy"] = round(accuracy - 0.04, 4)
        return data

    def _model_name(self) -> str:
        suffix = self.suffix or ""
        return f"ft:{self.model}:{self.organization_name}:{suffix}:{random_id('', 8)}"

    def _checkpoint(self, at: float, step: int, data: dict[str, Any]) -> dict[str, Any]:
        metrics = {k: v for k, v in data.items() if k != "total_steps"}
        checkpoint = {
            "object": "fine_tuning.job.checkpoint",
            "id": random_id("ftckpt_"),
            "created_at": int(at),
            "fine_tuned_model_checkpoint": f"{self._model_name()}:ckpt-step-{step}",
            "metrics": metrics,
            "fine_tuning_job_id": self.id,
            "step_number": step,
        }
        self.checkpoints.append(checkpoint)
        return checkpoint

    def _event(
        self,
        at: float,
        message: str,
        *,
        level: str = "info",
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": random_id("ftevent-"),
                "created_at": int(at),
                "level": level,
                "message": message,
                "data": data if data is not None else {},
                "type": kind,
            }
        )

    def to_json(self, error_form: ErrorForm = "nulls") -> dict[str, Any]:
        hyper = self.requested if self.status == "validating_files" else self.resolved
        if self.error is not None:
            error: dict[str, Any] | None = dict(self.error)
        elif error_form == "nulls":
            error = {"code": None, "message": None, "param": None}
        else:
            error = {} if error_form == "empty" else None
        method: dict[str, Any] = {"type": self.method_type}
        method[self.method_type] = {**self.method_extra, "hyperparameters": dict(hyper)}
        running = self.status == "running"
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": int(self.created),
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": self.organization_id,
            "result_files": list(self.result_files),
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": dict(hyper),
            "trained_tokens": self.trained_tokens,
            "error": error,
            "user_provided_suffix": self.suffix,
            "seed": self.seed,
            "estimated_finish": int(self.ends_at) if running else None,
            "integrations": [],
            "metadata": dict(self.metadata) if self.metadata is not None else None,
            "method": method,
        }


def resolve_hyperparameters(requested: dict[str, Any], n_examples: int) -> dict[str, Any]:
    """What "auto" becomes once the files are validated (the fake's own choice)."""

    def pick(name: str, auto: int | float) -> Any:
        value = requested.get(name, "auto")
        return auto if value == "auto" else value

    return {
        "n_epochs": pick("n_epochs", 3),
        "batch_size": pick("batch_size", max(1, min(256, n_examples // 100))),
        "learning_rate_multiplier": pick("learning_rate_multiplier", 2.0),
    }

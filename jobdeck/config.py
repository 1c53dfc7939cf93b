"""Settings for the API, the worker and the CLI: one class, env prefix JOBDECK_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of jobdeck; each field is read from JOBDECK_<FIELD NAME>."""

    model_config = SettingsConfigDict(env_prefix="JOBDECK_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means a SQLite file in data_dir",
    )

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    task_queue: str = "jobdeck"
    # Tag each job's workflow with JobType, JobOrganization and JobName for the Web UI. They
    # must be registered on the server (the worker does it); off for a server without them.
    temporal_search_attributes: bool = True
    # The longest a request waits on one Temporal call before answering 503.
    temporal_call_timeout_s: float = Field(default=3.0, gt=0, le=60)
    # Extra modules that register job types (see jobdeck.registry); loaded by API and worker.
    job_type_modules: list[str] = []

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_request_bytes: int = 1_048_576

    # Live feed (WebSockets). Browsers may connect from these origins besides the API's own.
    allowed_origins: list[str] = []
    event_retention_days: float = 30.0
    # Events a WebSocket client may fall behind by before it is disconnected (it resumes).
    ws_queue_size: int = 1000
    ws_heartbeat_s: float = 15.0
    # How often the SQLite tailer checks the database file for a commit (a stat, no query).
    sqlite_tail_interval_s: float = 0.005

    # Job code writes progress to the database at most this often; the final state always lands.
    progress_interval_s: float = 0.5
    worker_max_concurrent_activities: int = 100
    # Upper bound on how long a running activity takes to notice a cancel request.
    heartbeat_interval_s: float = 1.0

    # Datasets: where uploaded and converted files live (empty: <data_dir>/datasets), the
    # largest upload accepted, and the formats an upload may have.
    datasets_dir: Path | None = None
    dataset_max_upload_bytes: int = 2 * 1024**3
    dataset_formats: list[str] = ["csv", "tsv", "json", "jsonl", "parquet", "xlsx"]
    # The longest single row (a CSV record, a JSON line or array item) a conversion reads:
    # it bounds a conversion's memory whatever the file holds.
    dataset_max_row_bytes: int = 4 * 1024**2

    # Fine-tuning providers. Keys are read by activities only: never in job input or logs.
    openai_api_key: SecretStr | None = None
    # /metrics counts every organization's jobs: for operators. Set, it needs this token
    # as a bearer; unset, it is open to whoever reaches the API's address.
    metrics_token: SecretStr | None = None
    # Signs the dashboard's session cookies (jobdeck/api/routes/session.py). Unset: a random
    # one is made once and kept in <data_dir>/session-secret. Changing it signs everyone out.
    session_secret: SecretStr | None = None
    openai_base_url: str | None = None  # None: OpenAI's own
    ollama_base_url: str = "http://127.0.0.1:11434"
    provider_timeout_s: float = 60.0
    # How often a running provider job is polled (a durable timer between polls).
    fine_tuning_poll_interval_s: float = 30.0

    # Local LoRA training (the `training` extra). Training runs on its own task queue so that
    # only workers on a machine fit for it (a GPU) poll it: "auto" polls it where the extra
    # is installed, "off" never, "on" refuses to start without the extra.
    worker_training: Literal["auto", "on", "off"] = "auto"
    training_task_queue: str = Field(default="", description="Empty: <task_queue>-training")
    # Trainings one worker runs at once (one per GPU); the others wait, pending.
    training_slots: int = Field(default=1, ge=1)
    # Base models are loaded from here (a folder per model) or from the worker's Hugging
    # Face cache; nothing is downloaded. Empty: <data_dir>/base-models.
    base_models_dir: Path | None = None
    # Checkpoints and adapters (empty: <data_dir>/training); shared by the training workers.
    training_dir: Path | None = None
    training_checkpoints_kept: int = Field(default=2, ge=1)
    # A training try that stops heartbeating this long is presumed lost and resumed elsewhere
    # from its last checkpoint.
    training_heartbeat_timeout_s: float = 120.0

    # Documents and collections (issue 13).

    # Pipelines (issue 14).

    # Schedules and stuck-job alerts (issue 15).

    # Notifications (issue 15).

    # Fair sharing: limits, rate limits, quotas (issue 16).

    # Scale-out and tracing (issue 17).

    # The operator's dashboard (issue 18).

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'jobdeck.db'}"
        return self

    @property
    def dataset_root(self) -> Path:
        return self.datasets_dir or self.data_dir / "datasets"

    @property
    def training_queue(self) -> str:
        return self.training_task_queue or f"{self.task_queue}-training"

    @property
    def base_models_root(self) -> Path:
        return self.base_models_dir or self.data_dir / "base-models"

    @property
    def training_root(self) -> Path:
        return self.training_dir or self.data_dir / "training"

    def adapter_dir(self, job_id: str) -> Path:
        """Where a model-training job leaves its adapter (a folder per job)."""
        return self.training_root / job_id / "adapter"

    def workflow_url(self, job_id: str) -> str:
        base = self.temporal_ui_url.rstrip("/")
        return f"{base}/namespaces/{self.temporal_namespace}/workflows/{job_id}"


@lru_cache
def get_settings() -> Settings:
    return Settings()

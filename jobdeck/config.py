"""Settings for the API, the worker and the CLI: one class, env prefix JOBDECK_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Providers whose calls spend from a budget (jobdeck/providers): OpenAI (and servers
# speaking its API at JOBDECK_OPENAI_BASE_URL) and Ollama.
BUDGETED_PROVIDERS = ("openai", "ollama")


class ProviderBudget(BaseModel):
    """What all of jobdeck's processes together may send one provider account a minute."""

    model_config = ConfigDict(extra="forbid")

    rpm: float | None = Field(default=None, gt=0, description="Requests a minute")
    tpm: float | None = Field(default=None, gt=0, description="Tokens a minute")
    # A full budget holds this many seconds' worth (the burst it allows); OpenAI's own
    # limits hold a minute's.
    burst_s: float = Field(default=60.0, gt=0, le=3600)


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
    # How the worker's workflow sandbox treats modules (see worker.workflow_runner): `shared`
    # imports every module once for all runs; `fresh` re-imports the job types' workflow
    # modules for each run and enforces Temporal's restrictions on their calls (the tests
    # run this way, to catch a non-deterministic call while a job type is written).
    workflow_modules: Literal["shared", "fresh"] = "shared"

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
    # Local embedding models: <embedding_models_dir>/<model>/ is a sentence-transformers
    # folder with tokenizer.json and an ONNX export (model.onnx or onnx/model.onnx).
    # "all-MiniLM-L6-v2" needs no folder: the installed packages ship it (int8 ONNX).
    embedding_models_dir: Path | None = Field(default=None, description="Empty: <data_dir>/models")
    # onnxruntime threads per local embedder (0: one per core).
    embedding_threads: int = Field(default=0, ge=0)
    # Where collections' vectors live: "sqlite" (sqlite-vec files under vectors_dir) or
    # "pgvector" (tables in the PostgreSQL app database, HNSW-indexed).
    vector_store: Literal["sqlite", "pgvector"] = "sqlite"
    vectors_dir: Path | None = Field(default=None, description="Empty: <data_dir>/vectors")
    # A document past either limit is refused whole (too_many_pages / too_large).
    document_max_pages: int = Field(default=2000, ge=1)
    document_max_bytes: int = Field(default=200 * 1024**2, ge=1)
    # Texts per request to a remote embedder (OpenAI accepts up to 2048).
    embedding_batch_size: int = Field(default=256, ge=1, le=2048)
    # Uploads of many files or .zip archives into a collection (POST .../uploads): files
    # one request may add (archive members included), what its archives may expand to in
    # all and per member, and the compression ratio past which a member is a zip bomb.
    document_upload_max_files: int = Field(default=1000, ge=1)
    document_archive_max_bytes: int = Field(default=4 * 1024**3, ge=1)
    document_archive_member_max_bytes: int = Field(default=200 * 1024**2, ge=1)
    document_archive_max_ratio: float = Field(default=100.0, gt=1)

    # Pipelines (issue 14).
    # A step output larger than this goes to file storage and travels by reference.
    pipeline_inline_output_bytes: int = Field(default=16_384, ge=256, le=1_048_576)
    # The largest pipeline spec accepted (JSON or YAML, as sent).
    pipeline_max_spec_bytes: int = Field(default=262_144, ge=1024)
    # How many pipeline runs may nest inside one another (a run's job step that starts a
    # pipeline, and so on), the outermost run counted: a step that would start a run
    # deeper than this fails instead, so a pipeline that leads back to itself ends.
    pipeline_max_depth: int = Field(default=5, ge=1, le=100)
    # http steps refuse loopback, link-local and private addresses except these hosts,
    # addresses or networks (e.g. ["127.0.0.1", "10.0.0.0/8", "internal.example"]).
    pipeline_http_allow: list[str] = []
    pipeline_http_timeout_s: float = Field(default=30.0, gt=0)

    # Schedules and stuck-job alerts (issue 15).
    # A schedule's catch-up window unless it sets its own: runs missed while Temporal was
    # down longer than this are skipped (counted as missed), not all fired at once.
    schedule_catchup_window_s: float = Field(default=600.0, ge=10)
    # Schedules an organization may have.
    schedule_max_per_organization: int = Field(default=1000, ge=1)
    # How often the stuck-job check runs (a Temporal Schedule the worker keeps; 0: never;
    # at least once a second).
    stuck_check_interval_s: float = Field(default=60.0, ge=0)
    # An active job is stuck after this long with no progress, event or heartbeat; per type
    # in stuck_after_s_by_type, e.g. {"fine-tuning": 3600} (its provider's events count).
    stuck_after_s: float = Field(default=900.0, gt=0)
    stuck_after_s_by_type: dict[str, float] = {}
    # A pending job is stuck after this long while its queue's workers are idle.
    stuck_pending_after_s: float = Field(default=300.0, gt=0)

    # Notifications (issue 15).
    # The Fernet key that encrypts channel secrets at rest; empty: one made once into
    # <data_dir>/notification-key (0600). Losing it makes stored secrets unreadable.
    notification_secret_key: SecretStr | None = None
    # Seconds between a delivery's failed tries (Svix's schedule: 5 s, 5 min, 30 min, 2 h,
    # 5 h, 10 h, 10 h), each with +/- notification_retry_jitter of random spread; after
    # the last one the delivery has failed (it can be redelivered).
    notification_retry_schedule_s: list[float] = [5, 300, 1800, 7200, 18000, 36000, 36000]
    notification_retry_jitter: float = Field(default=0.2, ge=0, lt=1)
    # A channel whose every delivery has failed for this long is disabled (and says so).
    notification_disable_after_s: float = Field(default=86400.0, gt=0)
    # After a webhook secret is rotated, the old one still signs for this long.
    notification_secret_overlap_s: float = Field(default=86400.0, ge=0)
    # Receivers at loopback, link-local or private addresses are refused unless their host
    # or address is listed here (names, addresses or networks: "127.0.0.1", "10.0.0.0/8").
    notification_allowed_hosts: list[str] = []
    # The longest one try (HTTP request or SMTP session) may take.
    notification_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # How long a process remembers that an organization has no enabled rule (a job's end
    # then costs no query); a rule saved in another process applies within this. 0: off.
    notification_rules_cache_s: float = Field(default=5.0, ge=0, le=300)

    # Fair sharing: limits, rate limits, quotas (issue 16).
    # Fairness weight per organization id on the shared task queues (Temporal fairness:
    # each organization is a fairness key; unlisted organizations weigh 1.0).
    fairness_weights: dict[str, float] = {}
    # Jobs of one organization that may be active at once, in all and per job type; an
    # admin may override them per organization (PUT /api/limits). Jobs past a limit stay
    # pending, in priority then arrival order, until a slot frees.
    limit_active_jobs: int = Field(default=20, ge=1)
    limit_active_jobs_by_type: dict[str, int] = {"fine-tuning": 2}
    # How often a job waiting for a slot checks again if no release woke it (a backstop:
    # a release signals the jobs it lets through at once).
    slot_recheck_s: float = Field(default=30.0, gt=0)
    # How often a job waiting for the jobs it depends on checks them again if no signal
    # woke it (a backstop: each of them signals its waiting dependants when it ends).
    dependency_recheck_s: float = Field(default=60.0, gt=0)
    # API rate limits (token buckets shared by every API process through the database):
    # sustained requests per minute, and the burst a full bucket allows. 0 turns one off.
    rate_creates_per_minute_key: float = Field(default=300.0, ge=0)
    rate_creates_per_minute_org: float = Field(default=1200.0, ge=0)
    rate_uploads_per_minute_key: float = Field(default=60.0, ge=0)
    rate_uploads_per_minute_org: float = Field(default=240.0, ge=0)
    # A full bucket holds this many seconds' worth of its rate (the burst it allows).
    rate_burst_s: float = Field(default=20.0, gt=0)
    # Live-feed WebSockets one API key may hold open at once, over all API processes.
    ws_connections_per_key: int = Field(default=20, ge=1)
    # Redis (redis://host:6379/0) for the token buckets shared by every process (the API's
    # rate limits, the provider budgets); unset, they live in the app database.
    redis_url: str | None = None
    # Provider budgets per provider, over all workers and API processes, e.g.
    # {"openai": {"rpm": 500, "tpm": 200000}}. With or without one, OpenAI's
    # x-ratelimit-* headers slow calls down before a 429, and a 429 is waited out.
    provider_budgets: dict[str, ProviderBudget] = {}
    # The longest a provider call waits for its budget (or out a 429) before the 429 goes
    # to its job step, whose retry policy takes over.
    provider_budget_max_wait_s: float = Field(default=300.0, gt=0)
    # Quotas per organization, which an admin may override (PUT /api/limits): bytes of
    # dataset and document files and large pipeline step outputs stored (0: no quota),
    # and days an ended job's history is kept (0: for ever).
    quota_storage_bytes: int = Field(default=0, ge=0)
    quota_job_history_days: int = Field(default=0, ge=0)

    # Scale-out and tracing (issue 17).
    # `jobdeck up` runs this many workers and API processes on this machine, against the
    # same Temporal server and database; the API processes listen on successive ports from
    # api_port (api_port, api_port + 1, ...). `--workers` / `--api-processes` override them.
    workers: int = Field(default=1, ge=1, le=64)
    api_processes: int = Field(default=1, ge=1, le=64)

    # The operator's dashboard (issue 18).

    @field_validator("provider_budgets")
    @classmethod
    def _known_providers(cls, value: dict[str, ProviderBudget]) -> dict[str, ProviderBudget]:
        unknown = sorted(set(value) - set(BUDGETED_PROVIDERS))
        if unknown:
            raise ValueError(
                f"no provider {', '.join(unknown)}: budgets are for {', '.join(BUDGETED_PROVIDERS)}"
            )
        return value

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

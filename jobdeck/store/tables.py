"""SQLAlchemy tables. Changing one means a new Alembic revision in migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    cast,
    func,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only autoincrements an INTEGER PRIMARY KEY.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The key is shown once; only its lookup prefix and SHA-256 are kept.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_org_created", "organization_id", "created_at", "id"),
        Index("ix_jobs_org_status", "organization_id", "status"),
        # The operator's dashboard (issue 18, migration 0011): the list sorted by status, and
        # the charts' completed/failed per bucket and durations (index-only on PostgreSQL).
        Index("ix_jobs_org_status_created", "organization_id", "status", "created_at", "id"),
        Index(
            "ix_jobs_org_finished", "organization_id", "finished_at", "status", "type", "started_at"
        ),
        # The list filtered by type, and its count (migration 0012).
        Index("ix_jobs_org_type_created", "organization_id", "type", "created_at", "id"),
        UniqueConstraint("organization_id", "idempotency_key", name="uq_jobs_idempotency"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=3)
    data: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    progress: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_of: Mapped[str | None] = mapped_column(String(36), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    schedule_id: Mapped[str | None] = mapped_column(String(64), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The jobs it waits for, in the order given (None: none); job_dependencies indexes
    # the same pairs from the other side (migration 0014).
    depends_on: Mapped[list[str] | None] = mapped_column(JSON)


class JobDependency(Base):
    """One job waiting for another (POST /api/jobs dependsOn), written with the waiting
    job's row: the way from a job that ends to the jobs to wake."""

    __tablename__ = "job_dependencies"
    __table_args__ = (Index("ix_job_dependencies_on", "depends_on_id", "job_id"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[str] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )


# PostgreSQL's expression indexes of the jobs list (migration 0012). Store queries use these
# very expressions, their constants written into the SQL rather than bound, so that the
# planner matches them to the index in any plan, generic ones included.

# A job's duration in whole milliseconds, start to finish; -1 while it has not finished:
# the leading key of ?sort=duration (store/jobs.py), indexed with the keyset after it.
JOB_DURATION_MS: Any = func.coalesce(
    cast(
        func.round(
            func.extract("epoch", Job.finished_at - Job.started_at) * literal_column("1000")
        ),
        BigInteger,
    ),
    literal_column("-1"),
)
# The texts ?q= searches (lower-cased), under one trigram index (pg_trgm), so that a search
# for any substring reads the index instead of every row.
JOB_SEARCH_TEXTS: tuple[Any, ...] = (
    func.lower(Job.name),
    func.lower(func.coalesce(Job.description, literal_column("''"))),
    func.lower(Job.type),
)


def postgresql_only(index: Index) -> Index:
    """An index made on PostgreSQL alone; `info["dialect"]` tells migrations/env.py not to
    look for it on SQLite."""
    index.info["dialect"] = "postgresql"
    return index.ddl_if(dialect="postgresql")


postgresql_only(
    Index("ix_jobs_org_duration", Job.organization_id, JOB_DURATION_MS, Job.created_at, Job.id)
)
postgresql_only(
    Index(
        "ix_jobs_search",
        *(text.label(f"search_{i}") for i, text in enumerate(JOB_SEARCH_TEXTS)),
        postgresql_using="gin",
        postgresql_ops={f"search_{i}": "gin_trgm_ops" for i in range(len(JOB_SEARCH_TEXTS))},
    )
)


class JobEvent(Base):
    """The append-only outbox: one row per change of a job, in the same transaction."""

    __tablename__ = "job_events"
    __table_args__ = (
        Index("ix_job_events_job", "job_id", "id"),
        Index("ix_job_events_org", "organization_id", "id"),
        # Without AUTOINCREMENT SQLite reuses ids once the newest rows are pruned, and a
        # client resuming `after` an id would silently skip the reused ones.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36))
    organization_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class JobLog(Base):
    """One line a job's own code logged through `activity.logger` (see store/logs.py)."""

    __tablename__ = "job_logs"
    __table_args__ = (
        Index("ix_job_logs_job", "job_id", "id"),
        Index("ix_job_logs_time", "time"),
        # As for job_events: ids are never reused, so `after` never skips a line.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36))
    time: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    step: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int | None] = mapped_column(Integer)


class Dataset(Base):
    """A file an organization uploaded or a job produced, with its lineage. Lineage ids
    carry no foreign key on purpose: deleting a source keeps its outputs' history."""

    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int | None] = mapped_column(BigInteger)  # None until a job has read it
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(500))
    source_dataset_id: Mapped[str | None] = mapped_column(String(36), index=True)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # The collection whose chunks it holds (POST /api/collections/{id}/chunks/dataset).
    source_collection_id: Mapped[str | None] = mapped_column(String(36))
    # What reading it found out: columns, encoding, delimiter.
    details: Mapped[dict[str, Any] | None]
    validation: Mapped[dict[str, Any] | None]  # the fine-tuning validation report, if run
    created_at: Mapped[datetime]


class FineTuning(Base):
    """A fine-tune: the provider-side view of a `fine-tuning` job, keyed by that job's id."""

    __tablename__ = "fine_tunings"
    __table_args__ = (Index("ix_fine_tunings_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the background job's id
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(32))
    base_model: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str] = mapped_column(String(36), index=True)
    validation_dataset_id: Mapped[str | None] = mapped_column(String(36))
    hyperparameters: Mapped[dict[str, Any]]
    suffix: Mapped[str | None] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(16))  # pending, validating, queued, training...
    provider_status: Mapped[str | None] = mapped_column(String(64))
    provider_job_id: Mapped[str | None] = mapped_column(String(200))
    provider_files: Mapped[dict[str, Any] | None]
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    checkpoints: Mapped[dict[str, Any] | None]
    fine_tuned_model: Mapped[str | None] = mapped_column(String(300))
    model_id: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class FineTuningMetric(Base):
    """One training step's metrics (loss, accuracy) as the provider reported them."""

    __tablename__ = "fine_tuning_metrics"
    __table_args__ = (UniqueConstraint("fine_tuning_id", "step", name="uq_fine_tuning_step"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    fine_tuning_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[int] = mapped_column(Integer)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    values: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Model(Base):
    """A model a job produced, with its lineage (dataset, base model, job)."""

    __tablename__ = "models"
    __table_args__ = (Index("ix_models_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(300))  # what the provider calls it
    provider: Mapped[str] = mapped_column(String(32))
    base_model: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str | None] = mapped_column(String(36))
    job_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]


# Documents, collections and item-level results (issue 13; migration 0006).


class JobItem(Base):
    """One item of a job that works item by item (a document, a bulk target): its outcome,
    written by the item runner in batches (see activities/items.py)."""

    __tablename__ = "job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "key", name="uq_job_items_key"),
        Index("ix_job_items_status", "job_id", "status", "seq"),
    )

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, 2, ... in work order
    key: Mapped[str] = mapped_column(String(255))  # what the item is: a document id, a job id
    # pending, succeeded, partial, needs_ocr, failed, skipped (domain.ItemStatus)
    status: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any] | None]  # what the job type noted when it listed the item
    result: Mapped[dict[str, Any] | None]  # what processing it found (counts, new ids, ...)
    error: Mapped[str | None] = mapped_column(Text)  # why it failed or was skipped
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Collection(Base):
    """An organization's named set of documents, embedded by one model, chunked one way."""

    __tablename__ = "collections"
    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_collections_name"),
        Index("ix_collections_org_created", "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    embedding_provider: Mapped[str] = mapped_column(String(32))
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dimensions: Mapped[int | None] = mapped_column(Integer)  # known once embedded
    chunk_max_tokens: Mapped[int] = mapped_column(Integer)
    chunk_overlap: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Document(Base):
    """A file uploaded to a collection and what its latest processing made of it."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("collection_id", "filename", name="uq_documents_filename"),
        Index("ix_documents_collection_created", "collection_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id"))
    organization_id: Mapped[str] = mapped_column(String(36))
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(String(16))
    # pending (never processed since upload), or its latest item outcome
    status: Mapped[str] = mapped_column(String(16))
    pages: Mapped[int | None] = mapped_column(Integer)
    failed_pages: Mapped[dict[str, Any] | None]  # {"<page>": "reason"}
    characters: Mapped[int | None] = mapped_column(BigInteger)
    tokens: Mapped[int | None] = mapped_column(BigInteger)
    chunks: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # sha256 of (content hash, pipeline settings) of the vectors now stored: the same
    # fingerprint on a re-ingest means nothing to redo.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36))  # the job that last processed it
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# Pipelines and their versions (issue 14; migration 0007).


class Pipeline(Base):
    """A user-defined pipeline; its specs are immutable versions (pipeline_versions)."""

    __tablename__ = "pipelines"
    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_pipelines_name"),
        Index("ix_pipelines_org_created", "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    latest_version: Mapped[int] = mapped_column(Integer)
    archived_at: Mapped[datetime | None]  # delete archives: runs keep their pipeline
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PipelineVersion(Base):
    """One saved spec of a pipeline, never changed; a run pins one."""

    __tablename__ = "pipeline_versions"

    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]]
    user_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime]


class PipelineRunStep(Base):
    """A step of a pipeline run (a workflow-execution job) as it went: status, output (or
    a reference to it in file storage), error, child job; what reruns reuse."""

    __tablename__ = "pipeline_run_steps"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # the step's place in the spec
    kind: Mapped[str] = mapped_column(String(16))
    # pending, running, waiting, completed, failed, skipped, cancelled (pipelines.StepStatus)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[dict[str, Any] | None]  # {"value": ...}, so any JSON value fits
    error: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)  # why skipped; an approval's note
    child_job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    details: Mapped[dict[str, Any] | None]  # token usage, HTTP status, who approved
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class PipelineBlob(Base):
    """A large step output kept in file storage (pipelines/refs.py) and a run that holds
    it: the run that wrote it, and each rerun that took the step over. Its bytes count
    once toward the organization's storage quota however many runs hold it
    (store/pipeline_blobs.py); the file goes with the last of them (migration 0017)."""

    __tablename__ = "pipeline_blobs"
    __table_args__ = (Index("ix_pipeline_blobs_org_key", "organization_id", "key"),)

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


# Schedules (issue 15; migration 0008).


class Schedule(Base):
    """A jobdeck schedule: one Temporal Schedule (`temporal_id`) fires its jobs. Temporal
    holds the run state (paused, next and recent runs); this row holds who owns it and its
    definition as accepted, so lists and the stuck/miss checks need no Temporal call."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_org_created", "organization_id", "created_at", "id"),)

    # Short on purpose: a run's workflow id is "<schedule id>-<RFC 3339 time>", which was
    # the job id of runs fired before the scheduled-run workflow (36 at most).
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    temporal_id: Mapped[str] = mapped_column(String(200), unique=True)
    definition: Mapped[dict[str, Any]]  # job, cron | interval, timezone, policies, limits
    # Temporal's counters of runs missed (catch-up window) and skipped (overlap) as last
    # seen: a rise is a miss to record and announce.
    missed_seen: Mapped[int] = mapped_column(Integer, default=0)
    skipped_seen: Mapped[int] = mapped_column(Integer, default=0)
    # The version of the action its Temporal Schedule has (schedule_temporal.ACTION_VERSION):
    # a worker's start moves only the rows behind to the current action (0019: rows made
    # before it have 0, not known), so it asks Temporal about each schedule once.
    action_version: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScheduleMiss(Base):
    """Runs of a schedule that did not fire, and why (Temporal counts them, not their
    times: one row per rise of a counter); and each run refused when it fired."""

    __tablename__ = "schedule_misses"
    __table_args__ = (
        Index("ix_schedule_misses_schedule", "schedule_id", "id"),
        # One row per refused firing: a retried check finds it rather than adding another.
        Index("uq_schedule_misses_run", "schedule_id", "job_id", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str] = mapped_column(String(36))
    # catchup_window | overlap, or a refusal when it fired (activities/scheduled.py)
    reason: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[datetime]
    # A refused firing: the id its job would have had (the scheduled-run workflow's first
    # run id, which Temporal's recent runs carry), so its run is shown refused, not
    # pending. Null for Temporal's counted misses, and refusals recorded before 0018.
    job_id: Mapped[str | None] = mapped_column(String(36))


class StuckJob(Base):
    """A job found stuck (stuck-job alerts, issue 15), until it moves again."""

    __tablename__ = "stuck_jobs"
    __table_args__ = (Index("ix_stuck_jobs_org", "organization_id"),)

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(16))  # no_progress | pending
    since: Mapped[datetime]  # its last sign of life
    detected_at: Mapped[datetime]


# Notification channels, rules and deliveries (issue 15; migration 0009).


class NotificationChannel(Base):
    """Where an organization's notifications go. `secret` is encrypted at rest (Fernet)
    and never leaves the store in clear except to the delivery activity."""

    __tablename__ = "notification_channels"
    __table_args__ = (Index("ix_notification_channels_org", "organization_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # webhook, slack, discord, email
    config: Mapped[dict[str, Any]]  # what is not secret (a webhook's URL, SMTP host, to)
    secret: Mapped[str] = mapped_column(Text)  # Fernet token of the channel's secrets
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]  # set when failing for too long
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NotificationRule(Base):
    """Which events go to a channel, filtered by job type, name pattern and priority."""

    __tablename__ = "notification_rules"
    __table_args__ = (Index("ix_notification_rules_org", "organization_id", "enabled"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    channel_id: Mapped[str] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSON)
    job_types: Mapped[list[str]] = mapped_column(JSON)  # empty: every type
    name_pattern: Mapped[str | None] = mapped_column(String(200))  # a glob on the job's name
    priorities: Mapped[list[int]] = mapped_column(JSON)  # empty: every priority
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NotificationDelivery(Base):
    """One event to one channel: its state, and the latest try (the log per channel)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_channel", "channel_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the webhook-id too
    organization_id: Mapped[str] = mapped_column(String(36), index=True)
    channel_id: Mapped[str] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=1)  # 1 + redeliveries
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_response: Mapped[str | None] = mapped_column(Text)  # an excerpt
    last_error: Mapped[str | None] = mapped_column(Text)
    next_retry_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NotificationAttempt(Base):
    """Every try of a delivery, kept for the log."""

    __tablename__ = "notification_attempts"
    __table_args__ = (Index("ix_notification_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("notification_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


# Fair-sharing limits and quotas (issue 16; migration 0010).


class OrganizationLimit(Base):
    """An organization's own value for one limit, set by its admin ("active_jobs",
    "active_jobs:<job type>", the quotas "storage_bytes" and "job_history_days"); a limit
    without a row takes the settings' default."""

    __tablename__ = "organization_limits"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    # 64 bits for a storage quota in bytes (migration 0016; SQLite's INTEGER is already).
    value: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    updated_at: Mapped[datetime]


class JobSlot(Base):
    """A job's place under its organization's concurrency limits: `waiting` in line
    (priority, then `seq`), then `held` while it runs; the row goes when the job ends."""

    __tablename__ = "job_slots"
    __table_args__ = (Index("ix_job_slots_line", "organization_id", "state", "priority", "seq"),)

    seq: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), unique=True)
    organization_id: Mapped[str] = mapped_column(String(36))
    job_type: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8))  # waiting, held
    requested_at: Mapped[datetime]
    granted_at: Mapped[datetime | None]


class RateBucket(Base):
    """One token bucket of the API's rate limits, shared by every API process: its level
    in thousandths of a token (integers, so concurrent refills add up exactly)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    milli_tokens: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class SocketLease(Base):
    """One open live-feed WebSocket, so that a cap per API key holds over all API
    processes; an API process renews its leases while they are open, and a lease left by
    a process that died expires."""

    __tablename__ = "socket_leases"
    __table_args__ = (Index("ix_socket_leases_key", "key_id", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(36))
    expires_at: Mapped[datetime]


# The operator's dashboard (issue 18; migration 0011).


class JobRollup(Base):
    """One sealed bucket of the operator's charts for one job type (or '*': all types,
    which also marks the bucket as counted), counted once (store/rollups.py; migration
    0013)."""

    __tablename__ = "job_rollups"

    organization_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bucket_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer)
    # The durations of the jobs of this type that finished in the bucket (DurationSketch).
    durations: Mapped[dict[str, Any] | None]

"""SQLAlchemy tables. Changing one means a new Alembic revision in migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
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

# Pipelines and their versions (issue 14; migration 0007).

# Schedules (issue 15; migration 0008).

# Notification channels, rules and deliveries (issue 15; migration 0009).

# Fair-sharing limits and quotas (issue 16; migration 0010).

# The operator's dashboard (issue 18; migration 0011).

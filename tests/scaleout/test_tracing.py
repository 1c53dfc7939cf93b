"""One trace per job: with tracing on, one `POST /api/jobs` yields one connected trace
holding the request, its SQL statements, the Temporal client call, the workflow and each
of its activities (with theirs), every span with the job id; with it off, nothing is
installed. And the OTEL_* variables that turn it on, and the ones it refuses."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from jobdeck import tracing
from jobdeck.admin import create_account
from jobdeck.config import Settings
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from jobdeck.temporal import connect
from tests.conftest import make_settings, open_stack
from tests.helpers import create_job, wait_for_job


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test only, into memory."""
    memory = InMemorySpanExporter()
    traced = tracing.Tracing.of([SimpleSpanProcessor(memory)], "jobdeck-test")
    previous = tracing.install(traced)
    try:
        yield memory
    finally:
        tracing.install(previous)
        traced.shutdown()


def _is_sql(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return "db.system" in attributes or "db.system.name" in attributes


async def test_one_post_makes_one_trace_with_the_workflow_and_its_activities(
    exporter: InMemorySpanExporter, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobdeck.db'}"
    await upgrade_async(url)
    settings = make_settings(url, temporal_env.client, tmp_path / "data")
    client = await connect(settings)  # with the tracing interceptor, as `jobdeck worker`'s
    assert any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"])
    db = Database.connect(url)
    tracing.instrument_database(db)
    try:
        account = await create_account(
            db, organization="traced", email="t@example.com", name="T", role=Role.ADMIN
        )
        async with open_stack(settings=settings, temporal=client, db=db) as stack:
            async with stack.client(account.key) as api:
                job = await create_job(api, data={"steps": 2, "step_seconds": 0.01})
                done = await wait_for_job(api, job["id"], within=30)
                assert done["status"] == "completed", done
    finally:
        await db.dispose()

    spans = exporter.get_finished_spans()
    posts = [s for s in spans if s.kind == SpanKind.SERVER and s.name == "POST /api/jobs"]
    assert len(posts) == 1, [s.name for s in spans if s.kind == SpanKind.SERVER]
    assert posts[0].context is not None
    trace_id = posts[0].context.trace_id
    trace = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]

    # One trace per job: every span that names the job is in it, and every span of it
    # names the job.
    assert {
        s.context.trace_id
        for s in spans
        if s.context is not None and (s.attributes or {}).get(tracing.JOB_ID) == job["id"]
    } == {trace_id}
    unnamed = [s.name for s in trace if (s.attributes or {}).get(tracing.JOB_ID) != job["id"]]
    assert unnamed == []

    # Connected: the request is the root and every other span's parent is in the trace.
    ids = {s.context.span_id for s in trace if s.context is not None}
    roots = [s for s in trace if s.parent is None]
    assert roots == posts
    assert [s.name for s in trace if s.parent is not None and s.parent.span_id not in ids] == []

    names = [s.name for s in trace]
    assert "StartWorkflow:test-steps" in names, names
    assert "RunWorkflow:test-steps" in names, names
    assert "RunActivity:test-steps.run" in names, names
    activities = {s.name for s in trace if s.name.startswith("RunActivity:")}
    assert len(activities) >= 2, activities  # the job's own step and the records' ones
    # SQL statements of the request and of the activities.
    by_id = {s.context.span_id: s for s in trace if s.context is not None}

    def under(span: ReadableSpan) -> set[str]:
        seen = set()
        while span.parent is not None:
            span = by_id[span.parent.span_id]
            seen.add(span.name)
        return seen

    sql = [s for s in trace if _is_sql(s)]
    assert any(under(s) == {"POST /api/jobs"} for s in sql), [s.name for s in sql]
    assert any(any(n.startswith("RunActivity:") for n in under(s)) for s in sql)
    assert any("INSERT" in s.name.upper() for s in sql), [s.name for s in sql]


def test_spans_that_end_before_the_job_is_known_are_stamped_when_the_request_ends(
    exporter: InMemorySpanExporter,
) -> None:
    traced = tracing.current()
    assert traced is not None
    tracer = traced.provider.get_tracer("test")
    with tracer.start_as_current_span("request"):
        with tracer.start_as_current_span("auth query"):
            pass
        assert exporter.get_finished_spans() == ()  # held: the job is not known yet
        tracing.tag_job("job-1")
        with tracer.start_as_current_span("insert"):
            pass
    with tracer.start_as_current_span("another request"):  # never about a job
        with tracer.start_as_current_span("its query"):
            pass
    ended = {
        s.name: (s.attributes or {}).get(tracing.JOB_ID) for s in exporter.get_finished_spans()
    }
    assert ended == {
        "auth query": "job-1",
        "insert": "job-1",
        "request": "job-1",
        "its query": None,
        "another request": None,
    }


def test_a_long_request_does_not_hold_spans_without_bound(
    exporter: InMemorySpanExporter,
) -> None:
    traced = tracing.current()
    assert traced is not None
    tracer = traced.provider.get_tracer("test")
    with tracer.start_as_current_span("websocket"):
        for i in range(tracing.HOLD_MAX + 10):
            with tracer.start_as_current_span(f"query {i}"):
                pass
        assert len(exporter.get_finished_spans()) == 10
    assert len(exporter.get_finished_spans()) == tracing.HOLD_MAX + 11


async def test_off_by_default_nothing_is_installed(tmp_path: Path) -> None:
    assert tracing.current() is None
    assert tracing.temporal_interceptors() == []
    tracing.tag_job("anything")  # a no-op
    settings = Settings(data_dir=tmp_path)
    db = Database.connect(settings.database_url)
    try:
        tracing.instrument_database(db)
        # No SQLAlchemy event listener was added: nothing runs per statement.
        assert not db.writer_engine.sync_engine.dispatch.before_cursor_execute
        assert not db.writer_engine.sync_engine.dispatch.after_cursor_execute
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_the_standard_variables_turn_it_on(environ: dict[str, str], on: bool) -> None:
    assert tracing.wanted(environ) is on


def test_an_unknown_exporter_is_refused_with_a_clear_message() -> None:
    with pytest.raises(tracing.TracingError, match="not zipkin"):
        tracing.wanted({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_an_unknown_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(tracing.TracingError, match="use http/protobuf or grpc"):
        tracing.setup_from_environment("jobdeck-test")
    assert tracing.current() is None


def test_the_worker_command_says_why_it_cannot_trace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from jobdeck.cli.processes import cmd_worker

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    assert cmd_worker(Settings(data_dir=tmp_path), argparse.Namespace()) == 2
    err = capsys.readouterr().err
    assert "OTEL_TRACES_EXPORTER='jaeger': jobdeck exports traces with otlp" in err

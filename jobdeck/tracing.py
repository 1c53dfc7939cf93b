"""One trace per job, with OpenTelemetry: optional (the `otel` extra), off by default.

On in a process that calls `setup_from_environment` (`jobdeck api` and `jobdeck worker`
do) when the standard variables ask for it: `OTEL_TRACES_EXPORTER` set to `otlp` or
`console`, or, with it unset, `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set; `OTEL_SDK_DISABLED=true` or
`OTEL_TRACES_EXPORTER=none` keeps it off. The OTLP exporter reads its own variables
(endpoint, headers, timeout; `http/protobuf` only, unless the gRPC exporter is installed);
`OTEL_SERVICE_NAME` defaults to `jobdeck-api` / `jobdeck-worker`.

When on, a job's trace connects the FastAPI request that created it, the SQL statements of
that request, the Temporal client call that started its workflow, the workflow, each of its
activities and their SQL statements (Temporal carries the context in workflow and activity
headers: `temporalio.contrib.opentelemetry.TracingInterceptor`). Every span of it has the
job id as the attribute `jobdeck.job_id`, also the spans that ended before the request knew
the id (they are held until the request's span ends, then stamped).

When off nothing is installed: no interceptor, no instrumentation, no processor; the only
cost on the hot path is `tag_job`'s test of a module global.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
    from temporalio.client import Interceptor

    from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

JOB_ID = "jobdeck.job_id"
_TEMPORAL_WORKFLOW_ID = "temporalWorkflowID"  # set by Temporal's TracingInterceptor
_EXPORTERS = ("otlp", "console", "none")
HOLD_MAX = 256  # spans of one trace held, at most, until its job id is known


class TracingError(RuntimeError):
    """The OTEL_* variables ask for something this installation cannot do."""


def wanted(environ: dict[str, str] | None = None) -> bool:
    """Whether the standard OTEL_* variables turn tracing on (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        names = [name.strip() for name in exporter.split(",") if name.strip()]
        unknown = [name for name in names if name not in _EXPORTERS]
        if unknown:
            raise TracingError(
                f"OTEL_TRACES_EXPORTER={exporter!r}: jobdeck exports traces with "
                f"{', '.join(_EXPORTERS)}, not {', '.join(unknown)}"
            )
        return names != ["none"]
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _span_processors(env: dict[str, str] | os._Environ[str]) -> list[SpanProcessor]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    processors: list[SpanProcessor] = []
    for name in (n.strip() for n in exporters.split(",")):
        if name == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            protocol = (
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            )
            if protocol == "grpc":
                try:
                    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                        OTLPSpanExporter as GrpcExporter,
                    )
                except ImportError as err:
                    raise TracingError(
                        "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the package "
                        "opentelemetry-exporter-otlp-proto-grpc; or use http/protobuf"
                    ) from err
                processors.append(BatchSpanProcessor(GrpcExporter()))
            elif protocol == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                processors.append(BatchSpanProcessor(OTLPSpanExporter()))
            else:
                raise TracingError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use http/protobuf or grpc"
                )
    return processors


@dataclass
class JobIdStamp:
    """A span processor in front of the exporting ones: every span of a job's trace gets
    `jobdeck.job_id`. A span learns it at its start from its own Temporal attributes (the
    workflow id is the job id) or from its trace, once something in this process said it
    (`tag_job`, or a Temporal span); a span that ends before anyone knew is held until the
    trace's local root span (the request, the activity) ends, then stamped and passed on."""

    processors: list[SpanProcessor]
    _jobs: dict[int, str] = field(default_factory=dict)  # trace id -> job id
    _open_roots: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    _held: defaultdict[int, list[ReadableSpan]] = field(default_factory=lambda: defaultdict(list))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, trace_id: int, job_id: str) -> None:
        with self._lock:
            if self._open_roots.get(trace_id):
                self._jobs[trace_id] = job_id

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        trace_id = span.get_span_context().trace_id
        attributes = span.attributes or {}
        own = attributes.get(_TEMPORAL_WORKFLOW_ID)
        with self._lock:
            if span.parent is None or span.parent.is_remote:
                self._open_roots[trace_id] += 1
            job_id = str(own) if own else self._jobs.get(trace_id)
            if job_id:
                self._jobs[trace_id] = job_id
        if job_id:
            span.set_attribute(JOB_ID, job_id)
        for processor in self.processors:
            processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        trace_id = span.context.trace_id if span.context else 0
        is_root = span.parent is None or span.parent.is_remote
        out: list[ReadableSpan] = []
        with self._lock:
            job_id = self._jobs.get(trace_id)
            if is_root:
                self._open_roots[trace_id] -= 1
            held = self._held.get(trace_id)
            if job_id is None and not is_root and self._open_roots.get(trace_id):
                # Held until the root ends; but not without bound (a WebSocket's request
                # lasts hours): past HOLD_MAX spans, they go on unstamped.
                if held is None or len(held) < HOLD_MAX:
                    self._held[trace_id].append(span)
                    return
            out = [*self._held.pop(trace_id, []), span] if job_id or is_root else [span]
            if is_root and self._open_roots[trace_id] <= 0:
                del self._open_roots[trace_id]
                self._jobs.pop(trace_id, None)
        for done in out:
            stamped = _stamped(done, job_id) if job_id else done
            for processor in self.processors:
                processor.on_end(stamped)

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.processors)

    def _on_ending(self, span: Span) -> None:  # the SDK calls it on every processor
        for processor in self.processors:
            processor._on_ending(span)


def _stamped(span: ReadableSpan, job_id: str) -> ReadableSpan:
    """`span` with the job id, as a new read-only span if it ended without it."""
    attributes = span.attributes or {}
    if attributes.get(JOB_ID) == job_id:
        return span
    from opentelemetry.sdk.trace import ReadableSpan as Readable

    return Readable(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={**attributes, JOB_ID: job_id},
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


@dataclass
class Tracing:
    """A tracer provider whose spans go through `JobIdStamp`, and what to instrument."""

    provider: TracerProvider
    stamp: JobIdStamp

    @classmethod
    def of(cls, processors: list[SpanProcessor], service_name: str) -> Tracing:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name.
        resource = Resource.create(
            {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
        )
        provider = TracerProvider(resource=resource)
        stamp = JobIdStamp(processors)
        provider.add_span_processor(stamp)  # type: ignore[arg-type]
        return cls(provider, stamp)

    def temporal_interceptors(self) -> list[Interceptor]:
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor(self.provider.get_tracer("jobdeck.temporal"))]

    def instrument_app(self, app: FastAPI) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            # One span per request: not one more per ASGI message sent or received.
            exclude_spans=["receive", "send"],
        )

    def instrument_database(self, db: Database) -> None:
        """A span per SQL statement of this database's engines (and of no other engine:
        SQLAlchemyInstrumentor().instrument() would patch every engine of the process)."""
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__
        from opentelemetry.metrics import NoOpMeterProvider

        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
        # The instrumentation also counts pool connections; metrics are not ours to export.
        usage = NoOpMeterProvider().get_meter("jobdeck").create_up_down_counter("db.connections")
        engines = {id(e): e for e in (db.reader_engine, db.writer_engine)}.values()
        for engine in engines:
            EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    def tag_job(self, job_id: str) -> None:
        from opentelemetry import trace

        span = trace.get_current_span()
        context = span.get_span_context()
        if context.is_valid:
            span.set_attribute(JOB_ID, job_id)
            self.stamp.note(context.trace_id, job_id)

    def shutdown(self) -> None:
        self.provider.shutdown()


_current: Tracing | None = None


def current() -> Tracing | None:
    return _current


def install(tracing: Tracing | None) -> Tracing | None:
    """Make `tracing` this process's (None: off); returns the one it replaces. Clients,
    engines and apps made afterwards are instrumented; those made before are not."""
    global _current
    previous, _current = _current, tracing
    return previous


def setup_from_environment(service_name: str) -> Tracing | None:
    """Install tracing as the OTEL_* variables say (nothing when they don't ask for it)."""
    if not wanted():
        return None
    try:
        tracing = Tracing.of(_span_processors(os.environ), service_name)
    except ImportError as err:
        raise TracingError(
            "the OTEL_* variables turn tracing on, but the `otel` extra is not installed: "
            "pip install 'jobdeck[otel]'"
        ) from err
    install(tracing)
    logger.info("tracing on", extra={"service": service_name})
    return tracing


# --- the hooks the rest of jobdeck calls: no-ops while tracing is off --------------------


def temporal_interceptors() -> list[Any]:
    return _current.temporal_interceptors() if _current is not None else []


def instrument_database(db: Database) -> None:
    if _current is not None:
        _current.instrument_database(db)


def instrument_app(app: FastAPI) -> None:
    if _current is not None:
        _current.instrument_app(app)


def tag_job(job_id: str) -> None:
    """Say which job the current trace is about (when tracing is on)."""
    if _current is not None:
        _current.tag_job(job_id)

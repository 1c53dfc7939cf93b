"""Shared by bench/progress_latency.py and bench/fanout.py: the bench-only job type and a
whole jobdeck stack run as real processes on loopback.

The job type `bench-progress` (registered in the API and the worker through
JOBDECK_JOB_TYPE_MODULES='["bench._stack"]', with the repository root on PYTHONPATH) runs
one activity that calls `ProgressReporter.update` `reports` times at a fixed pace
(`interval_ms`, on an absolute schedule so a slow report does not shift the next), with
`interval_s=0` so that every call writes its progress row and event. Each report's
message is `"<seq> <time.time() just before the call>"`: a client on the same machine
subtracts it from its receipt time. With `durations` the activity also returns how long
each `update` call took (it returns once the transaction committed), so that a bench can
split call->receipt into call->commit and commit->receipt.

The stack: a Temporal dev server (`jobdeck.devserver.dev_server_command`, SQLite file in
the bench's temp folder), `python -m jobdeck worker` and `python -m jobdeck api` as
subprocesses, on a fresh SQLite file or a scratch PostgreSQL database
(`jobdeck_bench_<random>`, dropped afterwards). Every process runs in its own session
and is stopped (SIGTERM, then SIGKILL) by `Processes.stop`, which the benches call in
`finally`.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity, workflow

from jobdeck.workflows.lifecycle import JobWorkflow

# The worker's workflow sandbox re-imports this module for each workflow run: let it reuse
# everything below rather than import it again (and leave the process helpers alone).
with workflow.unsafe.imports_passed_through():
    import contextlib
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import uuid
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
    from pathlib import Path

    from jobdeck.activities.base import ActivityGroup
    from jobdeck.activities.progress import ProgressReporter
    from jobdeck.domain import JobSpec
    from jobdeck.workflows.jobtype import JobType

JOB_TYPE = "bench-progress"
JOB_TYPE_MODULE = "bench._stack"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 90.0
BULLMQ_NOTE = (
    "for scale: BullMQ's progress events reach a server-side listener in about 1.4 ms p95 "
    "on this machine (Redis pub/sub, no durability, no WebSocket hop)"
)


# --- the bench job type ------------------------------------------------------------------


class PacedData(BaseModel):
    reports: int = Field(default=100, ge=1, le=100_000)
    interval_ms: float = Field(default=20.0, ge=0, le=60_000)
    durations: bool = False  # return each update() call's duration (ms)


@dataclass
class PacedInput:
    reports: int
    interval_ms: float
    durations: bool = False


class PacedActivities(ActivityGroup):
    @activity.defn(name="bench-progress.run")
    async def run(self, params: PacedInput) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        interval = params.interval_ms / 1000
        took: list[float] = []
        late = 0
        start = loop.time()
        async with ProgressReporter(
            self.records, total=params.reports, unit="steps", stage="bench", interval_s=0
        ) as progress:
            for seq in range(1, params.reports + 1):
                delay = start + seq * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    late += 1
                called = time.time()
                await progress.update(seq, message=f"{seq} {called:.6f}")
                took.append(time.time() - called)
        ordered = sorted(took)
        return {
            "reports": params.reports,
            "late": late,  # reports that could not keep the pace (the previous one overran)
            "updateP50Ms": round(ordered[len(ordered) // 2] * 1000, 3),
            "updateMaxMs": round(ordered[-1] * 1000, 3),
            "updateMs": [round(t * 1000, 3) for t in took] if params.durations else [],
        }


@workflow.defn(name=JOB_TYPE)
class PacedWorkflow(JobWorkflow[PacedData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: PacedData) -> dict[str, Any] | None:
        result: dict[str, Any] = await workflow.execute_activity_method(
            PacedActivities.run,
            PacedInput(**data.model_dump()),
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=30),
        )
        return result


JOB_TYPES = [
    JobType(
        workflow=PacedWorkflow,
        description="Paced progress reports (benchmarks only)",
        activities=[PacedActivities.run],
    )
]


# --- figures -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


# --- processes ---------------------------------------------------------------------------


def repo_root() -> Path:
    # Not at import time: the workflow sandbox, which re-imports this module, forbids it.
    return Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_cpu_wait_seconds(pid: int) -> float:
    """How long the process's main thread (an event loop) has waited on a run queue for a
    CPU so far, from /proc/<pid>/schedstat: on a shared machine, the time it was ready to
    run and did not."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def proc_memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", math.nan), values.get("VmHWM", math.nan)


class Processes:
    """Subprocesses started by a bench, each in its own session; `stop` ends them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path
    ) -> subprocess.Popen[bytes]:
        with self.log_path(name).open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append((name, proc))
        return proc

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_path(name)
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{self.tail(name)}")

    def stop(self, *names: str) -> None:
        """Stop these processes (or all, newest first): SIGTERM, then SIGKILL after 15 s."""
        for item in reversed(list(self.procs)):
            proc_name, proc = item
            if names and proc_name not in names:
                continue
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)  # its own session: pgid == pid
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=15)
            self.procs.remove(item)


@contextlib.contextmanager
def profiled(
    procs: Processes, py_spy: str | None, targets: dict[str, int], out_dir: Path
) -> Iterator[None]:
    """With a py-spy binary: sample these processes ({name: pid}) meanwhile, into
    `<out_dir>/<name>.txt` (collapsed stacks, one line per stack with its sample count)."""
    if not py_spy:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, pid in targets.items():
        out = out_dir / f"{name}.txt"
        cmd = [py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
        spies.append(
            procs.start(
                f"py-spy-{name}", [*cmd, "--output", str(out), "--nonblocking"], cwd=out_dir
            )
        )
        print(f"py-spy: {name} (pid {pid}) -> {out}")
    time.sleep(1)  # attached before the measured part starts
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy in spies:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        procs.procs = [(n, p) for n, p in procs.procs if p not in spies]


async def wait_until(
    what: str, check: Callable[[], Awaitable[bool]], procs: Processes, limit_s: float
) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            if await check():
                return
        except Exception:  # not up yet
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {limit_s:.0f} s")


async def start_temporal(procs: Processes, work: Path) -> str:
    """A tuned dev server on a free port; returns its address once it answers."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    from jobdeck.devserver import dev_server_command

    port = free_port()
    cmd = dev_server_command(db_file=work / "temporal.db", ip="127.0.0.1", port=port, ui_port=None)
    procs.start("temporal", cmd, cwd=work)
    address = f"127.0.0.1:{port}"
    holder: list[Client] = []

    async def ready() -> bool:
        if not holder:
            holder.append(await Client.connect(address))
        await holder[0].workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        return True

    await wait_until("Temporal dev server", ready, procs, START_TIMEOUT_S)
    return address


@contextlib.asynccontextmanager
async def scratch_postgres(admin_url: str = POSTGRES_URL) -> AsyncIterator[str]:
    """A fresh database `jobdeck_bench_<random>` on the server of `admin_url`, dropped on
    exit; yields its SQLAlchemy URL."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    name = f"jobdeck_bench_{uuid.uuid4().hex[:10]}"

    async def admin() -> asyncpg.Connection:
        return await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
        )

    conn = await admin()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass
class Deck:
    """One running jobdeck (API + worker processes) with an organization of its own."""

    name: str
    organization_id: str
    database_url: str
    base_url: str
    ws_url: str
    key: str
    api_pid: int
    worker_pid: int

    def http(self, timeout: float = 30) -> Any:
        import httpx

        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=timeout,
        )

    async def create_job(self, http: Any, data: dict[str, Any], name: str = "bench") -> str:
        """POST /api/jobs, retried with the same Idempotency-Key if the connection drops (a
        saturated API can close a kept-alive connection under a request)."""
        import httpx

        body = {"type": JOB_TYPE, "name": name, "data": data}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        for attempt in range(3):
            try:
                response = await http.post("/api/jobs", json=body, headers=headers)
                break
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError):
                if attempt == 2:
                    raise
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST /api/jobs: {response.status_code} {response.text}")
        job_id: str = response.json()["id"]
        return job_id


def jobdeck_env(**values: str) -> dict[str, str]:
    """The environment of a `python -m jobdeck` process the bench starts: this one's, less
    any JOBDECK_* setting of the shell (the bench's `values` alone configure it), with the
    repository importable (bench and test job types) and unbuffered logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(repo_root()), os.environ.get("PYTHONPATH", "")) if p
    )
    env.update(PYTHONUNBUFFERED="1", **values)
    return env


async def start_worker(
    procs: Processes, name: str, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """`python -m jobdeck worker` as `name`, once it says it is running."""
    worker = procs.start(name, [sys.executable, "-m", "jobdeck", "worker"], env=env, cwd=cwd)

    async def worker_ready() -> bool:
        return "worker running" in procs.log_path(name).read_text(errors="replace")

    await wait_until(f"jobdeck worker ({name})", worker_ready, procs, START_TIMEOUT_S)
    return worker


async def start_deck(
    procs: Processes,
    work: Path,
    *,
    name: str,
    database_url: str,
    temporal_address: str,
    extra_env: dict[str, str] | None = None,
) -> Deck:
    """Migrate the database, create an organization with an admin key, and start
    `python -m jobdeck worker` and `python -m jobdeck api` (names `<name>-worker`,
    `<name>-api`) with the bench job type loaded."""
    import httpx

    from jobdeck.admin import create_account
    from jobdeck.store.accounts import Role
    from jobdeck.store.engine import Database
    from jobdeck.store.migrate import upgrade_async

    await upgrade_async(database_url)
    db = Database.connect(database_url)
    try:
        suffix = uuid.uuid4().hex[:8]
        created = await create_account(
            db,
            organization=f"bench-{suffix}",
            email=f"bench-{suffix}@bench.local",
            name="bench",
            role=Role.ADMIN,
        )
    finally:
        await db.dispose()

    api_port = free_port()
    data_dir = work / f"{name}-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = jobdeck_env(
        JOBDECK_DATA_DIR=str(data_dir),
        JOBDECK_DATABASE_URL=database_url,
        JOBDECK_TEMPORAL_ADDRESS=temporal_address,
        JOBDECK_TASK_QUEUE=f"bench-{suffix}",
        JOBDECK_API_HOST="127.0.0.1",
        JOBDECK_API_PORT=str(api_port),
        JOBDECK_JOB_TYPE_MODULES=f'["{JOB_TYPE_MODULE}"]',
        **(extra_env or {}),
    )
    api = procs.start(f"{name}-api", [sys.executable, "-m", "jobdeck", "api"], env=env, cwd=work)
    worker = await start_worker(procs, f"{name}-worker", env, work)
    base_url = f"http://127.0.0.1:{api_port}"

    async def api_ready() -> bool:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{base_url}/readyz")).status_code == 200

    await wait_until(f"jobdeck API ({name})", api_ready, procs, START_TIMEOUT_S)
    return Deck(
        name=name,
        organization_id=created.organization_id,
        database_url=database_url,
        base_url=base_url,
        ws_url=f"ws://127.0.0.1:{api_port}",
        key=created.key,
        api_pid=api.pid,
        worker_pid=worker.pid,
    )


def open_feed(deck: Deck, path: str = "/ws/jobs", **kwargs: Any) -> Any:
    """A `websockets` client connection to a feed of `deck`, authenticated by header."""
    from websockets.asyncio.client import connect

    return connect(
        f"{deck.ws_url}{path}",
        additional_headers={"Authorization": f"Bearer {deck.key}"},
        proxy=None,
        open_timeout=30,
        **kwargs,
    )


def run_bench(
    prefix: str,
    keep: bool,
    body: Callable[[Path, Any], Coroutine[Any, Any, int]],
    processes: Callable[[Path], Any] = Processes,
) -> int:
    """Run a bench's body in a fresh temporary folder with a process keeper: every process
    it started is stopped and the folder removed (unless kept); a failure prints the tail
    of each process's log."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    procs = processes(work)
    try:
        return asyncio.run(body(work, procs))
    except (RuntimeError, TimeoutError) as err:
        print(f"bench failed: {err!r}", file=sys.stderr)
        for log in sorted(work.glob("*.log")):
            print(f"----- {log.stem}\n{procs.tail(log.stem)}", file=sys.stderr)
        return 1
    finally:
        procs.stop()
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

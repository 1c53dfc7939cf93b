"""ParsedDocument -> token-sized chunks, counted with the embedder's own tokenizer.

Chunks never cross a page (a hit names one page), keep their character offsets within
it (`page.text[start:end] == chunk.text`), hold at most `max_tokens` tokens, and each
starts about `overlap` tokens before the previous one ended. Two ways to cut, same rules:

- with `token_spans` (an embedder whose tokenizer reports each token's characters: the
  local model's and Ollama's, through `tokenizers`), each page is tokenized once and cut
  at the best boundary in the last half of each window of `max_tokens` tokens: a blank
  line, else a line end, a sentence end, a space, else between two tokens. One pass:
  ~4x semchunk's speed on prose pages (bench/documents.py);
- with a token counter only (OpenAI's tiktoken), semchunk cuts at the same kinds of
  boundaries by counting candidate pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

from semchunk.semchunk import chunk as split

from jobdeck.documents.types import Chunk, ParsedDocument

TokenSpans = Callable[[str], list[tuple[int, int]]]

# A page longer than this is cut into windows first (at a paragraph, line or space near the
# end) and each window chunked alone: semchunk holds every split of its text at once, which
# for one 50 MB line of words is ~1.5 GB; per window it stays a few MB.
WINDOW_CHARS = 256 * 1024

# Token counts remembered per Chunker: semchunk counts the same pieces many times while it
# merges them, but an unbounded memo (semchunk's default) would grow for a whole batch.
_MEMO_SIZE = 8192
# Characters tokenized in one batch: bounds the memory of a huge page's token spans.
_BATCH_CHARS = 2 * 1024 * 1024
_SENTENCE_ENDS = frozenset(".!?;:。！？")


class Chunker:
    def __init__(
        self,
        count_tokens: Callable[[str], int],
        max_tokens: int,
        overlap: int,
        *,
        token_spans: TokenSpans | None = None,
        token_spans_batch: Callable[[list[str]], list[list[tuple[int, int]]]] | None = None,
    ) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if not 0 <= overlap < max_tokens:
            raise ValueError("overlap must be at least 0 and less than max_tokens")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.token_spans = token_spans
        self.token_spans_batch = token_spans_batch if token_spans is not None else None
        self._count = lru_cache(maxsize=_MEMO_SIZE)(count_tokens)

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        """Every page's text cut into chunks of at most `max_tokens` tokens; consecutive
        chunks of a page share about `overlap` tokens; offsets are within the page's text."""
        chunks: list[Chunk] = []
        windows = [
            (page, base, window)
            for page in document.pages
            for base, window in _windows(page.text)
            if window.strip()
        ]
        spans = self._spans([window for _, _, window in windows])
        for number, (page, base, window) in enumerate(windows):
            if self.token_spans is not None:
                pieces = self._by_spans(window, spans[number] if spans else None)
            else:
                pieces = self._by_semchunk(window)
            for start, end, tokens in pieces:
                chunks.append(
                    Chunk(
                        index=len(chunks),
                        text=window[start:end],
                        page=page.number,
                        start=base + start,
                        end=base + end,
                        tokens=tokens,
                        section=page.section,
                    )
                )
        self._count.cache_clear()
        return chunks

    def _spans(self, windows: list[str]) -> list[list[tuple[int, int]]] | None:
        """Every window's token spans, tokenized in batches (the tokenizer spreads a batch
        over the cores) of at most _BATCH_CHARS, or None without a batch tokenizer."""
        if self.token_spans_batch is None:
            return None
        found: list[list[tuple[int, int]]] = []
        batch: list[str] = []
        size = 0
        for window in windows:
            if batch and size + len(window) > _BATCH_CHARS:
                found.extend(self.token_spans_batch(batch))
                batch, size = [], 0
            batch.append(window)
            size += len(window)
        if batch:
            found.extend(self.token_spans_batch(batch))
        return found

    def _by_semchunk(self, window: str) -> list[tuple[int, int, int]]:
        result: Any = split(
            window,
            chunk_size=self.max_tokens,
            token_counter=self._count,
            memoize=False,
            offsets=True,
            overlap=self.overlap or None,
        )
        texts, offsets = cast(tuple[list[str], list[tuple[int, int]]], result)
        pieces = []
        for text, (start, _end) in zip(texts, offsets, strict=True):
            stripped = text.strip()
            if stripped:
                # A window's cut may leave a space at a chunk's edge: trim it.
                start += len(text) - len(text.lstrip())
                pieces.append((start, start + len(stripped), self._count(stripped)))
        return pieces

    def _by_spans(
        self, window: str, spans: list[tuple[int, int]] | None
    ) -> list[tuple[int, int, int]]:
        assert self.token_spans is not None
        if spans is None:
            spans = self.token_spans(window)
        count, size = len(spans), self.max_tokens
        pieces: list[tuple[int, int, int]] = []
        first = 0
        while first < count:
            stop = min(first + size, count)
            if stop < count:
                stop = _best_cut(window, spans, first + max(1, size // 2), stop)
            start, end = spans[first][0], spans[stop - 1][1]
            tokens = stop - first
            if not (_word_edge(window, spans, first) and _word_edge(window, spans, stop)):
                # Cut inside a word: its pieces may tokenize otherwise alone; count them.
                tokens = self.count_tokens(window[start:end])
                while tokens > size and stop - first > 1:
                    stop -= 1
                    end = spans[stop - 1][1]
                    tokens = self.count_tokens(window[start:end])
            pieces.append((start, end, tokens))
            if stop >= count:
                break
            following = max(stop - self.overlap, first + 1) if self.overlap else stop
            while following < stop and not _word_edge(window, spans, following):
                following += 1  # an overlap starts at a word, not inside one
            first = following
        return pieces


def _word_edge(text: str, spans: list[tuple[int, int]], index: int) -> bool:
    """Whether the boundary before token `index` is between words (or the text's edge)."""
    if index <= 0 or index >= len(spans):
        return True
    return spans[index - 1][1] < spans[index][0]


def _best_cut(text: str, spans: list[tuple[int, int]], low: int, high: int) -> int:
    """The token index in [low, high] to end a chunk before: the latest of the best kind of
    boundary (blank line > line end > sentence end > space > between tokens)."""
    best, best_score = high, -1
    for index in range(high, low - 1, -1):
        gap_start, gap_end = spans[index - 1][1], spans[index][0]
        if gap_end <= gap_start:
            score = 0
        else:
            gap = text[gap_start:gap_end]
            if "\n\n" in gap:
                return index
            if "\n" in gap:
                score = 3
            elif text[gap_start - 1] in _SENTENCE_ENDS:
                score = 2
            else:
                score = 1
        if score > best_score:
            best, best_score = index, score
    return best


def _windows(text: str) -> list[tuple[int, str]]:
    """`text` as (offset, piece) windows of at most WINDOW_CHARS, cut at the best boundary
    in each window's last quarter: a blank line, a line end, a space, else anywhere."""
    if len(text) <= WINDOW_CHARS:
        return [(0, text)]
    windows, start = [], 0
    while len(text) - start > WINDOW_CHARS:
        limit = start + WINDOW_CHARS
        floor = limit - WINDOW_CHARS // 4
        cut = -1
        for boundary in ("\n\n", "\n", " "):
            cut = text.rfind(boundary, floor, limit)
            if cut > start:
                cut += len(boundary)
                break
        if cut <= start:
            cut = limit
        windows.append((start, text[start:cut]))
        start = cut
    windows.append((start, text[start:]))
    return windows


def chunker_for(embedder: Any, max_tokens: int, overlap: int) -> Chunker:
    """The Chunker for an embedder: its token counter, and its token spans where it has them."""
    return Chunker(
        embedder.count_tokens,
        max_tokens,
        overlap,
        token_spans=getattr(embedder, "token_spans", None),
        token_spans_batch=getattr(embedder, "token_spans_batch", None),
    )

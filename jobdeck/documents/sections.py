"""Text cut at headings: each part one Page whose `section` is its heading path."""

from __future__ import annotations

from jobdeck.documents.types import Page


class SectionWriter:
    """Collects lines; a heading closes the part so far and opens one under its path
    ("Install > Linux"); parts with no text are dropped and numbering stays dense."""

    def __init__(self) -> None:
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self._section: str | None = None
        self._pages: list[Page] = []

    def heading(self, level: int, title: str) -> None:
        self._close()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, " ".join(title.split())))
        self._section = " > ".join(name for _, name in self._path)

    def line(self, text: str) -> None:
        self._lines.append(text)

    def pages(self) -> list[Page]:
        self._close()
        return self._pages

    def _close(self) -> None:
        text = "\n".join(self._lines).strip("\n")
        self._lines = []
        if text.strip():
            self._pages.append(Page(number=len(self._pages) + 1, text=text, section=self._section))

"""HTML (selectolax's Lexbor parser), Markdown (markdown-it-py) and plain text to pages."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from selectolax.lexbor import LexborHTMLParser

from jobdeck.documents.sections import SectionWriter
from jobdeck.documents.types import Page, ParsedDocument

# Never text a reader sees: scripts, styles, and the site's navigation around the content.
_DROPPED = "script, style, noscript, template, nav, svg, iframe, object, head, button, select"
_BLOCKS = frozenset(
    "address article aside blockquote body br dd details dialog div dl dt fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 header hr li main ol p pre section summary table "
    "tbody td th thead tr ul".split()
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SPACES = re.compile(r"\s+")
_MARKDOWN = MarkdownIt("commonmark")


def parse_html(text: str) -> ParsedDocument:
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else None
    for node in tree.css(_DROPPED):
        node.decompose()
    writer = SectionWriter()
    root = tree.body or tree.root
    words: list[str] = []

    def flush() -> None:
        line = _SPACES.sub(" ", "".join(words)).strip()
        words.clear()
        if line:
            writer.line(line)

    if root is not None:
        for node in root.traverse(include_text=True):
            tag = node.tag
            if tag == "-text":
                words.append(node.text_content or "")
            elif tag in _BLOCKS:
                flush()
                if tag in _HEADINGS:
                    heading = node.text(strip=True)
                    if heading:
                        writer.heading(_HEADINGS[tag], heading)
    flush()
    return ParsedDocument(format="html", pages=writer.pages(), title=title or None)


def parse_markdown(text: str) -> ParsedDocument:
    """Pages are the source's own text between headings (Markdown kept as written), so
    that offsets point into the file a user uploaded."""
    lines = text.split("\n")
    tokens = _MARKDOWN.parse(text)
    writer = SectionWriter()
    title = None
    line = 0
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None:
            continue
        start, _ = token.map
        for kept in lines[line:start]:
            writer.line(kept)
        heading = tokens[index + 1].content if index + 1 < len(tokens) else ""
        level = int(token.tag[1:])
        if start == 0 and level == 1:
            title = heading or None  # a document that opens with its title
        writer.heading(level, heading or "(untitled)")
        line = start
    for kept in lines[line:]:
        writer.line(kept)
    return ParsedDocument(format="md", pages=writer.pages(), title=title)


def parse_text(text: str) -> ParsedDocument:
    return ParsedDocument(format="txt", pages=[Page(number=1, text=text)] if text.strip() else [])

"""Dataset names from uploads, and the Content-Disposition that hands them back.

A name is a display name and a download's file name, never a path: `safe_name` keeps the
base name only and drops control characters (CR, LF, ESC... would break the download's
header) and bidirectional overrides (which disguise an extension). `content_disposition`
encodes it per RFC 6266 / RFC 5987: an ASCII fallback for old clients and the exact name
as UTF-8, percent-encoded.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# RFC 5987 attr-char beside ALPHA / DIGIT (which quote() never encodes).
_ATTR_CHARS = "!#$&+-.^_`|~"
FALLBACK = "dataset"


def safe_name(name: str) -> str:
    """The base name of `name` (after its last / or \\), without control characters,
    trimmed; "" when nothing is left."""
    base = re.split(r"[/\\]", name)[-1]
    cleaned = _UNSAFE.sub("", base).strip()
    return "" if cleaned in (".", "..") else cleaned


def _ascii(char: str) -> str:
    if char.isascii():
        return char if char.isprintable() and char not in '"\\%' else "_"
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return "".join(c for c in plain if c.isprintable() and c not in '"\\%') or "_"


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """`attachment; filename="ascii-fallback"; filename*=UTF-8''percent-encoded`."""
    name = safe_name(name) or FALLBACK
    fallback = "".join(_ascii(c) for c in name).strip() or FALLBACK
    encoded = quote(name, safe=_ATTR_CHARS, encoding="utf-8", errors="replace")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"

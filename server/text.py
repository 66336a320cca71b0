"""Free text shown to people (CLI output, emails): printable characters only."""

from __future__ import annotations

import unicodedata

INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})  # controls, bidi and zero-width marks, separators


def visible(text: str) -> str:
    """`text` on one line, without control, format (bidi, zero-width) or line-separator characters: a caller's
    words can then neither forge a line of a listing nor reorder what a reader sees."""
    kept = (" " if char.isspace() else "" if unicodedata.category(char) in INVISIBLE else char for char in text)
    return " ".join("".join(kept).split())

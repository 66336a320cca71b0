"""Text from outside (a caller's words, a PMS record, a stored message) made safe to store, show and hand to a model.

- `plain` normalises free text: NFC, line breaks and tabs as spaces, every other control, format (bidi
  overrides, zero-width characters), private-use or unassigned character removed, whitespace collapsed, cut to a
  length. What is left reads on one line exactly as it will be shown.
- `is_person_name` says whether text is shaped like a person's (or a place's) name: letters of any script and
  their combining marks, single spaces, hyphens and apostrophes between letters, a period after an initial or a
  short abbreviation ("J.", "St.", "Jr."), a few words at a realistic length. Digits, sentences, quotes, colons,
  URLs, line breaks and invisible characters are not names.
- `fold` is text as matching compares it: case folded, accents stripped, letters and digits only, one space
  between words ("Zoë O'Brien-Smith" and "zoe o brien smith" fold alike).
- `visible` shows invisible characters as `\\u202e`-style escapes, for terminal output of stored text.
"""

from __future__ import annotations

import unicodedata

SPACE_LIKE = frozenset("\t\n\v\f\r\x85\u2028\u2029")
DROPPED = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})  # control, format (bidi, zero-width), private use, unassigned
LINKS = frozenset("-\u2010'\u2019\u02bc")  # hyphens and apostrophes, only ever between letters
ABBREVIATION_LETTERS = 4  # "J.", "St.", "Jr.", "Wm.", "Chas."


def plain(text: str, limit: int) -> str:
    """One line of printable text, at most `limit` characters."""
    kept = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in SPACE_LIKE or unicodedata.category(ch) in ("Zs", "Zl", "Zp"):
            kept.append(" ")
        elif unicodedata.category(ch) not in DROPPED:
            kept.append(ch)
    return " ".join("".join(kept).split())[:limit].rstrip()


def fold(text: str) -> str:
    """Case folded, compatibility-decomposed with its combining marks (accents) dropped, every character other than
    a letter or digit a space, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(kept.split())


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"


def _is_name_word(word: str) -> bool:
    """Letters, with single hyphens or apostrophes between them (a leading apostrophe as in "'t"), and periods
    each closing a run of at most ABBREVIATION_LETTERS letters ("J.R.", "St.")."""
    run = 0
    previous = " "
    for index, ch in enumerate(word):
        if _is_letter(ch):
            run += 1
        elif ch in LINKS:
            leading_apostrophe = index == 0 and ch != "-" and ch != "\u2010"
            if not (leading_apostrophe or _is_letter(previous)) or index == len(word) - 1:
                return False
            run = 0
        elif ch == ".":
            if not _is_letter(previous) or run > ABBREVIATION_LETTERS:
                return False
            run = 0
        else:
            return False
        previous = ch
    return any(_is_letter(ch) for ch in word)


def is_person_name(text: str, *, max_length: int, max_words: int) -> bool:
    """Whether `text` (already NFC and stripped) is shaped like a name; see the module docstring."""
    words = text.split(" ")
    return 0 < len(text) <= max_length and len(words) <= max_words and all(_is_name_word(w) for w in words)


def visible(text: str) -> str:
    """`text` with every control, format, private-use or unassigned character shown as an escape (`\\n`, `\\u202e`)."""
    shown = []
    for ch in text:
        if unicodedata.category(ch) in DROPPED or ch in SPACE_LIKE:
            shown.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            shown.append(ch)
    return "".join(shown)

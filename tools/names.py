"""Names as callers say them, compared with the names on record: case, accents, spaces and punctuation ignored,
a spelled-out name ("J O N") read as one word, a multi-part surname ("De La Cruz") as one."""

from __future__ import annotations

from collections.abc import Sequence

from server.sikka import Provider
from server.text import fold

# Words a caller puts before or after a provider's name that are not part of it.
TITLES = frozenset({"dr", "doctor", "dds", "dmd", "hygienist", "the"})


def letters(text: str) -> str:
    """The letters and digits of `text`, folded (server/text.py): "O'Brien-Núñez" → "obriennunez"."""
    return fold(text).replace(" ", "")


def said_words(said: str) -> list[str]:
    return [word for word in (letters(part) for part in said.split()) if word]


def full_name_matches(firsts: set[str], last: str, said: str) -> bool:
    """`said` is a first name (any of `firsts`, as letters) then the last name, middle names allowed between."""
    words = said_words(said)
    for split in range(1, len(words)):
        if "".join(words[:split]) in firsts and any("".join(words[end:]) == last for end in range(split, len(words))):
            return True
    return False


def providers_named(providers: Sequence[Provider], said: str) -> list[Provider]:
    """The providers `said` names: "Dr. Patel", "Patel", "Anita Patel", "Doctor Anita" (titles ignored). A last
    name or a full name that matches is preferred to a first name alone."""
    words = [word for word in said_words(said) if word not in TITLES]
    joined = "".join(words)
    if not joined:
        return []

    def by_name(provider: Provider) -> bool:
        first, last = letters(provider.first_name), letters(provider.last_name)
        return joined == last or (bool(first) and full_name_matches({first}, last, " ".join(words)))

    named = [p for p in providers if by_name(p)]
    return named or [p for p in providers if joined == letters(p.first_name)]

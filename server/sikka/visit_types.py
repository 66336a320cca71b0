"""The caller's words for a visit ("a cleaning", "my checkup", "emergency") matched to the practice's own
appointment types (`writeback_details` `new_appointment`/`appttype`: an `item` id and a `description`).

Matching is by words of the type's description, widened by groups of words dental offices use for the same
visit; the type sharing most words wins (the practice's order breaks ties). No match is an answer too: the
caller's text is never sent as a type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from server.sikka.records import Choice
from server.text import fold


def stem(word: str) -> str:
    """A plural "s" dropped: "cleanings" -> "cleaning", "x-rays" -> "xray" ("prophylaxis", "class" kept)."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "is", "us")) else word


def words(text: str) -> set[str]:
    """Folded word stems (server/text.py); "x-ray" counts as one word."""
    return {stem(word) for word in fold(text.lower().replace("x-ray", "xray")).split()}


SAME_VISIT: tuple[frozenset[str], ...] = tuple(
    frozenset(words(group))
    for group in (
        "cleaning clean prophy prophylaxis hygiene recall",
        "exam examination checkup check periodic evaluation eval",
        "emergency urgent pain toothache limited broken",
        "new comprehensive",
        "filling restoration composite cavity amalgam",
        "crown cap",
        "root canal endodontic endo",
        "extraction extract pull removal",
        "consultation consult",
        "xray xrays radiograph radiographs",
        "whitening bleaching",
        "perio periodontal scaling",
        "ortho orthodontic braces aligner adjustment",
    )
)


def widened(terms: Iterable[str]) -> set[str]:
    """The terms and every word that means the same visit."""
    result = set(terms)
    for group in SAME_VISIT:
        if result & group:
            result |= group
    return result


def match_visit(said: str | None, types: Sequence[Choice]) -> Choice | None:
    """The practice's appointment type that best matches what the caller said, or None."""
    if not said or not types:
        return None
    wanted = widened(words(said))
    best, best_score = None, 0
    for choice in types:
        score = len(wanted & words(f"{choice.description} {choice.value}"))
        if score > best_score:
            best, best_score = choice, score
    return best

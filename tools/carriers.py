"""Tolerant matching of an insurance company the caller names against the practice's carriers.

Words that do not tell carriers apart ("dental", "insurance", "of", "plan", ...) are ignored; case, accents and
punctuation too. A carrier matches when every remaining word the caller said is one of its words, so "Delta"
and "Delta Dental of Illinois" both match "Delta Dental of Illinois"; so do the words run together, or any
four letters or more inside the name's ("Met Life" is "MetLife"). A carrier that shares only some of the words
("Delta Dental of California" against "Delta Dental of Illinois") is *similar*: worth naming, never a match.
Near-misses of speech recognition ("Medlife") match words of five letters or more at a similarity of 0.8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from server.text import fold

GENERIC = frozenset(
    """
    dental dentistry insurance insurances ins company co inc corp corporation plan plans ppo hmo dhmo epo
    of the and for group benefits benefit
    """.split()
)
CLOSE_ENOUGH = 0.8
FUZZY_MIN_LETTERS = 5
MIN_JOINED = 4  # "Met Life" may run together; a lone letter or two must not match inside a name


def words(name: str) -> list[str]:
    """The distinguishing words of a name, lower-case letters and digits only."""
    return [word for word in fold(name).split() if word not in GENERIC]


def _same_word(said: str, own: str) -> bool:
    if said == own:
        return True
    long_enough = min(len(said), len(own)) >= FUZZY_MIN_LETTERS
    return long_enough and SequenceMatcher(None, said, own).ratio() >= CLOSE_ENOUGH


@dataclass(frozen=True)
class CarrierMatch:
    matches: list[str] = field(default_factory=list)
    similar: list[str] = field(default_factory=list)


def match_carrier(said: str, carriers: Sequence[str]) -> CarrierMatch:
    """The carriers `said` names, and (when none) those that share some of its words."""
    wanted = words(said)
    result = CarrierMatch()
    if not wanted:
        return result
    joined = "".join(wanted)
    for name in carriers:
        own = words(name)
        hits = sum(any(_same_word(word, mine) for mine in own) for word in wanted)
        if hits == len(wanted) or (len(joined) >= MIN_JOINED and joined in "".join(own)):
            result.matches.append(name)
        elif hits:
            result.similar.append(name)
    if result.matches:
        result.similar.clear()
    return result

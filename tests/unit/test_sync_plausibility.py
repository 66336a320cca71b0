"""When a listing may retire the locations it omits (server/practice_sync.py `plausible_absence`): never when it is
empty; at once when it names another office; otherwise only when a second read omits them too."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from server.db.models import PmsIntegration
from server.practice_sync import plausible_absence
from server.services import Services
from server.sikka.client import Deadline, Item
from server.sikka.errors import SikkaUnavailable

pytestmark = pytest.mark.anyio


class Listings:
    """`authorized_practices` answering each of `answers` in turn (an exception is raised)."""

    def __init__(self, *answers: list[Item] | Exception) -> None:
        self.answers = list(answers)

    async def authorized_practices(self, deadline: Deadline) -> list[Item]:
        answer = self.answers.pop(0)  # an unexpected read fails the test with IndexError
        if isinstance(answer, Exception):
            raise answer
        return answer


def reading(*answers: list[Item] | Exception) -> Services:
    return cast(Services, SimpleNamespace(gateway=Listings(*answers)))


def row(office_id: str, practice_id: str) -> PmsIntegration:
    return PmsIntegration(account_id=f"{office_id}-{practice_id}", office_id=office_id, practice_id=practice_id)


def item(office_id: str, practice_id: str) -> Item:
    return {"office_id": office_id, "practice_id": practice_id}


MISSING = [row("D1", "2")]
SAME_OFFICE_ONLY = [item("D1", "1")]


async def test_an_empty_listing_is_never_evidence() -> None:
    assert not await plausible_absence(reading(), [], MISSING)


async def test_a_listing_that_names_another_office_is_evidence_at_once() -> None:
    assert await plausible_absence(reading(), [item("D1", "1"), item("D2", "1")], MISSING)


async def test_otherwise_a_second_read_must_omit_them_too() -> None:
    assert await plausible_absence(reading([item("D1", "1")]), SAME_OFFICE_ONLY, MISSING)
    assert not await plausible_absence(reading([item("D1", "1"), item("D1", "2")]), SAME_OFFICE_ONLY, MISSING)


@pytest.mark.parametrize("second", [[], SikkaUnavailable("Sikka did not answer")], ids=["empty", "failed"])
async def test_an_empty_or_failed_second_read_confirms_nothing(second: list[Item] | Exception) -> None:
    assert not await plausible_absence(reading(second), SAME_OFFICE_ONLY, MISSING)

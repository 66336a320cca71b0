"""Each truthful-call rule once more through uvicorn, a new MCP connection per tool call as Vapi makes them: the
in-process tests of tests/tools (where every case lives) run here against a desk whose client speaks HTTP to
the real server. Replays after a later change, a date from last year, a closed day, a move to its own time,
short-lived Sikka keys, flat input schemas and unknown tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from mcp import Client

from server.services import open_services
from tests.support import Stack, mcp_client
from tests.tools.conftest import Desk
from tests.tools.test_appointments import (
    test_a_closed_day_is_closed_not_full,
    test_a_date_in_last_year_is_said_to_have_passed_with_todays_date,
    test_a_refused_move_never_offers_the_appointments_own_time_and_its_own_time_changes_nothing,
    test_book_cancel_book_again_books_again,
    test_short_lived_keys_are_renewed_once_not_on_every_call,
)
from tests.tools.test_mcp_adapter import (
    test_input_schemas_are_flat,
    test_unknown_tools_are_json_rpc_errors_and_unknown_arguments_are_refused,
)

pytestmark = pytest.mark.anyio

OVER_HTTP = (  # pytest collects the imported tests as this module's, with this module's `desk`
    test_book_cancel_book_again_books_again,
    test_a_date_in_last_year_is_said_to_have_passed_with_todays_date,
    test_a_closed_day_is_closed_not_full,
    test_a_refused_move_never_offers_the_appointments_own_time_and_its_own_time_changes_nothing,
    test_short_lived_keys_are_renewed_once_not_on_every_call,
    test_input_schemas_are_flat,
    test_unknown_tools_are_json_rpc_errors_and_unknown_arguments_are_refused,
)


@dataclass(frozen=True)
class HttpDesk(Desk):
    """The desk of a running server: each client is the MCP SDK's over Streamable HTTP, with the bearer token."""

    mcp_url: str = ""
    bearer: str = ""

    @asynccontextmanager
    async def client(self, call_id: str | None = "desk", caller_number: str | None = None) -> AsyncIterator[Client]:
        headers = {"X-Caller-Number": caller_number} if caller_number else None
        async with mcp_client(self.mcp_url, self.bearer, call_id=call_id, headers=headers) as client:
            yield client


@pytest.fixture(scope="module")
async def desk(stack: Stack) -> AsyncIterator[HttpDesk]:
    async with open_services(stack.settings) as services:
        caller = await services.tokens.verify(stack.token)
        assert caller is not None
        yield HttpDesk(stack.sandbox, services, caller, mcp_url=stack.mcp_url, bearer=stack.token)

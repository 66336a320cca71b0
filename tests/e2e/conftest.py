"""The default end-to-end stack: per module, the sandbox and the service under uvicorn on free ports, a SQLite
file of its own, the demo practice onboarded. Modules that need another shape define their own `stack`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Stack, running_stack


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "parlae.db"
    with running_stack(f"sqlite+aiosqlite:///{database}") as running:
        yield running

"""What a tool is to the adapters that serve it (MCP, Vapi tool calls): its declaration and its answer.

`ToolSpec.run(services, caller, arguments)` validates, audits and runs the tool, and returns a `ToolAnswer`:
the result model and its compact JSON text (the speakable `message` first), or, when the audit record could not
be written, only a sentence and no data (fail closed). Adapters translate; they hold no tool logic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from server.caller import Caller
from server.services import Services
from tools.codes import codes_of
from tools.results import ToolResult


@dataclass(frozen=True)
class Hints:
    """What calling the tool does to the world (MCP's tool annotations say the same). `idempotent` holds for any
    client: a write runs once per call only with a call id (`X-Call-Id`), so no write is idempotent."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = True


READ_ONLY = Hints(read_only=True, destructive=False, idempotent=True)
# Reads behind the identity check: a failed check spends the patient's, the token's and the call's attempts.
CHECKS_IDENTITY = Hints(read_only=False, destructive=False, idempotent=False)
CREATES = Hints(read_only=False, destructive=False, idempotent=False)
CHANGES = Hints(read_only=False, destructive=True, idempotent=False)


@dataclass(frozen=True)
class ToolAnswer:
    result: ToolResult | None  # None: failed closed, no audit record and no data
    text: str  # one line: the result's compact JSON (message first), or the fail-closed sentence

    @property
    def is_error(self) -> bool:
        """MCP's `isError`: invalid or unavailable, or failed closed (Vapi's tool-calls map outcomes themselves)."""
        return self.result is None or self.result.is_error

    @classmethod
    def of(cls, result: ToolResult) -> ToolAnswer:
        return cls(result, result.model_dump_json(exclude_none=True))


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    args: type[BaseModel]
    result: type[ToolResult]
    input_schema: dict[str, Any]  # flat: see tools.arguments.flat_schema
    hints: Hints
    phi_fields: tuple[str, ...]
    run: Callable[[Services, Caller, dict[str, Any]], Awaitable[ToolAnswer]]

    @property
    def output_schema(self) -> dict[str, Any]:
        """The result's JSON schema, its `code` an enum of the codes this tool can answer (tools/codes.py)."""
        schema = self.result.model_json_schema(by_alias=True, mode="serialization")
        schema.get("$defs", {}).pop("Code", None)
        if not schema.get("$defs"):
            schema.pop("$defs", None)
        described = schema["properties"]["code"].get("description")
        codes = sorted(codes_of(self.name))
        schema["properties"]["code"] = {"type": "string", "enum": codes, "description": described}
        return schema

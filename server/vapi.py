"""The Vapi MCP tool definition that gives an assistant this server's tools."""

from __future__ import annotations

from typing import Any

TOOL_NAME = "parlaePms"
TIMEOUT_SECONDS = 20


def vapi_tool(url: str, *, token: str | None = None, credential_id: str | None = None) -> dict[str, Any]:
    """`metadata.protocol` is "shttp" (Streamable HTTP). Prefer a Vapi credential: Vapi echoes literal headers
    back in `GET /assistant`."""
    server: dict[str, Any] = {"url": url, "timeoutSeconds": TIMEOUT_SECONDS}
    if credential_id:
        server["credentialId"] = credential_id
    elif token:
        server["headers"] = {"Authorization": f"Bearer {token}"}
    return {"type": "mcp", "function": {"name": TOOL_NAME}, "server": server, "metadata": {"protocol": "shttp"}}

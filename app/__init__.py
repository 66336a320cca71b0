"""The composition root: the ASGI app, the MCP and Vapi adapters, demo mode and the `parlae-mcp` CLI.

The stack is strict: `app` uses `tools` and `webhook`, which use `server`; nothing below imports `app`.
"""

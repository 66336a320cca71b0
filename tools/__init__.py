"""The eight MCP tools. Each is an audited `McpTool`; `server/app.py` publishes `ALL_TOOLS`."""

from server.mcp import McpTool
from tools.appointments import (
    book_appointment,
    cancel_appointment,
    check_availability,
    reschedule_appointment,
)
from tools.patients import create_patient, get_patient_info, search_patients, update_patient

ALL_TOOLS: tuple[McpTool, ...] = (
    search_patients,
    get_patient_info,
    create_patient,
    update_patient,
    check_availability,
    book_appointment,
    reschedule_appointment,
    cancel_appointment,
)

__all__ = ["ALL_TOOLS"]

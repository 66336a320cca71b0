"""The fourteen front-desk tools. Each is an audited `ToolSpec`; `app/` serves `ALL_TOOLS` over MCP and as Vapi
tool calls."""

from tools.accounts import get_patient_balance, get_patient_insurance
from tools.appointments import (
    book_appointment,
    cancel_appointment,
    check_availability,
    reschedule_appointment,
)
from tools.messages import take_message
from tools.patients import create_patient, get_patient_info, search_patients, update_patient
from tools.practice import check_insurance_accepted, get_practice_info, get_providers
from tools.spec import ToolAnswer, ToolSpec

ALL_TOOLS: tuple[ToolSpec, ...] = (
    search_patients,
    get_patient_info,
    create_patient,
    update_patient,
    check_availability,
    book_appointment,
    reschedule_appointment,
    cancel_appointment,
    get_practice_info,
    get_providers,
    check_insurance_accepted,
    get_patient_balance,
    get_patient_insurance,
    take_message,
)

__all__ = ["ALL_TOOLS", "ToolAnswer", "ToolSpec"]

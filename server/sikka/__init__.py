"""The Sikka v4 gateway: the only code that talks to Sikka. Tools and the webhook import from here only."""

from server.sikka import writes
from server.sikka.billing import Balance, Carriers, CoverageRow, CoverageTable
from server.sikka.client import Deadline, Item, Listing, SikkaClient
from server.sikka.errors import (
    AppNotAuthorized,
    DataNotReady,
    PracticeNotAuthorized,
    RateLimited,
    SikkaAuthError,
    SikkaError,
    SikkaUnavailable,
    SikkaValidationError,
    SpuOffline,
)
from server.sikka.gateway import PracticeGateway, SikkaGateway
from server.sikka.metadata import Capabilities, PracticeMetadata
from server.sikka.pms import NeedsStaff
from server.sikka.records import (
    Appointment,
    Choice,
    Operatory,
    Patient,
    PlanOnFile,
    PracticeProfile,
    Provider,
    as_time,
    text,
)
from server.sikka.schedule import DayHours, Interval, PracticeSchedule
from server.sikka.writeback import WritebackOutcome
from server.sikka.zones import UnknownZone, today_in

__all__ = [
    "AppNotAuthorized",
    "Appointment",
    "Balance",
    "Capabilities",
    "Carriers",
    "Choice",
    "CoverageRow",
    "CoverageTable",
    "DataNotReady",
    "DayHours",
    "Deadline",
    "Interval",
    "Item",
    "Listing",
    "NeedsStaff",
    "Operatory",
    "Patient",
    "PlanOnFile",
    "PracticeGateway",
    "PracticeMetadata",
    "PracticeNotAuthorized",
    "PracticeProfile",
    "PracticeSchedule",
    "Provider",
    "RateLimited",
    "SikkaAuthError",
    "SikkaClient",
    "SikkaError",
    "SikkaGateway",
    "SikkaUnavailable",
    "SikkaValidationError",
    "SpuOffline",
    "UnknownZone",
    "WritebackOutcome",
    "as_time",
    "text",
    "today_in",
    "writes",
]

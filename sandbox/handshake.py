"""The registration handshake body that integrators report Sikka posting when a practice buys (or cancels)
an app on the marketplace. It is not in Sikka's API docs (sikka-api.md §6: no documented webhook announces
an authorization), so nothing here is a contract: tests post it to the service to exercise its handling of
an unsigned, unverified claim.

Keys are PascalCase as reported: `Source` "Sikka", `MasterCustomerID` (the office_id),
`SPUInstallationKey`, `EmailAddress`, `PracticeName`, `PartnerRegistrationID`, `Status` ("Active" or
"Cancelled"), `PurchaseDate`, `CancelDate` ("" while active), plus plausible extras (`PracticeID`,
`PMSName`, `PMSVersion`, `Address`, `City`, `State`, `Zip`, `Phone`). Dates are US-style local strings
("11/25/2026 10:00:00 AM"), the form of Sikka's other support timestamps (§8 health_check): their format
is unreported, and that is the least convenient reading.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sandbox.practice import Practice

STATUSES = ("Active", "Cancelled")
_NAMESPACE = uuid.UUID("6f1c2a52-7d0e-4c59-9a3e-2b8f7f1d6c11")


def registration_handshake(practice: Practice, status: str = "Active", *, at: datetime | None = None) -> dict[str, str]:
    """The body for `practice`'s purchase ("Active") or cancellation ("Cancelled") at `at` (a cancellation's
    moment; default: when the practice authorized the app)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    ids = f"{practice.office_id}/{practice.practice_id}"
    return {
        "Source": "Sikka",
        "MasterCustomerID": practice.office_id,
        "PracticeID": practice.practice_id,
        "SPUInstallationKey": str(uuid.uuid5(_NAMESPACE, f"spu:{ids}")).upper(),
        "EmailAddress": practice.email,
        "PracticeName": practice.name,
        "PartnerRegistrationID": str(uuid.uuid5(_NAMESPACE, f"registration:{ids}")),
        "Status": status,
        "PurchaseDate": _us_time(practice, practice.authorized_at),
        "CancelDate": _us_time(practice, at or practice.authorized_at) if status == "Cancelled" else "",
        "PMSName": practice.pms,
        "PMSVersion": practice.pms_version,
        "Address": practice.address,
        "City": practice.city,
        "State": practice.state,
        "Zip": practice.zipcode,
        "Phone": practice.phone,
    }


def _us_time(practice: Practice, moment: datetime) -> str:
    local = practice.local(moment)
    return f"{local:%m/%d/%Y} {local.hour % 12 or 12}:{local:%M:%S %p}"

"""Sikka's response envelopes: error/receipt bodies from the documented catalog, and the list envelope."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

Record = dict[str, str]


class Entry(NamedTuple):
    """One row of Sikka's documented error-code table."""

    http_code: str
    http_code_desc: str
    short_message: str
    long_message: str
    more_information: str


# Sikka's "Error Codes" table, verbatim (tests/fixtures/sikka-examples/errors.json), followed by the receipt
# codes that only appear in the endpoint examples (request_key.json, *_writeback.json, writebacks.json).
CATALOG: dict[str, Entry] = {
    "API0003": Entry("200", "OK", "OK", "Request Session terminated successfully.", ""),
    "API0004": Entry("200", "OK", "Email/Text message sent successfully.", "", ""),
    "API0005": Entry("200", "OK", "Email/Text message not sent.", "", ""),
    "API0006": Entry("200", "OK", "Call details logged successfully.", "", ""),
    "API0008": Entry("200", "OK", "Appointment status not logged.", "", ""),
    "API1001": Entry(
        "400",
        "BadRequest",
        "Missing Parameter",
        "ApplicationID is missing.",
        "Please provide the applicationid.",
    ),
    "API1002": Entry(
        "400",
        "BadRequest",
        "Missing Parameter",
        "ApplicationKey is missing.",
        "Please provide the applicationkey.",
    ),
    "API1003": Entry("400", "BadRequest", "Missing Parameter", "MID is missing.", "Please provide the mid."),
    "API1004": Entry(
        "400", "BadRequest", "Missing Parameter", "Requestkey is missing.", "Please provide the requestkey."
    ),
    "API1005": Entry(
        "400", "BadRequest", "Missing Parameter", "SecretKey is missing.", "Please provide the secretkey."
    ),
    "API1006": Entry(
        "415",
        "UnsupportedMediaType",
        "Sikka API supports json/xml",
        "Sikka API does not support response format.",
        "Please request with json/xml.",
    ),
    "API1007": Entry("200", "OK", "Appointment status logged successfully", "", ""),
    "API1020": Entry(
        "400",
        "BadRequest",
        "Missing Parameter",
        "One of the parameter is missing.",
        "Please provide all the parameters in syntax of service.",
    ),
    "API1025": Entry(
        "400",
        "BadRequest",
        "Request key expired",
        "Request key is not valid, it is expired.",
        "Please generate new request key and make new request.",
    ),
    "API1026": Entry(
        "400", "BadRequest", "Missing/Invalid Parameter", "One of the parameter is missing or invalid.", ""
    ),
    "API1027": Entry("400", "BadRequest", "", "", ""),
    "API2001": Entry(
        "500", "InternalServerError", "Internal Error", "Internal Error.", "Please contact Sikka API Support."
    ),
    "API2002": Entry(
        "503",
        "ServiceUnavailable",
        "Try again later.",
        "The Sikka APIs are up, but overloaded with requests. Try again later.",
        "",
    ),
    "API2003": Entry(
        "401",
        "Unauthorized",
        "Authentication/Authorization Failed",
        "ID or key is incorrect.",
        "This error can be caused by an incorrect application id , application key. In case of"
        " provider_accounts"
        " & patient_accounts this error can be caused by incorrect username or password.",
    ),
    "API2004": Entry(
        "401",
        "Unauthorized",
        "Authentication/Authorization Failed",
        "You are not authorized to use this API.",
        "This error can be caused when you try to access API not accessible by you, if you want to use this"
        " API"
        " contact SIKKA API SUPPORT.",
    ),
    "API2005": Entry(
        "204",
        "NoContent",
        "No content found for given parameter",
        "Request is processed successfully, but no data/content returned.",
        "",
    ),
    "API2006": Entry(
        "500",
        "InternalServerError",
        "Error occured while processing request",
        "The server encountered an error while processing your request and failed.",
        "Please contact Sikka API Support.",
    ),
    "API2007": Entry(
        "401",
        "Unauthorized",
        "Authentication/Authorization Failed",
        "You are not authorized to access practice details with Sikka API.",
        "This error can be caused when you try to access practice details not accessible by you. If you"
        " want to"
        " access this practice's details with Sikka API contact practice and ask to allow access.",
    ),
    "API2009": Entry(
        "404",
        "NotFound",
        "Resource not found",
        "The resource you requested does not exist.",
        "The resource you requested does not exist.",
    ),
    "API4001": Entry("200", "OK", "", "", ""),
    "API4002": Entry(
        "200",
        "OK",
        "Error while decrypting string",
        "Error occured due to invalid character in encrypted string or invalid passkey or bytekey.",
        "Please check passkey/bytekey, encode encrypted string with URL Encoding to replace invalid characters.",
    ),
    "API4003": Entry(
        "200",
        "OK",
        "Error while decrypting password",
        "Error occured due to invalid character in encrypted password or length, invalid passkey or bytekey.",
        "Please check passkey/bytekey, encode encrypted password with URL Encoding to replace invalid characters.",
    ),
    "API4004": Entry(
        "200",
        "OK",
        "Error while decrypting email or username",
        "Error occured due to invalid character in encrypted email/username or length, invalid passkey or bytekey.",
        "Please check passkey/bytekey, encode encrypted email/username with URL Encoding to replace invalid"
        " characters.",
    ),
    "API4005": Entry(
        "200",
        "OK",
        "Error while decrypting verification code",
        "Error occured due to invalid character in encrypted verification code or length, invalid passkey or bytekey.",
        "Please check passkey/bytekey, encode encrypted verification code with URL Encoding to replace"
        " invalid"
        " characters.",
    ),
    "API4007": Entry("200", "OK", "", "", ""),
    "API2010": Entry(
        "500",
        "InternalServerError",
        "Data not uploaded for this customer",
        "The data has not yet been uploaded for this customer. If it has been more than 4 hours since the"
        " installation, please contact Sikka Support for assistance.",
        "Please contact Sikka Support.",
    ),
    "API2011": Entry(
        "429",
        "Too Many Requests",
        "Data limit exceeded",
        "Data size per practice per day exceeded",
        "Please make request to the datalimit API for more information.",
    ),
    "API2012": Entry(
        "429",
        "Too Many Requests",
        "Request limit exceeded",
        "Requests per practice per day exceeded",
        "Please make request to the datalimit API for more information.",
    ),
    "API2013": Entry(
        "409",
        "Conflict",
        "Resource already exists",
        "You attempted to do something which would leave a resource in an inconsistent state, such as"
        " create a"
        " resource with an already taken name or id.",
        "Please check name or id and resubmit the request again.",
    ),
    "API2015": Entry(
        "409",
        "Conflict",
        "Resource already exists",
        "You attempted to do something which would leave a resource in an inconsistent state, such as"
        " create a"
        " resource with an already taken un or cell.",
        "Please check un or cell and resubmit the request again.",
    ),
    "API2016": Entry("201", "Created", "New resource created successfully", "", ""),
    "API2018": Entry("410", "Gone", "", "", ""),
    "API2019": Entry(
        "422",
        "Unprocessable",
        "",
        "The request was unable to be processed due to it containing invalid parameters.",
        "",
    ),
    "API2014": Entry(
        "405",
        "Method Not Allowed",
        "Method not allowed for the resource",
        "Requested method not allowed for the resource",
        "Please contact Sikka API support",
    ),
    "API2017": Entry(
        "412",
        "Precondition Failed",
        "The server does not meet one of the preconditions that the requester put on the request.",
        "--",
        "--",
    ),
    "API2022": Entry(
        "504",
        "Gateway Timeout",
        "Gateway Timeout occurred",
        "API server did not get a response in time from the upstream server that it needed in order to"
        " complete"
        " the request",
        "Please retry after sometime",
    ),
    # Receipts documented only in the endpoint examples.
    "API0002": Entry("200", "OK", "OK", "Request Session terminated successfully.", ""),
    "API0007": Entry("200", "OK", "Appointment status logged successfully", "", ""),
    "API0011": Entry("200", "OK", "Patient update request logged successfully", "", ""),
    "API4006": Entry("200", "OK", "", "Writeback request deleted successfully.", ""),
}


def envelope(code: str, **overrides: str) -> Record:
    """The envelope of `code` from the catalog, with some fields replaced."""
    entry = CATALOG[code]
    body = {
        "http_code": entry.http_code,
        "http_code_desc": entry.http_code_desc,
        "error_code": code,
        "short_message": entry.short_message,
        "long_message": entry.long_message,
        "more_information": entry.more_information,
    }
    return body | overrides


class SikkaError(Exception):
    """An error that Sikka answers with its envelope; `status` defaults to the catalog's http_code."""

    def __init__(self, code: str, status: int | None = None, **overrides: str) -> None:
        super().__init__(code)
        self.code = code
        self.status = status if status is not None else int(CATALOG[code].http_code)
        self.overrides = overrides

    def body(self) -> Record:
        return envelope(self.code, **self.overrides)


def invalid(long_message: str) -> SikkaError:
    """API1026 (missing or invalid parameter) explaining which one."""
    return SikkaError("API1026", long_message=long_message)


def list_envelope(
    items: Sequence[Record],
    *,
    total: int,
    limit: int,
    offset: int,
    page_url: Callable[[int], str],
    execution_ms: int,
) -> dict[str, Any]:
    """Sikka's list envelope; `offset` is a page index and `page_url(i)` links page `i`."""
    last = max(0, (total - 1) // limit)
    return {
        "offset": str(offset),
        "limit": str(limit),
        "total_count": str(total),
        "execution_time": str(execution_ms),
        "pagination": {
            "first": page_url(0),
            "previous": page_url(offset - 1) if 0 < offset <= last + 1 else "",
            "current": page_url(offset),
            "next": page_url(offset + 1) if offset < last else "",
            "last": page_url(last),
        },
        "items": list(items),
    }

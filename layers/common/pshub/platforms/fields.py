"""Reading a vendor's fields with their documented types, and naming what is wrong.

A webhook body is JSON or XML its sender controls; a field of the wrong type must
end in a clear, permanent refusal, never in a ``TypeError`` that retries for days.
Each reader returns the value in the type pshub uses or raises ``FieldProblem``,
whose message names the field and the kind of value found, never the value itself:
these messages reach logs and the parking queue, and a refused value may be a
credential or personal data.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pshub.canonical.currencies import minor_unit
from pshub.canonical.model import Money
from pshub.pipeline import fastjson

# Unix seconds of 9999-12-31T23:59:59Z: the last instant a datetime holds.
_MAX_EPOCH_SECONDS = 253_402_300_799
# Printable identifiers only: an id with control characters is not one any vendor issues.
_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


class FieldProblem(ValueError):
    """A field is missing or has a type or form its platform never sends."""


class MappingProblem(FieldProblem):
    """A record cannot become a canonical object; the message names the field, never its value."""


def kind_of(value: object) -> str:
    """The JSON kind of ``value``, for messages (never the value)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    kinds = ((bool, "a boolean"), (int, "an integer"), (float, "a number with a fraction or exponent"))
    for kind, name in kinds:  # bool before int: True is an int too
        if isinstance(value, kind):
            return name
    if fastjson.is_object(value):
        return "an object"
    return "an array" if fastjson.is_array(value) else type(value).__name__


def identifier(value: object, field: str) -> str:
    """A record or event id: a non-empty printable string of at most 255 characters, or an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _ID.match(value):
        return value
    if isinstance(value, str) and value:
        raise FieldProblem(f"{field} is not an identifier (control characters, or over 255 characters)")
    raise FieldProblem(f"{field} is {kind_of(value)}, expected an identifier")


def integer(value: object, field: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (a JSON number without fraction or exponent) within [minimum, maximum]."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldProblem(f"{field} is {kind_of(value)}, expected an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f" from {minimum}"
        high = "" if maximum is None else f" to {maximum}"
        raise FieldProblem(f"{field} is out of range (expected{low}{high})")
    return value


def epoch_seconds(value: object, field: str) -> datetime:
    """A Unix time in whole seconds (Stripe's ``created``), as an aware UTC datetime."""
    seconds = integer(value, field, 0, _MAX_EPOCH_SECONDS)
    return datetime.fromtimestamp(seconds, UTC)


def epoch_millis(value: object, field: str) -> datetime:
    """A Unix time in whole milliseconds (HubSpot's ``occurredAt``), as an aware UTC datetime."""
    millis = integer(value, field, 0, _MAX_EPOCH_SECONDS * 1000 + 999)
    return datetime.fromtimestamp(millis / 1000, UTC)


def text(value: object, field: str) -> str:
    """A non-empty string."""
    if isinstance(value, str) and value:
        return value
    raise FieldProblem(f"{field} is {kind_of(value)}, expected text")


def optional_text(value: object, field: str) -> str | None:
    """A string, or nothing (null or absent)."""
    if value is None or isinstance(value, str):
        return value
    raise FieldProblem(f"{field} is {kind_of(value)}, expected text or null")


def mapping(value: object, field: str) -> dict[str, Any]:
    """A JSON object."""
    if isinstance(value, dict):
        return value
    raise FieldProblem(f"{field} is {kind_of(value)}, expected an object")


def iso_datetime(value: object, field: str) -> datetime:
    """An ISO 8601 date and time with its UTC offset (``2026-11-20T10:15:00.000Z``)."""
    stamp = text(value, field)
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise FieldProblem(f"{field} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise FieldProblem(f"{field} has no UTC offset, so the moment it names is unknown")
    return parsed


def iso_date(value: object, field: str) -> date:
    """An ISO 8601 calendar date (``2026-11-30``)."""
    day = text(value, field)
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise FieldProblem(f"{field} is not an ISO 8601 date (YYYY-MM-DD)") from None


# Country names people type into CRM address fields, as ISO 3166 alpha-2 codes.
_COUNTRY_NAMES = {
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "USA": "US",
    "UNITED KINGDOM": "GB",
    "GREAT BRITAIN": "GB",
    "UK": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "NORTHERN IRELAND": "GB",
    "IRELAND": "IE",
    "CANADA": "CA",
    "AUSTRALIA": "AU",
    "NEW ZEALAND": "NZ",
    "GERMANY": "DE",
    "DEUTSCHLAND": "DE",
    "FRANCE": "FR",
    "SPAIN": "ES",
    "ITALY": "IT",
    "NETHERLANDS": "NL",
    "BELGIUM": "BE",
    "SWITZERLAND": "CH",
    "SWEDEN": "SE",
    "DENMARK": "DK",
    "NORWAY": "NO",
    "JAPAN": "JP",
    "SINGAPORE": "SG",
    "INDIA": "IN",
}


def country_code(value: object) -> str | None:
    """An ISO 3166 alpha-2 code from a vendor's free-text country field: the code itself or a
    common English name; None for anything else (the address keeps its other parts)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if len(text) == 2 and text.isascii() and text.isalpha():
        return text.upper()
    return _COUNTRY_NAMES.get(" ".join(text.upper().split()))


def money(value: object, currency: str, field: str) -> Money | None:
    """A vendor's amount (a JSON number, or a number as text with optional thousands commas) as
    Money, rounded half-up to the currency's minor unit; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MappingProblem(f"{field} is {kind_of(value)}, expected a number")
    try:
        amount = Decimal(value.replace(",", "") if isinstance(value, str) else str(value))
        return Money(amount=amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP), currency=currency)
    except (InvalidOperation, ValueError):
        raise MappingProblem(f"{field} is not an amount in {currency}") from None


def web_domain(website: object) -> str | None:
    """A website as typed into a CRM, as its host: ``https://www.acme.example/about`` -> ``acme.example``."""
    if not isinstance(website, str) or not website.strip():
        return None
    host = website.strip().split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].lower()
    host = host.rsplit("@", 1)[-1].split(":", 1)[0]
    return host.removeprefix("www.") or None

"""How each platform names its records, shapes its ids and words its refusals.

The sandboxes behave the same for every platform of a role; the dialect makes what
they hand back look like the platform's own (numeric NetSuite internal ids,
18-character Salesforce ids, ``cus_`` / ``sub_`` Stripe ids) so that mappings,
logs and demos are exercised with realistic values. Messages follow each
platform's style; they are illustrative, not copied from live systems.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SF_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

# (connection id, record kind, sequence, natural key) -> native id
IdStyle = Callable[[str, str, int, str | None], str]


class Refusal(StrEnum):
    DUPLICATE = "duplicate"
    INVALID_VALUE = "invalid_value"
    REQUIRED = "required"
    NOT_FOUND = "not_found"
    INACTIVE = "inactive"
    CLOSED_PERIOD = "closed_period"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Wording:
    code: str
    template: str  # str.format fields: record, id, field, value, fields, date
    http_status: int


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(":".join(map(str, parts)).encode()).digest()


def _base62(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return "".join(chars)


def numeric(start: int) -> IdStyle:
    return lambda conn, kind, n, key: str(start + n)


def padded(prefix: str, width: int) -> IdStyle:
    return lambda conn, kind, n, key: f"{prefix}{n:0{width}d}"


def natural(fallback: IdStyle) -> IdStyle:
    """The record's own key is its id (D365 ``ProjectID``), when it has one."""
    return lambda conn, kind, n, key: key if key else fallback(conn, kind, n, key)


def opaque(prefix: str, length: int) -> IdStyle:
    """Stripe style: a prefix and random-looking base62 (deterministic per connection)."""
    return lambda conn, kind, n, key: prefix + _base62(_digest(conn, kind, n), length)


def hex32(prefix: str) -> IdStyle:
    """Zuora style: 32 hex characters."""
    return lambda conn, kind, n, key: (prefix + _digest(conn, kind, n).hex())[:32]


def guid() -> IdStyle:
    return lambda conn, kind, n, key: str(uuid.UUID(bytes=_digest(conn, kind, n)[:16], version=4))


def salesforce_id(id15: str) -> str:
    """Append Salesforce's case-safety checksum to a 15-character id."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _SF_CHECKSUM[bits]
    return id15 + suffix


def salesforce(key_prefix: str) -> IdStyle:
    """18-character ids: 3-character key prefix, pod, then a unique tail and checksum."""
    return lambda conn, kind, n, key: salesforce_id(
        f"{key_prefix}5e00000{_base62(_digest(conn, kind, n), 5)}"
    )


@dataclass(frozen=True)
class Dialect:
    platform: str
    records: Mapping[str, str]  # pshub record kind -> the platform's name for it
    ids: Mapping[str, IdStyle]
    wording: Mapping[Refusal, Wording] = field(default_factory=dict)

    def record(self, kind: str) -> str:
        return self.records.get(kind, kind)

    def new_id(self, connection_id: str, kind: str, sequence: int, key: str | None = None) -> str:
        return self.ids[kind](connection_id, kind, sequence, key)

    def words(self, refusal: Refusal, **values: object) -> tuple[str, str, int]:
        """(platform code, platform message, HTTP status) for a refusal."""
        wording = self.wording.get(refusal) or _GENERIC[refusal]
        fields = _Blank(values)
        fields.setdefault("record", "record")
        return wording.code, wording.template.format_map(fields), wording.http_status


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


_GENERIC: dict[Refusal, Wording] = {
    Refusal.DUPLICATE: Wording(
        "DUPLICATE_VALUE", "duplicate value found: {field} duplicates value on {id}", 400
    ),
    Refusal.INVALID_VALUE: Wording("INVALID_VALUE", "{field}: {value!r} is not valid", 400),
    Refusal.REQUIRED: Wording("REQUIRED_FIELD_MISSING", "Required fields are missing: [{fields}]", 400),
    Refusal.NOT_FOUND: Wording("NOT_FOUND", "The requested {record} {id} does not exist", 404),
    Refusal.INACTIVE: Wording("INACTIVE", "{record} {id} is not active", 400),
    Refusal.CLOSED_PERIOD: Wording("PERIOD_CLOSED", "The accounting period for {date} is closed", 400),
    Refusal.RATE_LIMITED: Wording("RATE_LIMITED", "Too many requests", 429),
    Refusal.UNAVAILABLE: Wording("SERVICE_UNAVAILABLE", "Service temporarily unavailable", 503),
}

W = Wording
DIALECTS: dict[str, Dialect] = {
    "netsuite": Dialect(
        "netsuite",
        {"project": "job", "billing_schedule": "billingSchedule", "time_entry": "timeBill"},
        {
            "customer": numeric(1840),
            "project": numeric(5210),
            "billing_schedule": numeric(31),
            "time_entry": numeric(88000),
        },
        {
            Refusal.DUPLICATE: W("DUP_ENTITY", "This entity already exists.", 400),
            Refusal.INVALID_VALUE: W(
                "INVALID_FLD_VALUE", "Invalid Field Value {value} for the following field: {field}", 400
            ),
            Refusal.REQUIRED: W("USER_ERROR", "Please enter value(s) for: {fields}", 400),
            Refusal.NOT_FOUND: W("RCRD_DSNT_EXIST", "That record does not exist.", 404),
            Refusal.CLOSED_PERIOD: W("USER_ERROR", "The accounting period for {date} is closed.", 400),
            Refusal.RATE_LIMITED: W(
                "CONCURRENCY_LIMIT_EXCEEDED", "Concurrent request limit exceeded. Request blocked.", 429
            ),
        },
    ),
    "dynamics365": Dialect(
        "dynamics365",
        {
            "customer": "CustomersV3",
            "project": "Projects",
            "billing_schedule": "ProjectContractFundingRules",
            "time_entry": "ProjectHourJournalLines",
        },
        {
            "customer": padded("CUS-", 6),
            "project": natural(padded("PRJ", 6)),
            "billing_schedule": padded("PC-", 6),
            "time_entry": padded("HJ-", 8),
        },
        {
            Refusal.DUPLICATE: W(
                "Conflict",
                "Write failed for table row of type '{record}'. Infolog: Error: The record already exists.",
                400,
            ),
            Refusal.REQUIRED: W("BadRequest", "Field {fields} must be filled in.", 400),
            Refusal.NOT_FOUND: W("NotFound", "Resource not found for the segment '{record}'.", 404),
            Refusal.CLOSED_PERIOD: W("BadRequest", "The ledger period for {date} is closed.", 400),
            Refusal.RATE_LIMITED: W("TooManyRequests", "Request was throttled.", 429),
        },
    ),
    "s4hana": Dialect(
        "s4hana",
        {
            "customer": "A_BusinessPartner",
            "project": "A_EnterpriseProject",
            "billing_schedule": "BillingPlan",
            "time_entry": "TimeSheetEntry",
        },
        {
            "customer": numeric(10100000),
            "project": guid(),
            "billing_schedule": padded("", 10),
            "time_entry": padded("", 12),
        },
    ),
    "oracle_fusion": Dialect(
        "oracle_fusion",
        {
            "customer": "customerAccounts",
            "project": "projects",
            "billing_schedule": "billPlans",
            "time_entry": "projectExpenditureItems",
        },
        {
            "customer": numeric(300000047000000),
            "project": numeric(300000048000000),
            "billing_schedule": numeric(300000049000000),
            "time_entry": numeric(300000050000000),
        },
    ),
    "kantata": Dialect(
        "kantata",
        {"project": "workspace", "rate_card": "rate_card"},
        {"project": numeric(27410000)},
        {
            Refusal.DUPLICATE: W("validation", "{field} has already been taken", 422),
            Refusal.INVALID_VALUE: W("validation", "{field} {value} is invalid", 422),
            Refusal.REQUIRED: W("validation", "{fields} can't be blank", 422),
            Refusal.NOT_FOUND: W("not_found", "Couldn't find {record} with id={id}", 404),
        },
    ),
    "certinia": Dialect(
        "certinia",
        {"project": "pse__Proj__c", "rate_card": "pse__Rate_Card__c"},
        {"project": salesforce("a2X")},
        {
            Refusal.DUPLICATE: W(
                "DUPLICATE_VALUE",
                "duplicate value found: {field} duplicates value on record with id: {id}",
                400,
            ),
            Refusal.INVALID_VALUE: W(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION", "{field}: {value} is not valid", 400
            ),
            Refusal.NOT_FOUND: W(
                "NOT_FOUND", "Provided external ID field does not exist or is not accessible: {id}", 404
            ),
            Refusal.RATE_LIMITED: W("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403),
        },
    ),
    "salesforce": Dialect(
        "salesforce",
        {"opportunity": "Opportunity", "account": "Account"},
        {"opportunity": salesforce("006"), "account": salesforce("001")},
        {
            Refusal.NOT_FOUND: W("NOT_FOUND", "The requested resource does not exist", 404),
            Refusal.RATE_LIMITED: W("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403),
        },
    ),
    "hubspot": Dialect(
        "hubspot",
        {"opportunity": "deal", "account": "company"},
        {"opportunity": numeric(27182819000), "account": numeric(9876544000)},
        {
            Refusal.NOT_FOUND: W("OBJECT_NOT_FOUND", "Object not found. objectId are usually numeric.", 404),
            Refusal.RATE_LIMITED: W("RATE_LIMITS", "You have reached your ten_secondly_rolling limit.", 429),
        },
    ),
    "stripe": Dialect(
        "stripe",
        {"invoice_schedule": "subscription_schedule"},
        {
            "customer": opaque("cus_", 14),
            "subscription": opaque("sub_1", 23),
            "invoice_schedule": opaque("sub_sched_1", 23),
        },
        {
            Refusal.DUPLICATE: W(
                "idempotency_error",
                "Keys for idempotent requests can only be used with the "
                "same parameters they were first used with.",
                400,
            ),
            Refusal.INVALID_VALUE: W("parameter_invalid", "Invalid {field}: {value}", 400),
            Refusal.REQUIRED: W("parameter_missing", "Missing required param: {fields}.", 400),
            Refusal.NOT_FOUND: W("resource_missing", "No such {record}: '{id}'", 404),
            Refusal.RATE_LIMITED: W("rate_limit", "Too many requests hit the API too quickly.", 429),
        },
    ),
    "zuora": Dialect(
        "zuora",
        {"customer": "Account", "subscription": "Subscription", "invoice_schedule": "InvoiceSchedule"},
        {
            "customer": hex32("8ad09bce"),
            "subscription": padded("A-S", 8),
            "invoice_schedule": padded("IS-", 8),
        },
        {
            Refusal.DUPLICATE: W("DUPLICATE_VALUE", "{field} {value} already exists", 400),
            Refusal.INVALID_VALUE: W("INVALID_VALUE", "Invalid value for {field}: {value}", 400),
            Refusal.NOT_FOUND: W("OBJECT_NOT_FOUND", "Cannot find entity by key: '{id}'", 404),
            Refusal.RATE_LIMITED: W("LIMIT_EXCEEDED", "Too many requests: the rate limit was exceeded", 429),
        },
    ),
}

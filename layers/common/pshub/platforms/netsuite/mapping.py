"""pshub's canonical objects as NetSuite records (SuiteTalk REST) and back: pure, no I/O.

What each object becomes (record type, then the fields pshub writes):

- ``Client`` -> ``customer``: ``companyName``, ``legalName``, ``isPerson`` false,
  ``subsidiary`` (the legal entity), ``url``, ``vatRegNumber``, ``isInactive``, the billing
  address as the ``addressBook`` sublist, and pshub's matching keys in custom entity fields:
  ``custentity_pshub_client_ids`` (every client id upserted into it, ``,a,b,``),
  ``custentity_pshub_name_key`` (the normalised name), ``custentity_pshub_tax_key`` (the
  normalised tax id) and ``custentity_pshub_tax_jurisdiction``.
- ``Project`` -> ``job``: ``entityId`` (the project code), ``companyName`` (its name),
  ``parent`` (the customer), the dimensions ``subsidiary``, ``class`` (service line),
  ``department`` and ``location`` (region), ``startDate``, ``projectedEndDate``,
  ``isInactive``, and ``custentity_pshub_*`` fields for what NetSuite has no field for
  (project id, client id, contract id, legal entity, service line, budget, cost centre,
  why it was deactivated).
- ``Contract`` -> ``billingSchedule``: ``scheduleType`` (fixed bid milestone ``FBM``, time
  and materials ``TM``, fixed bid interval ``FBI`` for retainers, charge-based ``CB`` for
  usage), ``frequency``, ``inArrears``, ``project``, milestone lines (date, percentage of
  the total, name), and ``custrecord_pshub_terms``: a digest per contract term, so a second
  send with other terms is told apart without storing rates in a text field.
- ``TimeEntry`` -> ``timeBill``: ``employee``, ``customer`` (the project), ``item`` (the
  service item time is billed with), ``hours`` (decimal hours), ``tranDate``, ``isBillable``
  and ``memo``.
- ``InvoiceRequest`` -> ``invoice``: ``entity`` (the customer), ``job`` (the project),
  ``currency`` (when the connection maps currencies), ``tranDate`` (the period's last day),
  ``memo`` (the invoice key), ``otherRefNum`` (the PO number), ``approvalStatus`` pending
  approval (finance reviews it), and the ``item`` lines: ``item``, ``description``,
  ``quantity``, ``rate``, ``amount``, plus one tax line (the tax item, ``amount``).
- A credit -> ``creditMemo``: ``entity``, ``job``, ``currency`` as on the invoice,
  ``createdFrom`` (the invoice), ``memo`` (the reason), and the invoice's lines for a whole
  credit, else one line of the credited amount.

Amounts go as JSON numbers, only when the number is the exact Decimal (a float's shortest
form reads back as the same value); anything else is refused, never rounded.

Dimension values (legal entity, service line, department, region) become internal ids
through the connection's ``subsidiaries`` / ``classes`` / ``departments`` / ``locations``
options (``VALUE=ID,...``); a value that is already an internal id (digits) is used as it is.

Field limits (unverified against a live account; NetSuite's help does not state them for
REST): entity names (``companyName``, ``legalName``, ``entityId``) 83 characters, free-form
text custom fields 300, ``memo`` 4,000, ``vatRegNumber`` 20. Display names beyond the limit
are truncated; keys (the project code, a tax id) beyond it are refused, never cut.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from pshub.canonical.currencies import minor_unit
from pshub.canonical.model import (
    Address,
    BillingModel,
    Client,
    ClientStatus,
    Contract,
    Expense,
    FinancialDimensions,
    Milestone,
    Money,
    Project,
    TaxProfile,
    TimeEntry,
)
from pshub.connectors.results import InvoiceRequest
from pshub.sync.identity import compact_id, normalise_domain, normalise_name

CUSTOMER = "customer"
JOB = "job"
BILLING_SCHEDULE = "billingSchedule"
TIME_BILL = "timeBill"
EXPENSE_REPORT = "expenseReport"
INVOICE = "invoice"
CREDIT_MEMO = "creditMemo"
# The approval status list transactions share (SuiteScript's approvalstatus values).
PENDING_APPROVAL = "1"
APPROVED = "2"

NAME_LIMIT = 83
CODE_LIMIT = 83
TEXT_FIELD_LIMIT = 300
MEMO_LIMIT = 4000
TAX_ID_LIMIT = 20

# Custom fields the account needs (Customization > Lists, Records & Fields > Entity Fields /
# Other Record Fields); pshub writes and reads only these.
CLIENT_IDS = "custentity_pshub_client_ids"
NAME_KEY = "custentity_pshub_name_key"
TAX_KEY = "custentity_pshub_tax_key"
TAX_JURISDICTION = "custentity_pshub_tax_jurisdiction"
PROJECT_ID = "custentity_pshub_project_id"
PROJECT_CLIENT_ID = "custentity_pshub_client_id"
CONTRACT_ID = "custentity_pshub_contract_id"
LEGAL_ENTITY = "custentity_pshub_legal_entity"
SERVICE_LINE = "custentity_pshub_service_line"
BUDGET = "custentity_pshub_budget"
COST_CENTRE = "custentity_pshub_cost_centre"
INACTIVE_REASON = "custentity_pshub_inactive_reason"
SCHEDULE_CONTRACT_ID = "custrecord_pshub_contract_id"
SCHEDULE_TERMS = "custrecord_pshub_terms"

# SuiteScript's internal values of the billing schedule type and frequency lists (unverified
# as REST select ids; they are the values SuiteScript's ``schedtype`` takes).
SCHEDULE_TYPES: Mapping[BillingModel, str] = {
    BillingModel.FIXED_FEE_MILESTONE: "FBM",
    BillingModel.TIME_AND_MATERIALS: "TM",
    BillingModel.RETAINER: "FBI",
    BillingModel.USAGE: "CB",
}
BILLING_MODELS: Mapping[str, BillingModel] = {v: k for k, v in SCHEDULE_TYPES.items()}

_SAFE_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BOOKKEEPING = frozenset({"id", "status", "external_ids", "source_version"})


class Refused(ValueError):
    """A canonical value NetSuite cannot take as it is (``field`` in pshub's names)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


# -- small helpers -------------------------------------------------------------------------------
def external_id(value: str) -> str:
    """The NetSuite external id for a pshub id: itself when it uses only the letters, digits,
    ``_`` and ``-`` NetSuite allows (and is at most 64 long), else a stable digest of it."""
    if _SAFE_EXTERNAL_ID.fullmatch(value):
        return value
    return "h-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:40]


def clean_text(value: str | None, limit: int) -> str | None:
    """One line, no control characters, at most ``limit`` characters; None when empty."""
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text[:limit] or None


def sql_literal(value: str) -> str:
    """A SuiteQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def native_id_from_location(location: str | None) -> str | None:
    """The internal id at the end of a ``Location`` header (``.../record/v1/job/5211``)."""
    if not location:
        return None
    last = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return last if last.isdigit() else None


def reference(record: Mapping[str, Any], name: str) -> str | None:
    """The internal id a reference field holds (``{"id": "1", "refName": ...}``)."""
    value = record.get(name)
    if isinstance(value, Mapping):
        ref = value.get("id")
        return str(ref) if ref not in (None, "") else None
    return None


def _text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    return str(value) if value not in (None, "") else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def differing_fields(existing: Mapping[str, Any], requested: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in existing.keys() | requested.keys() if existing.get(k) != requested.get(k)))


def business_content(model: Any) -> dict[str, Any]:
    """A canonical object's business fields as JSON values, without pshub's bookkeeping."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in {"external_ids", "source_version"}}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    dumped: dict[str, Any] = strip(model.model_dump(mode="json"))
    return {k: v for k, v in dumped.items() if k not in _BOOKKEEPING}


# -- dimensions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lookup:
    """pshub's values of one dimension -> the account's internal ids (from an option)."""

    option: str  # the connection option that declares it ("subsidiaries")
    label: str  # NetSuite's field ("subsidiary")
    ids: Mapping[str, str] = field(default_factory=dict)

    def id_for(self, value: str | None, pshub_field: str) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if value in self.ids:
            return self.ids[value]
        if value.isdigit():
            return value
        raise Refused(
            pshub_field, f"{value!r} has no NetSuite {self.label} (declare it in option {self.option})"
        )

    def value_for(self, internal_id: str | None) -> str | None:
        if internal_id is None:
            return None
        return next((value for value, known in self.ids.items() if known == internal_id), internal_id)

    @property
    def known_ids(self) -> frozenset[str]:
        return frozenset(self.ids.values())


def parse_lookup(option: str, label: str, raw: str | None) -> Lookup:
    """``VALUE=ID,VALUE=ID`` -> a ``Lookup``; ValueError naming the bad pair."""
    ids: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in (raw or "").split(","))):
        value, sep, internal_id = (s.strip() for s in pair.partition("="))
        if not sep or not value or not internal_id.isdigit():
            raise ValueError(f"option {option}: {pair!r} is not VALUE=INTERNAL_ID")
        ids[value] = internal_id
    return Lookup(option, label, ids)


@dataclass(frozen=True)
class Setup:
    """How the account's lists are keyed: what pshub's dimension values are in NetSuite."""

    subsidiaries: Lookup = field(default_factory=lambda: Lookup("subsidiaries", "subsidiary"))
    classes: Lookup = field(default_factory=lambda: Lookup("classes", "class"))
    departments: Lookup = field(default_factory=lambda: Lookup("departments", "department"))
    locations: Lookup = field(default_factory=lambda: Lookup("locations", "location"))
    currencies: Lookup = field(default_factory=lambda: Lookup("currencies", "currency"))

    @classmethod
    def of(cls, options: Mapping[str, str]) -> Setup:
        return cls(
            subsidiaries=parse_lookup("subsidiaries", "subsidiary", options.get("subsidiaries")),
            classes=parse_lookup("classes", "class", options.get("classes")),
            departments=parse_lookup("departments", "department", options.get("departments")),
            locations=parse_lookup("locations", "location", options.get("locations")),
            currencies=parse_lookup("currencies", "currency", options.get("currencies")),
        )


# -- customers ------------------------------------------------------------------------------------
def client_ids_field(ids: Iterable[str]) -> str:
    """``,a,b,``: every client id (as an external id) upserted into the customer, within the
    field's 300 characters (the first, then the newest that fit)."""
    unique = list(dict.fromkeys(external_id(i) for i in ids))
    kept = unique[:1]
    for candidate in reversed(unique[1:]):
        if len("," + ",".join([*kept, candidate]) + ",") > TEXT_FIELD_LIMIT:
            break
        kept.insert(1, candidate)
    return "," + ",".join(kept) + ","


def client_ids_of(record: Mapping[str, Any]) -> list[str]:
    listed = [i for i in (_text(record, CLIENT_IDS) or "").split(",") if i]
    primary = _text(record, "externalId") or _text(record, "externalid")
    return list(dict.fromkeys([*([primary] if primary else []), *listed]))


def name_keys(client: Client) -> list[str]:
    return list(
        dict.fromkeys(k for k in (normalise_name(client.name), normalise_name(client.legal_name)) if k)
    )


def tax_key(client: Client) -> str | None:
    return compact_id(client.tax_profile.tax_id if client.tax_profile else None)


def missing_client_fields(client: Client) -> list[str]:
    """What NetSuite needs of a customer that pshub's client may lack."""
    missing = []
    if not (client.legal_entity or "").strip():
        missing.append("legal_entity")
    if not (client.tax_profile and (client.tax_profile.jurisdiction or "").strip()):
        missing.append("tax_profile.jurisdiction")
    return missing


def _address_book(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    lines = {
        "addr1": clean_text(address.line1, 150),
        "addr2": clean_text(address.line2, 150),
        "city": clean_text(address.city, 50),
        "state": clean_text(address.region, 30),
        "zip": clean_text(address.postal_code, 36),
    }
    subrecord: dict[str, Any] = {k: v for k, v in lines.items() if v}
    if address.country:
        subrecord["country"] = {"id": address.country}
    if not subrecord:
        return None
    line = {
        "defaultBilling": True,
        "defaultShipping": False,
        "label": "Billing",
        "addressBookAddress": subrecord,
    }
    return {"items": [line]}


def customer_body(client: Client, setup: Setup, *, client_ids: Sequence[str]) -> dict[str, Any]:
    """The customer's fields for a create (``PUT .../customer/eid:...``) or an update (``PATCH``)."""
    name = clean_text(client.name, NAME_LIMIT)
    if name is None:
        raise Refused("name", "is empty")
    subsidiary = setup.subsidiaries.id_for(client.legal_entity, "legal_entity")
    profile = client.tax_profile or TaxProfile()
    tax_id = clean_text(profile.tax_id, 10_000)
    if tax_id is not None and len(tax_id) > TAX_ID_LIMIT:
        raise Refused("tax_profile.tax_id", f"is longer than NetSuite's {TAX_ID_LIMIT} characters")
    domain = normalise_domain(client.web_domain)
    body: dict[str, Any] = {
        "companyName": name,
        "legalName": clean_text(client.legal_name, NAME_LIMIT),
        "isPerson": False,
        "subsidiary": {"id": subsidiary} if subsidiary else None,
        "url": f"https://{domain}" if domain else None,
        "vatRegNumber": tax_id,
        "isInactive": client.status is ClientStatus.INACTIVE,
        "addressBook": _address_book(client.billing_address),
        CLIENT_IDS: client_ids_field(client_ids),
        NAME_KEY: next(iter(name_keys(client)), None),
        TAX_KEY: tax_key(client),
        TAX_JURISDICTION: clean_text(profile.jurisdiction, TEXT_FIELD_LIMIT),
    }
    return {k: v for k, v in body.items() if v is not None}


def choose_customer(
    rows: Sequence[Mapping[str, Any]],
    *,
    client_id: str | None,
    tax: str | None,
    names: Sequence[str],
) -> Mapping[str, Any] | None:
    """The customer a client is, as the identity store decides: its client id,
    then its tax id, then its normalised name, unless both carry different tax ids."""
    wanted = external_id(client_id) if client_id else None
    if wanted:
        for row in rows:
            if wanted in client_ids_of(row):
                return row
    if tax:
        for row in rows:
            if _text(row, TAX_KEY) == tax:
                return row
    for row in rows:
        other = _text(row, TAX_KEY)
        if tax and other and other != tax:
            continue
        if _text(row, NAME_KEY) in names:
            return row
    return None


def _address_of(record: Mapping[str, Any]) -> Address | None:
    book = record.get("addressBook")
    items = book.get("items") if isinstance(book, Mapping) else None
    if not isinstance(items, list):
        return None
    line = next((i for i in items if isinstance(i, Mapping) and i.get("defaultBilling")), None)
    sub = line.get("addressBookAddress") if line else None
    if not isinstance(sub, Mapping):
        return None
    try:
        return Address(
            line1=_text(sub, "addr1"),
            line2=_text(sub, "addr2"),
            city=_text(sub, "city"),
            region=_text(sub, "state"),
            postal_code=_text(sub, "zip"),
            country=reference(sub, "country"),
        )
    except ValidationError:
        return Address(line1=_text(sub, "addr1"), city=_text(sub, "city"))


def client_from_customer(
    record: Mapping[str, Any], setup: Setup, *, client_id: str, connection_id: str
) -> Client:
    url = _text(record, "url")
    tax_id, jurisdiction = _text(record, "vatRegNumber"), _text(record, TAX_JURISDICTION)
    return Client(
        id=client_id,
        name=_text(record, "companyName") or _text(record, "entityId") or str(record.get("id")),
        legal_name=_text(record, "legalName"),
        web_domain=normalise_domain(url),
        status=ClientStatus.INACTIVE if record.get("isInactive") else ClientStatus.ACTIVE,
        billing_address=_address_of(record),
        tax_profile=TaxProfile(tax_id=tax_id, jurisdiction=jurisdiction) if tax_id or jurisdiction else None,
        legal_entity=setup.subsidiaries.value_for(reference(record, "subsidiary")),
        external_ids={connection_id: str(record.get("id"))},
    )


# -- projects -------------------------------------------------------------------------------------
def missing_project_fields(project: Project) -> list[str]:
    return [
        f"dimensions.{name}"
        for name in ("legal_entity", "service_line")
        if not getattr(project.dimensions, name).strip()
    ]


def _budget_text(budget: Money | None) -> str | None:
    return f"{budget.amount} {budget.currency}" if budget is not None else None


def _budget_of(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    amount, _, currency = text.partition(" ")
    try:
        money = Money(amount=Decimal(amount), currency=currency)
    except (ValidationError, InvalidOperation):
        return None
    return {"amount": str(money.amount), "currency": money.currency}


def job_body(project: Project, setup: Setup, *, customer_id: str | None) -> dict[str, Any]:
    """The project shell: a ``job`` whose ``entityId`` is the project code."""
    code = project.code.strip()
    if not code:
        raise Refused("code", "is empty")
    if len(code) > CODE_LIMIT:
        raise Refused("code", f"is longer than NetSuite's {CODE_LIMIT} characters")
    dims = project.dimensions

    def ref(lookup: Lookup, value: str | None, name: str) -> dict[str, str] | None:
        internal_id = lookup.id_for(value, name)
        return {"id": internal_id} if internal_id else None

    body: dict[str, Any] = {
        "entityId": code,
        "companyName": clean_text(project.name, NAME_LIMIT) or code,
        "parent": {"id": customer_id} if customer_id else None,
        "subsidiary": ref(setup.subsidiaries, dims.legal_entity, "dimensions.legal_entity"),
        "class": ref(setup.classes, dims.service_line, "dimensions.service_line"),
        "department": ref(setup.departments, dims.department, "dimensions.department"),
        "location": ref(setup.locations, dims.region, "dimensions.region"),
        "startDate": _iso(project.start_date),
        "projectedEndDate": _iso(project.end_date),
        "isInactive": False,
        PROJECT_ID: clean_text(project.id, TEXT_FIELD_LIMIT),
        PROJECT_CLIENT_ID: clean_text(project.client_id, TEXT_FIELD_LIMIT),
        CONTRACT_ID: clean_text(project.contract_id, TEXT_FIELD_LIMIT),
        LEGAL_ENTITY: clean_text(project.legal_entity, TEXT_FIELD_LIMIT),
        SERVICE_LINE: clean_text(project.service_line, TEXT_FIELD_LIMIT),
        BUDGET: _budget_text(project.budget),
        COST_CENTRE: clean_text(dims.cost_centre, TEXT_FIELD_LIMIT),
    }
    return {k: v for k, v in body.items() if v is not None}


def job_content(record: Mapping[str, Any], setup: Setup) -> dict[str, Any]:
    """A job's business content in canonical field names (what "same project" compares).

    Read from a job NetSuite returned or from a body pshub would send, so both sides go
    through the same truncation and id lookups."""
    return {
        "code": _text(record, "entityId"),
        "name": _text(record, "companyName"),
        "client_id": _text(record, PROJECT_CLIENT_ID),
        "contract_id": _text(record, CONTRACT_ID),
        "legal_entity": _text(record, LEGAL_ENTITY),
        "service_line": _text(record, SERVICE_LINE),
        "budget": _budget_of(_text(record, BUDGET)),
        "start_date": _iso(_date(record.get("startDate"))),
        "end_date": _iso(_date(record.get("projectedEndDate"))),
        "dimensions": {
            "legal_entity": setup.subsidiaries.value_for(reference(record, "subsidiary")),
            "service_line": setup.classes.value_for(reference(record, "class")),
            "department": setup.departments.value_for(reference(record, "department")),
            "cost_centre": _text(record, COST_CENTRE),
            "region": setup.locations.value_for(reference(record, "location")),
        },
    }


def project_from_job(record: Mapping[str, Any], setup: Setup, *, connection_id: str) -> Project:
    content = job_content(record, setup)
    native_id = str(record.get("id"))
    dims = content["dimensions"]
    budget = content["budget"]
    return Project(
        id=_text(record, PROJECT_ID) or f"{connection_id}:project:{native_id}",
        external_ids={connection_id: native_id},
        code=content["code"] or native_id,
        name=content["name"] or content["code"] or native_id,
        client_id=content["client_id"] or "",
        contract_id=content["contract_id"],
        legal_entity=content["legal_entity"] or dims["legal_entity"] or "",
        service_line=content["service_line"] or dims["service_line"] or "",
        budget=Money(amount=Decimal(budget["amount"]), currency=budget["currency"]) if budget else None,
        start_date=_date(content["start_date"]),
        end_date=_date(content["end_date"]),
        dimensions=FinancialDimensions(
            legal_entity=dims["legal_entity"] or "",
            service_line=dims["service_line"] or "",
            department=dims["department"],
            cost_centre=dims["cost_centre"],
            region=dims["region"],
        ),
    )


# -- billing schedules ----------------------------------------------------------------------------
def missing_terms(contract: Contract) -> list[str]:
    """The contract fields a billing model cannot be scheduled without."""
    needs = {
        BillingModel.TIME_AND_MATERIALS: ("rate_card", contract.rate_card),
        BillingModel.FIXED_FEE_MILESTONE: ("milestones", contract.milestones),
        BillingModel.RETAINER: ("retainer_per_month", contract.retainer_per_month),
        BillingModel.USAGE: ("rate_card", contract.rate_card),
    }
    name, value = needs[contract.billing_model]
    return [] if value else [name]


def foreign_currency(contract: Contract) -> list[str]:
    """Contract amounts not in the contract currency (one bill, one currency)."""
    amounts = [("rate_card", contract.rate_card.currency if contract.rate_card else None)]
    amounts += [(f"milestone {m.name}", m.amount.currency) for m in contract.milestones]
    if contract.retainer_per_month:
        amounts.append(("retainer_per_month", contract.retainer_per_month.currency))
    return [name for name, currency in amounts if currency and currency != contract.currency]


def milestone_lines(milestones: Sequence[Milestone]) -> list[dict[str, Any]]:
    """Fixed bid milestone lines: each milestone's share of the total, in percent (two
    decimals, the last line taking the rounding so they add up to exactly 100)."""
    total = sum((m.amount.amount for m in milestones), Decimal(0))
    if total <= 0:
        raise Refused("milestones", "add up to nothing: NetSuite bills milestones as shares of the total")
    shares = [(m.amount.amount * 100 / total).quantize(Decimal("0.01"), ROUND_HALF_UP) for m in milestones]
    shares[-1] = Decimal(100) - sum(shares[:-1], Decimal(0))
    lines = []
    for milestone, share in zip(milestones, shares, strict=True):
        if milestone.due_date is None:
            raise Refused("milestones", f"milestone {milestone.name!r} has no due date")
        lines.append(
            {
                "milestoneDate": milestone.due_date.isoformat(),
                "milestoneAmount": float(share),
                "comments": clean_text(milestone.name, 999) or "",
            }
        )
    return lines


def terms_marker(contract: Contract) -> str:
    """One short digest per contract term: tells a changed term apart, holds no amount."""
    content = business_content(contract)
    digests = {
        name: hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[
            :16
        ]
        for name, value in sorted(content.items())
    }
    return json.dumps(digests, separators=(",", ":"))


def schedule_body(contract: Contract, *, project_id: str, code: str) -> dict[str, Any]:
    model = contract.billing_model
    body: dict[str, Any] = {
        "externalId": external_id(code),
        "name": clean_text(f"{code} {model.value.replace('_', ' ')}", NAME_LIMIT),
        "scheduleType": {"id": SCHEDULE_TYPES[model]},
        "frequency": {"id": "ONETIME" if model is BillingModel.FIXED_FEE_MILESTONE else "MONTHLY"},
        "inArrears": model in (BillingModel.TIME_AND_MATERIALS, BillingModel.USAGE),
        "isPublic": False,
        "project": {"id": project_id},
        SCHEDULE_CONTRACT_ID: clean_text(contract.id, TEXT_FIELD_LIMIT),
        SCHEDULE_TERMS: terms_marker(contract),
    }
    if model is BillingModel.FIXED_FEE_MILESTONE:
        body["milestone"] = {"items": milestone_lines(contract.milestones)}
    return body


def _milestones_of(record: Mapping[str, Any]) -> list[tuple[str | None, str, str | None]] | None:
    sublist = record.get("milestone")
    items = sublist.get("items") if isinstance(sublist, Mapping) else None
    if not isinstance(items, list):
        return None
    lines = []
    for item in items:
        if isinstance(item, Mapping):
            share = Decimal(str(item.get("milestoneAmount", 0))).quantize(Decimal("0.01"))
            lines.append((_text(item, "milestoneDate"), str(share), _text(item, "comments")))
    return lines


def schedule_differences(existing: Mapping[str, Any], requested: Mapping[str, Any]) -> tuple[str, ...]:
    """The contract terms in which a billing schedule NetSuite holds differs from ``requested``."""

    def marker(record: Mapping[str, Any]) -> dict[str, str]:
        try:
            loaded = json.loads(_text(record, SCHEDULE_TERMS) or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    differing = set(differing_fields(marker(existing), marker(requested)))
    if reference(existing, "scheduleType") != reference(requested, "scheduleType"):
        differing.add("billing_model")
    mine, theirs = _milestones_of(requested), _milestones_of(existing)
    if mine is not None and theirs is not None and mine != theirs:
        differing.add("milestones")
    return tuple(sorted(differing))


# -- time -----------------------------------------------------------------------------------------
def time_bill_body(
    entry: TimeEntry, *, job_id: str, employee_id: str, item_id: str, rate: Money | None = None
) -> dict[str, Any]:
    """A ``timeBill``: the hours as a decimal number (NetSuite's duration field takes one), and
    the rate in force on the day, when pshub priced it, as the entry's ``rate``."""
    body: dict[str, Any] = {
        "employee": {"id": employee_id},
        "customer": {"id": job_id},
        "item": {"id": item_id},
        "hours": float(entry.hours),
        "tranDate": entry.work_date.isoformat(),
        "isBillable": entry.billable,
        "rate": float(rate.amount) if rate is not None else None,
        "memo": clean_text(entry.notes, MEMO_LIMIT),
    }
    return {k: v for k, v in body.items() if v is not None}


def expense_report_body(
    expense: Expense, *, job_id: str, employee_id: str, category_id: str | None
) -> dict[str, Any]:
    """An ``expenseReport`` holding the one approved expense (pshub posts each expense as its
    own report, keyed by the expense id, so each can be corrected or reversed alone)."""
    line: dict[str, Any] = {
        "expenseDate": expense.incurred_on.isoformat(),
        "amount": float(expense.amount.amount),
        "currency": {"refName": expense.amount.currency},
        "customer": {"id": job_id},
        "isBillable": expense.billable,
        "memo": clean_text(expense.category, TEXT_FIELD_LIMIT),
    }
    if category_id:
        line["category"] = {"id": category_id}
    return {
        "employee": {"id": employee_id},
        "tranDate": expense.incurred_on.isoformat(),
        "memo": clean_text(f"{expense.category} {expense.receipt_ref or ''}".strip(), MEMO_LIMIT),
        "expense": {"items": [line]},
    }


# -- invoices and credit memos --------------------------------------------------------------------
def json_number(value: Decimal, name: str) -> float:
    """``value`` as the JSON number NetSuite takes, refused unless it reads back exactly."""
    number = float(value)
    if not value.is_finite() or Decimal(repr(number)) != value:
        raise Refused(name, f"{value} is not exact as a JSON number")
    return number


def period_end(period: str) -> date:
    """The last day of ``YYYY-MM``: the invoice date of a period billed in arrears."""
    try:
        first = date.fromisoformat(f"{period}-01")
    except ValueError:
        raise Refused("period", f"{period!r} is not YYYY-MM") from None
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _in_currency(money: Money, currency: str, name: str) -> Decimal:
    if money.currency != currency:
        raise Refused(name, f"is in {money.currency}, the invoice in {currency}")
    return money.amount


def invoice_lines(request: InvoiceRequest, *, item_id: str, tax_item_id: str | None) -> list[dict[str, Any]]:
    """One ``item`` line per invoice line, and one tax line when there is tax."""
    if not request.lines:
        raise Refused("lines", "are empty: nothing to invoice")
    lines = []
    for index, line in enumerate(request.lines, 1):
        name = f"lines[{index}]"
        amount = _in_currency(line.amount, request.currency, f"{name}.amount")
        rate = _in_currency(line.unit_price, request.currency, f"{name}.unit_price")
        lines.append(
            {
                "item": {"id": item_id},
                "description": clean_text(line.description, MEMO_LIMIT) or "",
                "quantity": json_number(line.quantity, f"{name}.quantity"),
                "rate": json_number(rate, f"{name}.unit_price"),
                "amount": json_number(amount, f"{name}.amount"),
            }
        )
    tax = request.tax
    if tax is not None and tax.amount:
        if tax_item_id is None:
            raise Refused("tax", "needs the tax item it is invoiced with: set option tax_item_id")
        amount = _in_currency(tax, request.currency, "tax")
        lines.append(
            {"item": {"id": tax_item_id}, "description": "Tax", "amount": json_number(amount, "tax")}
        )
    return lines


def invoice_content(request: InvoiceRequest, *, item_id: str, tax_item_id: str | None) -> dict[str, Any]:
    """What the draft ``invoice`` bills, pending approval (finance sends it): checked before
    anything is sent."""
    content: dict[str, Any] = {
        "tranDate": period_end(request.period).isoformat(),
        "memo": clean_text(f"pshub invoice {request.invoice_key}", MEMO_LIMIT),
        "otherRefNum": clean_text(request.purchase_order, MEMO_LIMIT),
        "approvalStatus": {"id": PENDING_APPROVAL},
        "item": {"items": invoice_lines(request, item_id=item_id, tax_item_id=tax_item_id)},
    }
    return {k: v for k, v in content.items() if v is not None}


def invoice_body(
    content: Mapping[str, Any], *, customer_id: str, job_id: str, currency_id: str | None
) -> dict[str, Any]:
    """The ``invoice`` sent (``PUT .../invoice/eid:...``): the content with its customer,
    project and, when the connection maps it, currency."""
    body: dict[str, Any] = {"entity": {"id": customer_id}, "job": {"id": job_id}}
    if currency_id:
        body["currency"] = {"id": currency_id}
    return {**body, **content}


def sublist_items(record: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """The lines of an expanded sublist (``{"items": [...]}``); none when it is not expanded."""
    sublist = record.get(name)
    items = sublist.get("items") if isinstance(sublist, Mapping) else None
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def pending_approval(record: Mapping[str, Any]) -> bool:
    """The invoice still waits for finance's approval: pshub may still change it."""
    return reference(record, "approvalStatus") == PENDING_APPROVAL


def transaction_status(record: Mapping[str, Any]) -> str:
    """NetSuite's word for the transaction's status, lower-case (``pending approval``, ``open``)."""
    status = record.get("status")
    if isinstance(status, Mapping):
        status = status.get("refName") or status.get("id")
    if isinstance(status, str) and status:
        return status.strip().lower()
    return "pending approval" if pending_approval(record) else "open"


def money_of(value: object, currency: str) -> Money:
    """A NetSuite amount (a JSON number) as Money, to the currency's minor unit."""
    if value is None or isinstance(value, bool):
        return Money(amount=Decimal(0), currency=currency)
    amount = Decimal(str(value)).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
    return Money(amount=amount, currency=currency)


def credit_memo_body(
    invoice: Mapping[str, Any], amount: Money, reason: str, *, item_id: str
) -> dict[str, Any]:
    """A ``creditMemo`` created from ``invoice``: its lines when the whole total is credited
    (the tax reversed with them), else one line of ``amount``."""
    total = money_of(invoice.get("total"), amount.currency)
    if amount.amount <= 0 or amount.amount > total.amount:
        raise Refused("amount", f"{amount.amount} is not within the invoice total {total.amount}")
    memo = clean_text(reason, MEMO_LIMIT)
    if amount == total and sublist_items(invoice, "item"):
        lines = [_copied_line(line) for line in sublist_items(invoice, "item")]
    else:
        number = json_number(amount.amount, "amount")
        lines = [
            {
                "item": {"id": item_id},
                "description": memo or "Credit",
                "quantity": 1,
                "rate": number,
                "amount": number,
            }
        ]
    body: dict[str, Any] = {
        "entity": {"id": reference(invoice, "entity")},
        "job": {"id": job} if (job := reference(invoice, "job")) else None,
        "currency": {"id": currency} if (currency := reference(invoice, "currency")) else None,
        "createdFrom": {"id": str(invoice["id"])},
        "memo": memo,
        "item": {"items": lines},
    }
    return {k: v for k, v in body.items() if v is not None}


def _copied_line(line: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = {"item": {"id": reference(line, "item")}}
    for name in ("description", "quantity", "rate", "amount"):
        if line.get(name) is not None:
            copied[name] = line[name]
    return copied


def employees_query(references: Iterable[str]) -> str:
    """Employees by pshub's worker reference: an external id, or their e-mail address."""
    wanted = list(dict.fromkeys(references))
    external = [external_id(r) for r in wanted]
    emails = [r.lower() for r in wanted if "@" in r]
    conditions = [f"externalid IN {_in_list(external)}"]
    if emails:
        conditions.append(f"email IN {_in_list(emails)}")
    return f"SELECT id, externalid, email FROM employee WHERE {' OR '.join(conditions)} ORDER BY id"  # noqa: S608


# -- SuiteQL the connector sends ------------------------------------------------------------------
def _in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in dict.fromkeys(values)) + ")"


def customer_candidates_query(*, client_id: str | None, tax: str | None, names: Sequence[str]) -> str | None:
    """Customers that may be the client (the connector picks the one by ``choose_customer``)."""
    conditions = []
    if client_id:
        wanted = external_id(client_id)
        conditions += [
            f"externalid = {sql_literal(wanted)}",
            f"{CLIENT_IDS} LIKE {sql_literal(f'%,{wanted},%')}",
        ]
    if tax:
        conditions.append(f"{TAX_KEY} = {sql_literal(tax)}")
    if names:
        conditions.append(f"{NAME_KEY} IN {_in_list(names)}")
    if not conditions:
        return None
    return (
        f"SELECT id, externalid, {CLIENT_IDS}, {TAX_KEY}, {NAME_KEY} FROM customer "  # noqa: S608 - quoted literals
        f"WHERE {' OR '.join(conditions)} ORDER BY id"
    )


def jobs_query(*, codes: Iterable[str], project_ids: Iterable[str]) -> str:
    """Jobs by project code or by pshub's project id (how time entries name their project)."""
    codes, project_ids = list(codes), list(project_ids)
    conditions = []
    if codes:
        conditions.append(f"entityid IN {_in_list(codes)}")
    if project_ids:
        conditions.append(f"{PROJECT_ID} IN {_in_list(project_ids)}")
    return (
        f"SELECT id, entityid, isinactive, {PROJECT_ID} FROM job WHERE {' OR '.join(conditions)} ORDER BY id"  # noqa: S608
    )


def currencies_query(internal_ids: Iterable[str]) -> str:
    """Currencies' ISO codes (``symbol``) by internal id: a reference shows only the name."""
    return f"SELECT id, symbol FROM currency WHERE id IN {_in_list(internal_ids)} ORDER BY id"  # noqa: S608


def by_external_ids_query(table: str, external_ids: Iterable[str]) -> str:
    return f"SELECT id, externalid FROM {table} WHERE externalid IN {_in_list(external_ids)} ORDER BY id"  # noqa: S608


_CHANGED_COLUMNS: Mapping[str, str] = {
    "customer": "id, entityid, companyname, externalid, isinactive",
    "job": "id, entityid, companyname, externalid, isinactive",
    "timebill": "id, externalid",
}


def changed_query(table: str, since: datetime) -> str:
    """Records of ``table`` modified at or after ``since`` (UTC), oldest first."""
    moment = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"SELECT {_CHANGED_COLUMNS[table]}, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lastmodified "  # noqa: S608
        f"FROM {table} WHERE lastmodifieddate >= TO_TIMESTAMP({sql_literal(stamp)}, 'YYYY-MM-DD HH24:MI:SS') "
        "ORDER BY lastmodifieddate, id"
    )


CHANGE_TABLES: Mapping[str, str] = {
    "customer": "customer",
    "client": "customer",
    "job": "job",
    "project": "job",
    "timebill": "timebill",
    "time_entry": "timebill",
}


def parse_hours(value: object) -> Decimal | None:
    """A ``timeBill``'s hours as NetSuite shows them: a decimal number, or a duration ``H:MM``."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    try:
        if ":" in text:
            hours, _, minutes = text.partition(":")
            return (Decimal(hours) + Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return (
            Decimal(text).normalize()
            if Decimal(text) != Decimal(text).to_integral()
            else Decimal(text).quantize(Decimal(1))
        )
    except InvalidOperation:
        return None

"""The canonical model v1: a complete example of every object round-trips and matches its published
schema, v1's original shapes still validate, instants are aware, and the business rules of the
attributes the ownership policy assigns (percentages, one currency, dates in order) hold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from pshub.canonical.envelope import ENTITY_EVENT_TYPES, EVENT_TYPES, GENERIC_ENTITY_OBJECTS
from pshub.canonical.model import (
    ACTIVE_WHEN,
    OBJECT_TYPES,
    Assignment,
    Client,
    Contract,
    Invoice,
    Opportunity,
    Payment,
    RateCard,
    Subscription,
    TimeEntry,
    UsageRecord,
    lifecycle_active,
)
from pshub.canonical.schemas import SCHEMA_DIR

USD = {"amount": "1000.00", "currency": "USD"}
RATE_CARD = {
    "id": "rc-1",
    "name": "Acme 2026",
    "contract_id": "ct-1",
    "version": 2,
    "status": "active",
    "currency": "USD",
    "effective_from": "2026-01-01",
    "effective_to": "2026-12-31",
    "rates": [{"role": "Senior Consultant", "hourly_rate": {"amount": "250.00", "currency": "USD"}}],
}
MILESTONE = {
    "id": "ms-1",
    "project_id": "pr-1",
    "name": "Discovery report",
    "amount": USD,
    "due_date": "2026-03-31",
    "status": "completed",
    "completed_on": "2026-03-28",
    "accepted_on": "2026-04-02",
    "billing_status": "invoiced",
}

# One example per object with every business attribute set: each must validate, round-trip and
# match the object's published JSON Schema.
EXAMPLES: dict[str, dict[str, Any]] = {
    "Client": {
        "name": "Acme",
        "legal_name": "Acme Widgets Ltd",
        "web_domain": "acme.co.uk",
        "email_domains": ["acme.co.uk", "acme-group.com"],
        "segment": "enterprise",
        "industry": "Manufacturing",
        "status": "active",
        "parent_client_id": "cl-group",
        "billing_address": {"line1": "1 High St", "city": "Leeds", "postal_code": "LS1 1AA", "country": "gb"},
        "tax_profile": {"tax_id": "GB123456789", "jurisdiction": "GB", "exempt": False},
        "tax_ids": ["GB 123 4567 89", "DE123456789"],
        "registration_ids": ["01234567"],
        "currency": "GBP",
        "legal_entity": "pshub-uk",
        "payment_terms_days": 45,
        "credit_limit": {"amount": "50000.00", "currency": "GBP"},
        "credit_hold": False,
    },
    "Opportunity": {
        "name": "Acme ERP rollout",
        "client_id": "cl-1",
        "stage": "closedwon",
        "amount": USD,
        "currency": "USD",
        "probability": "75",
        "forecast_category": "commit",
        "close_date": "2026-02-15",
        "owner": "Dana",
        "service_line": "erp-implementation",
        "contract_id": "ct-1",
    },
    "Contract": {
        "client_id": "cl-1",
        "opportunity_id": "op-1",
        "billing_model": "fixed_fee_milestone",
        "currency": "USD",
        "status": "active",
        "activated_at": "2026-02-16T09:30:00Z",
        "start_date": "2026-03-01",
        "end_date": "2026-12-31",
        "payment_terms_days": 30,
        "legal_entity": "pshub-us",
        "tax_jurisdiction": "US-NY",
        "rate_card": RATE_CARD,
        "total_value": USD,
        "retainer_per_month": {"amount": "500.00", "currency": "USD"},
        "milestones": [MILESTONE],
        "amendments": [
            {"number": 1, "effective_date": "2026-06-01", "description": "Phase 2", "value_change": USD}
        ],
        "billing_terms": {
            "retainer_hours": "40",
            "overage_rate": {"amount": "210.00", "currency": "USD"},
            "unused_hours": "roll",
            "rollover_cap_hours": "20",
            "expense_markup": "0.10",
            "milestones_need_acceptance": True,
            "budget_cap": {"amount": "250000.00", "currency": "USD"},
            "requires_purchase_order": True,
            "purchase_order": "PO-4471",
        },
    },
    "RateCard": RATE_CARD,
    "Project": {
        "code": "ACME-0001",
        "name": "Acme ERP rollout",
        "client_id": "cl-1",
        "contract_id": "ct-1",
        "legal_entity": "pshub-us",
        "service_line": "erp-implementation",
        "status": "active",
        "budget": USD,
        "start_date": "2026-03-01",
        "end_date": "2026-12-31",
        "dimensions": {"legal_entity": "pshub-us", "service_line": "erp-implementation", "region": "NA"},
    },
    "Milestone": MILESTONE,
    "Worker": {
        "name": "Sam Lee",
        "email": "sam@firm.example",
        "employment_status": "terminated",
        "hire_date": "2021-09-01",
        "termination_date": "2026-04-30",
        "cost_rate": {"amount": "95.00", "currency": "USD"},
        "home_entity": "pshub-us",
        "role": "Senior Consultant",
    },
    "Assignment": {
        "project_id": "pr-1",
        "worker_id": "wk-1",
        "role": "Senior Consultant",
        "status": "confirmed",
        "start_date": "2026-03-01",
        "end_date": "2026-06-30",
        "allocation_percent": "50",
        "planned_hours": "320",
        "bill_rate": {"amount": "250.00", "currency": "USD"},
    },
    "TimeEntry": {
        "project_id": "pr-1",
        "worker_id": "wk-1",
        "work_date": "2026-03-02",
        "hours": "7.5",
        "billable": True,
        "role": "Senior Consultant",
        "status": "approved",
        "approved_at": "2026-03-06T17:00:00+01:00",
        "version": 2,
        "posting_status": "posted",
        "erp_document_ref": "JE-2026-00042",
        "notes": "Workshop",
    },
    "Expense": {
        "project_id": "pr-1",
        "worker_id": "wk-1",
        "incurred_on": "2026-03-02",
        "amount": {"amount": "120.40", "currency": "USD"},
        "category": "hotel",
        "billable": True,
        "status": "approved",
        "approved_at": "2026-03-06T17:00:00Z",
        "version": 1,
        "posting_status": "reversed",
        "erp_document_ref": "ER-881",
        "receipt_ref": "receipts/881.pdf",
    },
    "Invoice": {
        "number": "INV-1001",
        "client_id": "cl-1",
        "project_id": "pr-1",
        "contract_id": "ct-1",
        "subscription_id": "sub-1",
        "legal_entity": "pshub-us",
        "issue_date": "2026-04-01",
        "due_date": "2026-05-01",
        "status": "issued",
        "lines": [{"description": "Discovery", "quantity": "1", "unit_price": USD, "amount": USD}],
        "tax": {"amount": "0.00", "currency": "USD"},
        "total": USD,
        "balance": {"amount": "400.00", "currency": "USD"},
        "paid_at": "2026-04-20T10:00:00Z",
    },
    "Payment": {
        "invoice_id": "in-1",
        "amount": {"amount": "600.00", "currency": "USD"},
        "received_at": "2026-04-15T08:00:00Z",
        "method": "bank_transfer",
        "reference": "ACME REMIT 77",
    },
    "ChangeOrder": {
        "contract_id": "ct-1",
        "project_id": "pr-1",
        "number": "CO-3",
        "description": "Extra data migration",
        "value_change": USD,
        "budget_hours_change": "40",
        "status": "approved",
        "effective_date": "2026-05-01",
    },
    "Subscription": {
        "client_id": "cl-1",
        "contract_id": "ct-1",
        "project_id": "pr-1",
        "plan_id": "price_1PmanagedService",
        "status": "cancelled",
        "quantity": "3",
        "currency": "USD",
        "current_period_start": "2026-04-01T00:00:00Z",
        "current_period_end": "2026-05-01T00:00:00Z",
        "cancelled_at": "2026-04-20T00:00:00Z",
    },
    "UsageRecord": {
        "subscription_id": "sub-1",
        "project_id": "pr-1",
        "metric": "support_hours",
        "quantity": "12.25",
        "recorded_at": "2026-04-30T23:59:59Z",
        "period_start": "2026-04-01T00:00:00Z",
        "period_end": "2026-05-01T00:00:00Z",
        "rated_amount": {"amount": "1837.50", "currency": "USD"},
    },
}
BOOKKEEPING = {"id", "external_ids", "source_version"}


def _example(name: str) -> dict[str, Any]:
    return {"id": f"{name.lower()}-1", "external_ids": {"erp-netsuite": "42"}, **EXAMPLES[name]}


def test_every_object_has_a_complete_example() -> None:
    # Given the registered objects / Then each has an example that sets every business attribute
    assert set(EXAMPLES) == set(OBJECT_TYPES)
    missing = {
        name: sorted(set(model.model_fields) - BOOKKEEPING - set(EXAMPLES[name]))
        for name, (_v, model) in OBJECT_TYPES.items()
    }
    assert {name: attrs for name, attrs in missing.items() if attrs} == {}


@pytest.mark.parametrize("name", sorted(OBJECT_TYPES))
def test_example_round_trips_and_matches_the_published_schema(name: str) -> None:
    # Given a complete example of the object
    version, model = OBJECT_TYPES[name]
    # When it is validated and dumped as JSON
    obj = model.model_validate(_example(name))
    dumped = json.loads(obj.model_dump_json())
    # Then it validates again unchanged, and the published schema accepts the wire form
    assert model.model_validate(dumped) == obj
    schema = json.loads((SCHEMA_DIR / f"objects/{name}.v{version}.json").read_text(encoding="utf-8"))
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(dumped)]
    assert errors == []


# v1 as first published: only the attributes that were required then.
V1_MINIMAL: dict[str, dict[str, Any]] = {
    "Client": {"name": "Acme"},
    "Opportunity": {"name": "Deal", "stage": "qualification"},
    "Contract": {"client_id": "cl-1", "billing_model": "retainer", "currency": "EUR", "status": "draft"},
    "RateCard": {"name": "Std", "currency": "EUR", "effective_from": "2026-01-01", "rates": []},
    "Project": {
        "code": "P-1",
        "name": "P",
        "client_id": "cl-1",
        "legal_entity": "le",
        "service_line": "sl",
        "dimensions": {"legal_entity": "le", "service_line": "sl"},
    },
    "Milestone": {"name": "M", "amount": USD},
    "Worker": {"name": "Sam"},
    "Assignment": {"project_id": "pr-1", "worker_id": "wk-1", "role": "Consultant"},
    "TimeEntry": {"project_id": "pr-1", "worker_id": "wk-1", "work_date": "2026-03-02", "hours": "8"},
    "Expense": {
        "project_id": "pr-1",
        "worker_id": "wk-1",
        "incurred_on": "2026-03-02",
        "amount": USD,
        "category": "travel",
    },
    "Invoice": {"client_id": "cl-1", "total": USD},
    "Payment": {"invoice_id": "in-1", "amount": USD, "received_at": "2026-04-15T08:00:00+00:00"},
    "ChangeOrder": {"contract_id": "ct-1", "number": "1", "description": "d", "value_change": USD},
}


@pytest.mark.parametrize("name", sorted(V1_MINIMAL))
def test_v1_records_as_first_published_still_validate(name: str) -> None:
    # Given a record with only what v1 first required / When validated / Then it is accepted,
    # and every optional attribute (all those added since among them) is absent: None or empty,
    # asserting nothing, but for the defaults v1 always had
    _version, model = OBJECT_TYPES[name]
    obj = model.model_validate({"id": "x", **V1_MINIMAL[name]})
    added = set(EXAMPLES[name]) - set(V1_MINIMAL[name]) - BOOKKEEPING
    assert [a for a in sorted(added) if getattr(obj, a) not in (None, [], False)] == _v1_defaults(name)


def _v1_defaults(name: str) -> list[str]:
    # Attributes of v1 that always had a non-empty default (kept for v1's readers).
    return {
        "Client": ["status"],
        "Contract": ["payment_terms_days"],
        "Project": ["status"],
        "Milestone": ["status"],
        "Worker": ["employment_status"],
        "TimeEntry": ["billable", "status"],
        "Expense": ["billable", "status"],
        "Invoice": ["status"],
        "ChangeOrder": ["status"],
    }.get(name, [])


# --- instants are aware ------------------------------------------------------------------


def _datetime_schemas(schema: object, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if schema.get("type") == "datetime":
            yield path, schema
        for key, value in schema.items():
            yield from _datetime_schemas(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _datetime_schemas(value, f"{path}[{index}]")


@pytest.mark.parametrize("name", sorted(OBJECT_TYPES))
def test_every_instant_in_the_model_must_be_timezone_aware(name: str) -> None:
    # Given the object's validation schema / When its datetime fields are listed
    model: type[BaseModel] = OBJECT_TYPES[name][1]
    naive_allowed = [
        path
        for path, schema in _datetime_schemas(model.__pydantic_core_schema__)
        if schema.get("tz_constraint") != "aware"
    ]
    # Then each of them refuses a naive datetime
    assert naive_allowed == []


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Payment, "received_at"),
        (Contract, "activated_at"),
        (TimeEntry, "approved_at"),
        (Invoice, "paid_at"),
        (Subscription, "current_period_start"),
        (UsageRecord, "recorded_at"),
    ],
)
def test_a_naive_instant_is_refused_at_the_boundary(model: type[BaseModel], field: str) -> None:
    # Given a complete record whose instant has no UTC offset
    name = model.__name__
    record = {**_example(name), field: "2026-04-15T08:00:00"}
    if name == "Subscription":
        record["current_period_end"] = None
    # When validated / Then it is refused, naming the field but not the value
    with pytest.raises(ValidationError) as raised:
        model.model_validate(record)
    assert raised.value.errors()[0]["type"] == "timezone_aware"
    assert raised.value.errors()[0]["loc"] == (field,)
    assert "08:00" not in str(raised.value)
    # And an aware one, in any zone, is the same instant
    aware = model.model_validate({**record, field: "2026-04-15T10:00:00+02:00"})
    assert getattr(aware, field) == datetime(2026, 4, 15, 8, tzinfo=UTC)


# --- the rules of the new attributes ------------------------------------------------------


@pytest.mark.parametrize("value", ["-0.01", "100.01", "NaN", "Infinity"])
def test_percentages_are_between_0_and_100(value: str) -> None:
    # Given a probability or an allocation outside 0..100 (or not a number) / Then refused
    with pytest.raises(ValidationError):
        Opportunity.model_validate({**_example("Opportunity"), "probability": value})
    with pytest.raises(ValidationError):
        Assignment.model_validate({**_example("Assignment"), "allocation_percent": value})


@pytest.mark.parametrize("value", ["0", "100", "33.33"])
def test_percentages_at_and_inside_the_bounds_are_accepted(value: str) -> None:
    assert Opportunity.model_validate(
        {**_example("Opportunity"), "probability": value}
    ).probability == Decimal(value)
    assert Assignment.model_validate(
        {**_example("Assignment"), "allocation_percent": value}
    ).allocation_percent == Decimal(value)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("Opportunity", {"currency": "EUR"}, "amount is in USD, not EUR"),
        ("Client", {"currency": "USD"}, "credit_limit is in GBP, not USD"),
        ("Client", {"credit_limit": {"amount": "-1.00", "currency": "GBP"}}, "amount is negative"),
        ("Invoice", {"balance": {"amount": "1.00", "currency": "EUR"}}, "balance is in EUR, not USD"),
        ("Invoice", {"balance": {"amount": "-1.00", "currency": "USD"}}, "amount is negative"),
        ("Client", {"payment_terms_days": -1}, "greater than or equal to 0"),
        ("RateCard", {"version": 0}, "greater than or equal to 1"),
        ("TimeEntry", {"version": 0}, "greater than or equal to 1"),
        ("Milestone", {"accepted_on": "2026-03-27"}, "accepted_on is before completed_on"),
        ("Worker", {"termination_date": "2021-08-31"}, "termination_date is before hire_date"),
        (
            "Subscription",
            {"current_period_end": "2026-03-31T00:00:00Z"},
            "current_period_end is before current_period_start",
        ),
        ("Subscription", {"quantity": "-1"}, "greater than or equal to 0"),
        ("UsageRecord", {"period_end": "2026-03-31T00:00:00Z"}, "period_end is before period_start"),
        ("UsageRecord", {"recorded_at": None, "period_start": None}, "usage needs the instant"),
        ("UsageRecord", {"quantity": "-0.5"}, "greater than or equal to 0"),
        ("Assignment", {"status": "pencilled"}, "Input should be"),
        ("TimeEntry", {"posting_status": "booked"}, "Input should be"),
    ],
)
def test_business_rules_of_the_new_attributes(name: str, change: dict[str, Any], message: str) -> None:
    # Given a complete example broken in one attribute / When validated / Then refused, saying why
    with pytest.raises(ValidationError, match=message):
        OBJECT_TYPES[name][1].model_validate({**_example(name), **change})


def test_a_subsidiary_points_at_its_parent() -> None:
    # Given a subsidiary sharing its group's web domain
    group = Client.model_validate({"id": "cl-group", "name": "Acme Group", "web_domain": "acme.com"})
    subsidiary = Client.model_validate(
        {"id": "cl-uk", "name": "Acme UK", "web_domain": "acme.com", "parent_client_id": group.id}
    )
    # Then it is a client of its own that names its parent (a relationship, not a duplicate)
    assert subsidiary.id != group.id
    assert subsidiary.parent_client_id == "cl-group"


def test_a_usage_summary_needs_no_instant() -> None:
    # Given usage reported for a period (Zuora) rather than at an instant (Stripe)
    record = {**_example("UsageRecord"), "recorded_at": None, "rated_amount": None}
    # Then it is accepted, and not rated yet
    usage = UsageRecord.model_validate(record)
    assert usage.recorded_at is None
    assert usage.rated_amount is None


# --- the lifecycle switch the ownership policy reads --------------------------------------


@pytest.mark.parametrize(
    ("object_type", "attributes", "expected"),
    [
        ("Contract", {"status": "draft"}, False),
        ("Contract", {"status": "approved"}, False),
        ("Contract", {"status": "active"}, True),
        ("Contract", {"status": "closed"}, True),  # once activated, the ERP keeps the terms
        ("Contract", {}, False),  # not yet known: a new contract, the CRM's
        ("RateCard", {"status": "draft"}, False),
        ("RateCard", {"status": "active"}, True),
        ("RateCard", {"status": "superseded"}, True),
        ("RateCard", {"status": None}, None),  # unstated: its contract decides
        ("TimeEntry", {"posting_status": "not_posted"}, False),
        ("TimeEntry", {"posting_status": "posted"}, True),
        ("TimeEntry", {"posting_status": "reversed"}, False),  # back to the capture system
        ("TimeEntry", {}, False),
        ("Expense", {"posting_status": "posted"}, True),
        ("Milestone", {"status": "completed"}, None),  # its contract decides
        ("Worker", {"employment_status": "active"}, None),  # no switch
    ],
)
def test_lifecycle_active(object_type: str, attributes: dict[str, Any], expected: bool | None) -> None:
    assert lifecycle_active(object_type, attributes) is expected


def test_lifecycle_switch_reads_a_dumped_model() -> None:
    # Given a posted time entry and an active rate card, dumped as entity sync stores them
    entry = TimeEntry.model_validate(_example("TimeEntry")).model_dump(mode="json")
    card = RateCard.model_validate(_example("RateCard")).model_dump()  # enum members, not strings
    # Then both are past their switch
    assert lifecycle_active("TimeEntry", entry) is True
    assert lifecycle_active("RateCard", card) is True


def test_lifecycle_switches_name_real_attributes() -> None:
    for object_type, (attribute, _values, _unstated) in ACTIVE_WHEN.items():
        assert attribute in OBJECT_TYPES[object_type][1].model_fields


# --- registration -----------------------------------------------------------------------


def test_every_object_has_entity_events() -> None:
    # Given the registered objects / Then each arrives as entity events: Client and Opportunity
    # through their own v1 payloads, every other one as <Object>Changed / <Object>Deleted
    own_payloads = {"Client", "Opportunity"}
    assert set(GENERIC_ENTITY_OBJECTS) == set(OBJECT_TYPES) - own_payloads
    for name in ("Subscription", "UsageRecord"):
        assert EVENT_TYPES[f"{name}Changed"][0] == 1
        assert ENTITY_EVENT_TYPES[f"{name}Changed"] == (name, "upsert")
        assert ENTITY_EVENT_TYPES[f"{name}Deleted"] == (name, "delete")


def test_field_descriptions_say_what_each_attribute_means() -> None:
    # Given every business attribute of every object / Then each carries a description
    undescribed = [
        f"{name}.{field}"
        for name, (_v, model) in OBJECT_TYPES.items()
        for field, info in model.model_fields.items()
        if not info.description
    ]
    assert undescribed == []

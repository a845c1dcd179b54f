"""Every request pshub's NetSuite connector sends, and every answer the NetSuite fake gives,
against the documented SuiteTalk REST shapes in ``tests/contract/specs/netsuite/shapes.json``.

NetSuite publishes no account-independent OpenAPI document (each account serves its own
metadata catalog), so the shapes are JSON Schemas written from the help topics each one
cites, validated here with ``jsonschema``. A full scenario runs over HTTP on 127.0.0.1 with
both authentication schemes: a customer created and matched again, a project created, found
again, refused, deactivated and brought back, a billing schedule, time posted and replayed,
an invoice drafted twice, read back and credited, the change feed paged, and the failures the connector must survive (a refusal, an expired
token, a lost answer, a throttle, an outage).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from jsonschema import Draft202012Validator

from pshub.canonical.model import BillingModel, TaxProfile
from pshub.connectors.errors import Conflict, NotFound, PermanentConnectorError
from pshub.connectors.results import InvoiceLine, InvoiceRequest
from pshub.platforms.netsuite import outbound
from pshub.store.billing import idempotency_key
from pshub_local.fakes.server import Exchange
from pshub_local.platforms.netsuite.fake import problem
from tests.unit.connectors.builders import client, contract, project, time_entry, usd
from tests.unit.platforms.netsuite.support import TBA, Rig, rig

SHAPES = Path(__file__).resolve().parent / "specs" / "netsuite" / "shapes.json"
USED = {
    "token", "suiteql", "get_customer", "upsert_customer", "update_customer", "get_job", "create_job",
    "update_job", "get_billing_schedule", "create_billing_schedule", "upsert_time_bill",
    "get_invoice", "upsert_invoice", "update_invoice", "upsert_credit_memo",
}  # fmt: skip
INVOICE_KEY = "contract_1#2026-12#period"


@cache
def shapes() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SHAPES.read_text(encoding="utf-8"))
    return loaded


def schema_errors(name: str, instance: object) -> list[str]:
    document = shapes()
    validator = Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": document["$defs"]})
    return [
        f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)
    ]


def request_problems(exchange: Exchange) -> list[str]:
    operation = shapes()["operations"].get(exchange.operation)
    if operation is None:
        return [f"{exchange.operation}: no documented shape"]
    request = exchange.request
    found: list[str] = []
    if request.method != operation["method"] or not re.fullmatch(operation["path"], request.path):
        found.append(f"{request.method} {request.path} is not {operation['method']} {operation['path']}")
    unknown = {name for name, _ in request.query} - set(operation.get("query", []))
    if unknown:
        found.append(f"undocumented query parameters {sorted(unknown)}")
    authorization = request.header("Authorization")
    if operation.get("auth") == "none":
        if authorization:
            found.append("the token request carries an Authorization header")
    elif not any(re.match(p, authorization or "") for p in shapes()["auth"]["patterns"]):
        found.append("no Bearer token or OAuth 1.0a HMAC-SHA256 signature")
    for header, pattern in operation.get("headers", {}).items():
        if not re.match(pattern, request.header(header) or ""):
            found.append(f"header {header} does not match {pattern}")
    content_type = (request.header("Content-Type") or "").split(";")[0]
    if "body" in operation:
        if content_type != "application/json":
            found.append(f"body sent as {content_type!r}")
        found += schema_errors(operation["body"], request.json())
    elif "form" in operation:
        if content_type != "application/x-www-form-urlencoded":
            found.append(f"form sent as {content_type!r}")
        form = dict(parse_qsl(request.body.decode()))
        found += schema_errors(operation["form"], form)
        assertion = form.get("client_assertion", "")
        header, claims = (
            jwt.get_unverified_header(assertion),
            jwt.decode(assertion, options={"verify_signature": False}),
        )
        found += schema_errors("assertion_header", header) + schema_errors("assertion_claims", claims)
        if claims["exp"] - claims["iat"] >= 3600:
            found.append("the assertion is valid 60 minutes or more")
    elif request.body:
        found.append(f"{request.method} with a body")
    return [f"{exchange.operation} request: {p}" for p in found]


def response_problems(exchange: Exchange) -> list[str]:
    response = exchange.response
    if response is None:  # dropped on purpose: nothing was answered
        return []
    operation = shapes()["operations"][exchange.operation]
    declared = {**shapes()["common_responses"], **operation["responses"]}
    shape = declared.get(str(response.status))
    if shape is None:
        return [f"{exchange.operation} response: status {response.status} is not documented"]
    found: list[str] = []
    headers = {k.lower(): v for k, v in response.headers.items()}
    body = response.encoded()
    if "schema" in shape:
        found += schema_errors(shape["schema"], json.loads(body) if body else None)
    elif body:
        found.append(f"{response.status} with a body")
    if "location" in shape and not re.search(shape["location"], headers.get("location", "")):
        found.append(f"Location {headers.get('location')!r} does not match {shape['location']}")
    if "content_type" in shape and not headers.get("content-type", "").startswith(shape["content_type"]):
        found.append(f"content type {headers.get('content-type')!r}")
    for header, pattern in shape.get("headers", {}).items():
        if not re.search(pattern, headers.get(header.lower(), "")):
            found.append(f"header {header} does not match {pattern}")
    return [f"{exchange.operation} response {response.status}: {p}" for p in found]


def invoice_request() -> InvoiceRequest:
    line = InvoiceLine(
        description="Consultant: 7.5 h at 185.00 USD",
        quantity=Decimal("7.5"),
        unit_price=usd("185"),
        amount=usd("1387.50"),
    )
    return InvoiceRequest(
        invoice_key=INVOICE_KEY,
        idempotency_key=idempotency_key(INVOICE_KEY),
        client_id="client_1",
        project_code="PRJ-HARB-0001",
        period="2026-12",
        currency="USD",
        lines=(line,),
        tax=usd("111.00"),
        purchase_order="PO-7781",
    )


def run_scenario(r: Rig) -> None:
    erp = r.erp
    customer = erp.upsert_client(client())
    erp.upsert_client(client("client_2", tax_profile=TaxProfile(tax_id="98-7654321", jurisdiction="US-NY")))
    assert erp.find_client(client_id="client_2") is not None
    project_id = erp.create_project(project(start_date=date(2026, 12, 1)))
    assert erp.create_project(project(start_date=date(2026, 12, 1))) == project_id
    with pytest.raises(Conflict):
        erp.create_project(project(name="Another scope"))
    with pytest.raises(PermanentConnectorError):
        erp.create_project(project("harb-1"))  # the account's code format
    erp.create_billing_schedule(project_id, contract(BillingModel.FIXED_FEE_MILESTONE))
    erp.create_billing_schedule(project_id, contract(BillingModel.FIXED_FEE_MILESTONE))
    entries = [time_entry("te_1"), time_entry("te_2", work_date=date(2026, 9, 1)), time_entry("te_3")]
    erp.post_time_entries(entries)
    erp.post_time_entries(entries)
    erp.deactivate_project(project_id, "provisioning abandoned")
    with pytest.raises(NotFound):
        erp.deactivate_project("999999", "cleanup")
    assert erp.create_project(project(start_date=date(2026, 12, 1))) == project_id
    assert erp.get_project("PRJ-HARB-0001") is not None
    assert erp.find_invoice(INVOICE_KEY) is None
    invoice = erp.draft_invoice(invoice_request())
    assert erp.draft_invoice(invoice_request()) == invoice
    assert erp.find_invoice(INVOICE_KEY) == invoice
    credit_key = idempotency_key(f"{INVOICE_KEY}#credit#1")
    erp.credit_invoice(
        invoice.native_id, invoice.total, "hours corrected", credit_key
    )  # approves the draft first
    erp.credit_invoice(invoice.native_id, invoice.total, "hours corrected", credit_key)
    erp.changed_since("customer", datetime(2026, 1, 1, tzinfo=UTC))
    # failures: a lost answer, a throttle, an outage, an expired token
    r.fake.drop_answer("create_job")
    erp.create_project(project("PRJ-HARB-0002"))
    r.fake.inject(
        "suiteql", 429, problem(429, "Too many requests.", "CONCURRENCY_LIMIT_EXCEEDED"), {"Retry-After": "2"}
    )
    r.fake.inject("get_job", 503, problem(503, "Service unavailable.", "SERVICE_UNAVAILABLE"))
    erp.get_project("PRJ-HARB-0002")
    r.fake.expire_tokens()
    erp.find_client(client_id=customer.native_id)


@pytest.fixture(params=["m2m", "tba"])
def scenario(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setattr(outbound, "PAGE_SIZE", 2)  # so the change feed pages
    credentials: Mapping[str, str] | None = TBA if request.param == "tba" else None
    with rig(credentials, tax_item_id="31") as running:
        run_scenario(running)
        yield running


def test_every_exchange_matches_the_documented_shapes(scenario: Rig) -> None:
    exchanges = scenario.fake.exchanges
    problems = [p for e in exchanges for p in (*request_problems(e), *response_problems(e))]
    assert problems == []
    statuses = {e.response.status for e in exchanges if e.response is not None}
    assert {200, 204, 400, 404, 429, 503} <= statuses
    used = {e.operation for e in exchanges}
    expected = USED if scenario.erp._options.auth == "m2m" else USED - {"token"}
    assert expected <= used and used <= set(shapes()["operations"])
    if scenario.erp._options.auth == "m2m":
        assert 401 in statuses  # the expired token, refreshed


def test_the_checks_catch_an_undocumented_shape(scenario: Rig) -> None:
    # a request body with a field the record does not have, and an error without its code
    exchange = next(e for e in scenario.fake.exchanges if e.operation == "create_job")
    broken = exchange.request.json() | {"projectBudget": 1}
    assert schema_errors("job_create", broken)
    invoice = next(e for e in scenario.fake.exchanges if e.operation == "upsert_invoice").request.json()
    assert schema_errors("invoice_in", invoice) == []
    assert schema_errors("invoice_in", invoice | {"otherPONum": "PO-7781"})  # the PO number is otherRefNum
    assert schema_errors(
        "invoice_in", invoice | {"item": {"items": [{"item": {"id": "20"}, "amount": "1387.50"}]}}
    )
    assert schema_errors(
        "error",
        {"type": "https://x", "title": "Bad Request", "status": 400, "o:errorDetails": [{"detail": "x"}]},
    )
    assert urlsplit(exchange.request.url).hostname == "127.0.0.1"

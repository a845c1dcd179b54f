"""Every request the Stripe connector sends, and every answer the Stripe fake gives, against
Stripe's OpenAPI document (``tests/contract/specs/stripe/openapi.json``, API version
2020-08-27, the version the connector pins).

A full scenario runs over HTTP on 127.0.0.1: a customer created, found again, updated and
found by tax id; a plan of each billing model created, created again (same terms, other
terms), read back, cancelled twice and planned again; a change feed polled page by page;
and what the connector must survive (a lost answer, an outage, a throttle, a lock
timeout, Stripe's idempotency refusal, a refused key, a missing plan, a deleted
customer). Each exchange's request is validated against its operation; each response
too: Stripe declares ``200`` and, for every error, ``default`` (its ``error`` object), so
every status is declared.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pshub.canonical.model import BillingModel, Money, TaxProfile
from pshub.connectors.errors import Conflict, NotFound, PermanentConnectorError, RateLimited
from pshub.connectors.results import InvoiceLine, InvoiceRequest
from pshub_local.fakes.server import Exchange
from pshub_local.platforms.stripe.fake import StripeFake
from tests.contract.openapi_contract import validate_request, validate_response
from tests.unit.connectors.builders import client, contract, project, rate_card
from tests.unit.platforms.stripe.support import NOW, Clock, Harness, stripe_connection

RATE_LIMIT = {
    "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
    }
}
LOCK_TIMEOUT = {
    "error": {
        "type": "invalid_request_error",
        "code": "lock_timeout",
        "message": "This object cannot be accessed right now because another API request or Stripe process is "
        "currently accessing it.",
    }
}
SHOULD_RETRY = {"Stripe-Should-Retry": "true"}


@pytest.fixture
def harness() -> Iterator[Harness]:
    clock = Clock()
    fake = StripeFake(stripe_connection(rate_limit_per_s="100000", rate_limit_burst="100000"), clock=clock)
    fake.start()
    try:
        yield Harness(fake, clock)
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()


def run_scenario(harness: Harness) -> None:
    billing = harness.connector(stripe_account="acct_1Hq2ExAmPlE")
    customer = billing.upsert_customer(client()).native_id
    billing.upsert_customer(client(name="Harbourline Logistics (renamed)"))
    billing.upsert_customer(client(external_ids={"stripe-acme": customer}))
    harness.connector().upsert_customer(client("client_9", tax_profile=TaxProfile(tax_id="98-7654321")))

    codes = {model: f"PRJ-HARB-000{n}" for n, model in enumerate(BillingModel, start=1)}
    plans: dict[BillingModel, str] = {}
    for model, code in codes.items():
        plans[model] = billing.create_billing_plan(project(code), contract(model))
        assert billing.create_billing_plan(project(code), contract(model)) == plans[model]
        assert billing.get_billing_plan(code) is not None
    with pytest.raises(Conflict):
        other_terms = contract(BillingModel.TIME_AND_MATERIALS, payment_terms_days=45)
        billing.create_billing_plan(project(codes[BillingModel.TIME_AND_MATERIALS]), other_terms)
    for model in (BillingModel.RETAINER, BillingModel.FIXED_FEE_MILESTONE):
        billing.cancel_billing_plan(plans[model], "provisioning abandoned")
        billing.cancel_billing_plan(plans[model], "provisioning abandoned")
    again = billing.create_billing_plan(
        project(codes[BillingModel.RETAINER]), contract(BillingModel.RETAINER)
    )
    assert again != plans[BillingModel.RETAINER]
    assert billing.get_billing_plan("PRJ-NONE-0000") is None

    since = datetime.fromtimestamp(NOW - 1, UTC)
    for object_type in ("customer", "subscription", "subscription_schedule", "price", "product", "invoice"):
        _, token = billing.changed_since(object_type, since)
        while token:
            _, token = billing.changed_since(object_type, since, token)
    for n in range(50):  # more than a page of customer events
        billing.upsert_customer(client(f"client_p{n}", tax_profile=None))
    _, token = billing.changed_since("customer", since)
    assert token is not None
    billing.changed_since("customer", since, token)

    # an invoice: drafted with its lines and tax, drafted again (replayed), found by its key,
    # sent, credited
    usd = {"currency": "USD"}
    request = InvoiceRequest(
        invoice_key="contract_1#2026-11#period",
        idempotency_key="pshub-invoice-0123456789abcdef",
        client_id="client_1",
        project_code=codes[BillingModel.TIME_AND_MATERIALS],
        period="2026-11",
        currency="USD",
        lines=(
            InvoiceLine(
                description="Senior Consultant: 8 h at 250.00 USD",
                quantity=Decimal(8),
                unit_price=Money(amount=Decimal("250.00"), **usd),
                amount=Money(amount=Decimal("2000.00"), **usd),
                sources=("te_1@1",),
            ),
        ),
        tax=Money(amount=Decimal("177.50"), **usd),
        purchase_order="PO-7781",
    )
    drafted = billing.draft_invoice(request)
    assert billing.draft_invoice(request) == drafted
    assert billing.find_invoice(request.invoice_key) == drafted
    assert drafted.total == Money(amount=Decimal("2177.50"), **usd) and drafted.line_count == 2
    sent = billing.finalize_invoice(drafted.native_id)
    assert sent.status == "open"
    billing.credit_invoice(
        sent.native_id, sent.total, "hours corrected", "pshub-invoice-0123456789abcdef#credit#1"
    )

    # what the connector survives and refuses
    harness.fake.drop_answer("create_subscription")
    harness.fake.inject("create_price", 503, {"error": {"type": "api_error", "message": "Try again."}})
    harness.fake.inject("search_subscriptions", 429, RATE_LIMIT, {**SHOULD_RETRY, "Retry-After": "2"})
    harness.fake.inject("create_product", 429, LOCK_TIMEOUT, SHOULD_RETRY)
    billing.create_billing_plan(project("PRJ-HARB-0010"), contract(BillingModel.USAGE))
    harness.fake.set_search_lag(60)
    billing.create_billing_plan(project("PRJ-HARB-0011"), contract(BillingModel.RETAINER))
    with pytest.raises(Conflict):  # inside Stripe's search window: its idempotency_error
        billing.create_billing_plan(
            project("PRJ-HARB-0011"), contract(BillingModel.RETAINER, payment_terms_days=60)
        )
    harness.fake.set_search_lag(0)
    gbp = contract(BillingModel.USAGE, currency="GBP", rate_card=rate_card("GBP"))
    stale = harness.connector()
    stale.upsert_customer(client("client_fx", tax_profile=None))
    harness.connector().create_billing_plan(
        project("PRJ-HARB-0012", client_id="client_fx"),
        contract(BillingModel.RETAINER, client_id="client_fx"),
    )
    with pytest.raises(PermanentConnectorError):  # the customer bills in USD already
        stale.create_billing_plan(
            project("PRJ-HARB-0013", client_id="client_fx"), gbp.model_copy(update={"client_id": "client_fx"})
        )
    with pytest.raises(NotFound):
        billing.cancel_billing_plan("sub_1Missing0000000000000000", "cleanup")
    with pytest.raises(NotFound):
        billing.cancel_billing_plan("sub_sched_1Missing0000000000000000", "cleanup")
    harness.fake.delete_customer(customer)
    with pytest.raises(PermanentConnectorError):
        billing.create_billing_plan(project("PRJ-HARB-0014"), contract(BillingModel.RETAINER))
    billing.upsert_customer(client(external_ids={"stripe-acme": customer}))  # deleted: made anew
    harness.fake.set_rate(0.001, burst=1)
    with pytest.raises(RateLimited):
        billing.get_billing_plan("PRJ-HARB-0001")
    harness.fake.set_rate(None)
    with pytest.raises(PermanentConnectorError):
        harness.connector(credentials={"secret_key": "sk_test_revoked000000000000000000"}).get_billing_plan(
            "X"
        )


def check(exchange: Exchange) -> None:
    request = exchange.request
    headers = dict(request.headers)
    validate_request("stripe", request.method, request.url, headers, request.body)
    response = exchange.response
    if response is None:  # answer dropped on purpose: nothing was sent back
        return
    body = response.encoded()
    response_headers = {"Content-Type": "application/json", **response.headers} if body else response.headers
    validate_response(
        "stripe",
        request.method,
        request.url,
        response.status,
        response_headers,
        body,
        request_headers=headers,
        request_body=request.body,
    )


def test_every_exchange_of_a_full_scenario_follows_stripes_document(harness: Harness) -> None:
    run_scenario(harness)
    exchanges = harness.fake.exchanges
    problems = []
    for exchange in exchanges:
        try:
            check(exchange)
        except AssertionError as error:
            problems.append(str(error))
    assert problems == []
    # the scenario reached every operation the connector uses, and every kind of answer
    assert {e.operation for e in exchanges} == set(harness.fake.operations())
    statuses = {e.response.status for e in exchanges if e.response is not None}
    assert {200, 400, 401, 404, 429, 503} <= statuses
    assert any(e.response is None for e in exchanges)  # the lost answer
    replayed = [
        e for e in exchanges if e.response is not None and "Idempotent-Replayed" in e.response.headers
    ]
    assert replayed  # Stripe's replay of a stored answer is checked like any other
    codes = {
        e.response.body["error"].get("code") or e.response.body["error"]["type"]
        for e in exchanges
        if e.response is not None and e.response.status >= 400
    }
    assert {"idempotency_error", "resource_missing", "rate_limit", "lock_timeout"} <= codes


def test_the_scenarios_bodies_are_checked_for_real(harness: Harness) -> None:
    # the validation above is not vacuous: what the spec forbids fails it
    run_scenario(harness)
    create = next(e for e in harness.fake.exchanges if e.operation == "create_subscription")
    broken = create.request.body.replace(b"collection_method=send_invoice", b"collection_method=by_post")
    assert broken != create.request.body
    with pytest.raises(AssertionError, match="collection_method"):
        validate_request("stripe", "POST", create.request.url, dict(create.request.headers), broken)
    answer = create.response
    assert answer is not None and isinstance(answer.body, dict)
    incomplete = {k: v for k, v in answer.body.items() if k != "current_period_end"}
    with pytest.raises(AssertionError, match="current_period_end"):
        validate_response(
            "stripe", "POST", create.request.url, 200, {"Content-Type": "application/json"}, _json(incomplete)
        )


def _json(document: object) -> bytes:
    return json.dumps(document).encode()

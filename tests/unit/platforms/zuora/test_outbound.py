"""The Zuora invoicing connector against the Zuora fake, over HTTP on 127.0.0.1.

Expected request bodies are written out from Zuora's documented field names (Create a
standalone invoice, Post invoices, Create a credit memo from an invoice); the behaviours come
from Zuora's guides: HTTP 200 can carry ``success: false`` (error handling), the last two
digits of a reason code are its category (error codes), ``Idempotency-Key`` replays the first
answer for 24 h and 422s another body (idempotent requests), 429 with ``Retry-After``.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from pshub.canonical.model import Address, BillingModel
from pshub.connections import ConnectionConfigError
from pshub.connectors.errors import NotFound, PermanentConnectorError, RateLimited
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms import platform
from pshub.platforms.zuora.outbound import ZuoraBilling, connect
from pshub.store.billing import idempotency_key
from pshub.workflows.billing.run import InvoiceTarget
from pshub_local.platforms.zuora.fake import credentials_for_local
from tests.unit.connectors.builders import client, contract, project
from tests.unit.platforms.zuora.support import (
    CODE,
    INVOICE_KEY,
    THREE_THIRDS,
    Harness,
    invoice_request,
    line,
    usd,
    zuora_connection,
)

KEY = idempotency_key(INVOICE_KEY)
LOCK = "Operation failed due to a lock competition, please retry later."


def drafted_one(harness: Harness, **options: str) -> tuple[ZuoraBilling, str]:
    harness.account()
    billing = harness.connector(**options)
    return billing, billing.draft_invoice(invoice_request()).native_id


# -- the role -------------------------------------------------------------------------------------


def test_the_connector_is_an_invoice_target_and_the_billing_role(harness: Harness) -> None:
    manifest = platform("zuora")
    assert manifest.roles == {"billing"} and manifest.inbound is None and manifest.adapter is None
    assert manifest.outbound == {"billing": "pshub.platforms.zuora.outbound:connect"}
    billing = harness.connector()
    assert isinstance(billing, InvoiceTarget) and billing.connection_id == "zuora-acme"


# -- drafts ---------------------------------------------------------------------------------------


def test_a_draft_is_a_standalone_invoice_in_draft_with_zuoras_fields(harness: Harness) -> None:
    account = harness.account("PSH-client_1")
    billing = harness.connector(account_number_prefix="PSH-")
    request = invoice_request(
        (line("Consultant, 10 h", "10", "185.00", "1850.00"),), tax=usd("148.00"), purchase_order="PO-7781"
    )
    drafted = billing.draft_invoice(request)

    assert harness.operations() == [
        "token",
        "retrieve_account",
        "create_invoice",
        "retrieve_invoice",
        "list_invoice_items",
    ]
    assert harness.fake.exchanges[1].request.path == "/v1/accounts/PSH-client_1"
    (body,) = harness.sent("create_invoice")
    assert body == {
        "accountId": account,
        "invoiceDate": "2026-12-01",
        "status": "Draft",
        "comments": f"{CODE} 2026-11, PO PO-7781",
        "pshubInvoiceKey__c": INVOICE_KEY,
        "invoiceItems": [
            {
                "chargeName": "Consultant, 10 h",
                "description": "Consultant, 10 h",
                "quantity": Decimal("10"),
                "unitPrice": Decimal("185.00"),
                "amount": Decimal("1850.00"),
                "serviceStartDate": "2026-11-01",
                "serviceEndDate": "2026-11-30",
                "purchaseOrderNumber": "PO-7781",
            },
            {
                "chargeName": "Tax",
                "description": "Tax",
                "quantity": 1,
                "unitPrice": Decimal("148.00"),
                "amount": Decimal("148.00"),
                "serviceStartDate": "2026-11-01",
                "serviceEndDate": "2026-11-30",
                "purchaseOrderNumber": "PO-7781",
            },
        ],
    }
    assert "currency" not in body  # Zuora has the field only with Multiple Currencies
    assert harness.keys("create_invoice") == [KEY]
    assert drafted.invoice_key == INVOICE_KEY and drafted.status == "draft"
    assert drafted.total == usd("1998.00") and drafted.line_count == 2
    assert harness.fake.invoices[drafted.native_id]["status"] == "Draft"


def test_amounts_are_exact_decimals_on_the_wire_and_in_zuora(harness: Harness) -> None:
    # Three thirds of an hour at 1.00, each already rounded by pshub to 0.34: the invoice is 1.02.
    _, native_id = drafted_one(harness)
    raw = harness.fake.exchanges[2].request.body.decode()
    assert raw.count('"amount":0.34') == 3 and '"quantity":0.335' in raw
    assert harness.fake.invoices[native_id]["amount"] == Decimal("1.02")
    assert [i["chargeAmount"] for i in harness.fake.invoice_items[native_id]] == [Decimal("0.34")] * 3
    assert harness.fake.records()["invoices"][0]["total"] == "1.02"


def test_the_tax_item_takes_the_connections_charge_name(harness: Harness) -> None:
    harness.account()
    drafted = harness.connector(tax_charge_name="Sales tax (NY)").draft_invoice(
        invoice_request(tax=usd("0.09"))
    )
    items = harness.fake.invoice_items[drafted.native_id]
    assert [i["chargeName"] for i in items][-1] == "Sales tax (NY)" and items[-1]["chargeAmount"] == Decimal(
        "0.09"
    )
    assert drafted.total == usd("1.11") and drafted.line_count == 4


def test_with_multiple_currencies_the_invoice_names_its_currency(harness: Harness) -> None:
    harness.fake.multiple_currencies = True
    harness.account(currency="EUR")
    drafted = harness.connector(multiple_currencies="true").draft_invoice(invoice_request())
    assert harness.sent("create_invoice")[0]["currency"] == "USD"
    assert drafted.total == usd("1.02")


def test_without_multiple_currencies_another_currency_than_the_accounts_is_refused(harness: Harness) -> None:
    harness.account(currency="EUR")
    with pytest.raises(
        PermanentConnectorError, match=r"account client_1 bills in EUR, the invoice is in USD"
    ):
        harness.connector().draft_invoice(invoice_request())
    assert harness.fake.calls("create_invoice") == []


# -- repeats and idempotency -------------------------------------------------------------------------


def test_a_repeat_after_a_lost_answer_creates_one_invoice(harness: Harness) -> None:
    harness.account()
    harness.fake.drop_answer("create_invoice")  # Zuora created it; the answer never arrived
    drafted = harness.connector().draft_invoice(invoice_request())
    assert len(harness.fake.invoices) == 1 and drafted.native_id in harness.fake.invoices
    assert harness.keys("create_invoice") == [KEY, KEY]  # sent again under the same key: replayed
    assert [c.status for c in harness.fake.calls("create_invoice")] == [None, 200]


def test_drafting_again_replays_the_same_invoice(harness: Harness) -> None:
    billing, native_id = drafted_one(harness)
    again = billing.draft_invoice(invoice_request())
    assert again.native_id == native_id and len(harness.fake.invoices) == 1


def test_a_resend_on_another_day_finds_the_invoice_its_key_made(harness: Harness) -> None:
    _, native_id = drafted_one(harness)
    harness.clock.now += 3 * 3600 + 86_400 / 2  # the next day: another invoiceDate, the key still kept
    again = harness.connector().draft_invoice(invoice_request())
    assert [c.status for c in harness.fake.calls("create_invoice")] == [200, 422]
    assert again.native_id == native_id and len(harness.fake.invoices) == 1


def test_an_answered_lock_competition_is_tried_again_under_the_next_key(harness: Harness) -> None:
    harness.account()
    # Zuora saves the failure under the key: sending that key again would replay it.
    harness.fake.refuse_next("create_invoice", "53000050", LOCK)
    billing = harness.connector()
    drafted = billing.draft_invoice(invoice_request())
    assert harness.keys("create_invoice") == [KEY, f"{KEY}:2"]
    assert len(harness.fake.invoices) == 1 and harness.clock.vendor_waits() == [0.5]
    # A repeat walks the same series: the saved failure, then the saved invoice.
    assert harness.connector().draft_invoice(invoice_request()).native_id == drafted.native_id
    assert len(harness.fake.invoices) == 1


def test_a_lock_competition_on_a_read_is_tried_again(harness: Harness) -> None:
    harness.account()
    harness.fake.refuse_next("retrieve_account", "50000050", LOCK)
    harness.connector().draft_invoice(invoice_request())
    assert len(harness.fake.calls("retrieve_account")) == 2 and len(harness.fake.invoices) == 1


# -- find ------------------------------------------------------------------------------------------


def test_find_invoice_is_none_then_the_drafted_invoice(harness: Harness) -> None:
    harness.account()
    billing = harness.connector()
    assert billing.find_invoice(INVOICE_KEY) is None
    drafted = billing.draft_invoice(invoice_request())
    assert billing.find_invoice(INVOICE_KEY) == drafted
    query = dict(harness.fake.exchanges[-1].request.query)
    assert query == {"filter[]": f"pshubInvoiceKey__c.EQ:{INVOICE_KEY}", "expand[]": "invoiceitems"}


def test_find_invoice_compares_the_key_exactly(harness: Harness) -> None:
    # Object Query filters match case-insensitively: another key in other case is not ours.
    billing, _ = drafted_one(harness)
    assert billing.find_invoice(INVOICE_KEY.upper()) is None
    assert len(harness.fake.calls("query_invoices")) == 1


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_404", [False, True], ids=["200 success false", "HTTP 404"])
def test_a_missing_account_is_refused_naming_the_client_and_the_invoice_key(
    harness: Harness, as_404: bool
) -> None:
    if as_404:
        harness.fake.inject(
            "retrieve_account",
            404,
            {
                "success": False,
                "reasons": [{"code": "50000040", "message": "Cannot find entity by key: 'client_1'."}],
            },
        )
    with pytest.raises(PermanentConnectorError) as refused:
        harness.connector().draft_invoice(invoice_request())
    assert not isinstance(refused.value, NotFound)
    assert "client client_1" in str(refused.value) and INVOICE_KEY in str(refused.value)
    assert refused.value.platform_code == "50000040"
    assert harness.fake.calls("create_invoice") == []


def test_an_account_that_is_not_active_is_refused(harness: Harness) -> None:
    harness.account(status="Canceled")
    with pytest.raises(PermanentConnectorError, match=rf"invoice {INVOICE_KEY}: .*client_1 is Canceled"):
        harness.connector().draft_invoice(invoice_request())


def test_a_200_with_success_false_is_a_refusal_with_zuoras_message(harness: Harness) -> None:
    harness.account()
    message = "'invoiceDate' cannot fall in a closed accounting period."
    harness.fake.inject(
        "create_invoice",
        200,
        {
            "success": False,
            "processId": "CBCFED6580B4E076",
            "reasons": [{"code": 53100320, "message": message}],
        },
    )
    with pytest.raises(PermanentConnectorError) as refused:
        harness.connector().draft_invoice(invoice_request())
    error = refused.value
    assert (
        error.http_status == 200 and error.platform_code == "53100320" and error.platform_message == message
    )
    assert message in str(error) and f"invoice {INVOICE_KEY} for project {CODE}" in str(error)
    assert len(harness.fake.calls("create_invoice")) == 1 and harness.fake.invoices == {}


def test_an_undefined_custom_field_is_zuoras_unknown_field(harness: Harness) -> None:
    harness.account()
    with pytest.raises(PermanentConnectorError, match=r"'otherKey__c' is not a custom field") as refused:
        harness.connector(invoice_key_field="otherKey__c").draft_invoice(invoice_request())
    assert str(refused.value.platform_code).endswith("21")


def test_an_amount_with_more_digits_than_can_be_sent_exactly_is_refused(harness: Harness) -> None:
    harness.account()
    many = (line("Consultant", "0.12345678901234567", "1.00", "0.12"),)
    with pytest.raises(PermanentConnectorError, match="more digits than a JSON number can carry"):
        harness.connector().draft_invoice(invoice_request(many))
    assert harness.fake.calls("create_invoice") == []


# -- throttling --------------------------------------------------------------------------------------


def test_a_429_waits_retry_after_and_goes_on(harness: Harness) -> None:
    harness.account()
    harness.fake.inject("create_invoice", 429, {"message": "Too many requests"}, {"Retry-After": "3"})
    harness.connector().draft_invoice(invoice_request())
    assert harness.clock.vendor_waits() == [pytest.approx(3.0)] and len(harness.fake.invoices) == 1


def test_a_throttle_that_lasts_is_handed_back_as_rate_limited(harness: Harness) -> None:
    harness.account()
    harness.fake.inject("create_invoice", 429, {"message": "Too many requests"}, {"Retry-After": "120"})
    with pytest.raises(RateLimited) as limited:
        harness.connector().draft_invoice(invoice_request())
    assert limited.value.retry_after_s == 120 and harness.fake.invoices == {}


def test_a_request_limit_reason_in_a_200_is_a_throttle_too(harness: Harness) -> None:
    harness.account()
    harness.fake.refuse_next("create_invoice", "50000070", "The request exceeded the limit.")
    harness.connector().draft_invoice(invoice_request())
    assert harness.keys("create_invoice") == [KEY, f"{KEY}:2"] and len(harness.fake.invoices) == 1
    assert harness.clock.vendor_waits() == [pytest.approx(1.0)]  # no Retry-After: the connector's 1 s


# -- credit memos ------------------------------------------------------------------------------------


def test_credit_posts_the_draft_and_credits_its_items(harness: Harness) -> None:
    billing, native_id = drafted_one(harness, credit_reason_code="Correcting invoice error")
    items = harness.fake.invoice_items[native_id]
    memo = billing.credit_invoice(native_id, usd("1.02"), "hours booked twice", "pshub-invoice-credit-1")

    assert harness.sent("post_invoices") == [{"invoices": [{"id": native_id}]}]
    assert harness.keys("post_invoices") == ["pshub-invoice-credit-1:post"]
    assert harness.fake.invoices[native_id]["status"] == "Posted"
    assert harness.sent("create_credit_memo") == [
        {
            "items": [
                {
                    "invoiceItemId": item["id"],
                    "amount": Decimal("0.34"),
                    "skuName": item["chargeName"],
                    "serviceStartDate": "2026-11-01",
                    "serviceEndDate": "2026-11-30",
                }
                for item in items
            ],
            "comment": "hours booked twice",
            "reasonCode": "Correcting invoice error",
        }
    ]
    assert harness.keys("create_credit_memo") == ["pshub-invoice-credit-1"]
    assert harness.fake.records()["credit_memos"] == [
        {
            "native_id": memo,
            "number": "CM00000001",
            "invoice": native_id,
            "amount": "1.02",
            "status": "Draft",
            "reason_code": "Correcting invoice error",
        }
    ]


def test_a_credit_retried_after_a_lost_answer_makes_one_memo(harness: Harness) -> None:
    billing, native_id = drafted_one(harness)
    harness.fake.drop_answer("create_credit_memo")
    memo = billing.credit_invoice(native_id, usd("1.02"), "withdrawn", "pshub-credit-1")
    assert len(harness.fake.credit_memos) == 1 and memo in harness.fake.credit_memos
    assert harness.keys("create_credit_memo") == ["pshub-credit-1", "pshub-credit-1"]
    # The whole credit again (a workflow retry): the invoice is posted already, the memo replayed.
    assert billing.credit_invoice(native_id, usd("1.02"), "withdrawn", "pshub-credit-1") == memo
    assert len(harness.fake.credit_memos) == 1 and len(harness.fake.calls("post_invoices")) == 1


def test_a_partial_credit_takes_the_items_in_order(harness: Harness) -> None:
    billing, native_id = drafted_one(harness)
    billing.credit_invoice(native_id, usd("0.50"), "discount", "pshub-credit-2")
    (body,) = harness.sent("create_credit_memo")
    assert [i["amount"] for i in body["items"]] == [Decimal("0.34"), Decimal("0.16")]


def test_a_credit_above_the_invoice_is_refused_before_anything_is_sent(harness: Harness) -> None:
    billing, native_id = drafted_one(harness)
    harness.fake.invoices[native_id]["status"] = "Posted"
    with pytest.raises(PermanentConnectorError, match="more than the invoice's items"):
        billing.credit_invoice(native_id, usd("5.00"), "too much", "pshub-credit-3")
    assert harness.fake.calls("create_credit_memo") == []


# -- auth and configuration ---------------------------------------------------------------------------


def test_the_token_is_fetched_once_and_fetched_again_when_zuora_refuses_it(harness: Harness) -> None:
    harness.account()
    billing = harness.connector()
    billing.draft_invoice(invoice_request())
    assert harness.fake.tokens_issued() == 1
    harness.fake.expire_tokens()
    assert billing.find_invoice(INVOICE_KEY) is not None
    assert harness.fake.tokens_issued() == 2 and [c.status for c in harness.fake.calls("query_invoices")] == [
        401,
        200,
    ]


def test_a_wrong_client_secret_is_a_refusal(harness: Harness) -> None:
    harness.account()
    credentials = {**credentials_for_local(zuora_connection()), "client_secret": "wrong"}
    with pytest.raises(PermanentConnectorError, match="Zuora refused the OAuth client"):
        harness.connector(credentials=credentials).draft_invoice(invoice_request())


@pytest.mark.parametrize(
    ("credentials", "options", "message"),
    [
        ({"client_id": "x"}, {}, "has no 'client_secret'"),
        (
            {"client_id": "x", "client_secret": "y"},
            {"base_url": "https://rest.zuora.com/v1"},
            "without a path",
        ),
        (
            {"client_id": "x", "client_secret": "y"},
            {"invoice_key_field": "pshubKey"},
            "custom field's API name",
        ),
        ({"client_id": "x", "client_secret": "y"}, {"multiple_currencies": "yes"}, "true or false"),
    ],
)
def test_connect_checks_credentials_and_options(
    credentials: dict[str, str], options: dict[str, str], message: str
) -> None:
    context = ConnectorContext(credentials=credentials, state=MemoryState())
    with pytest.raises(ConnectionConfigError, match=message):
        connect(zuora_connection(**options), context)


def test_no_secret_token_or_amount_reaches_the_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.account()
    # On "pshub" itself: another test may have left that logger's own level at INFO (Powertools).
    caplog.set_level(logging.DEBUG, logger="pshub")
    caplog.set_level(logging.DEBUG)
    billing = harness.connector()
    drafted = billing.draft_invoice(invoice_request(THREE_THIRDS, tax=usd("0.09")))
    billing.credit_invoice(drafted.native_id, usd("1.11"), "withdrawn", "pshub-credit-4")
    extras = ("request_headers", "response_headers", "response_body")  # what the kit adds (no timestamps)
    logged = " ".join(
        f"{r.getMessage()} {[getattr(r, name, None) for name in extras]}" for r in caplog.records
    )
    secret = credentials_for_local(zuora_connection())["client_secret"]
    tokens = [e.response.body for e in harness.fake.exchanges if e.operation == "token" and e.response]
    assert secret not in logged and all(t["access_token"] not in logged for t in tokens)  # type: ignore[index]
    assert any(getattr(r, "response_body", None) for r in caplog.records)  # the kit's DEBUG logs were written
    assert "0.34" not in logged and "1.11" not in logged


# -- the billing role: the client's account, and no subscription for T&M or fixed fee ---------------
def test_a_client_gets_one_account_under_its_number_and_a_second_upsert_changes_nothing(
    harness: Harness,
) -> None:
    billing = harness.connector(account_number_prefix="PSH-")
    customer = client(
        legal_name="Harbourline Logistics, Inc.",
        billing_address=Address(line1="100 Example Avenue", city="New York", region="NY", postal_code="10001",
                                country="US"),
    )  # fmt: skip
    first = billing.upsert_customer(customer)
    again = billing.upsert_customer(customer)
    assert first.created and not again.created and first.native_id == again.native_id
    [account] = harness.fake.accounts.values()
    basic = account["basicInfo"]
    assert (basic["accountNumber"], basic["name"], basic["crmId"]) == (
        "PSH-client_1", "Harbourline Logistics, Inc.", "client_1"
    )  # fmt: skip
    [body] = harness.sent("create_account")
    assert (body["currency"], body["autoPay"], body["billCycleDay"]) == ("USD", False, 1)
    assert body["billToContact"] == {
        "firstName": "Accounts", "lastName": "Payable", "address1": "100 Example Avenue", "city": "New York",
        "state": "NY", "zipCode": "10001", "country": "US",
    }  # fmt: skip
    assert harness.keys("create_account")[0] is not None  # under an idempotency key
    assert "update_account" not in harness.operations()


def test_an_account_made_by_hand_under_the_number_is_adopted_and_named_as_the_client(
    harness: Harness,
) -> None:
    native_id = harness.account("client_1")
    result = harness.connector().upsert_customer(client())
    assert (result.native_id, result.created) == (native_id, False)
    assert harness.sent("update_account") == [{"name": "Harbourline Logistics Inc.", "crmId": "client_1"}]


def test_a_client_without_a_currency_gets_no_account(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match="client_1 has no currency"):
        harness.connector().upsert_customer(client(currency=None))
    assert harness.fake.accounts == {}


def test_time_and_materials_and_fixed_fee_bill_on_the_account_and_retainers_are_refused(
    harness: Harness,
) -> None:
    billing = harness.connector()
    account = billing.upsert_customer(client()).native_id
    assert billing.create_billing_plan(project(), contract()) == account
    assert billing.create_billing_plan(project(), contract(BillingModel.FIXED_FEE_MILESTONE)) == account
    for model in (BillingModel.RETAINER, BillingModel.USAGE):
        with pytest.raises(PermanentConnectorError, match="subscription from the tenant's product catalog"):
            billing.create_billing_plan(project(), contract(model))
    with pytest.raises(PermanentConnectorError, match="is in EUR, its Zuora account client_1 in USD"):
        billing.create_billing_plan(project(), contract(currency="EUR", rate_card=None))
    billing.cancel_billing_plan(account, "provisioning abandoned")  # the account stays
    assert len(harness.fake.accounts) == 1 and billing.get_billing_plan(CODE) is None

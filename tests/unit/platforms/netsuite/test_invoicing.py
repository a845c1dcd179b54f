"""Draft invoices and credit memos in NetSuite (``InvoiceTarget``), against the NetSuite fake.

The expected requests are written in NetSuite's field names (the ``invoice`` and ``creditMemo``
records: ``entity``, ``job``, ``tranDate``, ``memo``, ``otherRefNum``, ``approvalStatus``, the
``item`` sublist, ``createdFrom``), not read from the mapping. Amounts go as JSON numbers that
read back as the exact amounts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from pshub.canonical.model import Money
from pshub.connectors.errors import NotFound, PermanentConnectorError
from pshub.connectors.results import DraftedInvoice, InvoiceLine, InvoiceRequest
from pshub.platforms.netsuite.mapping import Refused, period_end
from pshub.store.billing import idempotency_key
from pshub.workflows.billing.run import InvoiceTarget
from pshub_local.fakes.server import Exchange
from tests.unit.connectors.builders import client, project, usd
from tests.unit.platforms.netsuite.support import Rig, rig

KEY = "contract_1#2026-11#period"
# The external id NetSuite allows (letters, digits, _ and -): the key's digest, as for any id with '#'.
INVOICE_EID = "h-" + hashlib.sha256(KEY.encode()).hexdigest()[:40]
CREDIT_KEY = idempotency_key(f"{KEY}#credit#1")  # pshub-invoice-<40 hex>: an external id as it is


def request(**changes: Any) -> InvoiceRequest:
    values: dict[str, Any] = {
        "invoice_key": KEY,
        "idempotency_key": idempotency_key(KEY),
        "client_id": "client_1",
        "project_code": "PRJ-HARB-0001",
        "period": "2026-11",
        "currency": "USD",
        "lines": (
            InvoiceLine(
                description="Consultant: 37.5 h at 185.00 USD (2026-11-02 to 2026-11-27)",
                quantity=Decimal("37.5"),
                unit_price=usd("185.00"),
                amount=usd("6937.50"),
                sources=("te_1@1", "te_2@1"),
            ),
            InvoiceLine(
                description="Analyst: 12.25 h at 125.10 USD (2026-11-03 to 2026-11-20)",
                quantity=Decimal("12.25"),
                unit_price=usd("125.10"),
                amount=usd("1532.48"),
                sources=("te_3@2",),
            ),
        ),
        "tax": usd("677.80"),
        "purchase_order": "PO-7781",
    }
    return InvoiceRequest(**(values | changes))


@pytest.fixture
def r() -> Iterator[Rig]:
    with rig(invoice_item_id="21", tax_item_id="31") as running:
        running.erp.upsert_client(client())
        running.erp.create_project(project())
        yield running


def sent(r: Rig, operation: str) -> list[Exchange]:
    return [e for e in r.fake.exchanges if e.operation == operation]


def ids(r: Rig) -> tuple[str, str]:
    records = r.fake.records()
    return records["customers"][0]["native_id"], records["projects"][0]["native_id"]


# -- drafting -----------------------------------------------------------------------------------------
def test_the_connector_is_an_invoice_target(r: Rig) -> None:
    assert isinstance(r.erp, InvoiceTarget)


def test_a_draft_is_upserted_pending_approval_with_exact_amounts(r: Rig) -> None:
    drafted = r.erp.draft_invoice(request())

    customer_id, job_id = ids(r)
    [put] = sent(r, "upsert_invoice")
    assert put.request.method == "PUT"
    assert put.request.path == f"/services/rest/record/v1/invoice/eid:{INVOICE_EID}"
    assert put.request.param("replace") == "item"  # a resent draft replaces its lines
    assert put.request.json() == {
        "entity": {"id": customer_id},
        "job": {"id": job_id},
        "tranDate": "2026-11-30",
        "memo": f"pshub invoice {KEY}",
        "otherRefNum": "PO-7781",
        "approvalStatus": {"id": "1"},
        "item": {
            "items": [
                {
                    "item": {"id": "21"},
                    "description": "Consultant: 37.5 h at 185.00 USD (2026-11-02 to 2026-11-27)",
                    "quantity": 37.5,
                    "rate": 185.0,
                    "amount": 6937.5,
                },
                {
                    "item": {"id": "21"},
                    "description": "Analyst: 12.25 h at 125.10 USD (2026-11-03 to 2026-11-20)",
                    "quantity": 12.25,
                    "rate": 125.1,
                    "amount": 1532.48,
                },
                {"item": {"id": "31"}, "description": "Tax", "amount": 677.8},
            ]
        },
    }
    assert b'"amount":1532.48' in put.request.body.replace(b" ", b"")  # the number, not a rounding of it
    [invoice] = r.fake.records()["invoices"]
    assert drafted == DraftedInvoice(
        native_id=invoice["native_id"],
        invoice_key=KEY,
        status="pending approval",
        total=usd("9147.78"),
        line_count=3,
    )


def test_the_same_request_again_updates_the_one_draft(r: Rig) -> None:
    first = r.erp.draft_invoice(request())
    again = r.erp.draft_invoice(request())

    assert again == first
    assert len(r.fake.calls("upsert_invoice")) == 2
    [invoice] = r.fake.records()["invoices"]
    assert invoice["lines"] == 3  # replaced, not added to


def test_find_invoice_reads_the_draft_back_by_its_key(r: Rig) -> None:
    assert r.erp.find_invoice(KEY) is None
    drafted = r.erp.draft_invoice(request())

    assert r.erp.find_invoice(KEY) == drafted
    assert [c.status for c in r.fake.calls("get_invoice")] == [404, 404, 200, 200]  # find, draft, find


def test_an_invoice_sent_already_is_returned_as_it_is(r: Rig) -> None:
    drafted = r.erp.draft_invoice(request())
    r.fake.approve_invoice(drafted.native_id)  # finance approved and sent it

    again = r.erp.draft_invoice(request(tax=None, purchase_order=None))

    assert again.native_id == drafted.native_id
    assert again.status == "open" and again.total == drafted.total and again.line_count == 3
    assert len(r.fake.calls("upsert_invoice")) == 1


def test_an_invoice_without_tax_needs_no_tax_item() -> None:
    with rig() as r:  # time_item_id only: invoice lines bill it too
        r.erp.upsert_client(client())
        r.erp.create_project(project())
        drafted = r.erp.draft_invoice(request(tax=None))

        [put] = sent(r, "upsert_invoice")
        assert [line["item"] for line in put.request.json()["item"]["items"]] == [{"id": "20"}, {"id": "20"}]
        assert drafted.total == usd("8469.98") and drafted.line_count == 2


# -- refusals -----------------------------------------------------------------------------------------
def test_a_client_without_a_customer_is_refused_naming_client_and_invoice(r: Rig) -> None:
    with pytest.raises(PermanentConnectorError) as caught:
        r.erp.draft_invoice(request(client_id="client_9"))

    message = caught.value.message
    assert KEY in message and "PRJ-HARB-0001" in message and "client_9" in message
    assert r.fake.calls("upsert_invoice") == []


def test_a_project_not_in_netsuite_is_refused(r: Rig) -> None:
    with pytest.raises(PermanentConnectorError, match=r"project PRJ-HARB-0099 is not in NetSuite"):
        r.erp.draft_invoice(request(project_code="PRJ-HARB-0099"))
    assert r.fake.calls("upsert_invoice") == []


def test_tax_without_the_tax_item_option_is_refused_before_anything_is_sent() -> None:
    with rig(invoice_item_id="21") as r:
        with pytest.raises(PermanentConnectorError, match="tax_item_id") as caught:
            r.erp.draft_invoice(request())

        assert KEY in caught.value.message
        assert r.fake.calls() == []


def test_an_amount_a_json_number_cannot_hold_exactly_is_refused(r: Rig) -> None:
    line = request().lines[0].model_copy(update={"quantity": Decimal("37.50000000000000001")})
    with pytest.raises(PermanentConnectorError, match=r"lines\[1\]\.quantity"):
        r.erp.draft_invoice(request(lines=(line,)))
    assert r.fake.calls("upsert_invoice") == []


def test_the_invoice_date_is_the_periods_last_day() -> None:
    assert [period_end(p) for p in ("2026-11", "2026-12", "2028-02")] == [
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2028, 2, 29),
    ]
    with pytest.raises(Refused, match="YYYY-MM"):
        period_end("2026-13")


def test_a_closed_period_is_netsuites_refusal_in_pshub_words(r: Rig) -> None:
    with pytest.raises(PermanentConnectorError) as caught:
        r.erp.draft_invoice(request(period="2026-09"))  # the account closed September

    error = caught.value
    assert error.message.startswith(f"invoice {KEY} for project PRJ-HARB-0001: NetSuite refused it")
    assert error.platform_code == "USER_ERROR" and "2026-09-30" in (error.platform_message or "")
    assert r.fake.records()["invoices"] == []


# -- currencies ---------------------------------------------------------------------------------------
def seed_customer_billing_in_gbp(r: Rig) -> None:
    customer_id = r.fake.seed(
        "customer",
        {
            "companyName": "Thames Freight Ltd",
            "subsidiary": {"id": "3"},
            "currency": {"id": "2"},  # British pound
            "custentity_pshub_tax_jurisdiction": "GB",
            "custentity_pshub_client_ids": ",client_gb,",
        },
    )
    r.fake.seed(
        "job",
        {
            "entityId": "PRJ-THAM-0001",
            "companyName": "Freight audit",
            "parent": {"id": customer_id},
            "subsidiary": {"id": "3"},
            "class": {"id": "4"},
        },
    )


def test_unmapped_currencies_are_the_customers_and_a_different_one_is_refused(r: Rig) -> None:
    seed_customer_billing_in_gbp(r)

    with pytest.raises(
        PermanentConnectorError, match=r"bills in GBP, the invoice is in USD.*options\.currencies"
    ):
        r.erp.draft_invoice(request(client_id="client_gb", project_code="PRJ-THAM-0001"))
    assert r.fake.calls("upsert_invoice") == []

    gbp = request(
        client_id="client_gb",
        project_code="PRJ-THAM-0001",
        currency="GBP",
        lines=(
            InvoiceLine(
                description="Audit", quantity=Decimal(2), unit_price=gbp_("450.00"), amount=gbp_("900.00")
            ),
        ),
        tax=None,
    )
    drafted = r.erp.draft_invoice(gbp)
    assert "currency" not in sent(r, "upsert_invoice")[0].request.json()  # left to the customer's
    assert drafted.total == gbp_("900.00")


def test_mapped_currencies_are_sent_and_an_unmapped_one_is_refused() -> None:
    with rig(invoice_item_id="21", tax_item_id="31", currencies="USD=1,GBP=2") as r:
        r.erp.upsert_client(client())
        r.erp.create_project(project())
        drafted = r.erp.draft_invoice(request())

        assert sent(r, "upsert_invoice")[0].request.json()["currency"] == {"id": "1"}
        assert drafted.total == usd("9147.78")
        eur = Money(amount=Decimal(100), currency="EUR")
        line = InvoiceLine(description="Audit", quantity=Decimal(1), unit_price=eur, amount=eur)
        with pytest.raises(PermanentConnectorError, match="option currencies"):
            r.erp.draft_invoice(
                request(invoice_key="contract_1#2026-12#period", currency="EUR", lines=(line,), tax=None)
            )


def gbp_(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="GBP")


# -- credit memos -------------------------------------------------------------------------------------
def test_a_credit_memo_is_created_once_from_the_invoice_on_retry(r: Rig) -> None:
    drafted = r.erp.draft_invoice(request())
    r.fake.approve_invoice(drafted.native_id)

    note = r.erp.credit_invoice(drafted.native_id, drafted.total, "hours corrected", CREDIT_KEY)
    again = r.erp.credit_invoice(drafted.native_id, drafted.total, "hours corrected", CREDIT_KEY)

    assert again == note
    assert len(r.fake.calls("upsert_credit_memo")) == 2
    [memo] = r.fake.records()["credit_memos"]
    assert memo == {
        "native_id": note,
        "external_id": CREDIT_KEY,
        "number": f"CM{note}",
        "created_from": drafted.native_id,
        "lines": 3,
    }
    customer_id, job_id = ids(r)
    body = sent(r, "upsert_credit_memo")[0].request.json()
    assert {k: body[k] for k in ("entity", "job", "currency", "createdFrom", "memo")} == {
        "entity": {"id": customer_id},
        "job": {"id": job_id},
        "currency": {"id": "1"},
        "createdFrom": {"id": drafted.native_id},
        "memo": "hours corrected",
    }
    # the whole invoice credited: its lines, tax included, at their exact amounts
    assert [(line["item"], line["amount"]) for line in body["item"]["items"]] == [
        ({"id": "21"}, 6937.5),
        ({"id": "21"}, 1532.48),
        ({"id": "31"}, 677.8),
    ]
    assert r.fake.calls("update_invoice") == []  # approved already


def test_crediting_a_draft_approves_it_first(r: Rig) -> None:
    drafted = r.erp.draft_invoice(request())

    r.erp.credit_invoice(drafted.native_id, drafted.total, "withdrawn", CREDIT_KEY)

    [patch] = sent(r, "update_invoice")
    assert patch.request.json() == {"approvalStatus": {"id": "2"}}
    invoice = r.fake.record("invoice", drafted.native_id)
    assert invoice is not None and invoice["approvalStatus"] == {"id": "2"}


def test_a_part_credit_is_one_line_of_the_amount(r: Rig) -> None:
    drafted = r.erp.draft_invoice(request())
    r.fake.approve_invoice(drafted.native_id)

    r.erp.credit_invoice(drafted.native_id, usd("100.10"), "goodwill", CREDIT_KEY)

    body = sent(r, "upsert_credit_memo")[0].request.json()
    assert body["item"]["items"] == [
        {"item": {"id": "21"}, "description": "goodwill", "quantity": 1, "rate": 100.1, "amount": 100.1}
    ]
    with pytest.raises(PermanentConnectorError, match="not within the invoice total"):
        r.erp.credit_invoice(drafted.native_id, usd("9147.79"), "too much", idempotency_key("other"))
    with pytest.raises(NotFound):
        r.erp.credit_invoice("999999", usd("1.00"), "no such invoice", idempotency_key("none"))

"""pshub's invoice requests as Zuora Billing v1 JSON bodies, and Zuora's invoices back. Pure, no I/O.

What goes where (v1 REST API, https://developer.zuora.com/v1-api-reference/):

- InvoiceRequest -> Create a standalone invoice, ``POST /v1/invoices``
  (https://developer.zuora.com/api-references/api/operation/POST_StandaloneInvoice):
  ``accountId`` (the client's account), ``invoiceDate``, ``status: "Draft"`` (finance
  reviews and posts it), ``comments`` (project code, period, purchase order) and the invoice
  key in an Invoice custom field (``pshubInvoiceKey__c`` unless the connection names another:
  custom fields go at the top level of the body, by their API name). ``currency`` is sent
  only where the tenant has Multiple Currencies: the field exists only then.
  One ``invoiceItems`` entry per line: ``chargeName`` and ``description`` (the line's text),
  ``quantity``, ``unitPrice``, ``amount`` (the line as pshub rounded it), ``serviceStartDate``
  and ``serviceEndDate`` (the period's first and last day) and ``purchaseOrderNumber``.
- Tax: pshub works it out (one amount per invoice, at the entity's rate) and sends it as an
  item of its own named by the connection's ``tax_charge_name``, as the Stripe connector's
  tax line. Zuora's ``invoiceItems[].taxItems`` would need Zuora Taxation enabled and, per
  item, a tax code, rate and rate type (``PostTaxationItemType``) the request does not carry.
- A credit -> Create a credit memo from an invoice, ``POST /v1/invoices/{id}/creditmemos``
  (https://developer.zuora.com/v1-api-reference/api/operation/POST_CreditMemoFromInvoice):
  the amount spread over the invoice's items in their order (``items[]``: ``invoiceItemId``,
  ``amount``, ``skuName`` = the item's charge name, its service dates), ``comment`` (the
  reason) and ``reasonCode``. The memo has no amount of its own: it is its items'.
- Posting a draft: Post invoices, ``POST /v1/invoices/bulk-post`` with ``invoices[].id``
  (https://developer.zuora.com/v1-api-reference/api/invoices/post_postinvoices.md).
- Back: ``drafted`` reads an invoice as ``GET /v1/invoices/{id}`` or Object Query returns it.

Amounts are decimal major units (0.34 USD is ``0.34``, not Stripe's 34 cents). The HTTP kit
encodes JSON with the standard library, which has no decimal number, so ``number`` sends each
Decimal as the binary float whose shortest spelling (``repr``, what ``json`` writes) is exactly
the Decimal's value, and refuses any value for which that is not so (possible only beyond 15
significant digits): the text on the wire is always the value pshub holds. Answers are parsed with ``parse_float=Decimal``.
Text limits (charge name 100, description 500, comments 255) are those of Zuora's object
model for charges, items and invoices, unverified for standalone invoices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pshub.canonical.model import Client, Money
from pshub.connectors.results import DraftedInvoice, InvoiceLine, InvoiceRequest

INVOICE_KEY_FIELD = "pshubInvoiceKey__c"  # the Invoice custom field holding pshub's invoice key
TAX_CHARGE_NAME = "Tax"
CHARGE_NAME_MAX = 100
DESCRIPTION_MAX = 500
COMMENTS_MAX = 255
DRAFT, POSTED, CANCELED = "Draft", "Posted", "Canceled"  # Invoice.status, as Zuora spells it

Body = dict[str, Any]


class MappingError(ValueError):
    """A request Zuora cannot take as it is (pshub's words, no amounts)."""


# -- numbers and dates ------------------------------------------------------------------------


def number(value: Decimal) -> float:
    """``value`` as the JSON number whose text is exactly its digits (see the module docstring)."""
    if not value.is_finite():
        raise MappingError("an amount or quantity is not a finite number")
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise MappingError("an amount or quantity has more digits than a JSON number can carry exactly here")
    return as_float


def decimal(value: object) -> Decimal:
    """A number of Zuora's answer (parsed with ``parse_float=Decimal``) as a Decimal; 0 if absent."""
    if value is None or isinstance(value, bool):
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"Zuora answered {type(value).__name__} where a number belongs") from None


def period_days(period: str) -> tuple[date, date]:
    """The first and last day of a ``YYYY-MM`` billing period."""
    try:
        first = datetime.strptime(period, "%Y-%m").date()
    except ValueError:
        raise MappingError(f"the period {period!r} is not a month (YYYY-MM)") from None
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first, last


# -- invoices ---------------------------------------------------------------------------------


def invoice_body(
    request: InvoiceRequest,
    account_id: str,
    invoice_date: date,
    *,
    key_field: str = INVOICE_KEY_FIELD,
    tax_charge_name: str = TAX_CHARGE_NAME,
    send_currency: bool = False,
) -> Body:
    """The standalone invoice, in Draft, with one item per line and the tax as an item."""
    start, end = period_days(request.period)
    purchase_order = request.purchase_order or None
    items = [line_item(line, request.currency, start, end, purchase_order) for line in request.lines]
    if request.tax is not None and request.tax.amount:
        items.append(tax_item(request.tax, request.currency, start, end, tax_charge_name, purchase_order))
    if not items:
        raise MappingError("an invoice needs at least one line")
    body: Body = {
        "accountId": account_id,
        "invoiceDate": invoice_date.isoformat(),
        "status": DRAFT,
        "comments": comments(request),
        key_field: request.invoice_key,
        "invoiceItems": items,
    }
    if send_currency:
        body["currency"] = request.currency
    return body


def line_item(line: InvoiceLine, currency: str, start: date, end: date, purchase_order: str | None) -> Body:
    _in(line.amount, currency)
    _in(line.unit_price, currency)
    text = line.description.strip() or "Services"
    item: Body = {
        "chargeName": _fit(text, CHARGE_NAME_MAX),
        "description": _fit(text, DESCRIPTION_MAX),
        "quantity": number(line.quantity),
        "unitPrice": number(line.unit_price.amount),
        "amount": number(line.amount.amount),
        "serviceStartDate": start.isoformat(),
        "serviceEndDate": end.isoformat(),
    }
    if purchase_order:
        item["purchaseOrderNumber"] = purchase_order
    return item


def tax_item(
    tax: Money, currency: str, start: date, end: date, charge_name: str, purchase_order: str | None
) -> Body:
    _in(tax, currency)
    item: Body = {
        "chargeName": _fit(charge_name, CHARGE_NAME_MAX),
        "description": _fit(charge_name, DESCRIPTION_MAX),
        "quantity": 1,
        "unitPrice": number(tax.amount),
        "amount": number(tax.amount),
        "serviceStartDate": start.isoformat(),
        "serviceEndDate": end.isoformat(),
    }
    if purchase_order:
        item["purchaseOrderNumber"] = purchase_order
    return item


def comments(request: InvoiceRequest) -> str:
    text = f"{request.project_code} {request.period}"
    if request.purchase_order:
        text += f", PO {request.purchase_order}"
    return _fit(text, COMMENTS_MAX)


def key_filter(key_field: str, invoice_key: str) -> str:
    """Object Query's ``filter[]`` clause for the invoice carrying ``invoice_key``."""
    return f"{key_field}.EQ:{invoice_key}"


def drafted(
    invoice: Mapping[str, Any], items: Sequence[Any], key_field: str = INVOICE_KEY_FIELD
) -> DraftedInvoice:
    """An invoice as pshub records it: its status in lower case (``draft``, ``posted``, ``canceled``)."""
    currency = str(invoice.get("currency") or "")
    return DraftedInvoice(
        native_id=str(invoice["id"]),
        invoice_key=str(invoice.get(key_field) or ""),
        status=str(invoice.get("status") or "").lower(),
        total=Money(amount=decimal(invoice.get("amount")), currency=currency),
        line_count=len(items),
    )


def post_body(native_id: str) -> Body:
    return {"invoices": [{"id": native_id}]}


# -- credit memos -------------------------------------------------------------------------------


def credit_items(items: Sequence[Mapping[str, Any]], amount: Money) -> list[Body]:
    """``amount`` spread over the invoice's items in their order, each credited at most in full."""
    if amount.amount <= 0:
        raise MappingError("a credit memo needs an amount above zero")
    remaining = amount.amount
    credited: list[Body] = []
    for item in items:
        charge = decimal(item.get("chargeAmount"))
        if remaining <= 0:
            break
        if charge <= 0:
            continue
        part = min(charge, remaining)
        entry: Body = {
            "invoiceItemId": str(item["id"]),
            "amount": number(part),
            "skuName": str(item.get("chargeName") or ""),
        }
        for field in ("serviceStartDate", "serviceEndDate"):
            if item.get(field):
                entry[field] = str(item[field])
        credited.append(entry)
        remaining -= part
    if remaining > 0:
        raise MappingError("the credit is more than the invoice's items add up to")
    return credited


def memo_body(items: list[Body], reason: str, reason_code: str | None = None) -> Body:
    body: Body = {"items": items, "comment": _fit(reason.strip() or "Credit", COMMENTS_MAX)}
    if reason_code:
        body["reasonCode"] = reason_code
    return body


# -- helpers ----------------------------------------------------------------------------------


def _in(money: Money, currency: str) -> None:
    if money.currency != currency:
        raise MappingError(f"a line is in {money.currency}, the invoice in {currency}")


def _fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, trailing space dropped."""
    return text if len(text) <= limit else text[:limit].rstrip()


# -- the billing role's customer -------------------------------------------------------------------
ACCOUNT_NAME_MAX = 255
CONTACT = ("Accounts", "Payable")  # Zuora requires a bill-to person; pshub knows the firm, not the person


def account_body(client: Client, number: str, *, currency: str, bill_cycle_day: int = 1) -> Body:
    """Create an account (``POST /v1/accounts``,
    https://developer.zuora.com/v1-api-reference/api/operation/POST_Account): the number pshub
    derives from the client id, the client's legal name, ``crmId`` (pshub's client id), the
    currency, bill cycle day and a bill-to contact at the client's billing address. No payment
    method and ``autoPay: false``: finance collects as the firm does."""
    name = _account_name(client)
    contact: Body = {"firstName": CONTACT[0], "lastName": CONTACT[1]}
    address = client.billing_address
    if address is not None:
        contact |= {
            k: v
            for k, v in {
                "address1": address.line1,
                "address2": address.line2,
                "city": address.city,
                "state": address.region,
                "zipCode": address.postal_code,
                "country": address.country,
            }.items()
            if v
        }
    return {
        "accountNumber": number,
        "name": name,
        "crmId": client.id,
        "currency": currency,
        "billCycleDay": bill_cycle_day,
        "autoPay": False,
        "billToContact": contact,
        "soldToContact": dict(contact),
    }


def account_changes(held: Mapping[str, Any], client: Client) -> Body:
    """What ``PUT /v1/accounts/{number}`` must send to make a held account the client's."""
    basic = held.get("basicInfo") or {}
    wanted = {"name": _account_name(client), "crmId": client.id}
    return {k: v for k, v in wanted.items() if basic.get(k) != v}


def _account_name(client: Client) -> str:
    name = " ".join((client.legal_name or client.name).split())
    if not name:
        raise MappingError(f"client {client.id} has no name for its Zuora account")
    return name[:ACCOUNT_NAME_MAX]

"""Zuora Billing's v1 REST API, as pshub's invoicing connector uses it, served on 127.0.0.1.

Operations (https://developer.zuora.com/v1-api-reference/): Create an OAuth token
(``POST /oauth/token``), Retrieve an account (``GET /v1/accounts/{account-key}``), Create a
standalone invoice (``POST /v1/invoices``), Retrieve an invoice (``GET /v1/invoices/{key}``),
List all items of an invoice (``GET /v1/invoices/{key}/items``), Post invoices (``POST
/v1/invoices/bulk-post``), Create a credit memo from an invoice (``POST /v1/invoices/{key}/
creditmemos``) and the invoices' Object Query (``GET /object-query/invoices``: ``filter[]``
clauses ``field.EQ:value``, matched case-insensitively as Zuora does, ``expand[]=invoiceitems``).

What it enforces, the way Zuora answers it:

- Auth: the client credentials grant (form ``grant_type``, ``client_id``, ``client_secret``)
  answers a bearer token valid 3599 s; a request without a valid token is a 401 with reason
  ``90000011`` (``expire_tokens`` expires every token issued).
- Failures come as HTTP 200 ``{"success": false, "reasons": [{"code", "message"}]}`` whose
  code ends in Zuora's category (20 invalid value, 21 unknown field, 22 missing field, 30
  business rule, 40 not found); the six-digit resource part of each code is illustrative.
- Idempotency: a POST's ``Idempotency-Key`` (under 255 characters) saves the first answer,
  success or failure, for 24 hours (the fake's clock); the same key with the same body replays
  it, with another body (or endpoint) it is a 422. ``refuse_next`` makes an answer fail inside
  that layer (saved under its key, as Zuora saves it).
- Business rules: an invoice needs an Active account; a custom field must be defined (by
  default the connection's ``invoice_key_field``, else ``pshubInvoiceKey__c``); ``currency``
  exists only with the connection option ``multiple_currencies=true``; item amounts take at
  most the currency's decimals; an invoice totals its items exactly (Decimal sums); only a
  Draft is posted; a credit memo needs a Posted invoice and credits each item at most what is
  left of it; memos are created in Draft.
- Throttling: 429 with ``Retry-After`` past the options ``rate_limit_per_s`` /
  ``rate_limit_burst`` (default 10/s, burst 20). Outages are 503.

Numbers are read and written as decimal text (``parse_float=Decimal``, ``_json``), never
through binary floats, so what the fake holds is exactly what was sent. Messages are
illustrative where the connector only shows them to a person.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pshub.canonical.currencies import CURRENCIES
from pshub.connections import Connection, ConnectionConfigError
from pshub_local.fakes.server import FakeApi, FakeRequest, FakeResponse, VendorFault, route

Json = dict[str, Any]
Handler = Callable[["ZuoraFake", FakeRequest, "re.Match[str]"], FakeResponse]

TOKEN_LIFETIME_S = 3599
KEY_RETENTION_S = 86_400  # idempotency keys are removed 24 hours after they are set
DEFAULT_INVOICE_KEY_FIELD = "pshubInvoiceKey__c"
REASON_CODES = frozenset({"Standard Adjustment", "Correcting invoice error", "Write-off"})
_KEY = r"(?P<key>[A-Za-z0-9_.@+-]+)"


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_INVOICE_FIELDS = _names(
    "accountId accountNumber autoPay billToContact billToContactId comments currency customRates dueDate "
    "invoiceDate invoiceItems invoiceNumber paymentTerm sequenceSet soldToContact soldToContactId "
    "soldToSameAsBillTo status templateId transferredToAccounting"
)
_ITEM_FIELDS = _names(
    "description accountingCode adjustmentLiabilityAccountingCode adjustmentRevenueAccountingCode amount "
    "bookingReference chargeDate chargeName contractAssetAccountingCode contractLiabilityAccountingCode "
    "contractRecognizedRevenueAccountingCode deferredRevenueAccountingCode discountItems "
    "excludeItemBillingFromRevenueAccounting itemType productRatePlanChargeId purchaseOrderNumber quantity "
    "recognizedRevenueAccountingCode revRecCode revRecTriggerCondition revenueRecognitionRuleName "
    "serviceEndDate serviceStartDate sku taxCode taxItems taxMode unbilledReceivablesAccountingCode "
    "unitPrice uom"
)
_MEMO_FIELDS = _names(
    "autoApplyToInvoiceUponPosting autoPost comment effectiveDate excludeFromAutoApplyRules invoiceId items "
    "reasonCode taxAutoCalculation"
)
_MEMO_ITEM_FIELDS = _names(
    "description amount comment financeInformation invoiceItemId quantity serviceEndDate serviceStartDate "
    "skuName taxItems taxMode unitOfMeasure"
)
_QUERY_FILTERABLE = frozenset({"id", "invoicenumber", "accountid", "status", "currency", "invoicedate"})


def credentials_for_local(connection: Connection) -> dict[str, str]:
    """What the local runtime stores as this connection's API secret: an OAuth client only this
    fake accepts."""
    digest = hashlib.sha256(f"pshub-local:{connection.id}".encode()).hexdigest()
    return {"client_id": f"localdemo-{digest[:16]}", "client_secret": f"localdemo-{digest[16:48]}"}


def _failure(category: str, message: str, resource: str = "500000", status: int = 200) -> VendorFault:
    """Zuora's ``success: false`` answer: an eight-digit code, resource code then category."""
    return VendorFault(
        status,
        {
            "success": False,
            "processId": uuid.uuid4().hex[:16].upper(),
            "reasons": [{"code": f"{resource}{category}", "message": message}],
        },
    )


def _zuora(operation: str, *, keyed: bool = False) -> Callable[[Handler], Handler]:
    """Wrap a handler: refusals queued by ``refuse_next``, and (``keyed``) Zuora's idempotency layer."""

    def wrap(handler: Handler) -> Handler:
        def wrapper(fake: ZuoraFake, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
            def work() -> FakeResponse:
                return fake.answered(operation, lambda: handler(fake, request, match))

            return fake.idempotently(request, work) if keyed else work()

        wrapper.__name__ = handler.__name__
        wrapper.__doc__ = handler.__doc__
        return wrapper

    return wrap


@dataclass(frozen=True)
class _Saved:
    fingerprint: str
    response: FakeResponse
    saved_at: float


class ZuoraFake(FakeApi):
    platform = "zuora"

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        options = connection.options
        super().__init__(
            rate_per_s=_positive(connection, "rate_limit_per_s", options.get("rate_limit_per_s", "10")),
            burst=int(_positive(connection, "rate_limit_burst", options.get("rate_limit_burst", "20"))),
        )
        self.connection = connection
        accepted = credentials or credentials_for_local(connection)
        self._clients = {accepted["client_id"]: accepted["client_secret"]}
        self._clock = clock
        self._access: dict[str, float] = {}  # access token -> expiry (epoch s)
        self._issued = 0
        self._idempotency: dict[str, _Saved] = {}
        self._refusals: dict[str, deque[tuple[str, str]]] = {}
        self._numbers: dict[str, int] = {}
        self.multiple_currencies = (options.get("multiple_currencies") or "false").lower() == "true"
        self.custom_fields = {options.get("invoice_key_field") or DEFAULT_INVOICE_KEY_FIELD}
        self.accounts: dict[str, Json] = {}  # id -> account
        self.invoices: dict[str, Json] = {}  # id -> invoice (as Retrieve an invoice answers it)
        self.invoice_items: dict[str, list[Json]] = {}  # invoice id -> its items
        self.credit_memos: dict[str, Json] = {}
        self._credited: dict[str, Decimal] = {}  # invoice item id -> credited so far

    # -- controls ----------------------------------------------------------------------------
    def seed_account(
        self, number: str, *, currency: str = "USD", status: str = "Active", name: str = "Client account"
    ) -> str:
        """An account with ``number`` (pshub's convention: a prefix and the client id); its id."""
        with self.lock:
            native_id = uuid.uuid4().hex
            self.accounts[native_id] = {
                "basicInfo": {
                    "id": native_id,
                    "accountNumber": number,
                    "name": name,
                    "status": status,
                    "batch": "Batch1",
                    "crmId": None,
                },
                "billingAndPayment": {"currency": currency, "paymentTerm": "Net 30", "billCycleDay": 1},
                "metrics": {"balance": Decimal(0), "totalInvoiceBalance": Decimal(0)},
                "success": True,
            }
            return native_id

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (expired)."""
        with self.lock:
            self._access = dict.fromkeys(self._access, 0.0)

    def tokens_issued(self) -> int:
        with self.lock:
            return self._issued

    def refuse_next(self, operation: str, code: str, message: str, times: int = 1) -> None:
        """The next ``times`` requests of ``operation`` answer HTTP 200 ``success: false`` with
        ``code`` and ``message``, decided inside the idempotency layer (saved under their key)."""
        if operation not in set(self.operations()):
            raise ValueError(f"zuora fake has no operation {operation!r}")
        with self.lock:
            self._refusals.setdefault(operation, deque()).extend([(code, message)] * times)

    def invoice_by_key(self, invoice_key: str) -> list[Json]:
        """The invoices whose key field holds exactly ``invoice_key``."""
        with self.lock:
            return [
                i for i in self.invoices.values() if any(i.get(f) == invoice_key for f in self.custom_fields)
            ]

    # -- vendor specifics ----------------------------------------------------------------------
    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        if request.path == "/oauth/token":
            return None
        header = request.header("authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if self._access.get(token, 0.0) > self._clock():
            return None
        return _failure("11", "Authentication error", "900000", status=401).response

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        wait = max(1, round(retry_after_s + 0.5))
        answer = _failure("70", "The request exceeded the rate limit; retry later.", "900000", 429).response
        return FakeResponse(answer.status, answer.body, {"Retry-After": str(wait)})

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(503, {"message": "Service Unavailable"})

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return _failure(
            "40", f"No HTTP resource found for {request.method} {request.path}", status=404
        ).response

    def _answer(self, request: FakeRequest, found: Any) -> FakeResponse:
        """Every answer carries a ``Zuora-Request-Id``."""
        answer = super()._answer(request, found)
        return FakeResponse(
            answer.status, answer.body, {**answer.headers, "Zuora-Request-Id": str(uuid.uuid4())}
        )

    def answered(self, operation: str, work: Callable[[], FakeResponse]) -> FakeResponse:
        """``work``'s answer (a ``VendorFault`` as its response), or a refusal ``refuse_next`` queued."""
        queue = self._refusals.get(operation)
        if queue:
            code, message = queue.popleft()
            return _failure(code[-2:], message, code[:-2]).response
        try:
            return work()
        except VendorFault as fault:
            return fault.response

    def idempotently(self, request: FakeRequest, work: Callable[[], FakeResponse]) -> FakeResponse:
        key = request.header("idempotency-key")
        if not key:
            return work()
        if len(key) >= 255:
            return _failure(
                "20", "The idempotency key must be less than 255 characters.", status=400
            ).response
        now = self._clock()
        self._idempotency = {k: s for k, s in self._idempotency.items() if now - s.saved_at < KEY_RETENTION_S}
        fingerprint = _fingerprint(request)
        saved = self._idempotency.get(key)
        if saved is not None:
            if saved.fingerprint != fingerprint:
                return _failure(
                    "20", "The idempotency key was used with a different request.", status=422
                ).response
            return FakeResponse(
                saved.response.status, copy.deepcopy(saved.response.body), dict(saved.response.headers)
            )
        response = work()  # saved whatever it is, as Zuora saves failures too
        self._idempotency[key] = _Saved(fingerprint, response, now)
        return response

    def records(self) -> dict[str, Any]:
        """Accounts, invoices and credit memos (ids, numbers, keys, states, totals), for the printout."""
        return {
            "accounts": [
                {
                    "native_id": a["basicInfo"]["id"],
                    "account_number": a["basicInfo"]["accountNumber"],
                    "currency": a["billingAndPayment"]["currency"],
                    "status": a["basicInfo"]["status"],
                }
                for a in self.accounts.values()
            ],
            "invoices": [
                {
                    "native_id": i["id"],
                    "number": i["invoiceNumber"],
                    "invoice_key": next((i[f] for f in sorted(self.custom_fields) if i.get(f)), None),
                    "account": i["accountId"],
                    "status": i["status"],
                    "currency": i["currency"],
                    "total": str(i["amount"]),
                    "lines": [
                        {"charge_name": item["chargeName"], "amount": str(item["chargeAmount"])}
                        for item in self.invoice_items[i["id"]]
                    ],
                }
                for i in self.invoices.values()
            ],
            "credit_memos": [
                {
                    "native_id": c["id"],
                    "number": c["number"],
                    "invoice": c["referredInvoiceId"],
                    "amount": str(c["amount"]),
                    "status": c["status"],
                    "reason_code": c["reasonCode"],
                }
                for c in self.credit_memos.values()
            ],
        }

    # -- OAuth -----------------------------------------------------------------------------------
    @route("POST", r"/oauth/token", "token")
    def token(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return FakeResponse(
                400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}
            )
        secret = self._clients.get(form.get("client_id", ""))
        if secret is None or secret != form.get("client_secret"):
            return FakeResponse(
                401, {"error": "invalid_client", "error_description": "Bad client credentials"}
            )
        token = uuid.uuid4().hex
        self._access[token] = self._clock() + TOKEN_LIFETIME_S
        self._issued += 1
        return FakeResponse(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "scope": "entity.1a2b3c4d user.5e6f7a8b platform.write service.invoice.write",
                "jti": uuid.uuid4().hex,
            },
        )

    # -- accounts ------------------------------------------------------------------------------
    @route("GET", rf"/v1/accounts/{_KEY}", "retrieve_account")
    @_zuora("retrieve_account")
    def retrieve_account(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return _ok(self._account(match["key"]))

    @route("POST", r"/v1/accounts", "create_account")
    @_zuora("create_account", keyed=True)
    def create_account(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        body = _body(request)
        for field in ("name", "currency", "billToContact"):
            if not body.get(field):
                raise _failure("22", f"'{field}' may not be null", "500001")
        contact = body["billToContact"]
        if not isinstance(contact, dict) or not contact.get("firstName") or not contact.get("lastName"):
            raise _failure(
                "22", "'billToContact.firstName' and 'billToContact.lastName' may not be null", "500001"
            )
        if body["currency"] not in CURRENCIES:
            raise _failure("20", f"'{body['currency']}' is not an activated currency.", "500001")
        day = body.get("billCycleDay", 1)
        if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 31:
            raise _failure("20", "'billCycleDay' should be between 0 and 31", "500001")
        number = body.get("accountNumber") or self._next_number("A")
        if any(a["basicInfo"]["accountNumber"] == number for a in self.accounts.values()):
            raise _failure("30", f"The account number {number} is invalid: it is already in use.", "500001")
        native_id = self.seed_account(str(number), currency=str(body["currency"]), name=str(body["name"]))
        self.accounts[native_id]["basicInfo"]["crmId"] = body.get("crmId")
        self.accounts[native_id]["billToContact"] = dict(contact)
        return _ok({"accountId": native_id, "accountNumber": number, "billToContactId": uuid.uuid4().hex})

    @route("PUT", rf"/v1/accounts/{_KEY}", "update_account")
    @_zuora("update_account")
    def update_account(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        account = self._account(match["key"])
        body = _body(request)
        unknown = set(body) - {"name", "crmId", "notes", "batch"}
        if unknown:
            raise _failure("90", f"Unknown field(s): {', '.join(sorted(unknown))}", "500001")
        account["basicInfo"].update({k: v for k, v in body.items() if k in ("name", "crmId")})
        return _ok({})

    def _account(self, key: str) -> Json:
        account = self.accounts.get(key) or next(
            (a for a in self.accounts.values() if a["basicInfo"]["accountNumber"] == key), None
        )
        if account is None:
            raise _failure("40", f"Cannot find entity by key: '{key}'.")
        return account

    # -- invoices --------------------------------------------------------------------------------
    @route("POST", r"/v1/invoices", "create_invoice")
    @_zuora("create_invoice", keyed=True)
    def create_invoice(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        body = _body(request)
        self._only(body, _INVOICE_FIELDS, "invoice")
        if "currency" in body and not self.multiple_currencies:
            raise _failure(
                "21", "Field 'currency' is available only with the Multiple Currencies feature.", "501100"
            )
        account = self._invoice_account(body)
        basic, billing = account["basicInfo"], account["billingAndPayment"]
        currency = str(body.get("currency") or billing["currency"])
        if currency not in CURRENCIES:
            raise _failure("20", f"'{currency}' is not an activated currency.", "501100")
        invoice_date = _date(body, "invoiceDate", required=True)
        assert invoice_date is not None
        status = body.get("status", "Draft")
        if status not in {"Draft", "Posted"}:
            raise _failure("20", "'status' value should be one of: Draft, Posted", "501102")
        raw_items = body.get("invoiceItems")
        if not isinstance(raw_items, list) or not raw_items:
            raise _failure("22", "'invoiceItems' may not be empty", "501103")
        if len(raw_items) > 1000:
            raise _failure("20", "An invoice takes at most 1,000 invoice items.", "501103")
        native_id = uuid.uuid4().hex
        items = [self._item(raw, index, currency, native_id) for index, raw in enumerate(raw_items)]
        amount = sum((item["chargeAmount"] for item in items), Decimal(0))
        invoice: Json = {
            "id": native_id,
            "invoiceNumber": self._next_number("INV"),
            "accountId": basic["id"],
            "accountNumber": basic["accountNumber"],
            "invoiceDate": invoice_date.isoformat(),
            "dueDate": (invoice_date + timedelta(days=30)).isoformat(),
            "currency": currency,
            "status": status,
            "amount": amount,
            "amountWithoutTax": amount,
            "taxAmount": Decimal(0),
            "balance": amount,
            "creditMemoAmount": Decimal(0),
            "comments": body.get("comments"),
            "source": "API",
            "sourceType": "Standalone",
            "postedDate": self._today().isoformat() if status == "Posted" else None,
            "createdDate": self._timestamp(),
            "updatedDate": self._timestamp(),
        }
        for field in self.custom_fields:
            invoice[field] = body.get(field)
        self.invoices[native_id] = invoice
        self.invoice_items[native_id] = items
        return _ok(invoice)

    @route("GET", rf"/v1/invoices/{_KEY}", "retrieve_invoice")
    @_zuora("retrieve_invoice")
    def retrieve_invoice(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return _ok(self._invoice(match["key"]))

    @route("GET", rf"/v1/invoices/{_KEY}/items", "list_invoice_items")
    @_zuora("list_invoice_items")
    def list_invoice_items(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        invoice = self._invoice(match["key"])
        return _ok({"invoiceItems": self.invoice_items[invoice["id"]]})

    @route("POST", r"/v1/invoices/bulk-post", "post_invoices")
    @_zuora("post_invoices", keyed=True)
    def post_invoices(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        body = _body(request)
        self._only(body, frozenset({"invoices"}), "request")
        entries = body.get("invoices")
        if not isinstance(entries, list) or not entries:
            raise _failure("22", "'invoices' may not be empty", "501200")
        if len(entries) > 50:
            raise _failure("20", "You can post at most 50 invoices in one request.", "501200")
        return _ok({"invoices": [self._post_one(entry) for entry in entries]})

    def _post_one(self, entry: object) -> Json:
        native_id = str(entry.get("id") or "") if isinstance(entry, dict) else ""
        invoice = self.invoices.get(native_id)
        if invoice is None:
            return {
                "id": native_id,
                "success": False,
                "reasons": [_reason("40", f"Cannot find entity by key: '{native_id}'.")],
            }
        if invoice["status"] != "Draft":
            return {
                "id": native_id,
                "success": False,
                "reasons": [
                    _reason(
                        "30",
                        f"Only a draft invoice can be posted; invoice {invoice['invoiceNumber']} is {invoice['status']}.",
                    )
                ],
            }
        invoice.update(status="Posted", postedDate=self._today().isoformat(), updatedDate=self._timestamp())
        return {"id": native_id, "success": True}

    def _invoice(self, key: str) -> Json:
        invoice = self.invoices.get(key) or next(
            (i for i in self.invoices.values() if i["invoiceNumber"] == key), None
        )
        if invoice is None:
            raise _failure("40", f"Cannot find entity by key: '{key}'.")
        return invoice

    def _invoice_account(self, body: Json) -> Json:
        key = body.get("accountId") or body.get("accountNumber")
        if not key:
            raise _failure("22", "You must specify either accountId or accountNumber.", "501101")
        account = self._account(str(key))
        if body.get("accountNumber") and account["basicInfo"]["accountNumber"] != body["accountNumber"]:
            raise _failure("20", "accountId and accountNumber refer to different accounts.", "501101")
        if account["basicInfo"]["status"] != "Active":
            raise _failure(
                "30", f"The account {account['basicInfo']['accountNumber']} is not active.", "501101"
            )
        return account

    def _item(self, raw: object, index: int, currency: str, invoice_id: str) -> Json:
        if not isinstance(raw, dict):
            raise _failure("20", f"invoiceItems[{index}] is not an object", "501103")
        self._only(raw, _ITEM_FIELDS, f"invoiceItems[{index}]")
        amount = _amount(raw, "amount", currency, f"invoiceItems[{index}]", required=True)
        assert amount is not None
        start = _date(raw, "serviceStartDate", required=True)
        end = _date(raw, "serviceEndDate")
        if start and end and end < start:
            raise _failure(
                "20", f"invoiceItems[{index}]: serviceEndDate is before serviceStartDate", "501104"
            )
        if not raw.get("chargeName") and not raw.get("productRatePlanChargeId"):
            raise _failure(
                "22",
                f"invoiceItems[{index}]: chargeName is required without productRatePlanChargeId",
                "501105",
            )
        return {
            "id": uuid.uuid4().hex,
            "invoiceId": invoice_id,
            "chargeName": raw.get("chargeName"),
            "description": raw.get("description"),
            "chargeAmount": amount,
            "taxAmount": Decimal(0),
            "quantity": _number(raw, "quantity", f"invoiceItems[{index}]") or Decimal(1),
            "unitPrice": _number(raw, "unitPrice", f"invoiceItems[{index}]"),
            "serviceStartDate": start.isoformat() if start else None,
            "serviceEndDate": last.isoformat() if (last := end or start) else None,
            "purchaseOrderNumber": raw.get("purchaseOrderNumber"),
            "processingType": "Charge",
            "sku": f"SKU-{index + 1:05d}",
            "unitOfMeasure": raw.get("uom"),
        }

    # -- credit memos --------------------------------------------------------------------------
    @route("POST", rf"/v1/invoices/{_KEY}/creditmemos", "create_credit_memo")
    @_zuora("create_credit_memo", keyed=True)
    def create_credit_memo(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        invoice = self._invoice(match["key"])
        body = _body(request)
        self._only(body, _MEMO_FIELDS, "credit memo")
        if body.get("invoiceId") and body["invoiceId"] != invoice["id"]:
            raise _failure("20", "invoiceId differs from the invoice in the path.", "511100")
        if invoice["status"] != "Posted":
            raise _failure("30", "A credit memo can only be created from a posted invoice.", "511100")
        reason_code = body.get("reasonCode") or "Standard Adjustment"
        if reason_code not in REASON_CODES:
            raise _failure("20", f"The reason code '{reason_code}' does not exist.", "511101")
        raw_items = body.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            raise _failure("22", "'items' may not be empty", "511102")
        by_id = {item["id"]: item for item in self.invoice_items[invoice["id"]]}
        credits = [
            self._memo_item(raw, index, by_id, invoice["currency"]) for index, raw in enumerate(raw_items)
        ]
        for item_id, amount in credits:
            self._credited[item_id] = self._credited.get(item_id, Decimal(0)) + amount
        memo: Json = {
            "id": uuid.uuid4().hex,
            "number": self._next_number("CM"),
            "accountId": invoice["accountId"],
            "accountNumber": invoice["accountNumber"],
            "amount": sum((amount for _, amount in credits), Decimal(0)),
            "currency": invoice["currency"],
            "status": "Draft",
            "reasonCode": reason_code,
            "comment": body.get("comment"),
            "referredInvoiceId": invoice["id"],
            "sourceType": "Invoice",
            "creditMemoDate": self._today().isoformat(),
            "createdDate": self._timestamp(),
        }
        self.credit_memos[memo["id"]] = memo
        return _ok(memo)

    def _memo_item(
        self, raw: object, index: int, items: Mapping[str, Json], currency: str
    ) -> tuple[str, Decimal]:
        where = f"items[{index}]"
        if not isinstance(raw, dict):
            raise _failure("20", f"{where} is not an object", "511102")
        self._only(raw, _MEMO_ITEM_FIELDS, where)
        item = items.get(str(raw.get("invoiceItemId") or ""))
        if item is None:
            raise _failure(
                "22" if not raw.get("invoiceItemId") else "40",
                f"{where}: no such invoice item on the invoice",
                "511103",
            )
        if not raw.get("skuName"):
            raise _failure("22", f"{where}: skuName is required", "511104")
        amount = _amount(raw, "amount", currency, where, required=True)
        assert amount is not None
        left = item["chargeAmount"] - self._credited.get(item["id"], Decimal(0))
        if amount <= 0 or amount > left:
            raise _failure(
                "30",
                f"{where}: the amount must be above zero and at most what is left to credit on the item",
                "511105",
            )
        return item["id"], amount

    # -- Object Query --------------------------------------------------------------------------
    @route("GET", r"/object-query/invoices", "query_invoices")
    @_zuora("query_invoices")
    def query_invoices(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        clauses = [value for name, value in request.query if name == "filter[]"]
        expand = {v.lower() for name, value in request.query if name == "expand[]" for v in value.split(",")}
        found = [i for i in self.invoices.values() if all(self._matches(i, clause) for clause in clauses)]
        data = []
        for invoice in sorted(found, key=lambda i: (i["createdDate"], i["id"])):
            record = dict(invoice)
            if "invoiceitems" in expand:
                record["invoiceItems"] = self.invoice_items[invoice["id"]]
            data.append(record)
        return _ok({"data": data}, v1=False)

    def _matches(self, invoice: Json, clause: str) -> bool:
        field, _, rest = clause.partition(".")
        operator, _, value = rest.partition(":")
        filterable = _QUERY_FILTERABLE | {f.lower() for f in self.custom_fields}
        if field.lower() not in filterable:
            raise _failure("20", f"'{field}' is not a filterable field of invoices", status=400)
        if operator != "EQ":
            raise _failure("20", f"this fake supports the EQ operator only, not {operator!r}", status=400)
        held = next((v for k, v in invoice.items() if k.lower() == field.lower()), None)
        return held is not None and str(held).lower() == value.lower()  # case-insensitive, as Zuora's

    # -- helpers ---------------------------------------------------------------------------------
    def _only(self, body: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
        for name in body:
            if name.endswith("__c") and what == "invoice":
                if name not in self.custom_fields:
                    raise _failure("21", f"'{name}' is not a custom field of Invoice.", "501100")
            elif name not in allowed:
                raise _failure("21", f"Unknown field '{name}' in {what}.", "501100")

    def _next_number(self, prefix: str) -> str:
        self._numbers[prefix] = self._numbers.get(prefix, 0) + 1
        return f"{prefix}{self._numbers[prefix]:08d}"

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    def _timestamp(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- bodies ------------------------------------------------------------------------------------
_MARK = "\x00"
_MARKED = re.compile(r'"\\u0000(-?[0-9.]+)\\u0000"')


def _json(document: Any) -> bytes:
    """JSON with Decimals as the numbers they are (the standard library would refuse them)."""

    def mark(value: object) -> str:
        if isinstance(value, Decimal):
            return f"{_MARK}{value:f}{_MARK}"
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(document, default=mark, separators=(",", ":"), ensure_ascii=False)
    return _MARKED.sub(lambda found: found.group(1), text).encode()


def _ok(document: Json, *, v1: bool = True) -> FakeResponse:
    """A 200 answer; ``success: true`` added where Zuora's v1 bodies carry it (not Object Query's)."""
    return FakeResponse(200, _json({**document, "success": True} if v1 else document))


def _body(request: FakeRequest) -> Json:
    try:
        document = json.loads(request.body or b"{}", parse_float=Decimal)
    except ValueError:
        raise _failure("90", "Malformed request body: the JSON is not valid.", status=400) from None
    if not isinstance(document, dict):
        raise _failure("90", "The request body is not a JSON object.", status=400)
    return document


def _fingerprint(request: FakeRequest) -> str:
    try:
        body: Any = json.loads(request.body or b"null", parse_float=Decimal)
        canonical = _json(body).decode() if body is not None else ""
    except ValueError:
        canonical = request.body.decode("utf-8", "replace")
    return hashlib.sha256(f"{request.method} {request.path} {canonical}".encode()).hexdigest()


def _reason(category: str, message: str, resource: str = "500000") -> Json:
    return {"code": f"{resource}{category}", "message": message}


def _number(body: Mapping[str, Any], name: str, where: str) -> Decimal | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _failure("20", f"{where}: '{name}' must be a number", "501106")
    return Decimal(value)


def _amount(
    body: Mapping[str, Any], name: str, currency: str, where: str, *, required: bool = False
) -> Decimal | None:
    value = _number(body, name, where)
    if value is None:
        if required:
            raise _failure("22", f"{where}: '{name}' is required", "501106")
        return None
    decimals = CURRENCIES[currency].minor_unit
    if not value.is_finite() or value != value.quantize(Decimal(1).scaleb(-decimals)):
        raise _failure(
            "20", f"{where}: '{name}' has more decimal places than {currency} supports ({decimals})", "501106"
        )
    return value


def _date(body: Mapping[str, Any], name: str, *, required: bool = False) -> date | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _failure("22", f"'{name}' is required", "501107")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _failure("20", f"'{name}' must be a date in yyyy-mm-dd format", "501107") from None


def _positive(connection: Connection, name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConnectionConfigError(f"connection {connection.id!r} option {name}: not a number") from None
    if value <= 0:
        raise ConnectionConfigError(f"connection {connection.id!r} option {name}: must be positive")
    return value

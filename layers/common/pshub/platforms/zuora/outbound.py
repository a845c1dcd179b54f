"""Zuora Billing over its v1 REST API: the billing role (``BillingConnector``: the client's
account; time-and-materials and fixed-fee projects need no subscription) and its invoicing
(``InvoiceTarget``).

Credentials (the connection's ``api`` secret, a JSON object): ``client_id`` and
``client_secret`` of an OAuth client of a Zuora API user, exchanged at ``POST
{base_url}/oauth/token`` (client credentials, https://developer.zuora.com/v1-api-reference/api/
operation/createToken) for a bearer token of about an hour: the kit's shared ``oauth2`` tokens,
as the Salesforce connector's client-credentials grant, fetched once for every invocation and
refreshed on expiry or a 401.

Options (besides the HTTP kit's timeouts and attempts, ``pshub.connectors.http.settings``):

- ``base_url``: the tenant's REST host, without a path (default ``https://rest.zuora.com``,
  US production; sandboxes and the other data centres have hosts of their own).
- ``rate_per_s`` / ``burst``: default 5/s, burst 5. Zuora limits each tenant per minute, hour
  and day (https://developer.zuora.com/docs/guides/rate-limits); the API figure is not
  published legibly, so this is a conservative guess: declare the tenant's.
- ``account_number_prefix`` (default empty): a client's Zuora account is the one whose
  account number is this prefix and pshub's client id (``client_1`` with ``PSH-``:
  ``PSH-client_1``), read by ``GET /v1/accounts/{account number}``.
- ``invoice_key_field`` (default ``pshubInvoiceKey__c``): the Invoice custom field (text,
  filterable) holding pshub's invoice key. The tenant defines it (Object Manager).
- ``tax_charge_name`` (default ``Tax``): the charge name of the tax item.
- ``multiple_currencies`` (default ``false``): whether the tenant has Multiple Currencies.
  Only then is ``currency`` sent (Zuora has the field only then) and may an invoice be in
  another currency than its account.
- ``credit_reason_code``: a credit memo reason code defined in the tenant (default: Zuora's).
- ``zuora_version``: sent as ``Zuora-Version`` (the API's minor version), when set.

Errors. Zuora answers many failures HTTP 200 with ``{"success": false, "reasons": [{"code",
"message"}]}`` (https://developer.zuora.com/docs/guides/error-handling.md), so every body is
checked. The last two digits of the eight-digit code are its category
(https://developer.zuora.com/docs/guides/error-codes.md): 40 not found; 50 lock competition and
61 temporary error are transient and tried again; 70 (request exceeded limit) is a throttle;
60 (internal error) is transient for a read and an unknown outcome for a write; the rest (10
permission, 11 authentication, 20-23 invalid or missing values, 30 business rules, 90
malformed, 99 integrations) are refusals. An HTTP 429 is the kit's throttle, honouring
``Retry-After`` (Zuora's default wait here: 1 s).

Idempotency (https://developer.zuora.com/docs/guides/idempotent-requests.md): every POST
carries ``Idempotency-Key``. Zuora keeps a key 24 hours and replays the first answer's
status, headers and body *whether it succeeded or failed*; 409 means the key's first request
is still running (a wait), 422 that the key was used with another body. So a lost answer is
sent again under the same key (the kit does it: these sends are repeatable), but an answered
transient failure is saved under its key, and the next try goes under the next key of the
series ``<key>``, ``<key>:2``, ``<key>:3`` (up to the kit's ``max_attempts``), which a later
repeat walks the same way, replayed answer by replayed answer. A draft that meets a 422 (its
key's first request, sent on an earlier day, had another ``invoiceDate``) is looked up by its
invoice key first and sent under the next key only if Zuora has no invoice for it.

Per invoice: the account (``GET /v1/accounts/{number}``: id, status, currency; none, or not
active, is a refusal naming the client and the invoice key), the draft (``POST /v1/invoices``),
read back (``GET /v1/invoices/{id}`` and ``GET /v1/invoices/{id}/items``): four requests, and
the token once per hour. ``find_invoice`` is one Object Query (``GET /object-query/invoices``,
https://developer.zuora.com/docs/guides/expand-filter-fields-sort.md, ``filter[]=<field>.EQ:
<key>`` with ``expand[]=invoiceitems``); Zuora matches filters case-insensitively, so the key
is compared exactly here. ``credit_invoice`` posts a draft first (``POST /v1/invoices/bulk-post``),
reads its items and creates a credit memo from the invoice, left in Draft for finance to post.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from pshub.canonical.model import BillingModel, Client, Contract, Money, Project
from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
    error_context,
)
from pshub.connectors.http import (
    ApiClient,
    ApiResponse,
    ApiSettings,
    ConnectorContext,
    VendorError,
    api_client,
    oauth2,
    retry_after,
)
from pshub.connectors.http.auth import client_credentials
from pshub.connectors.results import BillingPlan, DraftedInvoice, InvoiceRequest, UpsertResult
from pshub.platforms.zuora import mapping as m

log = logging.getLogger("pshub.platforms.zuora")
_E = TypeVar("_E", bound=ConnectorError)
_WORDED = "pshub_worded"
_AGAIN = "pshub_zuora_again"  # an answered failure worth another try (under the next key)

DEFAULT_BASE_URL = "https://rest.zuora.com"
DEFAULT_RATE_PER_S = 5.0
DEFAULT_BURST = 5
DEFAULT_RETRY_AFTER_S = 1.0
ACTIVE = "Active"  # Account.status
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,60}__c")
_KEY_MAX = 255
_TRANSIENT = frozenset({"50", "61"})  # lock competition, temporary error
_THROTTLE = "70"  # request exceeded limit
_INTERNAL = "60"
_NOT_FOUND = "40"
# Personal data and amounts in response bodies (logged at DEBUG only, masked even then).
MASKED_FIELDS = (
    "$..name",
    "$..billToContact",
    "$..soldToContact",
    "$..description",
    "$..comments",
    "$..comment",
    "$..amount",
    "$..amountWithoutTax",
    "$..balance",
    "$..chargeAmount",
    "$..chargeName",
    "$..creditMemoAmount",
    "$..unitPrice",
    "$..taxAmount",
    "$..metrics",
)


def connect(connection: Connection, context: ConnectorContext) -> ZuoraBilling:
    """The billing connector of a Zuora connection."""
    where = f"connection {connection.id!r}"
    settings = ApiSettings.of(
        connection.id,
        connection.options,
        default_base_url=DEFAULT_BASE_URL,
        default_rate_per_s=DEFAULT_RATE_PER_S,
        default_burst=DEFAULT_BURST,
    )
    if urlsplit(settings.base_url).path:
        raise ConnectionConfigError(
            f"{where}: options.base_url is the tenant's REST host (https://rest.zuora.com), without a path"
        )
    grant = client_credentials(
        f"{settings.base_url}/oauth/token",
        context.credential(connection, "client_id"),
        context.credential(connection, "client_secret"),
    )
    client = api_client(
        connection,
        context,
        oauth2(connection, context, grant, settings=settings),
        settings=settings,
        describe=describe,
        default_retry_after_s=DEFAULT_RETRY_AFTER_S,
        refresh_on_401=True,
        mask_fields=MASKED_FIELDS,
    )
    return ZuoraBilling(
        connection, client, clock=context.clock, sleep=context.sleep, options=_options(connection)
    )


@dataclass(frozen=True)
class ZuoraOptions:
    account_number_prefix: str = ""
    invoice_key_field: str = m.INVOICE_KEY_FIELD
    tax_charge_name: str = m.TAX_CHARGE_NAME
    multiple_currencies: bool = False
    credit_reason_code: str | None = None
    zuora_version: str | None = None


def _options(connection: Connection) -> ZuoraOptions:
    options = connection.options
    where = f"connection {connection.id!r}"
    field = options.get("invoice_key_field") or m.INVOICE_KEY_FIELD
    if not _FIELD.fullmatch(field):
        raise ConnectionConfigError(
            f"{where}: options.invoice_key_field = {field!r} is not a custom field's API name (name__c)"
        )
    flag = (options.get("multiple_currencies") or "false").lower()
    if flag not in {"true", "false"}:
        raise ConnectionConfigError(f"{where}: options.multiple_currencies must be true or false")
    prefix = options.get("account_number_prefix") or ""
    if "/" in prefix or len(prefix) > 30:
        raise ConnectionConfigError(f"{where}: options.account_number_prefix must be short and without '/'")
    return ZuoraOptions(
        account_number_prefix=prefix,
        invoice_key_field=field,
        tax_charge_name=(options.get("tax_charge_name") or m.TAX_CHARGE_NAME).strip() or m.TAX_CHARGE_NAME,
        multiple_currencies=flag == "true",
        credit_reason_code=options.get("credit_reason_code") or None,
        zuora_version=options.get("zuora_version") or None,
    )


def describe(response: ApiResponse) -> VendorError:
    """Zuora's ``{"success": false, "reasons": [{"code", "message"}]}`` (or a bare ``message``).

    A 409 is the key's first request still running (Zuora's idempotency layer): a wait. So is a
    reason of category 70, request exceeded limit.
    """
    code, message = _reason(response.json_or_none())
    category = _category(code)
    return VendorError(
        code=code,
        message=message,
        throttled=response.status == 409 or category == _THROTTLE,
        retry_after_s=retry_after(response.header("Retry-After")) if category == _THROTTLE else None,
    )


@dataclass(frozen=True)
class _Account:
    id: str
    number: str
    currency: str
    status: str


class ZuoraBilling:
    """``InvoiceTarget`` for Zuora Billing (see the module docstring)."""

    def __init__(
        self,
        connection: Connection,
        api: ApiClient,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        options: ZuoraOptions | None = None,
    ) -> None:
        self._connection = connection
        self._api = api
        self._clock = clock
        self._sleep = sleep
        self._options = options or ZuoraOptions()
        version = self._options.zuora_version
        self._headers = {"Zuora-Version": version} if version else {}
        self._accounts: dict[str, _Account] = {}  # client id -> account, as this process last read it

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return self._connection.platform

    # -- the billing role's customer and plan (BillingConnector) -------------------------------------
    def upsert_customer(self, client: Client) -> UpsertResult:
        """The client's account, by its number (prefix + client id): created when there is none
        (under an idempotency key of the client), its name and ``crmId`` brought in line when
        there is. An account made by hand under that number is adopted."""
        op = "upsert_customer"
        number = f"{self._options.account_number_prefix}{client.id}"
        with self._about(op, f"account {number} of client {client.id}"):
            held = self._account_document(op, number)
            if held is None:
                if not client.currency:
                    raise self._refused(
                        op, f"client {client.id} has no currency for its Zuora account {number}"
                    )
                try:
                    body = m.account_body(client, number, currency=client.currency)
                except m.MappingError as unfit:
                    raise self._refused(op, str(unfit)) from None
                created = self._post(
                    op,
                    "/v1/accounts",
                    body,
                    _key(f"account:{number}"),
                    find=lambda: self._account_document(op, number),
                )
                native_id = str(created.get("accountId") or (created.get("basicInfo") or {}).get("id") or "")
                log.info("Zuora account %s created for client %s", number, client.id)
                return UpsertResult(native_id=native_id, created=True)
            changes = m.account_changes(held, client)
            if changes:
                self._send(op, "PUT", f"/v1/accounts/{_segment(number)}", body=changes)
            self._accounts.pop(client.id, None)
            return UpsertResult(native_id=str(held["basicInfo"]["id"]), created=False)

    def create_billing_plan(self, project: Project, contract: Contract) -> str:
        """Time and materials and fixed fee need no Zuora subscription: pshub drafts each cycle's
        standalone invoice on the client's account, which is the plan's id. A retainer or usage
        contract would need a subscription of the tenant's own product catalog, which pshub does
        not make: refused, naming what to do."""
        op = "create_billing_plan"
        if contract.billing_model in (BillingModel.RETAINER, BillingModel.USAGE):
            raise self._refused(
                op,
                f"project {project.code}: a {contract.billing_model.value} contract billed through Zuora needs a "
                "subscription from the tenant's product catalog, which pshub does not create; create it in "
                "Zuora, or bill this entity's retainer and usage contracts through the ERP or Stripe",
            )
        number = f"{self._options.account_number_prefix}{project.client_id}"
        with self._about(op, f"account {number} for project {project.code}"):
            held = self._account_document(op, number)
        if held is None:
            raise self._refused(
                op, f"no Zuora account {number} for client {project.client_id} (upsert it first)"
            )
        currency = str((held.get("billingAndPayment") or {}).get("currency") or "")
        if currency != contract.currency and not self._options.multiple_currencies:
            raise self._refused(
                op,
                f"project {project.code} is in {contract.currency}, its Zuora account {number} in {currency}",
            )
        return str(held["basicInfo"]["id"])

    def get_billing_plan(self, project_code: str) -> BillingPlan | None:
        """None: Zuora holds no plan of pshub's (its invoices are found by their invoice key)."""
        return None

    def cancel_billing_plan(self, native_id: str, reason: str) -> None:
        """Nothing to cancel: the plan is the client's account, which stays (it may bill others)."""
        log.info("Zuora plan %s needs no cancelling (%s): the account stays", native_id, reason)

    def _account_document(self, op: str, number: str) -> dict[str, Any] | None:
        try:
            return self._get(op, f"/v1/accounts/{_segment(number)}")
        except NotFound:
            return None

    # -- invoicing (InvoiceTarget) ----------------------------------------------------------
    def draft_invoice(self, request: InvoiceRequest) -> DraftedInvoice:
        """A standalone invoice in Draft with one item per line and the tax as an item, created
        under ``request.idempotency_key`` (a repeat replays Zuora's answer), as read back."""
        op = "draft_invoice"
        key = request.invoice_key
        with self._about(op, f"invoice {key} for project {request.project_code}"):
            account = self._account_for(op, request)
            if not self._options.multiple_currencies and account.currency != request.currency:
                raise self._refused(
                    op,
                    f"invoice {key}: account {account.number} bills in {account.currency}, the invoice is in "
                    f"{request.currency} (the tenant has no Multiple Currencies: options.multiple_currencies)",
                )
            try:
                body = m.invoice_body(
                    request,
                    account.id,
                    self._today(),
                    key_field=self._options.invoice_key_field,
                    tax_charge_name=self._options.tax_charge_name,
                    send_currency=self._options.multiple_currencies,
                )
            except m.MappingError as error:
                raise self._refused(op, f"invoice {key}: {error}") from None
            created = self._post(
                op, "/v1/invoices", body, request.idempotency_key, find=lambda: self._find(op, key)
            )
            native_id = str(created["id"])
            drafted = self._read_back(op, native_id)
        log.info("invoice %s drafted for invoice key %s", native_id, key)
        return drafted

    def find_invoice(self, invoice_key: str) -> DraftedInvoice | None:
        """The invoice carrying ``invoice_key`` in the key field (Object Query), if any."""
        op = "find_invoice"
        with self._about(op, f"invoice {invoice_key}"):
            found = self._find(op, invoice_key)
        if found is None:
            return None
        return m.drafted(found, list(found.get("invoiceItems") or []), self._options.invoice_key_field)

    def credit_invoice(self, native_id: str, amount: Money, reason: str, idempotency_key: str) -> str:
        """A credit memo for ``amount`` from the invoice (posted first if it is a draft); its id."""
        op = "credit_invoice"
        path = f"/v1/invoices/{_segment(native_id)}"
        with self._about(op, f"credit memo for invoice {native_id}"):
            invoice = self._get(op, path)
            status = str(invoice.get("status") or "")
            if status not in {m.DRAFT, m.POSTED}:
                raise self._refused(
                    op, f"invoice {native_id} is {status or 'of no status'}: nothing to credit"
                )
            if invoice.get("currency") and invoice["currency"] != amount.currency:
                raise self._refused(
                    op, f"invoice {native_id} is in {invoice['currency']}, the credit in {amount.currency}"
                )
            if status == m.DRAFT:
                self._post_invoice(op, native_id, idempotency_key)
            items = self._items(op, native_id)
            try:
                body = m.memo_body(m.credit_items(items, amount), reason, self._options.credit_reason_code)
            except m.MappingError as error:
                raise self._refused(op, f"credit memo for invoice {native_id}: {error}") from None
            memo = self._post(op, f"{path}/creditmemos", body, idempotency_key)
        log.info("credit memo %s for invoice %s", memo.get("id"), native_id)
        return str(memo["id"])

    # -- steps ------------------------------------------------------------------------------
    def _account_for(self, op: str, request: InvoiceRequest) -> _Account:
        """The client's account by its number (prefix + client id); a refusal if none is active."""
        remembered = self._accounts.get(request.client_id)
        if remembered is not None:
            return remembered
        number = f"{self._options.account_number_prefix}{request.client_id}"
        try:
            document = self._get(op, f"/v1/accounts/{_segment(number)}")
        except NotFound as error:
            raise self._refused(
                op,
                f"invoice {request.invoice_key}: client {request.client_id} has no Zuora account {number} "
                "(create it, or check options.account_number_prefix)",
                error,
            ) from error
        basic = document.get("basicInfo") or {}
        billing = document.get("billingAndPayment") or {}
        account = _Account(
            id=str(basic.get("id") or ""),
            number=str(basic.get("accountNumber") or number),
            currency=str(billing.get("currency") or ""),
            status=str(basic.get("status") or ""),
        )
        if account.status != ACTIVE or not account.id:
            raise self._refused(
                op,
                f"invoice {request.invoice_key}: the Zuora account {account.number} of client "
                f"{request.client_id} is {account.status or 'without a status'}, not Active",
            )
        self._accounts[request.client_id] = account
        return account

    def _find(self, op: str, invoice_key: str) -> dict[str, Any] | None:
        """The invoice holding exactly ``invoice_key``: live before canceled, then the oldest."""
        field = self._options.invoice_key_field
        params = {"filter[]": m.key_filter(field, invoice_key), "expand[]": "invoiceitems"}
        page = self._get(op, "/object-query/invoices", params)
        found = [i for i in page.get("data") or [] if isinstance(i, dict) and i.get(field) == invoice_key]
        if not found:
            return None
        return min(
            found, key=lambda i: (i.get("status") == m.CANCELED, str(i.get("createdDate")), str(i["id"]))
        )

    def _read_back(self, op: str, native_id: str) -> DraftedInvoice:
        invoice = self._get(op, f"/v1/invoices/{_segment(native_id)}")
        return m.drafted(invoice, self._items(op, native_id), self._options.invoice_key_field)

    def _items(self, op: str, native_id: str) -> list[dict[str, Any]]:
        document = self._get(op, f"/v1/invoices/{_segment(native_id)}/items")
        return [i for i in document.get("invoiceItems") or [] if isinstance(i, dict)]

    def _post_invoice(self, op: str, native_id: str, idempotency_key: str) -> None:
        """Post a draft (Post invoices, one of at most 50); a failure of that invoice is refused."""
        answer = self._post(op, "/v1/invoices/bulk-post", m.post_body(native_id), f"{idempotency_key}:post")
        for result in answer.get("invoices") or []:
            if isinstance(result, dict) and result.get("success") is False:
                raise self._body_error(op, result, None, write=True)
        log.info("invoice %s posted before its credit memo", native_id)

    # -- requests -----------------------------------------------------------------------------
    def _get(self, op: str, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._send(op, "GET", path, params=params)

    def _post(
        self,
        op: str,
        path: str,
        body: Mapping[str, Any],
        key: str,
        *,
        find: Callable[[], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        return self._send(op, "POST", path, body=body, key=key, find=find)

    def _send(
        self,
        op: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        key: str | None = None,
        find: Callable[[], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """One call, tried again while Zuora answers a transient failure (a POST under the next
        key of its series: Zuora saved the failure under the last one)."""
        attempts = self._api.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._once(op, method, path, params, body, _series(key, attempt) if key else None)
            except PermanentConnectorError as refused:
                if not (key and find and refused.http_status == 422):
                    raise
                found = find()  # the key went out earlier with another body: did that one create it?
                if found is not None:
                    return found
                if attempt == attempts:
                    raise
            except TransientConnectorError as failed:
                if not getattr(failed, _AGAIN, False) or attempt == attempts:
                    raise
                self._pause(failed, attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises

    def _once(
        self,
        op: str,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        key: str | None,
    ) -> dict[str, Any]:
        headers = dict(self._headers) | ({"Idempotency-Key": key} if key else {})
        response = self._api.request(
            op, method, path, params=params, json=body, headers=headers, repeatable=True if key else None
        )
        document = _document(response)
        if document.get("success") is False:
            raise self._body_error(op, document, response, write=method != "GET")
        return document

    def _pause(self, error: TransientConnectorError, attempt: int) -> None:
        """Before the next try: a throttle holds the limiter (the next request waits there);
        otherwise a short backoff (0.5 s, 1 s, 2 s...)."""
        if isinstance(error, RateLimited):
            return
        self._sleep(min(4.0, 0.5 * 2 ** (attempt - 1)))

    def _body_error(
        self, op: str, document: Mapping[str, Any], response: ApiResponse | None, *, write: bool
    ) -> ConnectorError:
        """An answer with ``success: false``, as pshub's error for its reason's category."""
        code, message = _reason(document)
        category = _category(code)
        context = {**self._context(op), "platform_code": code, "platform_message": message}
        context["http_status"] = response.status if response is not None else None
        error: ConnectorError
        if category == _NOT_FOUND:
            return NotFound(f"not found ({message or code})", **context)
        if category == _THROTTLE:
            wait = retry_after(response.header("Retry-After")) if response is not None else None
            wait = DEFAULT_RETRY_AFTER_S if wait is None else wait
            self._api.limiter.hold(wait, refused=True)
            error = RateLimited(
                f"throttled by Zuora (request limit); retry after {wait:.2f} s", retry_after_s=wait, **context
            )
            if wait <= self._api.settings.max_wait_s:
                setattr(error, _AGAIN, True)
            return error
        if category in _TRANSIENT or (category == _INTERNAL and not write):
            error = TransientConnectorError(f"Zuora failed for now ({message or code})", **context)
            setattr(error, _AGAIN, True)
            return error
        if category == _INTERNAL:
            return OutcomeUnknown(
                f"Zuora failed after the write was sent ({message or code}); outcome unknown", **context
            )
        return PermanentConnectorError(
            f"Zuora refused the request ({message or 'no reason given'})", **context
        )

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    # -- errors --------------------------------------------------------------------------------
    @contextmanager
    def _about(self, op: str, what: str) -> Iterator[None]:
        """Errors from Zuora get pshub's words naming the record (Zuora's code and message stay)."""
        try:
            yield
        except ConnectorError as error:
            if getattr(error, _WORDED, False):
                raise
            raise self._reworded(error, f"{what}: {_zuora_words(error)}") from error

    def _context(self, op: str, vendor: ConnectorError | None = None) -> dict[str, Any]:
        return error_context(self.platform, self.connection_id, op, vendor)

    def _refused(
        self, op: str, message: str, vendor: ConnectorError | None = None
    ) -> PermanentConnectorError:
        return _worded(PermanentConnectorError(message, **self._context(op, vendor)))

    def _reworded(self, error: ConnectorError, message: str) -> ConnectorError:
        reworded = type(error)(message, **self._context(error.operation, error), **error._own())
        if isinstance(error, RateLimited) and isinstance(reworded, RateLimited):
            reworded.sent = error.sent
        return _worded(reworded)


def _worded(error: _E) -> _E:
    """Mark an error whose message is pshub's already (``_about`` leaves it as it is)."""
    setattr(error, _WORDED, True)
    return error


def _zuora_words(error: ConnectorError) -> str:
    """What Zuora said, in a sentence for the error message."""
    if error.http_status == 401 or _category(error.platform_code) == "11":
        return "Zuora refused the OAuth client (authentication failed): check the connection's api secret"
    if _category(error.platform_code) == "10":
        return "the API user may not do this (permission denied): check its Zuora role"
    if isinstance(error, Conflict) or error.http_status == 422:
        return f"{error.message} (an idempotency key reused with another body)"
    return error.message


def _reason(document: object) -> tuple[str | None, str | None]:
    """The first reason's code and message of a Zuora body (``reasons``, or a bare ``message``)."""
    if not isinstance(document, Mapping):
        return None, None
    reasons = document.get("reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], Mapping):
        first = reasons[0]
        code = first.get("code")
        message = first.get("message")
        return (str(code) if code is not None else None), (str(message) if message is not None else None)
    message = document.get("message") or document.get("error_description") or document.get("error")
    return None, (str(message) if isinstance(message, str) else None)


def _category(code: str | None) -> str | None:
    """The error category: the last two digits of Zuora's eight-digit code."""
    return code[-2:] if code and code.isdigit() and len(code) >= 2 else None


def _key(text: str) -> str:
    """An idempotency key of pshub's own for a write that has none from the workflow."""
    return "pshub-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _series(key: str, attempt: int) -> str:
    """The ``attempt``-th key of ``key``'s series (``key``, ``key:2``...), at most 255 characters."""
    keyed = key if attempt == 1 else f"{key}:{attempt}"
    if len(keyed) < _KEY_MAX:
        return keyed
    return keyed[:180] + ":" + hashlib.sha256(keyed.encode()).hexdigest()[:40]


def _document(response: ApiResponse) -> dict[str, Any]:
    """The JSON body with its numbers as Decimals (never through a float)."""
    if not response.content:
        return {}
    try:
        document = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _segment(native_id: str) -> str:
    return quote(native_id, safe="")


if TYPE_CHECKING:  # mypy proves the connector implements the billing role's protocol
    from pshub.connectors.billing import BillingConnector

    _billing: type[BillingConnector] = ZuoraBilling

"""Stripe Billing over its REST API: the billing role (customers and each project's plan).

Credentials (the connection's ``api`` secret, a JSON object):

- ``secret_key``: a secret key (``sk_test_...``, ``sk_live_...``) or a restricted key
  (``rk_...``) allowed to write Customers, Products, Prices, Subscriptions,
  Subscription Schedules, Invoices, Invoice Items and Credit Notes and to read Events. Sent as ``Authorization: Bearer``. Stripe
  keys neither expire nor refresh: a 401 is a wrong or revoked key, a permanent error.

Options (besides the HTTP kit's timeouts and attempts, ``pshub.connectors.http.settings``):

- ``base_url``: default ``https://api.stripe.com`` (paths are ``/v1/...``).
- ``rate_per_s`` / ``burst``: default 25/s, burst 25: Stripe's test-mode budget (live
  accounts allow 100/s; Search 20/s). Declare the account's real budget.
- ``stripe_account``: a Connect account id (``acct_...``) sent as ``Stripe-Account``.

Every request pins ``Stripe-Version: 2020-08-27``, the version of the OpenAPI document
the contract tests hold this connector to; bodies are form-encoded with Stripe's
bracket notation (``metadata[pshub_client_id]=...``, ``items[0][price]=...``).

Idempotency: Stripe has no unique keys of its own, so every POST carries an
``Idempotency-Key`` derived from pshub's ids (``pshub:<connection>:<operation>:<ids>``)
and is sent as repeatable: a retry after a lost answer replays Stripe's stored
response (``Idempotent-Replayed: true``) instead of writing twice. Stripe keeps keys
at least 24 hours and refuses a key reused with other parameters (``idempotency_error``).
Per object:

- Customer: found by its known native id, else by Customer Search on
  ``metadata.pshub_client_id`` or ``metadata.pshub_tax_key``; otherwise created with
  only that marker under ``...:create_customer:<client id>`` (one key per client, so
  two creates of one client can never make two customers), then updated with the
  client's details under a key naming the content.
- Plan: one live subscription or schedule per project code. Before creating, the
  connector reads the project's plans (Subscription Search on
  ``metadata.pshub_project_code``; schedules listed by customer and filtered, as they
  have no search): the same content returns the existing plan, other content is a
  ``Conflict`` naming the differing contract fields (``metadata.pshub_content`` holds
  one digest per field). The create itself is keyed ``...:create_billing_plan:<code>:
  g<generation>`` without a content digest, so other content inside Stripe's window
  is refused by Stripe too; the generation counts the project's cancelled plans, so a
  project planned again after compensation gets a new plan, and a replay of a key
  whose plan was cancelled since moves on to the next generation. Products and prices
  are keyed by their own content.
- Cancel: ``DELETE /v1/subscriptions/{id}`` or ``POST /v1/subscription_schedules/{id}/
  cancel`` (no final invoice, no proration), after reading the plan: a cancelled plan
  is left as it is. Stripe 2020-08-27 has nowhere to keep the reason; it is logged.

- Invoice: a draft (``auto_advance=false``, ``pending_invoice_items_behavior=exclude``,
  ``send_invoice`` with ``days_until_due``, option ``days_until_due``, default 30) under the
  billing ledger's idempotency key for the invoice (contract, period, cycle), marked
  ``metadata.pshub_invoice_key``; one invoice item per line under ``<key>:line:<n>`` and
  the tax as a line of its own. A repeat replays every answer; after Stripe's window the
  run finds the invoice by Invoice Search on its key before sending. ``finalize_invoice``
  sends a reviewed draft; ``credit_invoice`` is a credit note (``order_change``, the
  reason as memo) against an open or paid invoice.

Consistency: Stripe Search is eventually consistent (Stripe: data is searchable within
about a minute, and search is not for read-after-write). The connector therefore
remembers the customers it wrote or read in this process, reads schedules from the
list API (immediately consistent), and relies on the idempotency keys for repeats
within the window; ``get_billing_plan`` may miss a plan created seconds earlier.

HTTP requests per project provisioned (new customer, retainer): customer search,
create, update; subscription search, schedules list, product, subscription (7).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from pshub.canonical.model import BillingModel, Client, Contract, Money, Project
from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    PermanentConnectorError,
    RateLimited,
    error_context,
)
from pshub.connectors.http import (
    ApiClient,
    ApiResponse,
    ApiSettings,
    ConnectorContext,
    VendorError,
    api_client,
)
from pshub.connectors.http.auth import HeaderAuth
from pshub.connectors.results import (
    BillingPlan,
    BillingPlanKind,
    DraftedInvoice,
    InvoiceRequest,
    UpsertResult,
)
from pshub.platforms.stripe import mapping as m

log = logging.getLogger("pshub.platforms.stripe")
_E = TypeVar("_E", bound=ConnectorError)
_WORDED = "pshub_worded"

STRIPE_VERSION = "2020-08-27"
DEFAULT_BASE_URL = "https://api.stripe.com"
DEFAULT_RATE_PER_S = 25.0
DEFAULT_BURST = 25
# Stripe's SDKs wait 0.5 s before the first retry when Stripe gives no wait of its own.
DEFAULT_RETRY_AFTER_S = 0.5
_KEY_FORMAT = re.compile(r"(sk|rk)_(test|live)_[0-9A-Za-z_]{8,}")
_KEY_IN_TEXT = re.compile(r"\b(sk|rk|pk)_(test|live)_[0-9A-Za-z_*]+")
_KEY_PART = re.compile(r"[A-Za-z0-9._-]{1,64}")
_THROTTLE_CODES = frozenset({"rate_limit", "lock_timeout", "idempotency_key_in_use"})
_MAX_PAGES = 10
_MAX_GENERATIONS = 3
# Personal data and amounts in response bodies (logged at DEBUG only, masked even then).
MASKED_FIELDS = (
    "$..name",
    "$..address",
    "$..email",
    "$..phone",
    "$..shipping",
    "$..description",
    "$..nickname",
    "$..unit_amount",
    "$..unit_amount_decimal",
    "$..amount",
    "$..metadata.pshub_legal_name",
    "$..metadata.pshub_total_value",
    "$..metadata.pshub_milestone_name",
    "$..metadata.pshub_role",
)
# changed_since: object type -> (Stripe event types, the object's ``object`` value)
_EVENT_TYPES = {
    "customer": ("customer.*", "customer"),
    "subscription": ("customer.subscription.*", "subscription"),
    "subscription_schedule": ("subscription_schedule.*", "subscription_schedule"),
    "invoice": ("invoice.*", "invoice"),
    "price": ("price.*", "price"),
    "product": ("product.*", "product"),
}


def connect(connection: Connection, context: ConnectorContext) -> StripeBilling:
    """The billing connector of a Stripe connection."""
    settings = ApiSettings.of(
        connection.id,
        connection.options,
        default_base_url=DEFAULT_BASE_URL,
        default_rate_per_s=DEFAULT_RATE_PER_S,
        default_burst=DEFAULT_BURST,
    )
    key = context.credential(connection, "secret_key")
    if not _KEY_FORMAT.fullmatch(key):
        raise ConnectionConfigError(
            f"connection {connection.id!r}: the secret_key in {connection.api_secret_name} is not a Stripe "
            "secret or restricted key (sk_test_/sk_live_/rk_...; publishable keys cannot write)"
        )
    account = connection.options.get("stripe_account")
    if account is not None and not re.fullmatch(r"acct_[0-9A-Za-z]+", account):
        raise ConnectionConfigError(
            f"connection {connection.id!r}: options.stripe_account is not an acct_ id"
        )
    client = api_client(
        connection,
        context,
        HeaderAuth(key),
        settings=settings,
        describe=describe,
        default_retry_after_s=DEFAULT_RETRY_AFTER_S,
        refresh_on_401=False,
        mask_fields=MASKED_FIELDS,
    )
    days = connection.options.get("days_until_due", str(m.PAYMENT_TERMS_DAYS))
    if not days.isdigit():
        raise ConnectionConfigError(
            f"connection {connection.id!r}: options.days_until_due must be a whole number"
        )
    return StripeBilling(connection, client, clock=context.clock, account=account, days_until_due=int(days))


def describe(response: ApiResponse) -> VendorError:
    """Stripe's ``{"error": {"type", "code", "message", "param", "doc_url"}}``.

    ``rate_limit`` and ``lock_timeout`` (429) and ``idempotency_key_in_use`` (409, another
    request with the key is still running) are waits, as is any 409/429 Stripe marks
    ``Stripe-Should-Retry: true``. Keys in messages are masked, whatever Stripe shows.
    """
    document = response.json_or_none()
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return VendorError(message=f"HTTP {response.status} without a Stripe error body")
    code = error.get("code") or error.get("type")
    message = error.get("message")
    if isinstance(message, str):
        message = _KEY_IN_TEXT.sub(lambda found: f"{found.group(1)}_{found.group(2)}_****", message)
        if error.get("param"):
            message = f"{message} (param {error['param']})"
    should_retry = response.header("Stripe-Should-Retry") == "true"
    throttled = code in _THROTTLE_CODES or (should_retry and response.status in {409, 429})
    return VendorError(
        code=code if isinstance(code, str) else None,
        message=message if isinstance(message, str) else None,
        throttled=throttled,
    )


@dataclass(frozen=True)
class _Customer:
    native_id: str
    currency: str | None  # lower case, as Stripe writes it; None until a plan fixes it


class StripeBilling:
    """``BillingConnector`` for Stripe Billing (see the module docstring)."""

    def __init__(
        self,
        connection: Connection,
        api: ApiClient,
        *,
        clock: Callable[[], float] = time.time,
        account: str | None = None,
        days_until_due: int = m.PAYMENT_TERMS_DAYS,
    ) -> None:
        self._connection = connection
        self._api = api
        self._clock = clock
        self._headers = {"Stripe-Version": STRIPE_VERSION} | ({"Stripe-Account": account} if account else {})
        self._customers: dict[str, _Customer] = {}  # client id -> customer, as this process last saw it
        self._days_until_due = days_until_due

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return self._connection.platform

    # -- the role ----------------------------------------------------------------------------
    def upsert_customer(self, client: Client) -> UpsertResult:
        op = "upsert_customer"
        with self._about(op, f"customer for client {client.id}"):
            try:
                params = m.customer_params(client)
            except m.MappingError as error:
                raise self._refused(op, f"client {client.id}: {error}") from None
            customer = self._find_customer(op, client)
            created = False
            if customer is None:
                customer, created = self._create_customer(op, client)
            native_id = str(customer["id"])
            if m.customer_differs(customer, params):
                customer, _ = self._post(
                    op,
                    f"/v1/customers/{_segment(native_id)}",
                    params,
                    self._key("update_customer", native_id, m.digest(params)),
                )
            self._remember(client.id, customer)
        log.info("customer %s %s for client %s", native_id, "created" if created else "matched", client.id)
        return UpsertResult(native_id=native_id, created=created)

    def create_billing_plan(self, project: Project, contract: Contract) -> str:
        op = "create_billing_plan"
        code = project.code
        kind = m.plan_kind(contract.billing_model)
        missing = m.missing_terms(contract)
        if missing:
            raise self._refused(op, f"a {contract.billing_model} plan for {code} needs {', '.join(missing)}")
        wrong = m.foreign_currency(contract)
        if wrong:
            raise self._refused(op, f"currency mismatch for {code} ({contract.currency}): {'; '.join(wrong)}")
        with self._about(op, f"{kind.value.replace('_', ' ')} for project {code}"):
            customer = self._customer_for(op, project.client_id, contract.client_id)
            if customer is None:
                raise self._refused(
                    op, f"no billing customer for client {project.client_id} (upsert the customer first)"
                )
            if customer.currency and customer.currency != contract.currency.lower():
                raise self._refused(
                    op,
                    f"currency mismatch for {code} ({contract.currency}): customer {customer.native_id} "
                    f"already bills in {customer.currency.upper()}",
                )
            plans = self._plans_of(op, code, customer.native_id)
            requested = m.content_digests(contract, customer.native_id)
            live = [p for p in plans if m.is_live(p)]
            if live:
                return self._same_or_conflict(op, code, live[0], requested)
            generation = max((m.generation_of(p) for p in plans), default=0) + 1
            for _ in range(_MAX_GENERATIONS):
                plan, replayed = self._create_plan(op, project, contract, customer.native_id, generation)
                if not replayed or self._still_live(op, plan):
                    break
                generation += 1  # that key's plan was cancelled since (search had not seen it)
            else:
                raise self._refused(op, f"project {code}: every recent plan key belongs to a cancelled plan")
            native_id = str(plan["id"])
            self._customers[project.client_id] = _Customer(customer.native_id, contract.currency.lower())
        log.info("%s %s created for project %s (generation %s)", kind.value, native_id, code, generation)
        return native_id

    def get_billing_plan(self, project_code: str) -> BillingPlan | None:
        op = "get_billing_plan"
        with self._about(op, f"plan of project {project_code}"):
            query = m.metadata_query([(m.PROJECT_CODE, project_code)])
            subscriptions = self._search(op, "/v1/subscriptions/search", query)
            live = [s for s in subscriptions if m.is_live(s) and m.project_code_of(s) == project_code]
            if live:
                return m.plan_from_subscription(max(live, key=_created))
            prices = [p for p in self._search(op, "/v1/prices/search", query) if _marks(p, project_code)]
            for customer in sorted({str(p["metadata"][m.CUSTOMER]) for p in prices}):
                for schedule in self._schedules(op, customer):
                    if m.project_code_of(schedule) == project_code and m.is_live(schedule):
                        return m.plan_from_schedule(schedule, prices)
        return None

    def cancel_billing_plan(self, native_id: str, reason: str) -> None:
        op = "cancel_billing_plan"
        with self._about(op, f"cancel plan {native_id}"):
            if native_id.startswith("sub_sched_"):
                outcome = self._cancel_schedule(op, native_id)
            elif native_id.startswith("sub_"):
                outcome = self._cancel_subscription(op, native_id)
            else:
                raise _worded(
                    NotFound(
                        f"no subscription {native_id!r} in stripe (not a subscription or schedule id)",
                        **self._context(op),
                    )
                )
        log.info("plan %s %s (%s)", native_id, outcome, reason)

    # -- reads for pollers and reconciliation (not part of the role protocol) ------------
    # -- invoices ------------------------------------------------------------------------------
    def draft_invoice(self, request: InvoiceRequest) -> DraftedInvoice:
        """A draft invoice (``auto_advance=false``: finance sends it) with one invoice item per
        line and a tax line, each POST under a key derived from the invoice's idempotency key:
        a repeat after a lost answer replays Stripe's answers and adds nothing."""
        op = "draft_invoice"
        key = request.invoice_key
        with self._about(op, f"invoice {key} for project {request.project_code}"):
            customer = self._customer_for(op, request.client_id)
            if customer is None:
                raise self._refused(
                    op,
                    f"invoice {key}: client {request.client_id} has no Stripe customer (provision it first)",
                )
            currency = request.currency.lower()
            if customer.currency and customer.currency != currency:
                raise self._refused(
                    op,
                    f"invoice {key}: the customer bills in {customer.currency.upper()}, the contract in "
                    f"{request.currency}",
                )
            try:
                params = m.invoice_params(request, customer.native_id, self._days_until_due)
                invoice, _ = self._post(op, "/v1/invoices", params, request.idempotency_key)
                native_id = str(invoice["id"])
                items = [
                    m.invoice_item_params(request, customer.native_id, native_id, index, line)
                    for index, line in enumerate(request.lines)
                ]
                if request.tax is not None and request.tax.amount:
                    items.append(m.tax_item_params(request, customer.native_id, native_id, request.tax))
            except m.MappingError as error:
                raise self._refused(op, f"invoice {key}: {error}") from None
            if invoice.get("status") == "draft":
                for index, item in enumerate(items):
                    self._post(op, "/v1/invoiceitems", item, f"{request.idempotency_key}:line:{index}")
            return _drafted(self._get(op, f"/v1/invoices/{_segment(native_id)}"))

    def find_invoice(self, invoice_key: str) -> DraftedInvoice | None:
        """The invoice carrying ``metadata.pshub_invoice_key`` (Invoice Search: eventually
        consistent, so a retry within Stripe's idempotency window resends under the key instead)."""
        op = "find_invoice"
        with self._about(op, f"invoice {invoice_key}"):
            query = m.metadata_query([(m.INVOICE_KEY, invoice_key)])
            found = [
                i
                for i in self._search(op, "/v1/invoices/search", query)
                if (i.get("metadata") or {}).get(m.INVOICE_KEY) == invoice_key
            ]
        return _drafted(min(found, key=_created)) if found else None

    def finalize_invoice(self, native_id: str) -> DraftedInvoice:
        """Send a reviewed draft: Stripe numbers it and it is open for payment."""
        op = "finalize_invoice"
        with self._about(op, f"invoice {native_id}"):
            invoice = self._get(op, f"/v1/invoices/{_segment(native_id)}")
            if invoice.get("status") == "draft":
                invoice, _ = self._post(
                    op, f"/v1/invoices/{_segment(native_id)}/finalize", {}, self._key(op, native_id)
                )
        return _drafted(invoice)

    def credit_invoice(self, native_id: str, amount: Money, reason: str, idempotency_key: str) -> str:
        """A credit note for ``amount`` against a sent invoice (open or paid); its id. ``reason``
        is the memo; Stripe's reason is ``order_change``."""
        op = "credit_invoice"
        with self._about(op, f"credit note for invoice {native_id}"):
            try:
                minor = m.to_minor(amount)
            except m.MappingError as error:
                raise self._refused(op, f"credit note for invoice {native_id}: {error}") from None
            params = {"invoice": native_id, "amount": minor, "reason": "order_change", "memo": reason[:5000]}
            note, _ = self._post(op, "/v1/credit_notes", params, idempotency_key)
        return str(note["id"])

    def changed_since(
        self, object_type: str, since: datetime, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Objects of ``object_type`` changed at or after ``since``, from ``GET /v1/events``.

        ``object_type`` is ``customer``, ``subscription``, ``subscription_schedule``,
        ``invoice``, ``price`` or ``product``. Each record is ``{"event_id",
        "event_type", "occurred_at", "native_id", "deleted", "object"}`` (the object as
        the event rendered it). Events come newest first, 100 a page; the token is the
        last event id of a full page (``starting_after``). Stripe keeps events 30 days.
        """
        if object_type not in _EVENT_TYPES:
            raise ValueError(
                f"stripe changed_since: unknown object type {object_type!r} ({sorted(_EVENT_TYPES)})"
            )
        event_type, object_name = _EVENT_TYPES[object_type]
        moment = since if since.tzinfo else since.replace(tzinfo=UTC)
        params: dict[str, Any] = {"created[gte]": int(moment.timestamp()), "limit": 100, "type": event_type}
        if page_token:
            params["starting_after"] = page_token
        op = "changed_since"
        with self._about(op, f"{object_type} changes since {moment.isoformat()}"):
            page = self._get(op, "/v1/events", params)
        events: list[dict[str, Any]] = list(page.get("data") or [])
        records = [
            {
                "event_id": event["id"],
                "event_type": event["type"],
                "occurred_at": datetime.fromtimestamp(int(event["created"]), UTC).isoformat(),
                "native_id": event["data"]["object"].get("id"),
                "deleted": str(event["type"]).endswith(".deleted"),
                "object": event["data"]["object"],
            }
            for event in events
            if event.get("data", {}).get("object", {}).get("object") == object_name
        ]
        token = str(events[-1]["id"]) if page.get("has_more") and events else None
        return records, token

    # -- customers -----------------------------------------------------------------------------
    def _find_customer(self, op: str, client: Client) -> dict[str, Any] | None:
        known = client.external_ids.get(self.connection_id)
        if known:
            try:
                customer = self._get(op, f"/v1/customers/{_segment(known)}")
            except NotFound:
                customer = {}
            if customer and not customer.get("deleted"):
                return customer
        key = m.tax_key(client)
        clauses = [(m.CLIENT_ID, client.id)] + ([(m.TAX_KEY, key)] if key else [])
        found = self._search(op, "/v1/customers/search", m.metadata_query(clauses))
        by_client = [c for c in found if (c.get("metadata") or {}).get(m.CLIENT_ID) == client.id]
        by_tax = [c for c in found if key and (c.get("metadata") or {}).get(m.TAX_KEY) == key]
        candidates = by_client or by_tax
        return min(candidates, key=_created) if candidates else None  # the oldest: the one invoices use

    def _create_customer(self, op: str, client: Client) -> tuple[dict[str, Any], bool]:
        """Create the customer under the client's key; (customer, created by this call).

        A replay answers with the customer the key made earlier; if that one has been
        deleted since (in the Dashboard), the next key names it and makes a new one.
        """
        parts = [client.id]
        for _ in range(_MAX_GENERATIONS):
            customer, replayed = self._post(
                op, "/v1/customers", m.customer_identity(client), self._key("create_customer", *parts)
            )
            if not replayed:
                return customer, True
            try:
                current = self._get(op, f"/v1/customers/{_segment(str(customer['id']))}")
            except NotFound:
                current = {"deleted": True}
            if not current.get("deleted"):
                return current, False
            parts = [client.id, "after", str(customer["id"])]
        raise self._refused(
            op, f"client {client.id}: every recent customer key belongs to a deleted customer"
        )

    def _customer_for(self, op: str, *client_ids: str) -> _Customer | None:
        for client_id in dict.fromkeys(client_ids):
            remembered = self._customers.get(client_id)
            if remembered is not None:
                return remembered
        for client_id in dict.fromkeys(client_ids):
            query = m.metadata_query([(m.CLIENT_ID, client_id)])
            found = [
                c
                for c in self._search(op, "/v1/customers/search", query)
                if (c.get("metadata") or {}).get(m.CLIENT_ID) == client_id
            ]
            if found:
                return self._remember(client_id, min(found, key=_created))
        return None

    def _remember(self, client_id: str, customer: Mapping[str, Any]) -> _Customer:
        currency = customer.get("currency")
        remembered = _Customer(str(customer["id"]), str(currency) if currency else None)
        self._customers[client_id] = remembered
        return remembered

    # -- plans ---------------------------------------------------------------------------------
    def _plans_of(self, op: str, code: str, customer: str) -> list[dict[str, Any]]:
        """Every subscription and schedule of the project (live or not), newest first."""
        query = m.metadata_query([(m.PROJECT_CODE, code)])
        subscriptions = [
            s for s in self._search(op, "/v1/subscriptions/search", query) if m.project_code_of(s) == code
        ]
        schedules = [s for s in self._schedules(op, customer) if m.project_code_of(s) == code]
        return sorted(subscriptions + schedules, key=_created, reverse=True)

    def _same_or_conflict(
        self, op: str, code: str, plan: Mapping[str, Any], requested: dict[str, str]
    ) -> str:
        existing = m.decode_digests((plan.get("metadata") or {}).get(m.CONTENT))
        differing = m.differing_fields(existing, requested)
        native_id = str(plan["id"])
        if differing:
            kind = (
                "subscription schedule" if plan.get("object") == "subscription_schedule" else "subscription"
            )
            raise _worded(
                Conflict(
                    f"project code {code} already has {kind} {native_id} with different {', '.join(differing)}",
                    key=code,
                    fields=differing,
                    **self._context(op),
                )
            )
        log.info("plan %s already exists for project %s", native_id, code)
        return native_id

    def _create_plan(
        self, op: str, project: Project, contract: Contract, customer: str, generation: int
    ) -> tuple[dict[str, Any], bool]:
        code = project.code
        today = self._today()
        try:
            product_params = m.product_params(project)
            product, _ = self._post(
                op,
                "/v1/products",
                product_params,
                self._key("create_product", code, m.digest(product_params)),
            )
            product_id = str(product["id"])
            marks = m.price_marks(project, customer, generation)
            role_prices: list[str] = []
            if contract.billing_model in {BillingModel.USAGE, BillingModel.TIME_AND_MATERIALS}:
                assert contract.rate_card is not None
                for rate in contract.rate_card.rates:
                    role_prices.append(
                        self._price(op, code, m.rate_price_params(rate, contract, product_id, marks))
                    )
            milestone_prices = [
                (
                    milestone,
                    self._price(op, code, m.milestone_price_params(milestone, contract, product_id, marks)),
                )
                for milestone in contract.milestones
                if contract.billing_model is BillingModel.FIXED_FEE_MILESTONE
            ]
            metadata = m.plan_metadata(project, contract, customer, generation)
            if m.plan_kind(contract.billing_model) is BillingPlanKind.SUBSCRIPTION:
                path = "/v1/subscriptions"
                params = m.subscription_params(contract, customer, product_id, metadata, today, role_prices)
            else:
                path = "/v1/subscription_schedules"
                params = m.schedule_params(
                    contract,
                    customer,
                    product_id,
                    metadata,
                    today,
                    role_prices=role_prices,
                    milestone_prices=milestone_prices,
                )
        except m.MappingError as error:
            raise self._refused(op, f"project {code}: {error}") from None
        try:
            return self._post(op, path, params, self._key("create_billing_plan", code, f"g{generation}"))
        except PermanentConnectorError as error:
            if error.platform_code == "idempotency_error":
                raise _worded(
                    Conflict(
                        f"project code {code} got a plan with different terms in the last 24 hours (plan "
                        f"generation {generation}); Stripe Search does not show it yet, retry later to see "
                        "which fields differ",
                        key=code,
                        fields=(),
                        **self._context(op, error),
                    )
                ) from error
            raise

    def _price(self, op: str, code: str, params: m.Params) -> str:
        price, _ = self._post(op, "/v1/prices", params, self._key("create_price", code, m.digest(params)))
        return str(price["id"])

    def _still_live(self, op: str, plan: Mapping[str, Any]) -> bool:
        """A replayed create answers as the plan was then: read how it is now."""
        native_id = str(plan["id"])
        if plan.get("object") == "subscription_schedule":
            current = self._get(op, f"/v1/subscription_schedules/{_segment(native_id)}")
        else:
            current = self._get(op, f"/v1/subscriptions/{_segment(native_id)}")
        return m.is_live(current)

    def _schedules(self, op: str, customer: str) -> list[dict[str, Any]]:
        return self._list(op, "/v1/subscription_schedules", {"customer": customer})

    def _cancel_schedule(self, op: str, native_id: str) -> str:
        try:
            schedule = self._get(op, f"/v1/subscription_schedules/{_segment(native_id)}")
        except NotFound as error:
            raise self._reworded(error, f"no subscription schedule {native_id!r} in stripe") from error
        status = schedule.get("status")
        if status == "released" and schedule.get("released_subscription"):
            return self._cancel_subscription(op, str(schedule["released_subscription"]))
        if status not in {"not_started", "active"}:
            return f"left as it is: {status} already"
        self._post(
            op,
            f"/v1/subscription_schedules/{_segment(native_id)}/cancel",
            {"invoice_now": False, "prorate": False},
            self._key("cancel_billing_plan", native_id),
        )
        return "cancelled"

    def _cancel_subscription(self, op: str, native_id: str) -> str:
        try:
            subscription = self._get(op, f"/v1/subscriptions/{_segment(native_id)}")
        except NotFound as error:
            raise self._reworded(error, f"no subscription {native_id!r} in stripe") from error
        if subscription.get("status") in {"canceled", "incomplete_expired"}:
            return f"left as it is: {subscription['status']} already"
        self._call(op, "DELETE", f"/v1/subscriptions/{_segment(native_id)}")
        return "cancelled"

    # -- requests ------------------------------------------------------------------------------
    def _get(self, op: str, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._call(op, "GET", path, params=params)

    def _post(self, op: str, path: str, params: Mapping[str, Any], key: str) -> tuple[dict[str, Any], bool]:
        """POST under ``key``; (document, True if Stripe replayed a request made before this one).

        A replay of this call's own first attempt (its answer lost, the kit resent it)
        is not an earlier request: what it created, this call created.
        """
        sent = self._api.sent
        response = self._api.request(
            op,
            "POST",
            path,
            form=m.form(params),
            headers={**self._headers, "Idempotency-Key": key},
            repeatable=True,
        )
        replayed = response.header("Idempotent-Replayed") == "true" and self._api.sent - sent == 1
        return _document(response), replayed

    def _call(
        self, op: str, method: str, path: str, *, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return _document(self._api.request(op, method, path, params=params, headers=self._headers))

    def _search(self, op: str, path: str, query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"query": query, "limit": 100}
        for _ in range(_MAX_PAGES):
            page = self._get(op, path, params)
            found += list(page.get("data") or [])
            if not page.get("has_more") or not page.get("next_page"):
                break
            params = {**params, "page": page["next_page"]}
        return found

    def _list(self, op: str, path: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {**filters, "limit": 100}
        for _ in range(_MAX_PAGES):
            page = self._get(op, path, params)
            data = list(page.get("data") or [])
            found += data
            if not page.get("has_more") or not data:
                break
            params = {**params, "starting_after": data[-1]["id"]}
        return found

    def _key(self, operation: str, *parts: str) -> str:
        """``pshub:<connection>:<operation>:<parts>``; a part Stripe's header cannot carry is hashed."""
        safe = [p if _KEY_PART.fullmatch(p) else hashlib.sha256(p.encode()).hexdigest()[:20] for p in parts]
        key = ":".join(["pshub", self.connection_id, operation, *safe])
        return key if len(key) <= 255 else key[:200] + ":" + hashlib.sha256(key.encode()).hexdigest()[:40]

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    # -- errors --------------------------------------------------------------------------------
    @contextmanager
    def _about(self, op: str, what: str) -> Iterator[None]:
        """Errors from Stripe get pshub's words naming the record (the vendor's code and message stay)."""
        try:
            yield
        except ConnectorError as error:
            if getattr(error, _WORDED, False):
                raise
            raise self._reworded(error, f"{what}: {_stripe_words(error)}") from error

    def _context(self, op: str, vendor: ConnectorError | None = None) -> dict[str, Any]:
        return error_context(self.platform, self.connection_id, op, vendor)

    def _refused(self, op: str, message: str) -> PermanentConnectorError:
        return _worded(PermanentConnectorError(message, **self._context(op)))

    def _reworded(self, error: ConnectorError, message: str) -> ConnectorError:
        reworded = type(error)(message, **self._context(error.operation, error), **error._own())
        if isinstance(error, RateLimited) and isinstance(reworded, RateLimited):
            reworded.sent = error.sent
        return _worded(reworded)


def _worded(error: _E) -> _E:
    """Mark an error whose message is pshub's already (``_about`` leaves it as it is)."""
    setattr(error, _WORDED, True)
    return error


def _stripe_words(error: ConnectorError) -> str:
    """What Stripe said, in a sentence for the error message."""
    if error.http_status == 401:
        return "Stripe refused the API key (HTTP 401): check the connection's secret_key"
    if error.http_status == 403:
        return "the API key may not do this (HTTP 403): a restricted key needs more permissions"
    return error.message


def _document(response: ApiResponse) -> dict[str, Any]:
    document = response.json_or_none()
    return document if isinstance(document, dict) else {}


def _segment(native_id: str) -> str:
    return quote(native_id, safe="")


def _drafted(invoice: Mapping[str, Any]) -> DraftedInvoice:
    currency = str(invoice.get("currency") or "usd")
    return DraftedInvoice(
        native_id=str(invoice["id"]),
        invoice_key=str((invoice.get("metadata") or {}).get(m.INVOICE_KEY, "")),
        status=str(invoice.get("status")),
        total=m.from_minor(int(invoice.get("total") or 0), currency),
        line_count=len((invoice.get("lines") or {}).get("data") or []),
    )


def _created(record: Mapping[str, Any]) -> tuple[int, str]:
    return int(record.get("created") or 0), str(record.get("id"))


def _marks(price: Mapping[str, Any], code: str) -> bool:
    metadata = price.get("metadata") or {}
    return metadata.get(m.PROJECT_CODE) == code and bool(metadata.get(m.CUSTOMER))

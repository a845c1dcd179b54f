"""Stripe's REST API, as pshub's billing connector uses it, served on 127.0.0.1.

The operations of ``tests/contract/specs/stripe/operations.txt`` (Stripe API version
2020-08-27): Customers (create, retrieve, update, search), Products and Prices
(create; price search), Subscriptions (create, retrieve, search, cancel), Subscription
Schedules (create, list, retrieve, cancel), Invoices (create, search, retrieve, finalize),
Invoice Items (create), Credit Notes (create) and Events (list). Objects carry every field
the OpenAPI document marks required, with Stripe's id formats (``cus_``, ``prod_``,
``price_1``, ``sub_1``, ``sub_sched_1``, ``si_``, ``evt_1``).

What it enforces, the way Stripe answers it:

- Auth: ``Authorization: Bearer <key>`` (or Basic with the key as user name). No key,
  an unknown key and an expired key (``expire_key``) are Stripe's 401 bodies.
- Parameters: bracket-notation forms; unknown parameters (``parameter_unknown``),
  missing ones (``parameter_missing``), integers (``parameter_invalid_integer``),
  enums, string lengths (Customer ``name`` 256) and metadata limits (50 keys, key
  40 and value 500 characters).
- Idempotency: a POST's ``Idempotency-Key`` stores the response once the endpoint ran;
  the same key with the same parameters replays it (``Idempotent-Replayed: true``,
  ``Original-Request``), with other parameters or another endpoint it is a 400
  ``idempotency_error``. A request refused on its parameters stores nothing.
- Business rules: a subscription or schedule needs an existing customer, recurring
  prices for its items and one-time prices for invoice items, one currency and one
  billing interval; a customer bills in one currency, fixed by its first subscription
  or schedule; ``send_invoice`` needs ``days_until_due``, ``charge_automatically`` a
  payment method (customers here have none); three-decimal currencies take amounts
  ending in 0. A cancelled subscription or schedule stays cancelled. An invoice is created
  as a draft (with the customer's pending items unless ``pending_invoice_items_behavior=
  exclude``; with none, Stripe's "Nothing to invoice"); items attach to drafts only, in the
  invoice's currency; ``finalize`` numbers it (``<prefix>-0001``) and opens it; a credit note
  needs an open or paid invoice and at most its total less what is credited; ``pay_invoice``
  (a control) pays an open one, as a customer would.
- Search: the Search Query Language subset the connector uses: ``field:'value'``
  clauses on each resource's searchable fields (``metadata['key']``, ``status``,
  ``email``, ``name``...), ``-`` negation, ``AND`` or ``OR`` (not both), ten clauses.
  Objects are searchable at once unless ``set_search_lag`` delays them, as Stripe's
  index does (Stripe: within about a minute).
- Throttling: 429 ``rate_limit`` with ``Stripe-Should-Retry: true`` past the
  connection options ``rate_limit_per_s`` / ``rate_limit_burst`` (default 25/s, burst
  50: Stripe's test-mode budget). Outages are 503 ``api_error``.

Every write is an Event (``customer.created``, ``customer.subscription.deleted``...).
Time stands still: schedules do not move to their next phase. Error messages follow
Stripe's; the ones the connector only shows a person are illustrative.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from pshub.canonical.currencies import CURRENCIES
from pshub.connections import Connection, ConnectionConfigError
from pshub_local.fakes.server import FakeApi, FakeRequest, FakeResponse, VendorFault, route

API_VERSION = "2020-08-27"


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ZERO_DECIMAL = _names("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
_THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?")
_ID = r"(?P<id>[A-Za-z0-9_]+)"
_SUBSCRIPTION_LIVE = frozenset({"active", "past_due", "trialing", "unpaid", "incomplete"})

Handler = Callable[["StripeFake", FakeRequest, "re.Match[str]"], FakeResponse]
Json = dict[str, Any]

# Body parameters each endpoint accepts (Stripe's, 2020-08-27); the rest is parameter_unknown.
_CUSTOMER_CREATE = _names(
    "address balance coupon description email expand invoice_prefix invoice_settings metadata name "
    "next_invoice_sequence payment_method phone preferred_locales promotion_code shipping source tax "
    "tax_exempt tax_id_data test_clock"
)
_CUSTOMER_UPDATE = _names(
    "address balance bank_account card coupon default_alipay_account default_bank_account "
    "default_card default_source description email expand invoice_prefix invoice_settings metadata "
    "name next_invoice_sequence phone preferred_locales promotion_code shipping source tax tax_exempt "
    "trial_end"
)
_PRODUCT_CREATE = _names(
    "active description expand id images metadata name package_dimensions shippable "
    "statement_descriptor tax_code unit_label url"
)
_PRICE_CREATE = _names(
    "active billing_scheme currency expand lookup_key metadata nickname product product_data "
    "recurring tax_behavior tiers tiers_mode transfer_lookup_key transform_quantity unit_amount "
    "unit_amount_decimal"
)
_SUBSCRIPTION_CREATE = _names(
    "add_invoice_items application_fee_percent automatic_tax backdate_start_date billing_cycle_anchor "
    "billing_thresholds cancel_at cancel_at_period_end collection_method coupon customer "
    "days_until_due default_payment_method default_source default_tax_rates expand items metadata "
    "off_session payment_behavior payment_settings pending_invoice_item_interval promotion_code "
    "proration_behavior transfer_data trial_end trial_from_plan trial_period_days"
)
_SCHEDULE_CREATE = _names(
    "customer default_settings end_behavior expand from_subscription metadata phases start_date"
)
_PHASE = _names(
    "add_invoice_items application_fee_percent automatic_tax billing_cycle_anchor billing_thresholds "
    "collection_method coupon default_payment_method default_tax_rates end_date invoice_settings "
    "items iterations proration_behavior transfer_data trial trial_end"
)
_INVOICE_CREATE = _names(
    "account_tax_ids application_fee_amount auto_advance automatic_tax collection_method custom_fields "
    "customer days_until_due default_payment_method default_source default_tax_rates description "
    "discounts due_date expand footer metadata payment_settings pending_invoice_items_behavior "
    "statement_descriptor subscription transfer_data"
)
_INVOICEITEM_CREATE = _names(
    "amount currency customer description discountable discounts expand invoice metadata period price "
    "price_data quantity subscription tax_rates unit_amount unit_amount_decimal"
)
_CREDIT_NOTE_CREATE = _names(
    "amount credit_amount expand invoice lines memo metadata out_of_band_amount reason refund refund_amount"
)
_SEARCH_FIELDS = {
    "customers": frozenset({"created", "email", "metadata", "name", "phone"}),
    "prices": frozenset({"active", "created", "currency", "lookup_key", "metadata", "product", "type"}),
    "subscriptions": frozenset({"created", "metadata", "status"}),
    "invoices": frozenset({"created", "currency", "customer", "metadata", "number", "status", "total"}),
}


def credentials_for_local(connection: Connection) -> dict[str, str]:
    """What the local runtime stores as this connection's API secret: a test-mode-looking key
    that only this fake accepts (Stripe's ``sk_test_`` form, as the connector requires)."""
    digest = hashlib.sha256(f"pshub-local:{connection.id}".encode()).hexdigest()[:24]
    return {"secret_key": f"sk_test_localdemo_{digest}"}


def _stripe_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    kind: str = "invalid_request_error",
    headers: Mapping[str, str] | None = None,
) -> VendorFault:
    error: Json = {"type": kind, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return VendorFault(status, {"error": error}, headers)


def _missing(param: str) -> VendorFault:
    return _stripe_error(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def _no_payment_method() -> VendorFault:
    return _stripe_error(
        400,
        "This customer has no attached payment source or default payment method. Please consider adding a "
        "default payment method.",
        code="resource_missing",
        param="default_payment_method",
    )


def _no_such(kind: str, native_id: str, param: str, status: int = 400) -> VendorFault:
    return _stripe_error(status, f"No such {kind}: '{native_id}'", code="resource_missing", param=param)


def _idempotent(handler: Handler) -> Handler:
    """Apply Stripe's idempotency layer to a POST handler."""

    def wrapper(fake: StripeFake, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return fake.idempotently(request, lambda: handler(fake, request, match))

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


@dataclass(frozen=True)
class _Saved:
    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    response: FakeResponse
    request_id: str


class StripeFake(FakeApi):
    platform = "stripe"

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        options = connection.options
        super().__init__(
            rate_per_s=_positive(connection, "rate_limit_per_s", options.get("rate_limit_per_s", "25")),
            burst=int(_positive(connection, "rate_limit_burst", options.get("rate_limit_burst", "50"))),
        )
        self.connection = connection
        accepted = credentials or credentials_for_local(connection)
        self._keys = {accepted["secret_key"]}
        self._expired: set[str] = set()
        self._clock = clock
        self._sequence: dict[str, int] = {}
        self._request_id = ""
        self._idempotency: dict[str, _Saved] = {}
        self.customers: dict[str, Json] = {}
        self.products: dict[str, Json] = {}
        self.prices: dict[str, Json] = {}
        self.subscriptions: dict[str, Json] = {}
        self.schedules: dict[str, Json] = {}
        self.invoices: dict[str, Json] = {}
        self.invoice_items: dict[str, Json] = {}
        self.credit_notes: dict[str, Json] = {}
        self.events: list[Json] = []
        self.search_lag_s = 0.0

    # -- controls ----------------------------------------------------------------------------
    def expire_key(self, key: str) -> None:
        """From now on ``key`` is refused as an expired key (a rolled key past its grace period)."""
        with self.lock:
            self._expired.add(key)

    def set_search_lag(self, seconds: float) -> None:
        """Objects created in the last ``seconds`` are not yet searchable (Stripe: usually under a minute)."""
        with self.lock:
            self.search_lag_s = seconds

    def delete_customer(self, native_id: str) -> None:
        """A customer deleted in the Dashboard: retrieving it answers ``deleted: true``."""
        with self.lock:
            self.customers[native_id] = {"id": native_id, "object": "customer", "deleted": True}

    def pay_invoice(self, native_id: str) -> None:
        """The customer paid an open invoice (``invoice.paid``, as Stripe's webhook carries it)."""
        with self.lock:
            invoice = self.invoices[native_id]
            if invoice["status"] != "open":
                raise ValueError(f"invoice {native_id} is {invoice['status']}, not open")
            invoice.update(status="paid", paid=True, amount_paid=invoice["amount_due"], amount_remaining=0)
            invoice["status_transitions"]["paid_at"] = self._now()
            self._emit_plain("invoice.paid", invoice)

    # -- vendor specifics ----------------------------------------------------------------------
    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        key = _api_key(request.header("authorization"))
        realm = {"WWW-Authenticate": 'Bearer realm="Stripe"'}
        if not key:
            return _stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
                headers=realm,
            ).response
        if key in self._expired:
            return _stripe_error(
                401, f"Expired API Key provided: {_masked(key)}", code="api_key_expired", headers=realm
            ).response
        if key not in self._keys:
            return _stripe_error(401, f"Invalid API Key provided: {_masked(key)}", headers=realm).response
        version = request.header("stripe-version")
        if version is not None and not _VERSION.fullmatch(version):
            return _stripe_error(400, f"Invalid Stripe API version: {version}").response
        return None

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        return _stripe_error(
            429,
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            code="rate_limit",
            headers={"Stripe-Should-Retry": "true"},
        ).response

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return _stripe_error(
            503,
            "Stripe is temporarily unavailable. Please retry your request.",
            kind="api_error",
            headers={"Stripe-Should-Retry": "true"},
        ).response

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return _stripe_error(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        ).response

    def _answer(self, request: FakeRequest, found: Any) -> FakeResponse:
        """Every answer carries ``Request-Id`` and the ``Stripe-Version`` it was rendered in."""
        self._request_id = self._new_id("req_", "request", 14)
        answer = super()._answer(request, found)
        return FakeResponse(
            answer.status,
            answer.body,
            {
                **answer.headers,
                "Request-Id": self._request_id,
                "Stripe-Version": request.header("stripe-version") or API_VERSION,
            },
        )

    def idempotently(self, request: FakeRequest, work: Callable[[], FakeResponse]) -> FakeResponse:
        key = request.header("idempotency-key")
        if not key:
            return work()
        if len(key) > 255:
            raise _stripe_error(400, "Idempotency keys can be at most 255 characters long.")
        params = tuple(sorted(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)))
        saved = self._idempotency.get(key)
        if saved is not None:
            if (saved.method, saved.path) != (request.method, request.path):
                raise _stripe_error(
                    400,
                    "Keys for idempotent requests can only be used for the same endpoint they were first used "
                    f"for ('{saved.method} {saved.path}' vs '{request.method} {request.path}'). Try using a key "
                    f"other than '{key}' if you meant to execute a different request.",
                    kind="idempotency_error",
                )
            if saved.params != params:
                raise _stripe_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    kind="idempotency_error",
                )
            replay = saved.response
            return FakeResponse(
                replay.status,
                copy.deepcopy(replay.body),
                {**replay.headers, "Idempotent-Replayed": "true", "Original-Request": saved.request_id},
            )
        response = work()  # a VendorFault here is a refusal of the parameters: nothing is saved
        self._idempotency[key] = _Saved(request.method, request.path, params, response, self._request_id)
        return response

    def records(self) -> dict[str, Any]:
        """Customers and plans (ids, codes, names, states), as the demo prints them."""
        plans = [
            {
                "native_id": sub["id"],
                "project_code": sub["metadata"].get("pshub_project_code"),
                "customer": sub["customer"],
                "kind": "subscription",
                "billing_model": sub["metadata"].get("pshub_billing_model"),
                "currency": sub["items"]["data"][0]["price"]["currency"].upper()
                if sub["items"]["data"]
                else None,
                "cancelled": sub["status"] == "canceled",
                "cancel_reason": None,  # Stripe 2020-08-27 keeps no cancellation reason
            }
            for sub in self.subscriptions.values()
            if sub["schedule"] is None
        ] + [
            {
                "native_id": schedule["id"],
                "project_code": (schedule["metadata"] or {}).get("pshub_project_code"),
                "customer": schedule["customer"],
                "kind": "invoice_schedule",
                "billing_model": (schedule["metadata"] or {}).get("pshub_billing_model"),
                "currency": self._currency_of_schedule(schedule),
                "cancelled": schedule["status"] == "canceled",
                "cancel_reason": None,
            }
            for schedule in self.schedules.values()
        ]
        return {
            "customers": [
                {
                    "native_id": c["id"],
                    "client_id": c["metadata"].get("pshub_client_id"),
                    "name": c.get("name"),
                }
                for c in self.customers.values()
                if not c.get("deleted")
            ],
            "billing_plans": plans,
            "invoices": [
                {
                    "native_id": i["id"],
                    "invoice_key": i["metadata"].get("pshub_invoice_key"),
                    "customer": i["customer"],
                    "status": i["status"],
                    "currency": i["currency"].upper(),
                    "total": i["total"],
                    "lines": [
                        {"description": line["description"], "amount": line["amount"]}
                        for line in i["lines"]["data"]
                    ],
                    "credited": i["post_payment_credit_notes_amount"] + i["pre_payment_credit_notes_amount"],
                }
                for i in self.invoices.values()
            ],
            "credit_notes": [
                {"native_id": c["id"], "invoice": c["invoice"], "amount": c["amount"], "reason": c["reason"]}
                for c in self.credit_notes.values()
            ],
            "products": [
                {"native_id": p["id"], "project_code": p["metadata"].get("pshub_project_code")}
                for p in self.products.values()
            ],
            "prices": [
                {
                    "native_id": p["id"],
                    "project_code": p["metadata"].get("pshub_project_code"),
                    "type": p["type"],
                    "currency": p["currency"].upper(),
                }
                for p in self.prices.values()
            ],
        }

    # -- customers -----------------------------------------------------------------------------
    @route("POST", r"/v1/customers", "create_customer")
    @_idempotent
    def create_customer(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _CUSTOMER_CREATE)
        customer = self._customer_object(params)
        self.customers[customer["id"]] = customer
        self._emit("customer.created", customer, request)
        return FakeResponse(200, customer)

    @route("GET", r"/v1/customers/search", "search_customers")
    def search_customers(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        live = [c for c in self.customers.values() if not c.get("deleted")]
        return FakeResponse(200, self._search(request, "customers", live))

    @route("GET", rf"/v1/customers/{_ID}", "retrieve_customer")
    def retrieve_customer(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._customer(match["id"], "id", status=404, deleted_ok=True))

    @route("POST", rf"/v1/customers/{_ID}", "update_customer")
    @_idempotent
    def update_customer(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        customer = self._customer(match["id"], "id", status=404)
        params = _form(request)
        _only(params, _CUSTOMER_UPDATE)
        previous = copy.deepcopy(customer)
        changes = self._customer_fields(params)
        if "metadata" in params:
            changes["metadata"] = _merged_metadata(customer["metadata"], params["metadata"])
        customer.update(changes)
        self._emit(
            "customer.updated",
            customer,
            request,
            {k: previous.get(k) for k in changes if previous.get(k) != customer.get(k)},
        )
        return FakeResponse(200, customer)

    def _customer_object(self, params: Json) -> Json:
        native_id = self._new_id("cus_", "customer", 14)
        fields = self._customer_fields(params)
        return {
            "id": native_id,
            "object": "customer",
            "address": fields.get("address"),
            "balance": 0,
            "created": self._now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": fields.get("description"),
            "discount": None,
            "email": fields.get("email"),
            "invoice_prefix": hashlib.sha256(native_id.encode()).hexdigest()[:8].upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
            "livemode": False,
            "metadata": _merged_metadata({}, params.get("metadata", {})),
            "name": fields.get("name"),
            "next_invoice_sequence": 1,
            "phone": fields.get("phone"),
            "preferred_locales": fields.get("preferred_locales", []),
            "shipping": None,
            "tax_exempt": fields.get("tax_exempt", "none"),
            "test_clock": None,
        }

    def _customer_fields(self, params: Json) -> Json:
        fields: Json = {}
        for name, limit in (("name", 256), ("description", 5000), ("email", 512), ("phone", 20)):
            if name in params:
                fields[name] = _string(params, name, limit) or None
        if "tax_exempt" in params:
            fields["tax_exempt"] = _enum(params, "tax_exempt", ("exempt", "none", "reverse"))
        if "address" in params:
            address = params["address"]
            if address == "":
                fields["address"] = None
            else:
                if not isinstance(address, dict):
                    raise _stripe_error(400, "Invalid object", param="address")
                _only(
                    address,
                    frozenset({"city", "country", "line1", "line2", "postal_code", "state"}),
                    "address",
                )
                keys = ("city", "country", "line1", "line2", "postal_code", "state")
                fields["address"] = {k: (address.get(k) or None) for k in keys}
        if "preferred_locales" in params:
            fields["preferred_locales"] = _list(params["preferred_locales"])
        return fields

    def _customer(self, native_id: str, param: str, *, status: int = 400, deleted_ok: bool = False) -> Json:
        customer = self.customers.get(native_id)
        if customer is None or (customer.get("deleted") and not deleted_ok):
            raise _no_such("customer", native_id, param, status)
        return customer

    # -- products and prices -------------------------------------------------------------------
    @route("POST", r"/v1/products", "create_product")
    @_idempotent
    def create_product(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _PRODUCT_CREATE)
        product = self._product_object(params)
        self.products[product["id"]] = product
        self._emit("product.created", product, request)
        return FakeResponse(200, product)

    def _product_object(self, params: Json, param: str = "name") -> Json:
        name = _string(params, "name", 5000)
        if not name:
            raise _missing(param)
        native_id = params.get("id") or self._new_id("prod_", "product", 14)
        if native_id in self.products:
            raise _stripe_error(400, "Product already exists.", code="resource_already_exists", param="id")
        now = self._now()
        return {
            "id": native_id,
            "object": "product",
            "active": _boolean(params, "active", True),
            "created": now,
            "description": _string(params, "description", 40000) or None,
            "images": _list(params.get("images", [])),
            "livemode": False,
            "metadata": _merged_metadata({}, params.get("metadata", {})),
            "name": name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": _string(params, "statement_descriptor", 22) or None,
            "tax_code": None,
            "unit_label": _string(params, "unit_label", 12) or None,
            "updated": now,
            "url": _string(params, "url", 5000) or None,
        }

    @route("POST", r"/v1/prices", "create_price")
    @_idempotent
    def create_price(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _PRICE_CREATE)
        if "product" in params and "product_data" in params:
            raise _stripe_error(
                400,
                "You may only specify one of these parameters: product, product_data.",
                code="parameters_exclusive",
                param="product",
            )
        if "product_data" in params:
            data = params["product_data"]
            if not isinstance(data, dict):
                raise _stripe_error(400, "Invalid object", param="product_data")
            product = self._product_object(data, "product_data[name]")
            self.products[product["id"]] = product
            self._emit("product.created", product, request)
            product_id = product["id"]
        elif "product" in params:
            product_id = _string(params, "product", 5000)
            if product_id not in self.products:
                raise _no_such("product", product_id, "product")
        else:
            raise _stripe_error(
                400,
                "You must specify either `product` or `product_data` when creating a price.",
                param="product",
            )
        price = self._price_object(params, product_id, "")
        if price["lookup_key"] and any(p["lookup_key"] == price["lookup_key"] for p in self.prices.values()):
            raise _stripe_error(400, "A price already uses that lookup key.", param="lookup_key")
        self.prices[price["id"]] = price
        self._emit("price.created", price, request)
        return FakeResponse(200, price)

    @route("GET", r"/v1/prices/search", "search_prices")
    def search_prices(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._search(request, "prices", list(self.prices.values())))

    def _price_object(self, params: Json, product: str, prefix: str, *, active: bool = True) -> Json:
        """A price from ``price`` create params (``prefix`` ''), or inline ``price_data`` (``items[0][price_data]``)."""

        def name(field: str) -> str:
            return f"{prefix}[{field}]" if prefix else field

        currency = _currency(params, name("currency"))
        scheme = _enum(params, "billing_scheme", ("per_unit", "tiered"), "per_unit", name("billing_scheme"))
        unit_amount = _integer(params, "unit_amount", name("unit_amount"))
        decimal = params.get("unit_amount_decimal")
        if unit_amount is not None and decimal is not None:
            raise _stripe_error(
                400,
                "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
                code="parameters_exclusive",
                param=name("unit_amount"),
            )
        if unit_amount is None and decimal is None and scheme == "per_unit":
            raise _missing(name("unit_amount"))
        if unit_amount is not None:
            if unit_amount < 0:
                raise _stripe_error(
                    400, "This value must be greater than or equal to 0.", param=name("unit_amount")
                )
            if currency in _THREE_DECIMAL and unit_amount % 10:
                raise _stripe_error(
                    400,
                    f"Amounts in {currency.upper()} must be a multiple of 10 (the last decimal place must be 0).",
                    param=name("unit_amount"),
                )
        recurring = self._recurring(params.get("recurring"), name("recurring"))
        return {
            "id": self._new_id("price_1", "price", 23),
            "object": "price",
            "active": _boolean(params, "active", active),
            "billing_scheme": scheme,
            "created": self._now(),
            "currency": currency,
            "livemode": False,
            "lookup_key": _string(params, "lookup_key", 200) or None,
            "metadata": _merged_metadata({}, params.get("metadata", {})),
            "nickname": _string(params, "nickname", 5000) or None,
            "product": product,
            "recurring": recurring,
            "tax_behavior": _enum(
                params,
                "tax_behavior",
                ("exclusive", "inclusive", "unspecified"),
                "unspecified",
                name("tax_behavior"),
            ),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount) if unit_amount is not None else str(decimal),
        }

    def _recurring(self, value: Any, param: str) -> Json | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _stripe_error(400, "Invalid object", param=param)
        _only(value, frozenset({"aggregate_usage", "interval", "interval_count", "usage_type"}), param)
        if "interval" not in value:
            raise _missing(f"{param}[interval]")
        interval = _enum(value, "interval", ("day", "month", "week", "year"), param=f"{param}[interval]")
        usage = _enum(value, "usage_type", ("licensed", "metered"), "licensed", f"{param}[usage_type]")
        aggregate = None
        if "aggregate_usage" in value:
            if usage != "metered":
                raise _stripe_error(
                    400,
                    "aggregate_usage can only be set when usage_type is metered.",
                    param=f"{param}[aggregate_usage]",
                )
            aggregate = _enum(
                value,
                "aggregate_usage",
                ("last_during_period", "last_ever", "max", "sum"),
                param=f"{param}[aggregate_usage]",
            )
        elif usage == "metered":
            aggregate = "sum"
        count = _integer(value, "interval_count", f"{param}[interval_count]") or 1
        return {
            "aggregate_usage": aggregate,
            "interval": interval,
            "interval_count": count,
            "usage_type": usage,
        }

    # -- subscriptions -------------------------------------------------------------------------
    @route("POST", r"/v1/subscriptions", "create_subscription")
    @_idempotent
    def create_subscription(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _SUBSCRIPTION_CREATE)
        if "customer" not in params:
            raise _missing("customer")
        customer = self._customer(_string(params, "customer", 5000), "customer")
        entries = _list(params.get("items"))
        if not entries:
            raise _missing("items")
        if len(entries) > 20:
            raise _stripe_error(400, "A subscription can have at most 20 items.", param="items")
        collection = self._collection(params, "")
        now = self._now()
        anchor = _integer(params, "billing_cycle_anchor")
        if anchor is not None and anchor <= now:
            raise _stripe_error(
                400, "billing_cycle_anchor must be a timestamp in the future.", param="billing_cycle_anchor"
            )
        cancel_at = _integer(params, "cancel_at")
        if cancel_at is not None and cancel_at <= now:
            raise _stripe_error(400, "cancel_at must be a timestamp in the future.", param="cancel_at")
        _enum(
            params, "proration_behavior", ("always_invoice", "create_prorations", "none"), "create_prorations"
        )
        prices = [self._item_price(entry, f"items[{i}]", recurring=True) for i, entry in enumerate(entries)]
        self._one_billing(prices, "items")
        self._fix_currency(customer, prices[0][0]["currency"])
        for price, _ in prices:
            self._store_inline(price, request)
        native_id = self._new_id("sub_1", "subscription", 23)
        subscription = self._subscription_object(
            native_id,
            customer["id"],
            prices,
            collection,
            metadata=_merged_metadata({}, params.get("metadata", {})),
            anchor=anchor,
            cancel_at=cancel_at,
        )
        self.subscriptions[native_id] = subscription
        self._emit("customer.subscription.created", subscription, request)
        return FakeResponse(200, subscription)

    @route("GET", r"/v1/subscriptions/search", "search_subscriptions")
    def search_subscriptions(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._search(request, "subscriptions", list(self.subscriptions.values())))

    @route("GET", rf"/v1/subscriptions/{_ID}", "retrieve_subscription")
    def retrieve_subscription(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._subscription(match["id"]))

    @route("DELETE", rf"/v1/subscriptions/{_ID}", "cancel_subscription")
    def cancel_subscription(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        subscription = self._subscription(match["id"])
        params = _form(request)
        _only(params, frozenset({"expand", "invoice_now", "prorate"}))
        if subscription["status"] == "canceled":
            raise _stripe_error(400, "This subscription has already been canceled.", param="subscription")
        self._end_subscription(subscription, request)
        schedule = self.schedules.get(subscription["schedule"] or "")
        if schedule is not None and schedule["status"] in {"not_started", "active"}:
            schedule.update(status="canceled", canceled_at=self._now(), current_phase=None)
            self._emit("subscription_schedule.canceled", schedule, request)
        return FakeResponse(200, subscription)

    def _subscription(self, native_id: str) -> Json:
        subscription = self.subscriptions.get(native_id)
        if subscription is None:
            raise _no_such("subscription", native_id, "id", 404)
        return subscription

    def _subscription_object(
        self,
        native_id: str,
        customer: str,
        prices: list[tuple[Json, int | None]],
        collection: tuple[str, int | None],
        *,
        metadata: Json,
        anchor: int | None = None,
        cancel_at: int | None = None,
        schedule: str | None = None,
    ) -> Json:
        now = self._now()
        interval = prices[0][0]["recurring"]
        period = _period_s(interval["interval"], interval["interval_count"])
        items: list[Json] = [
            {
                "id": self._new_id("si_", "subscription_item", 14),
                "object": "subscription_item",
                "billing_thresholds": None,
                "created": now,
                "metadata": {},
                "price": copy.deepcopy(price),
                **({"quantity": quantity} if price["recurring"]["usage_type"] == "licensed" else {}),
                "subscription": native_id,
                "tax_rates": [],
            }
            for price, quantity in prices
        ]
        return {
            "id": native_id,
            "object": "subscription",
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False},
            "billing_cycle_anchor": anchor or now,
            "billing_thresholds": None,
            "cancel_at": cancel_at,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": collection[0],
            "created": now,
            "current_period_end": anchor or now + period,
            "current_period_start": now,
            "customer": customer,
            "days_until_due": collection[1],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "discount": None,
            "ended_at": None,
            "items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={native_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": metadata,
            "next_pending_invoice_item_invoice": None,
            "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None},
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": schedule,
            "start_date": now,
            "status": "active",
            "test_clock": None,
            "transfer_data": None,
            "trial_end": None,
            "trial_start": None,
        }

    def _end_subscription(self, subscription: Json, request: FakeRequest) -> None:
        now = self._now()
        subscription.update(status="canceled", canceled_at=now, ended_at=now)
        self._emit("customer.subscription.deleted", subscription, request)

    def _item_price(  # noqa: PLR0912 - one branch per refusal, in Stripe's order
        self, entry: Any, param: str, *, recurring: bool
    ) -> tuple[Json, int | None]:
        """The price of a subscription item or invoice item (an id, or inline ``price_data``) and its quantity."""
        if not isinstance(entry, dict):
            raise _stripe_error(400, "Invalid object", param=param)
        allowed = {"billing_thresholds", "metadata", "price", "price_data", "quantity", "tax_rates"}
        _only(entry, frozenset(allowed if recurring else allowed - {"billing_thresholds", "metadata"}), param)
        if "price" in entry and "price_data" in entry:
            raise _stripe_error(
                400,
                "You may only specify one of these parameters: price, price_data.",
                code="parameters_exclusive",
                param=f"{param}[price]",
            )
        if "price_data" in entry:
            data = entry["price_data"]
            if not isinstance(data, dict):
                raise _stripe_error(400, "Invalid object", param=f"{param}[price_data]")
            where = f"{param}[price_data]"
            for required in ("currency", "product", *(("recurring",) if recurring else ())):
                if required not in data:
                    raise _missing(f"{where}[{required}]")
            product = _string(data, "product", 5000)
            if product not in self.products:
                raise _no_such("product", product, f"{where}[product]")
            price = self._price_object(data, product, where, active=False)
        elif "price" in entry:
            price_id = _string(entry, "price", 5000)
            if price_id not in self.prices:
                raise _no_such("price", price_id, f"{param}[price]")
            price = self.prices[price_id]
        else:
            raise _missing(f"{param}[price]")
        wanted = "recurring" if recurring else "one_time"
        if price["type"] != wanted:
            raise _stripe_error(
                400,
                f"The price specified is set to `type={price['type']}` but this field only accepts prices with "
                f"`type={wanted}`.",
                param=f"{param}[price]",
            )
        quantity = _integer(entry, "quantity", f"{param}[quantity]")
        metered = recurring and price["recurring"]["usage_type"] == "metered"
        if metered and quantity is not None:
            raise _stripe_error(
                400,
                "Quantity should not be specified where usage_type is `metered`. Remove quantity from "
                f"`{param}`.",
                param=f"{param}[quantity]",
            )
        if quantity is not None and quantity < 0:
            raise _stripe_error(
                400, "This value must be greater than or equal to 0.", param=f"{param}[quantity]"
            )
        return price, None if metered else (1 if quantity is None else quantity)

    def _store_inline(self, price: Json, request: FakeRequest) -> None:
        if price["id"] not in self.prices:
            self.prices[price["id"]] = price
            self._emit("price.created", price, request)

    def _one_billing(self, prices: list[tuple[Json, int | None]], param: str) -> None:
        first = prices[0][0]
        for price, _ in prices[1:]:
            same_interval = (price["recurring"] or {}).get("interval") == (first["recurring"] or {}).get(
                "interval"
            )
            if price["currency"] != first["currency"] or not same_interval:
                raise _stripe_error(
                    400,
                    "Currency and interval fields must match across all plans on this subscription.",
                    param=param,
                )

    def _fix_currency(self, customer: Json, currency: str) -> None:
        """A customer bills in one currency: the first subscription or schedule sets it."""
        held = customer.get("currency")
        if held and held != currency:
            raise _stripe_error(
                400,
                "You cannot combine currencies on a single customer. This customer has an active subscription, "
                f"subscription schedule, discount, quote, or invoice item with currency {held}.",
                param="currency",
            )
        customer["currency"] = currency

    def _collection(self, params: Json, prefix: str) -> tuple[str, int | None]:
        method = _enum(
            params, "collection_method", ("charge_automatically", "send_invoice"), "charge_automatically"
        )
        days = _integer(params, "days_until_due", f"{prefix}days_until_due")
        if method == "send_invoice" and days is None:
            raise _missing(f"{prefix}days_until_due")
        if method != "send_invoice" and days is not None:
            raise _stripe_error(
                400,
                "days_until_due can only be set when collection_method is send_invoice.",
                param=f"{prefix}days_until_due",
            )
        if method == "charge_automatically":
            raise _no_payment_method()  # pshub's customers pay by invoice: none has a card on file
        if days is not None and days < 0:
            raise _stripe_error(
                400, "This value must be greater than or equal to 0.", param=f"{prefix}days_until_due"
            )
        return method, days

    # -- subscription schedules ----------------------------------------------------------------
    @route("POST", r"/v1/subscription_schedules", "create_subscription_schedule")
    @_idempotent
    def create_subscription_schedule(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _SCHEDULE_CREATE)
        if "from_subscription" in params:
            raise _stripe_error(
                400, "from_subscription is not supported by this fake.", param="from_subscription"
            )
        if "customer" not in params:
            raise _missing("customer")
        customer = self._customer(_string(params, "customer", 5000), "customer")
        entries = _list(params.get("phases"))
        if not entries:
            raise _missing("phases")
        end_behavior = _enum(params, "end_behavior", ("cancel", "none", "release", "renew"), "release")
        settings = params.get("default_settings") or {}
        if not isinstance(settings, dict):
            raise _stripe_error(400, "Invalid object", param="default_settings")
        default_method, default_days = self._schedule_collection(settings, "default_settings")
        now = self._now()
        start = self._start_date(params.get("start_date", "now"), now)
        phases: list[Json] = []
        currency: str | None = None
        all_prices: list[Json] = []
        for index, entry in enumerate(entries):
            phase, prices = self._phase(entry, index, start, last=index == len(entries) - 1)
            for price in prices:
                if currency is not None and price["currency"] != currency:
                    raise _stripe_error(
                        400,
                        "All prices on a subscription schedule must have the same currency.",
                        param="phases",
                    )
                currency = price["currency"]
            all_prices += prices
            phases.append(phase)
            start = phase["end_date"]
        assert currency is not None
        self._fix_currency(customer, currency)
        for price in all_prices:
            self._store_inline(price, request)
        native_id = self._new_id("sub_sched_1", "invoice_schedule", 23)
        first = phases[0]
        schedule: Json = {
            "id": native_id,
            "object": "subscription_schedule",
            "canceled_at": None,
            "completed_at": None,
            "created": now,
            "current_phase": None,
            "customer": customer["id"],
            "default_settings": {
                "application_fee_percent": None,
                "automatic_tax": {"enabled": False},
                "billing_cycle_anchor": _enum(
                    settings, "billing_cycle_anchor", ("automatic", "phase_start"), "automatic"
                ),
                "billing_thresholds": None,
                "collection_method": default_method,
                "default_payment_method": None,
                "invoice_settings": {"days_until_due": default_days} if default_days is not None else None,
                "transfer_data": None,
            },
            "end_behavior": end_behavior,
            "livemode": False,
            "metadata": _merged_metadata({}, params.get("metadata", {})),
            "phases": phases,
            "released_at": None,
            "released_subscription": None,
            "status": "not_started",
            "subscription": None,
            "test_clock": None,
        }
        if first["start_date"] <= now:
            method = first["collection_method"] or default_method
            days = (first["invoice_settings"] or {}).get("days_until_due", default_days)
            if method != "send_invoice":
                raise _no_payment_method()
            items = [(self._price_of(item["price"]), item.get("quantity")) for item in first["items"]]
            subscription = self._subscription_object(
                self._new_id("sub_1", "subscription", 23),
                customer["id"],
                items,
                (method or "send_invoice", days),
                metadata={},
                schedule=native_id,
            )
            self.subscriptions[subscription["id"]] = subscription
            schedule.update(
                status="active",
                subscription=subscription["id"],
                current_phase={"start_date": first["start_date"], "end_date": first["end_date"]},
            )
            self._emit("customer.subscription.created", subscription, request)
        self.schedules[native_id] = schedule
        self._emit("subscription_schedule.created", schedule, request)
        return FakeResponse(200, schedule)

    @route("GET", r"/v1/subscription_schedules", "list_subscription_schedules")
    def list_subscription_schedules(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _query(request)
        _only(
            params,
            frozenset(
                [
                    "canceled_at",
                    "completed_at",
                    "created",
                    "customer",
                    "ending_before",
                    "expand",
                    "limit",
                    "released_at",
                    "scheduled",
                    "starting_after",
                ]
            ),
        )
        wanted = params.get("customer")
        schedules = [s for s in self.schedules.values() if wanted is None or s["customer"] == wanted]
        return FakeResponse(200, _page(params, schedules, "/v1/subscription_schedules"))

    @route("GET", rf"/v1/subscription_schedules/{_ID}", "retrieve_subscription_schedule")
    def retrieve_subscription_schedule(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._schedule(match["id"]))

    @route("POST", rf"/v1/subscription_schedules/{_ID}/cancel", "cancel_subscription_schedule")
    @_idempotent
    def cancel_subscription_schedule(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        schedule = self._schedule(match["id"])
        params = _form(request)
        _only(params, frozenset({"expand", "invoice_now", "prorate"}))
        _boolean(params, "invoice_now", True)
        _boolean(params, "prorate", True)
        if schedule["status"] not in {"not_started", "active"}:
            raise _stripe_error(
                400,
                f"You cannot cancel a subscription schedule that is {schedule['status']}.",
                param="schedule",
            )
        schedule.update(status="canceled", canceled_at=self._now(), current_phase=None)
        subscription = self.subscriptions.get(schedule["subscription"] or "")
        if subscription is not None and subscription["status"] in _SUBSCRIPTION_LIVE:
            self._end_subscription(subscription, request)
        self._emit("subscription_schedule.canceled", schedule, request)
        return FakeResponse(200, schedule)

    def _schedule(self, native_id: str) -> Json:
        schedule = self.schedules.get(native_id)
        if schedule is None:
            raise _no_such("subscription_schedule", native_id, "schedule", 404)
        return schedule

    def _phase(self, entry: Any, index: int, start: int, *, last: bool) -> tuple[Json, list[Json]]:
        where = f"phases[{index}]"
        if not isinstance(entry, dict):
            raise _stripe_error(400, "Invalid object", param=where)
        _only(entry, _PHASE, where)
        if "end_date" in entry and "iterations" in entry:
            raise _stripe_error(
                400,
                "You may only specify one of these parameters: end_date, iterations.",
                code="parameters_exclusive",
                param=f"{where}[end_date]",
            )
        entries = _list(entry.get("items"))
        if not entries:
            raise _missing(f"{where}[items]")
        items = [
            self._item_price(item, f"{where}[items][{i}]", recurring=True) for i, item in enumerate(entries)
        ]
        self._one_billing(items, f"{where}[items]")
        extras = _list(entry.get("add_invoice_items"))
        if len(extras) > 20:
            raise _stripe_error(
                400, "A phase can have at most 20 add_invoice_items.", param=f"{where}[add_invoice_items]"
            )
        invoice_items = [
            self._item_price(item, f"{where}[add_invoice_items][{i}]", recurring=False)
            for i, item in enumerate(extras)
        ]
        end = _integer(entry, "end_date", f"{where}[end_date]")
        iterations = _integer(entry, "iterations", f"{where}[iterations]")
        if end is None:
            if iterations is None and not last:
                raise _missing(f"{where}[end_date]")
            recurring = items[0][0]["recurring"]
            end = start + (iterations or 1) * _period_s(recurring["interval"], recurring["interval_count"])
        if end <= start:
            raise _stripe_error(
                400,
                f"The end_date of phase {index} must be after its start date.",
                param=f"{where}[end_date]",
            )
        method = entry.get("collection_method")
        if method is not None:
            method = _enum(
                entry,
                "collection_method",
                ("charge_automatically", "send_invoice"),
                param=f"{where}[collection_method]",
            )
        settings = entry.get("invoice_settings")
        days = None
        if settings is not None:
            if not isinstance(settings, dict):
                raise _stripe_error(400, "Invalid object", param=f"{where}[invoice_settings]")
            days = _integer(settings, "days_until_due", f"{where}[invoice_settings][days_until_due]")
        phase: Json = {
            "add_invoice_items": [
                {"price": price["id"], "quantity": quantity, "tax_rates": []}
                for price, quantity in invoice_items
            ],
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False},
            "billing_cycle_anchor": _enum(
                entry,
                "billing_cycle_anchor",
                ("automatic", "phase_start"),
                None,
                f"{where}[billing_cycle_anchor]",
            ),
            "billing_thresholds": None,
            "collection_method": method,
            "coupon": None,
            "default_payment_method": None,
            "default_tax_rates": [],
            "end_date": end,
            "invoice_settings": {"days_until_due": days} if days is not None else None,
            "items": [
                {
                    "billing_thresholds": None,
                    "price": price["id"],
                    **({"quantity": quantity} if quantity is not None else {}),
                    "tax_rates": [],
                }
                for price, quantity in items
            ],
            "proration_behavior": _enum(
                entry,
                "proration_behavior",
                ("always_invoice", "create_prorations", "none"),
                "create_prorations",
                f"{where}[proration_behavior]",
            ),
            "start_date": start,
            "transfer_data": None,
            "trial_end": None,
        }
        return phase, [price for price, _ in items + invoice_items]

    def _schedule_collection(self, settings: Json, where: str) -> tuple[str | None, int | None]:
        method = None
        if "collection_method" in settings:
            method = _enum(
                settings,
                "collection_method",
                ("charge_automatically", "send_invoice"),
                param=f"{where}[collection_method]",
            )
        invoice = settings.get("invoice_settings") or {}
        days = (
            _integer(invoice, "days_until_due", f"{where}[invoice_settings][days_until_due]")
            if invoice
            else None
        )
        if method == "send_invoice" and days is None:
            raise _missing(f"{where}[invoice_settings][days_until_due]")
        return method, days

    def _start_date(self, value: Any, now: int) -> int:
        if value == "now":
            return now
        if isinstance(value, str) and re.fullmatch(r"\d+", value):
            return int(value)
        raise _stripe_error(
            400, f"Invalid start_date: {value}. Use `now` or a Unix timestamp.", param="start_date"
        )

    def _price_of(self, price_id: str) -> Json:
        return self.prices[price_id]

    def _currency_of_schedule(self, schedule: Json) -> str | None:
        for phase in schedule["phases"]:
            for item in phase["items"]:
                price = self.prices.get(item["price"])
                if price is not None:
                    return str(price["currency"]).upper()
        return None

    # -- events --------------------------------------------------------------------------------
    # -- invoices, invoice items, credit notes -----------------------------------------------------
    @route("POST", r"/v1/invoices", "create_invoice")
    @_idempotent
    def create_invoice(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _INVOICE_CREATE)
        if "customer" not in params:
            raise _missing("customer")
        customer = self._customer(str(params["customer"]), "customer")
        behavior = _enum(
            params, "pending_invoice_items_behavior", ("exclude", "include", "include_and_require"), "include"
        )
        pending = [
            i for i in self.invoice_items.values() if i["customer"] == customer["id"] and not i["invoice"]
        ]
        if behavior != "exclude" and not pending:
            raise _stripe_error(
                400,
                "Nothing to invoice for customer",
                code="invoice_no_customer_line_items",
                param="customer",
            )
        method, days = self._collection(params, "")
        native_id = self._new_id("in_1", "invoice", 22)
        now = self._now()
        invoice: Json = {
            "id": native_id,
            "object": "invoice",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": _boolean(params, "auto_advance", False),
            "automatic_tax": {"enabled": False, "status": None},
            "collection_method": method,
            "created": now,
            "currency": customer.get("currency") or "usd",
            "customer": customer["id"],
            "days_until_due": days,
            "default_tax_rates": [],
            "description": _string(params, "description", 1500) or None,
            "lines": {"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{native_id}/lines"},
            "livemode": False,
            "metadata": _merged_metadata({}, params.get("metadata", {})),
            "number": None,
            "paid": False,
            "paid_out_of_band": False,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None},
            "period_end": now,
            "period_start": now,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "starting_balance": 0,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None
            },
            "subtotal": 0,
            "total": 0,
            "total_tax_amounts": [],
        }  # fmt: skip
        self.invoices[native_id] = invoice
        for item in pending if behavior != "exclude" else []:
            self._attach(invoice, item)
        self._emit("invoice.created", invoice, request)
        return FakeResponse(200, invoice)

    @route("GET", r"/v1/invoices/search", "search_invoices")
    def search_invoices(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._search(request, "invoices", list(self.invoices.values())))

    @route("GET", rf"/v1/invoices/{_ID}", "retrieve_invoice")
    def retrieve_invoice(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return FakeResponse(200, self._invoice(match["id"], "invoice", status=404))

    @route("POST", rf"/v1/invoices/{_ID}/finalize", "finalize_invoice")
    @_idempotent
    def finalize_invoice(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, frozenset({"auto_advance", "expand"}))
        invoice = self._invoice(match["id"], "invoice", status=404)
        if invoice["status"] != "draft":
            raise _stripe_error(
                400, "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_not_editable",
            )  # fmt: skip
        customer = self.customers[invoice["customer"]]
        invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        invoice["status"] = "open"
        invoice["status_transitions"]["finalized_at"] = self._now()
        if invoice["total"] == 0:
            invoice.update(status="paid", paid=True)
        self._emit("invoice.finalized", invoice, request)
        return FakeResponse(200, invoice)

    @route("POST", r"/v1/invoiceitems", "create_invoice_item")
    @_idempotent
    def create_invoice_item(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _INVOICEITEM_CREATE)
        if "customer" not in params:
            raise _missing("customer")
        customer = self._customer(str(params["customer"]), "customer")
        invoice = self._invoice(str(params["invoice"]), "invoice") if "invoice" in params else None
        if invoice is not None and invoice["status"] != "draft":
            raise _stripe_error(
                400, f"You can only add invoice items to draft invoices. Invoice {invoice['id']} is "
                f"{invoice['status']}.", code="invoice_not_editable", param="invoice",
            )  # fmt: skip
        if invoice is not None and invoice["customer"] != customer["id"]:
            raise _stripe_error(400, "The invoice belongs to another customer.", param="invoice")
        currency = _currency(params, "currency")
        quantity = _integer(params, "quantity") or 1
        amount = _integer(params, "amount")
        if amount is None:
            unit = params.get("unit_amount_decimal") or params.get("unit_amount")
            if unit is None:
                raise _missing("amount")
            try:
                amount = int(Decimal(str(unit)) * quantity)
            except ArithmeticError:
                raise _stripe_error(400, f"Invalid decimal: {unit}", param="unit_amount_decimal") from None
        if currency in _THREE_DECIMAL and amount % 10:
            raise _stripe_error(400, f"Amounts in {currency} must end in 0.", param="amount")
        self._fix_currency(customer, currency)
        now = self._now()
        item: Json = {
            "id": self._new_id("ii_1", "invoiceitem", 22),
            "object": "invoiceitem",
            "amount": amount,
            "currency": currency,
            "customer": customer["id"],
            "date": now,
            "description": _string(params, "description", 500) or None,
            "discountable": True,
            "invoice": None,
            "livemode": False,
            "metadata": _merged_metadata({}, params.get("metadata", {})),
            "period": {"end": now, "start": now},
            "proration": False,
            "quantity": quantity,
        }
        self.invoice_items[item["id"]] = item
        if invoice is not None:
            self._attach(invoice, item)
        self._emit("invoiceitem.created", item, request)
        return FakeResponse(200, item)

    @route("POST", r"/v1/credit_notes", "create_credit_note")
    @_idempotent
    def create_credit_note(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _form(request)
        _only(params, _CREDIT_NOTE_CREATE)
        if "invoice" not in params:
            raise _missing("invoice")
        invoice = self._invoice(str(params["invoice"]), "invoice")
        if invoice["status"] not in ("open", "paid"):
            raise _stripe_error(
                400, f"You can only create credit notes for open or paid invoices. Invoice {invoice['id']} "
                f"is {invoice['status']}.", param="invoice",
            )  # fmt: skip
        reason = _enum(
            params, "reason", ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
        )
        credited = invoice["post_payment_credit_notes_amount"] + invoice["pre_payment_credit_notes_amount"]
        amount = _integer(params, "amount")
        amount = invoice["total"] - credited if amount is None else amount
        if amount <= 0 or credited + amount > invoice["total"]:
            raise _stripe_error(
                400, f"The credit note amount ({amount}) must be positive and at most the invoice's total less "
                f"what is already credited ({invoice['total'] - credited}).", param="amount",
            )  # fmt: skip
        kind = "post_payment" if invoice["status"] == "paid" else "pre_payment"
        invoice[f"{kind}_credit_notes_amount"] += amount
        if kind == "pre_payment":
            invoice["amount_due"] -= amount
            invoice["amount_remaining"] -= amount
        number = len([c for c in self.credit_notes.values() if c["invoice"] == invoice["id"]]) + 1
        note: Json = {
            "id": self._new_id("cn_1", "credit_note", 22),
            "object": "credit_note",
            "amount": amount,
            "created": self._now(),
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "discount_amount": 0,
            "discount_amounts": [],
            "invoice": invoice["id"],
            "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/credit_notes/lines"},
            "livemode": False,
            "memo": _string(params, "memo", 5000) or None,
            "metadata": _merged_metadata({}, params.get("metadata", {})),
            "number": f"{invoice['number']}-CN-{number:02d}",
            "pdf": "https://pay.stripe.com/credit_notes/fake/pdf",
            "reason": reason,
            "status": "issued",
            "subtotal": amount,
            "tax_amounts": [],
            "total": amount,
            "type": kind,
        }
        self.credit_notes[note["id"]] = note
        self._emit("credit_note.created", note, request)
        return FakeResponse(200, note)

    def _invoice(self, native_id: str, param: str, *, status: int = 400) -> Json:
        invoice = self.invoices.get(native_id)
        if invoice is None:
            raise _no_such("invoice", native_id, param, status)
        return invoice

    def _attach(self, invoice: Json, item: Json) -> None:
        if invoice["lines"]["data"] and item["currency"] != invoice["currency"]:
            raise _stripe_error(
                400, "Invoice items on one invoice must share its currency.", param="currency"
            )
        item["invoice"] = invoice["id"]
        invoice["currency"] = item["currency"]
        invoice["lines"]["data"].append(
            {
                "id": "il_" + item["id"].removeprefix("ii_"),
                "object": "line_item",
                "amount": item["amount"],
                "currency": item["currency"],
                "description": item["description"],
                "discountable": True,
                "invoice_item": item["id"],
                "livemode": False,
                "metadata": dict(item["metadata"]),
                "period": dict(item["period"]),
                "proration": False,
                "quantity": item["quantity"],
                "type": "invoiceitem",
            }
        )
        for name in ("subtotal", "total", "amount_due", "amount_remaining"):
            invoice[name] += item["amount"]

    @route("GET", r"/v1/events", "list_events")
    def list_events(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        params = _query(request)
        _only(
            params,
            frozenset(
                [
                    "created",
                    "delivery_success",
                    "ending_before",
                    "expand",
                    "limit",
                    "starting_after",
                    "type",
                    "types",
                ]
            ),
        )
        if "type" in params and "types" in params:
            raise _stripe_error(
                400,
                "You may only specify one of these parameters: type, types.",
                code="parameters_exclusive",
                param="type",
            )
        events = [e for e in self.events if _created_matches(params.get("created"), int(e["created"]))]
        if "type" in params:
            pattern = str(params["type"])
            events = [e for e in events if _type_matches(pattern, e["type"])]
        if "types" in params:
            wanted = set(_list(params["types"]))
            events = [e for e in events if e["type"] in wanted]
        return FakeResponse(200, _page(params, events, "/v1/events"))

    def _emit(self, kind: str, obj: Json, request: FakeRequest, previous: Json | None = None) -> None:
        data: Json = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        self.events.append(
            {
                "id": self._new_id("evt_1", "event", 23),
                "object": "event",
                "api_version": API_VERSION,
                "created": self._now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": self._request_id, "idempotency_key": request.header("idempotency-key")},
                "type": kind,
            }
        )

    def _emit_plain(self, kind: str, obj: Json) -> None:
        """An event Stripe raises on its own (a payment), not in answer to a request."""
        self.events.append(
            {
                "id": self._new_id("evt_1", "event", 23),
                "object": "event",
                "api_version": API_VERSION,
                "created": self._now(),
                "data": {"object": copy.deepcopy(obj)},
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": kind,
            }
        )

    # -- search --------------------------------------------------------------------------------
    def _search(self, request: FakeRequest, resource: str, records: list[Json]) -> Json:
        params = _query(request)
        _only(params, frozenset({"expand", "limit", "page", "query"}))
        if "query" not in params:
            raise _missing("query")
        matches = _parse_query(str(params["query"]), resource)
        indexed_until = self._now() - self.search_lag_s
        found = _newest_first(r for r in records if r["created"] <= indexed_until and matches(r))
        limit = _limit(params)
        offset = 0
        if "page" in params:
            try:
                offset = int(
                    base64.urlsafe_b64decode(str(params["page"]).encode()).decode().removeprefix("offset:")
                )
            except ValueError:
                raise _stripe_error(400, "Invalid page.", param="page") from None
        data = found[offset : offset + limit]
        more = offset + limit < len(found)
        token = base64.urlsafe_b64encode(f"offset:{offset + limit}".encode()).decode() if more else None
        return {
            "object": "search_result",
            "data": copy.deepcopy(data),
            "has_more": more,
            "next_page": token,
            "total_count": len(found),
            "url": f"/v1/{resource}/search",
        }

    # -- helpers -------------------------------------------------------------------------------
    def _new_id(self, prefix: str, kind: str, length: int) -> str:
        number = self._sequence[kind] = self._sequence.get(kind, 0) + 1
        digest = hashlib.sha256(f"{self.connection.id}:{kind}:{number}".encode()).digest()
        value = int.from_bytes(digest, "big")
        chars = []
        for _ in range(length):
            value, rest = divmod(value, 62)
            chars.append(_BASE62[rest])
        return prefix + "".join(chars)

    def _now(self) -> int:
        return int(self._clock())


# -- request decoding and parameter checks ---------------------------------------------------------


def _form(request: FakeRequest) -> Json:
    """The request's parameters (form body, and the query string Stripe also reads), decoded."""
    pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True) if request.body else []
    return _decode([*pairs, *request.query])


def _query(request: FakeRequest) -> Json:
    return _decode(request.query)


def _decode(pairs: Iterable[tuple[str, str]]) -> Json:
    """``a[b][0]=x&c[]=y`` -> ``{"a": {"b": ["x"]}, "c": ["y"]}`` (numbered keys become lists)."""
    root: Json = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in ("[" + rest).split("[")[1:]] if rest else [])
        node: Any = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":
                if not isinstance(node, list):
                    raise _stripe_error(400, f"Invalid array: {key}", param=key)
                if last:
                    node.append(value)
                    break
                raise _stripe_error(400, f"Invalid array: {key}", param=key)
            if not isinstance(node, dict):
                raise _stripe_error(400, f"Invalid hash: {key}", param=key)
            if last:
                node[part] = value
                break
            child = node.get(part)
            if child is None or isinstance(child, str):
                child = [] if parts[depth + 1] == "" else {}
                node[part] = child
            node = child
    decoded: Json = _listify(root)
    return decoded


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    if isinstance(value, list):
        return [_listify(v) for v in value]
    return value


def _only(params: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    for name in params:
        if name not in allowed:
            full = f"{prefix}[{name}]" if prefix else name
            raise _stripe_error(
                400, f"Received unknown parameter: {full}", code="parameter_unknown", param=full
            )


def _string(params: Mapping[str, Any], name: str, limit: int) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _stripe_error(400, f"Invalid string: {name}", param=name)
    if len(value) > limit:
        raise _stripe_error(
            400, f"Invalid string: {value[:20]}...; must be at most {limit} characters", param=name
        )
    return value


def _integer(params: Mapping[str, Any], name: str, param: str | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise _stripe_error(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param or name
        )
    return int(value)


def _boolean(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise _stripe_error(400, f"Invalid boolean: {value}", param=name)
    return bool(value == "true")


def _enum(
    params: Mapping[str, Any],
    name: str,
    values: tuple[str, ...],
    default: str | None = None,
    param: str | None = None,
) -> Any:
    value = params.get(name)
    if value is None:
        return default
    if value not in values:
        choices = ", ".join(values[:-1]) + f", or {values[-1]}" if len(values) > 1 else values[0]
        raise _stripe_error(400, f"Invalid {name}: must be one of {choices}", param=param or name)
    return value


def _list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    raise _stripe_error(400, "Invalid array")


def _currency(params: Mapping[str, Any], param: str) -> str:
    value = params.get("currency")
    if value is None:
        raise _missing(param)
    code = str(value).lower()
    known = CURRENCIES.get(code.upper())
    if known is None or (known.minor_unit > 3 and code not in _ZERO_DECIMAL):
        raise _stripe_error(
            400,
            f"Invalid currency: {code}. Stripe currently supports these currencies: usd, eur, ...",
            param=param,
        )
    return code


def _merged_metadata(current: Mapping[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: ``""`` for a key unsets it, ``metadata=""`` unsets all; limits checked."""
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise _stripe_error(400, "Invalid metadata: must be a hash", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if len(key) > 40:
            raise _stripe_error(
                400,
                f"Metadata keys can have up to 40 characters, but you passed in a key with {len(key)}.",
                param=f"metadata[{key}]",
            )
        if not isinstance(value, str):
            raise _stripe_error(400, "Invalid metadata value: must be a string", param=f"metadata[{key}]")
        if len(value) > 500:
            raise _stripe_error(
                400,
                f"Metadata values can have up to 500 characters, but you passed in a value that is {len(value)} "
                "characters.",
                param=f"metadata[{key}]",
            )
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise _stripe_error(400, "You can only specify up to 50 metadata keys.", param="metadata")
    return merged


def _limit(params: Mapping[str, Any]) -> int:
    limit = _integer(params, "limit")
    if limit is None:
        return 10
    if not 1 <= limit <= 100:
        raise _stripe_error(400, "This value must be between 1 and 100 (inclusive).", param="limit")
    return limit


def _page(params: Mapping[str, Any], records: list[Json], url: str) -> Json:
    """A list page, newest first, with ``starting_after`` / ``ending_before`` cursors."""
    ordered = _newest_first(records)
    ids = [r["id"] for r in ordered]
    limit = _limit(params)
    if params.get("starting_after"):
        cursor = str(params["starting_after"])
        if cursor not in ids:
            raise _no_such("object", cursor, "starting_after")
        ordered = ordered[ids.index(cursor) + 1 :]
        data, more = ordered[:limit], len(ordered) > limit
    elif params.get("ending_before"):
        cursor = str(params["ending_before"])
        if cursor not in ids:
            raise _no_such("object", cursor, "ending_before")
        before = ordered[: ids.index(cursor)]
        data, more = before[-limit:], len(before) > limit
    else:
        data, more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": copy.deepcopy(data), "has_more": more, "url": url}


def _newest_first(records: Iterable[Json]) -> list[Json]:
    """Stripe's list order: newest first; records made in the same second, the later first."""
    numbered = sorted(enumerate(records), key=lambda pair: (int(pair[1]["created"]), pair[0]), reverse=True)
    return [record for _, record in numbered]


def _created_matches(condition: Any, created: int) -> bool:
    if condition is None:
        return True
    if isinstance(condition, str):
        if not re.fullmatch(r"\d+", condition):
            raise _stripe_error(
                400, f"Invalid integer: {condition}", code="parameter_invalid_integer", param="created"
            )
        return created == int(condition)
    if not isinstance(condition, dict):
        raise _stripe_error(400, "Invalid created", param="created")
    _only(condition, frozenset({"gt", "gte", "lt", "lte"}), "created")
    bounds = {k: _integer(condition, k, f"created[{k}]") for k in condition}
    checks = {
        "gt": lambda b: created > b,
        "gte": lambda b: created >= b,
        "lt": lambda b: created < b,
        "lte": lambda b: created <= b,
    }
    return all(checks[k](bound) for k, bound in bounds.items() if bound is not None)


def _type_matches(pattern: str, kind: str) -> bool:
    if pattern.endswith("*"):
        return kind.startswith(pattern[:-1])
    return kind == pattern


# -- Search Query Language (the subset) --------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<word>AND|OR)(?=\s)|(?P<neg>-)?(?P<field>metadata\[(?P<mq>['\"])(?P<mkey>(?:\\.|(?!(?P=mq)).)*)(?P=mq)\]"
    r"|[a-z_]+)(?P<op>:|~|>=|<=|>|<)(?:(?P<q>['\"])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)|(?P<bare>[0-9.]+|null)))"
)


def _parse_query(query: str, resource: str) -> Callable[[Json], bool]:
    clauses: list[Callable[[Json], bool]] = []
    joiners: set[str] = set()
    position = 0
    expect_clause = True
    while position < len(query.rstrip()):
        token = _TOKEN.match(query, position)
        if token is None or (token["word"] is not None) == expect_clause:
            raise _stripe_error(
                400,
                f"We were unable to parse your search query. Error near: {query[position : position + 20]!r}.",
                param="query",
            )
        position = token.end()
        if token["word"]:
            joiners.add(token["word"])
            expect_clause = True
            continue
        expect_clause = False
        clauses.append(_clause(token, resource))
    if expect_clause:
        raise _stripe_error(
            400, "We were unable to parse your search query: it ends without a clause.", param="query"
        )
    if len(joiners) > 1:
        raise _stripe_error(400, "Search queries cannot combine AND and OR.", param="query")
    if len(clauses) > 10:
        raise _stripe_error(400, "Search queries can have at most 10 clauses.", param="query")
    if joiners == {"OR"}:
        return lambda record: any(clause(record) for clause in clauses)
    return lambda record: all(clause(record) for clause in clauses)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _clause(token: re.Match[str], resource: str) -> Callable[[Json], bool]:
    field = token["field"]
    name = "metadata" if token["mkey"] is not None else field
    if name not in _SEARCH_FIELDS[resource]:
        raise _stripe_error(
            400,
            f"Field '{name}' is an unsupported search field for resource {resource}. See "
            f"https://stripe.com/docs/search#query-fields-for-{resource} for a list of supported fields.",
            param="query",
        )
    value = _unescape(token["value"]) if token["value"] is not None else token["bare"]
    op = token["op"]
    negate = token["neg"] is not None

    def read(record: Json) -> Any:
        if token["mkey"] is not None:
            return (record.get("metadata") or {}).get(_unescape(token["mkey"]))
        return record.get(name)

    def test(record: Json) -> bool:  # noqa: PLR0911 - one answer per operator
        held = read(record)
        if op == ":":
            if value == "null":
                return held is None
            if isinstance(held, bool):
                return str(held).lower() == value
            if name in {"email", "name"} and isinstance(held, str):
                return held.lower() == value.lower()
            return str(held) == value if held is not None else False
        if op == "~":
            return isinstance(held, str) and len(value) >= 3 and value.lower() in held.lower()
        try:
            number, bound = float(held), float(value)
        except (TypeError, ValueError):
            return False
        return {">": number > bound, "<": number < bound, ">=": number >= bound, "<=": number <= bound}[op]

    return (lambda record: not test(record)) if negate else test


# -- misc ------------------------------------------------------------------------------------------


def _api_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except ValueError:
            return None
        return decoded.partition(":")[0] or None
    return None


def _masked(key: str) -> str:
    prefix = next(
        (
            p
            for p in ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_")
            if key.startswith(p)
        ),
        "",
    )
    return prefix + "*" * max(0, len(key) - len(prefix) - 4) + key[-4:]


def _period_s(interval: str, count: int) -> int:
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[interval]
    return days * 86_400 * count


def _positive(connection: Connection, name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConnectionConfigError(f"connection {connection.id!r} option {name}: not a number") from None
    if value <= 0:
        raise ConnectionConfigError(f"connection {connection.id!r} option {name}: must be positive")
    return value

"""Canonical clients, projects and contracts as Stripe parameters, and Stripe objects back.

Pure functions, no I/O. What goes where (API version 2020-08-27):

- Client -> Customer. ``name`` is the client's name, cut to Stripe's 256 characters;
  the billing address becomes ``address``; a tax-exempt client is ``tax_exempt=exempt``.
  pshub's markers live in ``metadata`` (keys of at most 40 characters, values of at
  most 500): ``pshub_client_id`` and ``pshub_tax_key``, a digest of the normalised tax
  id (Customer Search finds a customer by it, and the search query, which is logged
  as part of the URL, carries no tax number).
- Project -> Product (``name`` "<code> <project name>"), the owner of every Price of
  the project's plan.
- Contract -> the plan, by billing model (``BillingPlanKind``):
  - retainer: Subscription of one licensed monthly price (``items[0][price_data]``);
    a start date in the future is the ``billing_cycle_anchor`` (nothing billed before).
  - usage: Subscription of one metered monthly price per rate-card role
    (``usage_type=metered``, ``aggregate_usage=sum``: hours reported as usage are
    billed in arrears at the role's rate).
  - time and materials: Subscription Schedule with one phase of the same metered
    role prices, ending on the contract's end date (``end_behavior=cancel``) or, open
    ended, after twelve monthly iterations (``release``: the subscription goes on).
  - fixed-fee milestones: Subscription Schedule whose phases start on the milestones'
    due dates; each phase resets the billing cycle (``billing_cycle_anchor=
    phase_start``) so its milestone prices (``add_invoice_items``) are invoiced that
    day, beside a zero-amount monthly price that keeps the subscription alive.
    Milestones due today or earlier are invoiced at once; the schedule cancels after
    the last one.
  Every plan is invoiced (``collection_method=send_invoice``) with ``days_until_due`` =
  the payment terms, and carries pshub's markers in ``metadata``: the project code,
  contract and client ids, the billing model, the contract's status, dates, legal
  entity, tax jurisdiction, total value, rate card identity, the plan's generation
  (a project planned again after a cancel gets a new one) and ``pshub_content``, one
  short digest per contract field, so a second request for the project names the
  fields that differ. Prices carry the project code, the customer and generation, and
  the role or milestone they price.
- Back: ``plan_from_subscription`` / ``plan_from_schedule`` rebuild the BillingPlan and its
  Contract from those objects. Amounts come from the prices; amendments and canonical
  ids of nested objects other than milestones and the rate card are not stored.

Amounts are integers in the currency's smallest unit as Stripe counts it: ISO 4217's
minor units (``pshub.canonical.currencies``) except where Stripe's currency list
differs (MGA is zero-decimal at Stripe; ISK is sent with two decimals, always 00).
Three-decimal currencies (BHD, JOD, KWD, OMR, TND) must end in 0, as Stripe requires.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pshub.canonical.currencies import currency as iso_currency
from pshub.canonical.model import (
    Address,
    BillingModel,
    Client,
    Contract,
    ContractStatus,
    Milestone,
    MilestoneStatus,
    Money,
    Project,
    Rate,
    RateCard,
    TaxProfile,
)
from pshub.connectors.results import BillingPlan, BillingPlanKind, InvoiceLine, InvoiceRequest
from pshub.sync.identity import compact_id

NAME_MAX = 256  # Customer.name, per Stripe's API reference
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
METADATA_KEYS_MAX = 50
SUBSCRIPTION_ITEMS_MAX = 20
ADD_INVOICE_ITEMS_MAX = 20  # per schedule phase
OPEN_ENDED_ITERATIONS = 12

# Markers pshub writes into metadata.
CLIENT_ID = "pshub_client_id"
TAX_KEY = "pshub_tax_key"
LEGAL_NAME = "pshub_legal_name"
LEGAL_ENTITY = "pshub_legal_entity"
PROJECT_CODE = "pshub_project_code"
CONTRACT_ID = "pshub_contract_id"
BILLING_MODEL = "pshub_billing_model"
CONTRACT_STATUS = "pshub_contract_status"
OPPORTUNITY_ID = "pshub_opportunity_id"
TAX_JURISDICTION = "pshub_tax_jurisdiction"
START_DATE = "pshub_start_date"
END_DATE = "pshub_end_date"
TOTAL_VALUE = "pshub_total_value"
RATE_CARD_ID = "pshub_rate_card_id"
RATE_CARD_NAME = "pshub_rate_card_name"
RATE_CARD_FROM = "pshub_rate_card_from"
RATE_CARD_TO = "pshub_rate_card_to"
GENERATION = "pshub_plan"
CONTENT = "pshub_content"
CUSTOMER = "pshub_customer"
ROLE = "pshub_role"
MILESTONE_ID = "pshub_milestone_id"
MILESTONE_NAME = "pshub_milestone_name"
MILESTONE_DUE = "pshub_milestone_due"
MILESTONE_STATUS = "pshub_milestone_status"
MILESTONE_PROJECT = "pshub_milestone_project"

PLACEHOLDER = "placeholder"  # the zero-amount price of a milestone schedule
_RECURRING = frozenset({BillingModel.RETAINER, BillingModel.USAGE})
_LIVE_SUBSCRIPTION = frozenset({"active", "past_due", "trialing", "unpaid", "incomplete"})
_LIVE_SCHEDULE = frozenset({"not_started", "active"})
# Stripe's own decimals where they differ from ISO 4217 (docs.stripe.com/currencies).
_STRIPE_DECIMALS = {"MGA": 0, "ISK": 2}
_WHOLE_UNITS_ONLY = frozenset({"ISK"})
_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

Params = dict[str, Any]


class MappingError(ValueError):
    """A canonical value Stripe cannot take as it is (pshub's words, no amounts)."""


# -- kinds and terms ------------------------------------------------------------------------


def plan_kind(model: BillingModel) -> BillingPlanKind:
    """Retainers and usage are subscriptions; milestones and T&M invoice schedules."""
    return BillingPlanKind.SUBSCRIPTION if model in _RECURRING else BillingPlanKind.INVOICE_SCHEDULE


def missing_terms(contract: Contract) -> list[str]:
    """The contract fields a billing model cannot be planned without."""
    needs = {
        BillingModel.TIME_AND_MATERIALS: ("rate_card", bool(contract.rate_card and contract.rate_card.rates)),
        BillingModel.FIXED_FEE_MILESTONE: ("milestones", bool(contract.milestones)),
        BillingModel.RETAINER: ("retainer_per_month", contract.retainer_per_month is not None),
        BillingModel.USAGE: ("rate_card", bool(contract.rate_card and contract.rate_card.rates)),
    }
    name, present = needs[contract.billing_model]
    return [] if present else [name]


def foreign_currency(contract: Contract) -> list[str]:
    """Contract amounts not in the contract currency (one plan, one currency)."""
    amounts: list[tuple[str, str | None]] = [
        ("rate_card", contract.rate_card.currency if contract.rate_card else None)
    ]
    amounts += [(f"milestone {m.name}", m.amount.currency) for m in contract.milestones]
    if contract.retainer_per_month:
        amounts.append(("retainer_per_month", contract.retainer_per_month.currency))
    return [name for name, code in amounts if code and code != contract.currency]


# -- amounts --------------------------------------------------------------------------------


def stripe_decimals(code: str) -> int:
    """Decimal places of ``code`` in Stripe's integer amounts."""
    upper = code.upper()
    digits = _STRIPE_DECIMALS.get(upper, iso_currency(upper).minor_unit)
    if digits > 3:
        raise MappingError(f"Stripe has no {digits}-decimal currencies ({upper})")
    return digits


def to_minor(money: Money) -> int:
    """``money`` as Stripe's integer amount in the currency's smallest unit."""
    code = money.currency
    if code in _WHOLE_UNITS_ONLY and money.amount != money.amount.to_integral_value():
        raise MappingError(f"Stripe takes whole {code} amounts only")
    scaled = money.amount.scaleb(stripe_decimals(code))
    if scaled != scaled.to_integral_value():
        raise MappingError(f"an amount in {code} has more decimals than Stripe takes")
    minor = int(scaled)
    if code in _THREE_DECIMAL and minor % 10:
        raise MappingError(f"Stripe takes {code} amounts in multiples of 0.010 (the last digit must be 0)")
    return minor


def from_minor(amount: int, code: str) -> Money:
    upper = code.upper()
    return Money(amount=Decimal(amount).scaleb(-stripe_decimals(upper)), currency=upper)


def unix(day: date) -> int:
    """Midnight UTC of ``day`` as Unix seconds."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


# -- forms and queries ---------------------------------------------------------------------


def form(params: Mapping[str, Any]) -> dict[str, str]:
    """Nested params in Stripe's bracket notation: ``{"items": [{"price": "p"}]}`` ->
    ``{"items[0][price]": "p"}``. None is left out; booleans are ``true``/``false``."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif isinstance(value, bool):
            flat[prefix] = "true" if value else "false"
        else:
            flat[prefix] = str(value)

    walk("", params)
    return flat


def quoted(value: str) -> str:
    """A Search Query Language string literal (single quotes, quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def metadata_query(clauses: Iterable[tuple[str, str]], joiner: str = "OR") -> str:
    """``metadata['k']:'v'`` clauses joined by ``AND`` or ``OR`` (Stripe allows one kind per query)."""
    return f" {joiner} ".join(f"metadata[{quoted(key)}]:{quoted(value)}" for key, value in clauses)


def digest(value: object, length: int = 16) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# -- customers ------------------------------------------------------------------------------


def tax_key(client: Client) -> str | None:
    """A digest of the client's normalised tax id: what Customer Search matches on."""
    normalised = compact_id(client.tax_profile.tax_id if client.tax_profile else None)
    return digest(normalised, 24) if normalised else None


def customer_identity(client: Client) -> Params:
    """The create parameters: only what never changes for the client (see the connector)."""
    return {"metadata": {CLIENT_ID: _id_value(client.id, CLIENT_ID)}}


def customer_params(client: Client) -> Params:
    """Everything pshub keeps up to date on the customer."""
    metadata: dict[str, str] = {CLIENT_ID: _id_value(client.id, CLIENT_ID)}
    key = tax_key(client)
    if key:
        metadata[TAX_KEY] = key
    if client.legal_name:
        metadata[LEGAL_NAME] = _fit(client.legal_name, METADATA_VALUE_MAX)
    if client.legal_entity:
        metadata[LEGAL_ENTITY] = _fit(client.legal_entity, METADATA_VALUE_MAX)
    params: Params = {"name": _fit(client.name, NAME_MAX), "metadata": metadata}
    address = _address(client.billing_address)
    if address:
        params["address"] = address
    exempt = bool(client.tax_profile and client.tax_profile.exempt)
    params["tax_exempt"] = "exempt" if exempt else "none"
    return params


def customer_differs(customer: Mapping[str, Any], params: Params) -> bool:
    """Whether ``customer`` (a Stripe object) lacks any value in ``params``."""
    if customer.get("name") != params["name"] or customer.get("tax_exempt") != params["tax_exempt"]:
        return True
    held = customer.get("address") or {}
    if any((held.get(k) or None) != v for k, v in params.get("address", {}).items()):
        return True
    metadata = customer.get("metadata") or {}
    return any(metadata.get(k) != v for k, v in params["metadata"].items())


def client_from_customer(customer: Mapping[str, Any]) -> Client:
    """A customer as a canonical client (its provisional id is the pshub marker, if any)."""
    metadata = customer.get("metadata") or {}
    address = customer.get("address") or {}
    billing = Address(
        line1=address.get("line1"),
        line2=address.get("line2"),
        city=address.get("city"),
        region=address.get("state"),
        postal_code=address.get("postal_code"),
        country=address.get("country"),
    )
    return Client(
        id=metadata.get(CLIENT_ID) or str(customer["id"]),
        name=customer.get("name") or str(customer["id"]),
        legal_name=metadata.get(LEGAL_NAME),
        legal_entity=metadata.get(LEGAL_ENTITY),
        billing_address=billing if any(address.values()) else None,
        tax_profile=TaxProfile(exempt=True) if customer.get("tax_exempt") == "exempt" else None,
        currency=str(customer["currency"]).upper() if customer.get("currency") else None,
    )


def _address(address: Address | None) -> dict[str, str]:
    if address is None:
        return {}
    fields = {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "state": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
    }
    return {k: v for k, v in fields.items() if v}


# -- plan content and markers -----------------------------------------------------------------


def contract_content(contract: Contract, customer: str) -> dict[str, Any]:
    """The contract's business fields (bookkeeping left out: ids, versions, status)."""
    dumped = _strip(contract.model_dump(mode="json"))
    content = {k: v for k, v in dumped.items() if k not in {"id", "status"}}
    return content | {"customer": customer}


def content_digests(contract: Contract, customer: str) -> dict[str, str]:
    return {field: digest(value, 8) for field, value in contract_content(contract, customer).items()}


def encode_digests(digests: Mapping[str, str]) -> str:
    return ",".join(f"{field}={value}" for field, value in sorted(digests.items()))


def decode_digests(text: str | None) -> dict[str, str]:
    pairs = (part.partition("=") for part in (text or "").split(",") if part)
    return {field: value for field, _, value in pairs}


def differing_fields(existing: Mapping[str, str], requested: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(sorted(k for k in existing.keys() | requested.keys() if existing.get(k) != requested.get(k)))


def plan_metadata(project: Project, contract: Contract, customer: str, generation: int) -> dict[str, str]:
    metadata = {
        PROJECT_CODE: _id_value(project.code, PROJECT_CODE),
        CONTRACT_ID: _id_value(contract.id, CONTRACT_ID),
        CLIENT_ID: _id_value(contract.client_id, CLIENT_ID),
        BILLING_MODEL: contract.billing_model.value,
        CONTRACT_STATUS: contract.status.value,
        GENERATION: str(generation),
        CONTENT: encode_digests(content_digests(contract, customer)),
    }
    optional = {
        OPPORTUNITY_ID: contract.opportunity_id,
        LEGAL_ENTITY: contract.legal_entity,
        TAX_JURISDICTION: contract.tax_jurisdiction,
        START_DATE: contract.start_date.isoformat() if contract.start_date else None,
        END_DATE: contract.end_date.isoformat() if contract.end_date else None,
        TOTAL_VALUE: _money_text(contract.total_value),
    }
    card = contract.rate_card
    if card is not None:
        optional |= {
            RATE_CARD_ID: card.id,
            RATE_CARD_NAME: card.name,
            RATE_CARD_FROM: card.effective_from.isoformat(),
            RATE_CARD_TO: card.effective_to.isoformat() if card.effective_to else None,
        }
    metadata |= {k: _fit(v, METADATA_VALUE_MAX) for k, v in optional.items() if v}
    return metadata


def generation_of(plan: Mapping[str, Any]) -> int:
    raw = (plan.get("metadata") or {}).get(GENERATION, "1")
    return int(raw) if str(raw).isdigit() else 1


def is_live(plan: Mapping[str, Any]) -> bool:
    """A subscription or schedule that still bills (not cancelled, completed or released)."""
    live = _LIVE_SCHEDULE if plan.get("object") == "subscription_schedule" else _LIVE_SUBSCRIPTION
    return plan.get("status") in live


def project_code_of(plan: Mapping[str, Any]) -> str | None:
    value = (plan.get("metadata") or {}).get(PROJECT_CODE)
    return str(value) if value else None


# -- request parameters ----------------------------------------------------------------------


def product_params(project: Project) -> Params:
    return {
        "name": f"{project.code} {project.name}".strip(),
        "metadata": {PROJECT_CODE: _id_value(project.code, PROJECT_CODE)},
    }


def price_marks(project: Project, customer: str, generation: int) -> dict[str, str]:
    return {
        PROJECT_CODE: _id_value(project.code, PROJECT_CODE),
        CUSTOMER: customer,
        GENERATION: str(generation),
    }


def rate_price_params(rate: Rate, contract: Contract, product: str, marks: Mapping[str, str]) -> Params:
    """A metered monthly price for one rate-card role (hours reported as usage)."""
    return {
        "currency": contract.currency.lower(),
        "product": product,
        "unit_amount": to_minor(rate.hourly_rate),
        "nickname": f"{rate.role} (hourly)",
        "recurring": {"interval": "month", "usage_type": "metered", "aggregate_usage": "sum"},
        "metadata": {**marks, ROLE: _fit(rate.role, METADATA_VALUE_MAX)},
    }


def milestone_price_params(
    milestone: Milestone, contract: Contract, product: str, marks: Mapping[str, str]
) -> Params:
    """A one-time price for a milestone, invoiced by its schedule phase."""
    metadata = {
        **marks,
        MILESTONE_ID: _id_value(milestone.id, MILESTONE_ID),
        MILESTONE_NAME: _fit(milestone.name, METADATA_VALUE_MAX),
        MILESTONE_STATUS: milestone.status.value,
    }
    if milestone.due_date:
        metadata[MILESTONE_DUE] = milestone.due_date.isoformat()
    if milestone.project_id:
        metadata[MILESTONE_PROJECT] = _id_value(milestone.project_id, MILESTONE_PROJECT)
    return {
        "currency": contract.currency.lower(),
        "product": product,
        "unit_amount": to_minor(milestone.amount),
        "nickname": milestone.name,
        "metadata": metadata,
    }


def subscription_params(
    contract: Contract,
    customer: str,
    product: str,
    metadata: Mapping[str, str],
    today: date,
    role_prices: Sequence[str] = (),
) -> Params:
    """The subscription of a retainer (one licensed price) or usage (metered role prices)."""
    if contract.billing_model is BillingModel.RETAINER:
        assert contract.retainer_per_month is not None
        items: list[Params] = [
            {
                "price_data": {
                    "currency": contract.currency.lower(),
                    "product": product,
                    "unit_amount": to_minor(contract.retainer_per_month),
                    "recurring": {"interval": "month"},
                },
                "quantity": 1,
            }
        ]
    else:
        items = [{"price": price} for price in role_prices]
    if not items or len(items) > SUBSCRIPTION_ITEMS_MAX:
        raise MappingError(f"a subscription takes 1 to {SUBSCRIPTION_ITEMS_MAX} prices, not {len(items)}")
    params: Params = {
        "customer": customer,
        "items": items,
        "collection_method": "send_invoice",
        "days_until_due": contract.payment_terms_days,
        "metadata": dict(metadata),
    }
    if contract.start_date and contract.start_date > today:
        params["billing_cycle_anchor"] = unix(contract.start_date)
        params["proration_behavior"] = "none"
    if contract.end_date:
        if contract.end_date < today:
            raise MappingError(f"the contract ended on {contract.end_date.isoformat()}")
        params["cancel_at"] = unix(contract.end_date + timedelta(days=1))
    return params


def schedule_params(
    contract: Contract,
    customer: str,
    product: str,
    metadata: Mapping[str, str],
    today: date,
    *,
    role_prices: Sequence[str] = (),
    milestone_prices: Sequence[tuple[Milestone, str]] = (),
) -> Params:
    """The subscription schedule of T&M (metered role prices) or milestones (dated phases)."""
    base: Params = {
        "customer": customer,
        "start_date": "now",
        "default_settings": {
            "collection_method": "send_invoice",
            "invoice_settings": {"days_until_due": contract.payment_terms_days},
        },
        "metadata": dict(metadata),
    }
    if contract.billing_model is BillingModel.TIME_AND_MATERIALS:
        if not role_prices or len(role_prices) > SUBSCRIPTION_ITEMS_MAX:
            raise MappingError(f"a schedule phase takes 1 to {SUBSCRIPTION_ITEMS_MAX} prices")
        phase: Params = {"items": [{"price": price} for price in role_prices]}
        if contract.end_date:
            if contract.end_date < today:
                raise MappingError(f"the contract ended on {contract.end_date.isoformat()}")
            phase["end_date"] = unix(contract.end_date + timedelta(days=1))
            end_behavior = "cancel"
        else:
            phase["iterations"] = OPEN_ENDED_ITERATIONS
            end_behavior = "release"
        return base | {"end_behavior": end_behavior, "phases": [phase]}
    return base | {
        "end_behavior": "cancel",
        "phases": milestone_phases(contract, product, milestone_prices, today),
    }


def milestone_phases(
    contract: Contract, product: str, milestone_prices: Sequence[tuple[Milestone, str]], today: date
) -> list[Params]:
    """One phase per due date; milestones due by ``today`` go into the first phase (invoiced now)."""
    placeholder = {
        "price_data": {
            "currency": contract.currency.lower(),
            "product": product,
            "unit_amount": 0,
            "recurring": {"interval": "month"},
        },
        "quantity": 1,
    }
    by_date: dict[date, list[str]] = {}
    for milestone, price in milestone_prices:
        if milestone.due_date is None:
            raise MappingError(f"milestone {milestone.id} has no due date (a schedule bills on dates)")
        by_date.setdefault(max(milestone.due_date, today), []).append(price)
    dates = sorted(by_date)
    phases: list[Params] = []
    starts: list[date] = []
    if not dates or dates[0] > today:
        phases.append({"items": [placeholder]})  # nothing due yet: wait for the first date
        starts.append(today)
    for day in dates:
        prices = by_date[day]
        if len(prices) > ADD_INVOICE_ITEMS_MAX:
            raise MappingError(f"more than {ADD_INVOICE_ITEMS_MAX} milestones fall due on {day.isoformat()}")
        phase: Params = {
            "items": [placeholder],
            "add_invoice_items": [{"price": price, "quantity": 1} for price in prices],
        }
        if day > today:
            phase["billing_cycle_anchor"] = "phase_start"
            phase["proration_behavior"] = "none"
        phases.append(phase)
        starts.append(day)
    for phase, following in zip(phases, starts[1:], strict=False):
        phase["end_date"] = unix(following)
    phases[-1]["iterations"] = 1
    return phases


# -- back to canonical ------------------------------------------------------------------------


def plan_from_subscription(subscription: Mapping[str, Any]) -> BillingPlan:
    """A retainer or usage plan from its subscription (items with their prices)."""
    metadata = subscription.get("metadata") or {}
    currency = str(subscription["items"]["data"][0]["price"]["currency"]) if _items(subscription) else ""
    prices = [item["price"] for item in _items(subscription)]
    contract = _contract(metadata, currency, subscription.get("days_until_due"), prices)
    return BillingPlan(
        native_id=str(subscription["id"]),
        project_code=str(metadata.get(PROJECT_CODE, "")),
        customer_native_id=_id_of(subscription["customer"]),
        kind=plan_kind(contract.billing_model),
        contract=contract,
        cancelled=subscription.get("status") == "canceled",
    )


def plan_from_schedule(schedule: Mapping[str, Any], prices: Sequence[Mapping[str, Any]]) -> BillingPlan:
    """A T&M or milestone plan from its schedule and the prices of its generation."""
    metadata = schedule.get("metadata") or {}
    settings = schedule.get("default_settings") or {}
    days = (settings.get("invoice_settings") or {}).get("days_until_due")
    order = [
        _id_of(entry["price"])
        for phase in schedule.get("phases") or []
        for entry in [*(phase.get("items") or []), *(phase.get("add_invoice_items") or [])]
    ]
    own = sorted(
        (p for p in prices if (p.get("metadata") or {}).get(GENERATION) == metadata.get(GENERATION)),
        key=lambda p: order.index(p["id"]) if p["id"] in order else len(order),
    )
    currency = str(own[0]["currency"]) if own else ""
    contract = _contract(metadata, currency, days, own)
    return BillingPlan(
        native_id=str(schedule["id"]),
        project_code=str(metadata.get(PROJECT_CODE, "")),
        customer_native_id=_id_of(schedule["customer"]),
        kind=plan_kind(contract.billing_model),
        contract=contract,
        cancelled=schedule.get("status") == "canceled",
    )


def _contract(
    metadata: Mapping[str, str], currency: str, days_until_due: object, prices: Sequence[Mapping[str, Any]]
) -> Contract:
    model = BillingModel(metadata.get(BILLING_MODEL, BillingModel.RETAINER.value))
    code = currency.upper() or "USD"
    rates = [
        Rate(role=p["metadata"][ROLE], hourly_rate=from_minor(int(p["unit_amount"]), code))
        for p in prices
        if (p.get("metadata") or {}).get(ROLE)
    ]
    card = None
    if rates or metadata.get(RATE_CARD_ID):
        card = RateCard(
            id=metadata.get(RATE_CARD_ID, "rate_card"),
            name=metadata.get(RATE_CARD_NAME, ""),
            currency=code,
            effective_from=_day(metadata.get(RATE_CARD_FROM)) or date(1970, 1, 1),
            effective_to=_day(metadata.get(RATE_CARD_TO)),
            rates=rates,
        )
    milestones = sorted(
        (_milestone(p, code) for p in prices if (p.get("metadata") or {}).get(MILESTONE_ID)),
        key=lambda m: (m.due_date or date.max, m.id),
    )
    retainer = None
    if model is BillingModel.RETAINER and prices and prices[0].get("unit_amount") is not None:
        retainer = from_minor(int(prices[0]["unit_amount"]), code)
    return Contract(
        id=metadata.get(CONTRACT_ID, ""),
        client_id=metadata.get(CLIENT_ID, ""),
        opportunity_id=metadata.get(OPPORTUNITY_ID),
        billing_model=model,
        currency=code,
        status=ContractStatus(metadata.get(CONTRACT_STATUS, ContractStatus.APPROVED.value)),
        start_date=_day(metadata.get(START_DATE)),
        end_date=_day(metadata.get(END_DATE)),
        payment_terms_days=days_until_due if isinstance(days_until_due, int) else 30,
        legal_entity=metadata.get(LEGAL_ENTITY),
        tax_jurisdiction=metadata.get(TAX_JURISDICTION),
        rate_card=card,
        total_value=_money(metadata.get(TOTAL_VALUE)),
        retainer_per_month=retainer,
        milestones=milestones,
    )


def _milestone(price: Mapping[str, Any], code: str) -> Milestone:
    metadata = price["metadata"]
    return Milestone(
        id=metadata[MILESTONE_ID],
        project_id=metadata.get(MILESTONE_PROJECT),
        name=metadata.get(MILESTONE_NAME) or price.get("nickname") or "",
        amount=from_minor(int(price["unit_amount"]), code),
        due_date=_day(metadata.get(MILESTONE_DUE)),
        status=MilestoneStatus(metadata.get(MILESTONE_STATUS, MilestoneStatus.PLANNED.value)),
    )


def _items(subscription: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = subscription.get("items") or {}
    return list(items.get("data") or [])


def _id_of(value: object) -> str:
    return str(value["id"]) if isinstance(value, Mapping) else str(value)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _money_text(money: Money | None) -> str | None:
    return f"{money.amount} {money.currency}" if money else None


def _money(text: str | None) -> Money | None:
    if not text:
        return None
    amount, _, code = text.partition(" ")
    return Money(amount=Decimal(amount), currency=code)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in {"external_ids", "source_version"}}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (Stripe refuses longer strings), trailing space dropped."""
    return text if len(text) <= limit else text[:limit].rstrip()


def _id_value(value: str, key: str) -> str:
    """An identifier stored in metadata: never cut (a cut id would match another record)."""
    if len(value) > METADATA_VALUE_MAX:
        raise MappingError(f"{key} is longer than Stripe's {METADATA_VALUE_MAX}-character metadata values")
    return value


# -- invoices -------------------------------------------------------------------------------

INVOICE_KEY = "pshub_invoice_key"
PAYMENT_TERMS_DAYS = 30  # ``days_until_due`` of an invoice draft (the connection may say otherwise)
_SOURCES_SHOWN = 460  # metadata values hold 500 characters; the ledger keeps the whole list


def invoice_params(request: InvoiceRequest, customer: str, days_until_due: int) -> Params:
    """A draft invoice with none of the customer's pending items: only the lines pshub adds."""
    metadata = {
        INVOICE_KEY: request.invoice_key,
        PROJECT_CODE: request.project_code,
        "pshub_period": request.period,
    }
    if request.purchase_order:
        metadata["pshub_purchase_order"] = request.purchase_order[:500]
    return {
        "customer": customer,
        "collection_method": "send_invoice",
        "days_until_due": days_until_due,
        "auto_advance": False,  # a draft: finance reviews and sends it
        "pending_invoice_items_behavior": "exclude",
        "description": f"{request.project_code} {request.period}"
        + (f", PO {request.purchase_order}" if request.purchase_order else ""),
        "metadata": metadata,
    }


def invoice_item_params(
    request: InvoiceRequest, customer: str, invoice: str, index: int, line: InvoiceLine
) -> Params:
    shown = ",".join(line.sources)
    if len(shown) > _SOURCES_SHOWN:
        shown = shown[:_SOURCES_SHOWN].rsplit(",", 1)[0] + f",+{len(line.sources)} in all"
    return {
        "customer": customer,
        "invoice": invoice,
        "amount": to_minor(line.amount),
        "currency": line.amount.currency.lower(),
        "description": line.description[:500],
        "metadata": {INVOICE_KEY: request.invoice_key, "pshub_line": str(index), "pshub_sources": shown},
    }


def tax_item_params(request: InvoiceRequest, customer: str, invoice: str, tax: Money) -> Params:
    return {
        "customer": customer,
        "invoice": invoice,
        "amount": to_minor(tax),
        "currency": tax.currency.lower(),
        "description": "Tax",
        "metadata": {INVOICE_KEY: request.invoice_key, "pshub_line": "tax"},
    }

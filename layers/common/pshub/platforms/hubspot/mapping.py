"""HubSpot CRM objects <-> canonical objects for the CRM role (pure functions, no I/O).

How a won deal and its terms are held in the portal (what ``get_opportunity`` reads,
CRM v3 objects whose property values are all strings):

- The deal (``GET /crm/v3/objects/deals/{id}``): ``dealname``, ``dealstage``,
  ``amount``, ``deal_currency_code``, ``closedate`` (a date and time; its date in the
  portal's time zone, option ``time_zone``), ``hubspot_owner_id``, and pshub's custom deal
  properties: ``pshub_service_line``, and the agreed terms ``pshub_billing_model``
  (``time_and_materials``, ``fixed_fee_milestone``, ``retainer``, ``usage``),
  ``pshub_contract_start_date``, ``pshub_contract_end_date`` and
  ``pshub_payment_terms_days``, and the billing terms: ``pshub_retainer_fee`` (the monthly
  fee), ``pshub_retainer_hours``, ``pshub_overage_rate``, ``pshub_unused_hours`` (``roll`` or
  ``forfeit``), ``pshub_rollover_cap_hours``, ``pshub_expense_markup`` (``0.10``: 10 %),
  ``pshub_milestone_acceptance`` and ``pshub_requires_po`` (``true``/``false``),
  ``pshub_purchase_order``, ``pshub_budget_cap``. The deal's ``updatedAt`` in Unix milliseconds is the
  source version (the webhooks' ``occurredAt`` form).
- Its company (the primary ``deal_to_company`` association): ``name``, ``domain``,
  ``lifecyclestage`` (lead to opportunity: a prospect), ``address``, ``address2``,
  ``city``, ``state``, ``zip``, ``country`` (free text: an ISO code or a common English
  name), and custom ``pshub_legal_name``, ``pshub_segment``, ``pshub_legal_entity``,
  ``pshub_tax_id``, ``pshub_tax_jurisdiction``. HubSpot companies hold no currency: the
  deal's is the client's.
- Its quote (``deal_to_quote``; of several, the approved one last changed) is the
  contract and the rate card: ``hs_title`` names the rate card, ``hs_status`` (``APPROVED``
  or ``APPROVAL_NOT_NEEDED``: approved terms; else a draft), ``hs_currency``,
  ``hs_quote_amount`` (the contract value), and one line item per role
  (``quote_to_line_item``, read with ``line_items/batch/read``): ``name`` is the role,
  ``price`` the hourly rate, ordered by ``hs_position_on_quote``. No quote: no terms yet.

A change order (an amendment to a won deal's contract) is held on the deal too, in custom
properties sales ops fill before they approve it: ``pshub_change_order_number`` (1, 2, ... per
deal), ``pshub_change_order_effective_date``, ``pshub_change_order_description``,
``pshub_change_order_value`` (the change in the contract's value, may be negative),
``pshub_change_order_staffing`` (``true`` when it changes who works on it) and
``pshub_change_order_quote_id`` (the approved quote carrying the new rates, absent when the
amendment does not reprice); the amended ``amount`` and ``pshub_contract_end_date`` are the
project's new budget and last day. Setting ``pshub_change_order_status`` to ``approved`` is
the signal (a ``deal.propertyChange`` webhook); ``change_order_of`` reads the rest.

The write-back sets the custom deal properties ``pshub_project_code`` and
``pshub_project_ids`` (the ids as compact JSON). HubSpot text properties hold at most
65,536 characters; longer values are refused before sending.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from pshub.canonical.envelope import ChangeOrderApprovedV1
from pshub.canonical.model import (
    Address,
    BillingModel,
    Client,
    ClientStatus,
    Contract,
    ContractAmendment,
    ContractBillingTerms,
    ContractStatus,
    Opportunity,
    Rate,
    RateCard,
    TaxProfile,
)
from pshub.connectors.crm import decode_project_ids, encode_project_ids
from pshub.connectors.results import OpportunityDetails, provisional_id
from pshub.platforms import fields
from pshub.platforms.fields import MappingProblem, country_code, money, web_domain
from pshub.platforms.hubspot.inbound import CHANGE_ORDER_APPROVED, CHANGE_ORDER_STATUS

PROJECT_CODE_PROPERTY = "pshub_project_code"
PROJECT_IDS_PROPERTY = "pshub_project_ids"
TEXT_MAX = 65_536
LINK_PROPERTIES = (PROJECT_CODE_PROPERTY, PROJECT_IDS_PROPERTY)

BILLING_TERM_PROPERTIES = (
    "pshub_retainer_fee",
    "pshub_retainer_hours",
    "pshub_overage_rate",
    "pshub_unused_hours",
    "pshub_rollover_cap_hours",
    "pshub_expense_markup",
    "pshub_milestone_acceptance",
    "pshub_requires_po",
    "pshub_purchase_order",
    "pshub_budget_cap",
)
DEAL_PROPERTIES = (
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "deal_currency_code",
    "closedate",
    "hubspot_owner_id",
    "pshub_service_line",
    "pshub_billing_model",
    "pshub_contract_start_date",
    "pshub_contract_end_date",
    "pshub_payment_terms_days",
    *BILLING_TERM_PROPERTIES,
)
COMPANY_PROPERTIES = (
    "name",
    "domain",
    "lifecyclestage",
    "address",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "pshub_legal_name",
    "pshub_segment",
    "pshub_legal_entity",
    "pshub_tax_id",
    "pshub_tax_jurisdiction",
)
CHANGE_ORDER_PROPERTIES = (
    "dealname",
    "amount",
    "deal_currency_code",
    "pshub_contract_end_date",
    CHANGE_ORDER_STATUS,
    "pshub_change_order_number",
    "pshub_change_order_effective_date",
    "pshub_change_order_description",
    "pshub_change_order_value",
    "pshub_change_order_staffing",
    "pshub_change_order_quote_id",
    "pshub_project_code",
)
QUOTE_PROPERTIES = ("hs_title", "hs_status", "hs_currency", "hs_quote_amount")
LINE_ITEM_PROPERTIES = ("name", "price", "quantity", "hs_position_on_quote")
# Object type -> the properties a poller reads, for ``changed_since``.
CHANGE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "deals": ("dealname", "dealstage", "amount", "closedate", "pipeline", "hs_lastmodifieddate"),
    "companies": ("name", "domain", "hs_lastmodifieddate"),
}
OBJECT_TYPE_OF = {"Opportunity": "deals", "deals": "deals", "Client": "companies", "companies": "companies"}
PRIMARY_COMPANY = "deal_to_company"  # the primary association's type; unlabeled ones are "..._unlabeled"
APPROVED_QUOTES = frozenset({"APPROVED", "APPROVAL_NOT_NEEDED"})
PROSPECT_STAGES = frozenset(
    {"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity"}
)

# Personal data and money in response bodies, erased from DEBUG logs.
MASK_FIELDS = (
    "$..properties.amount",
    "$..properties.price",
    "$..properties.hs_quote_amount",
    "$..properties.address",
    "$..properties.address2",
    "$..properties.zip",
    "$..properties.pshub_tax_id",
)


def object_id(value: str, what: str) -> str:
    """A HubSpot object id (digits), or ``MappingProblem``: only a checked id goes into a path."""
    text = value.strip() if isinstance(value, str) else ""
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 20):
        raise MappingProblem(f"{what} is not a HubSpot object id (digits)")
    return text


# -- values -----------------------------------------------------------------------------------


def _text(properties: dict[str, Any], name: str, where: str) -> str | None:
    value = properties.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    raise MappingProblem(f"{where} property {name} is {fields.kind_of(value)}, expected text")


def moment(value: str | None, field: str) -> datetime | None:
    """A datetime property: ISO 8601 (v3) or Unix milliseconds (older payloads)."""
    if value is None:
        return None
    if value.isascii() and value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return fields.iso_datetime(value.replace("Z", "+00:00"), field)


def day(value: str | None, field: str, zone: tzinfo = UTC) -> date | None:
    """A date property (``2026-12-01``), or the date a datetime property falls on in ``zone``."""
    if value is None:
        return None
    if len(value) == 10:
        return fields.iso_date(value, field)
    when = moment(value, field)
    return when.astimezone(zone).date() if when is not None else None


def epoch_millis(stamp: str | None, field: str) -> str | None:
    """``2026-11-20T15:03:00.512Z`` as ``1795186980512``, the form the webhooks carry."""
    when = moment(stamp, field)
    return str(round(when.timestamp() * 1000)) if when is not None else None


def billing_model(value: str | None, where: str) -> BillingModel:
    if value is None:
        raise MappingProblem(f"{where} has no billing model (pshub_billing_model is empty)")
    try:
        return BillingModel(value.strip().lower())
    except ValueError:
        raise MappingProblem(
            f"{where}: pshub_billing_model is not one of {sorted(m.value for m in BillingModel)}"
        ) from None


def payment_terms_days(value: str | None, where: str) -> int | None:
    if value is None:
        return None
    try:
        days = Decimal(value)
    except InvalidOperation:
        days = Decimal(-1)
    if days != days.to_integral_value() or not 0 <= days <= 365:
        raise MappingProblem(f"{where}: pshub_payment_terms_days is not a whole number of days (0-365)")
    return int(days)


# -- objects -> canonical -----------------------------------------------------------------------
def properties_of(document: dict[str, Any], what: str) -> dict[str, Any]:
    return fields.mapping(document.get("properties"), f"{what} properties")


def associated_ids(document: dict[str, Any], object_type: str) -> list[tuple[str, str]]:
    """(id, association type) of ``object_type`` in a v3 object's ``associations``, in order,
    each id once. The key is the plural type; HubSpot names line items ``line items``."""
    associations = document.get("associations")
    if not isinstance(associations, dict):
        return []
    wanted = object_type.replace("_", " ")
    found: list[tuple[str, str]] = []
    for key, value in associations.items():
        if key.replace("_", " ") != wanted or not isinstance(value, dict):
            continue
        for item in value.get("results") or []:
            if isinstance(item, dict) and isinstance(item.get("id"), str | int):
                found.append((str(item["id"]), str(item.get("type") or "")))
    ordered: dict[str, str] = {}
    for identifier, kind in found:
        if identifier not in ordered or kind == PRIMARY_COMPANY:
            ordered[identifier] = kind
    return list(ordered.items())


def primary_company_id(deal: dict[str, Any]) -> str | None:
    companies = associated_ids(deal, "companies")
    primary = [identifier for identifier, kind in companies if kind == PRIMARY_COMPANY]
    others = [identifier for identifier, _ in companies]
    return (primary or others)[0] if others else None


def chosen_quote(quotes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Of a deal's quotes, the approved one changed last (else the one changed last)."""

    def rank(quote: dict[str, Any]) -> tuple[bool, str]:
        status = (quote.get("properties") or {}).get("hs_status")
        return status in APPROVED_QUOTES, str(quote.get("updatedAt") or "")

    return max(quotes, key=rank) if quotes else None


def _address(properties: dict[str, Any], where: str) -> Address | None:
    parts = {
        "line1": _text(properties, "address", where),
        "line2": _text(properties, "address2", where),
        "city": _text(properties, "city", where),
        "region": _text(properties, "state", where),
        "postal_code": _text(properties, "zip", where),
        "country": country_code(properties.get("country")),
    }
    return Address(**parts) if any(parts.values()) else None


def client_of(connection_id: str, company: dict[str, Any], currency: str | None) -> Client:
    company_id = object_id(str(company.get("id") or ""), "company id")
    where = f"company {company_id}"
    properties = properties_of(company, where)
    name = _text(properties, "name", where)
    if name is None:
        raise MappingProblem(f"{where} has no name")
    tax_id = _text(properties, "pshub_tax_id", where)
    jurisdiction = _text(properties, "pshub_tax_jurisdiction", where)
    stage = _text(properties, "lifecyclestage", where)
    return Client(
        id=provisional_id(connection_id, "Client", company_id),
        external_ids={connection_id: company_id},
        name=name,
        legal_name=_text(properties, "pshub_legal_name", where),
        web_domain=web_domain(properties.get("domain")),
        segment=_text(properties, "pshub_segment", where),
        status=ClientStatus.PROSPECT if stage in PROSPECT_STAGES else ClientStatus.ACTIVE,
        billing_address=_address(properties, where),
        tax_profile=TaxProfile(tax_id=tax_id, jurisdiction=jurisdiction) if tax_id or jurisdiction else None,
        currency=currency,
        legal_entity=_text(properties, "pshub_legal_entity", where),
    )


def _position(line: dict[str, Any]) -> tuple[int, str]:
    raw = (line.get("properties") or {}).get("hs_position_on_quote")
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw), str(line.get("id"))
    return 1 << 30, str(line.get("id"))  # unpositioned lines last, in id order


def contract_of(
    connection_id: str,
    deal_properties: dict[str, Any],
    quote: dict[str, Any],
    line_items: list[dict[str, Any]],
    *,
    client: Client,
    opportunity_id: str,
    deal_currency: str | None,
) -> Contract:
    quote_id = object_id(str(quote.get("id") or ""), "quote id")
    where = f"quote {quote_id}"
    properties = properties_of(quote, where)
    currency = _text(properties, "hs_currency", where) or deal_currency
    if currency is None:
        raise MappingProblem(f"{where} has no hs_currency and its deal no deal_currency_code")
    start = day(_text(deal_properties, "pshub_contract_start_date", "deal"), "pshub_contract_start_date")
    if start is None:
        raise MappingProblem(
            f"{where}: its deal has no pshub_contract_start_date, so the rate card has no start"
        )
    rates = _rates(line_items, currency)
    rate_card = RateCard(
        id=provisional_id(connection_id, "RateCard", quote_id),  # the quote's id: no native id of its own
        name=_text(properties, "hs_title", where) or f"Quote {quote_id}",
        currency=currency,
        effective_from=start,
        rates=rates,
    )
    terms: dict[str, Any] = {}
    days = payment_terms_days(_text(deal_properties, "pshub_payment_terms_days", "deal"), where)
    if days is not None:
        terms["payment_terms_days"] = days
    terms["billing_terms"] = billing_terms(deal_properties, currency, where)
    terms["retainer_per_month"] = money(
        _text(deal_properties, "pshub_retainer_fee", "deal"), currency, "pshub_retainer_fee"
    )
    return Contract(
        id=provisional_id(connection_id, "Contract", quote_id),
        external_ids={connection_id: quote_id},
        client_id=client.id,
        opportunity_id=opportunity_id,
        billing_model=billing_model(_text(deal_properties, "pshub_billing_model", "deal"), where),
        currency=currency,
        status=ContractStatus.APPROVED
        if _text(properties, "hs_status", where) in APPROVED_QUOTES
        else ContractStatus.DRAFT,
        start_date=start,
        end_date=day(_text(deal_properties, "pshub_contract_end_date", "deal"), "pshub_contract_end_date"),
        legal_entity=client.legal_entity,
        tax_jurisdiction=client.tax_profile.jurisdiction if client.tax_profile else None,
        rate_card=rate_card,
        total_value=money(_text(properties, "hs_quote_amount", where), currency, "hs_quote_amount"),
        **terms,
    )


def billing_terms(properties: dict[str, Any], currency: str, where: str) -> ContractBillingTerms | None:
    """The deal's billing-term properties; None when none is set (a T&M deal needs none)."""
    values = {name: _text(properties, name, "deal") for name in BILLING_TERM_PROPERTIES}
    if not any(v is not None for k, v in values.items() if k != "pshub_retainer_fee"):
        return None
    unused = (values["pshub_unused_hours"] or "forfeit").strip().lower()
    if unused not in ("roll", "forfeit"):
        raise MappingProblem(f"{where}: pshub_unused_hours is not 'roll' or 'forfeit'")
    return ContractBillingTerms(
        retainer_hours=_quantity(values["pshub_retainer_hours"], "pshub_retainer_hours", where),
        overage_rate=money(values["pshub_overage_rate"], currency, "pshub_overage_rate"),
        unused_hours="roll" if unused == "roll" else "forfeit",
        rollover_cap_hours=_quantity(values["pshub_rollover_cap_hours"], "pshub_rollover_cap_hours", where),
        expense_markup=_quantity(values["pshub_expense_markup"], "pshub_expense_markup", where) or Decimal(0),
        milestones_need_acceptance=_flag(
            values["pshub_milestone_acceptance"], "pshub_milestone_acceptance", where
        ),
        budget_cap=money(values["pshub_budget_cap"], currency, "pshub_budget_cap"),
        requires_purchase_order=_flag(values["pshub_requires_po"], "pshub_requires_po", where),
        purchase_order=values["pshub_purchase_order"],
    )


def _quantity(value: str | None, name: str, where: str) -> Decimal | None:
    """A non-negative number property (hours, a markup) as typed: ``40``, ``12.5``, ``1,200``."""
    if value is None:
        return None
    try:
        number = Decimal(value.replace(",", "").strip())
    except InvalidOperation:
        raise MappingProblem(f"{where}: {name} is not a number") from None
    if not number.is_finite() or number < 0:
        raise MappingProblem(f"{where}: {name} is not a non-negative number")
    return number


def _flag(value: str | None, name: str, where: str) -> bool:
    """A HubSpot checkbox (``true``/``false``; absent is false)."""
    if value is None:
        return False
    if value.strip().lower() not in ("true", "false"):
        raise MappingProblem(f"{where}: {name} is not true or false")
    return value.strip().lower() == "true"


def opportunity_details(
    connection_id: str,
    deal: dict[str, Any],
    company: dict[str, Any],
    quote: dict[str, Any] | None = None,
    line_items: list[dict[str, Any]] | None = None,
    *,
    default_currency: str | None = None,
    zone: tzinfo = UTC,
) -> OpportunityDetails:
    deal_id = object_id(str(deal.get("id") or ""), "deal id")
    where = f"deal {deal_id}"
    properties = properties_of(deal, where)
    currency = _text(properties, "deal_currency_code", where) or default_currency
    client = client_of(connection_id, company, currency)
    name = _text(properties, "dealname", where)
    stage = _text(properties, "dealstage", where)
    if name is None or stage is None:
        raise MappingProblem(f"{where} has no {'dealname' if name is None else 'dealstage'}")
    amount = _text(properties, "amount", where)
    if amount is not None and currency is None:
        raise MappingProblem(
            f"{where} has an amount but no deal_currency_code, and the connection no currency"
        )
    opportunity_pid = provisional_id(connection_id, "Opportunity", deal_id)
    contract = (
        contract_of(
            connection_id,
            properties,
            quote,
            line_items or [],
            client=client,
            opportunity_id=opportunity_pid,
            deal_currency=currency,
        )
        if quote is not None
        else None
    )
    opportunity = Opportunity(
        id=opportunity_pid,
        external_ids={connection_id: deal_id},
        source_version=epoch_millis(deal.get("updatedAt"), f"{where} updatedAt"),
        name=name,
        client_id=client.id,
        stage=stage,
        amount=money(amount, currency, f"{where} amount") if currency is not None else None,
        close_date=day(_text(properties, "closedate", where), f"{where} closedate", zone),
        owner=_text(properties, "hubspot_owner_id", where),
        service_line=_text(properties, "pshub_service_line", where),
        contract_id=contract.id if contract is not None else None,
    )
    return OpportunityDetails(opportunity=opportunity, client=client, contract=contract)


def change_order_of(
    connection_id: str,
    deal: dict[str, Any],
    quote: dict[str, Any] | None = None,
    line_items: list[dict[str, Any]] | None = None,
    *,
    default_currency: str | None = None,
) -> ChangeOrderApprovedV1:
    """The approved change order a deal holds (see the module docstring), as the complete
    ``ChangeOrderApproved``; ``quote`` is the one ``pshub_change_order_quote_id`` names."""
    deal_id = object_id(str(deal.get("id") or ""), "deal id")
    where = f"deal {deal_id}"
    properties = properties_of(deal, where)
    status = (_text(properties, CHANGE_ORDER_STATUS, where) or "").lower()
    if status != CHANGE_ORDER_APPROVED:
        raise MappingProblem(f"{where}: its change order is {status or 'not set'}, not approved")
    code = _text(properties, PROJECT_CODE_PROPERTY, where)
    if code is None:
        raise MappingProblem(
            f"{where} has no {PROJECT_CODE_PROPERTY}: no project was provisioned from it to amend"
        )
    number_text = _text(properties, "pshub_change_order_number", where)
    number = _quantity(number_text, "pshub_change_order_number", where)
    if number is None or number != number.to_integral_value() or not 1 <= number <= 9999:
        raise MappingProblem(f"{where}: pshub_change_order_number is not a whole number from 1 to 9999")
    effective = day(
        _text(properties, "pshub_change_order_effective_date", where), "pshub_change_order_effective_date"
    )
    if effective is None:
        raise MappingProblem(f"{where}: its change order has no pshub_change_order_effective_date")
    currency = _text(properties, "deal_currency_code", where) or default_currency
    if currency is None:
        raise MappingProblem(f"{where} has no deal_currency_code, and the connection no currency")
    change = _text(properties, "pshub_change_order_value", where)
    amendment = ContractAmendment(
        number=int(number),
        effective_date=effective,
        description=_text(properties, "pshub_change_order_description", where)
        or f"Change order {int(number)}",
        value_change=money(change, currency, "pshub_change_order_value"),
    )
    rate_card = None
    if quote is not None:
        quote_id = object_id(str(quote.get("id") or ""), "quote id")
        quote_properties = properties_of(quote, f"quote {quote_id}")
        if _text(quote_properties, "hs_status", f"quote {quote_id}") not in APPROVED_QUOTES:
            raise MappingProblem(f"{where}: change order quote {quote_id} is not approved")
        card_currency = _text(quote_properties, "hs_currency", f"quote {quote_id}") or currency
        rate_card = RateCard(
            id=provisional_id(connection_id, "RateCard", quote_id),
            name=_text(quote_properties, "hs_title", f"quote {quote_id}") or f"Quote {quote_id}",
            version=amendment.number + 1,  # version 1 was signed with the deal
            currency=card_currency,
            effective_from=effective,
            rates=_rates(line_items or [], card_currency),
        )
    return ChangeOrderApprovedV1(
        project_code=code,
        change_order_id=f"{deal_id}-CO{amendment.number}",
        amendment=amendment,
        budget=money(_text(properties, "amount", where), currency, f"{where} amount"),
        end_date=day(_text(properties, "pshub_contract_end_date", where), "pshub_contract_end_date"),
        rate_card=rate_card,
        staffing_changed=_flag(
            _text(properties, "pshub_change_order_staffing", where), "pshub_change_order_staffing", where
        ),
        crm_connection=connection_id,
        opportunity_native_id=deal_id,
    )


def _rates(line_items: list[dict[str, Any]], currency: str) -> list[Rate]:
    rates = []
    for line in sorted(line_items, key=_position):
        line_properties = properties_of(line, "line item")
        role = _text(line_properties, "name", "line item")
        rate = money(_text(line_properties, "price", "line item"), currency, "line item price")
        if role is not None and rate is not None:  # a line without a price is not a rate
            rates.append(Rate(role=role, hourly_rate=rate))
    return rates


# -- the write-back ---------------------------------------------------------------------------
def link_body(project_code: str, project_ids: dict[str, str]) -> dict[str, dict[str, str]]:
    """The PATCH body recording a project on a deal; ``MappingProblem`` past HubSpot's limit."""
    if not project_code.strip():
        raise MappingProblem("the project code is empty")
    ids = encode_project_ids(project_ids)
    for name, value in ((PROJECT_CODE_PROPERTY, project_code), (PROJECT_IDS_PROPERTY, ids)):
        if len(value) > TEXT_MAX:
            raise MappingProblem(f"{name} would be {len(value)} characters; HubSpot holds {TEXT_MAX}")
    return {"properties": {PROJECT_CODE_PROPERTY: project_code, PROJECT_IDS_PROPERTY: ids}}


def linked_project(deal: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The project code and ids a deal already carries (unreadable ids count as none)."""
    properties = deal.get("properties") if isinstance(deal.get("properties"), dict) else {}
    assert isinstance(properties, dict)
    code = properties.get(PROJECT_CODE_PROPERTY)
    raw = properties.get(PROJECT_IDS_PROPERTY)
    ids = decode_project_ids(raw)
    return (code if isinstance(code, str) and code else None), ids

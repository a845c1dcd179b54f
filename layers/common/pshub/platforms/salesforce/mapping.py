"""Salesforce records <-> canonical objects for the CRM role (pure functions, no I/O).

How a won deal and its terms are held in the org (what ``get_opportunity`` reads):

- ``Opportunity`` (``006``): ``Name``, ``StageName``, ``Amount``, ``CloseDate``,
  ``OwnerId``, ``SystemModstamp`` (the source version), ``AccountId``, ``ContractId``
  (the standard lookup to the contract) and ``CurrencyIsoCode`` (multi-currency orgs).
  The service line is the custom picklist ``pshub_Service_Line__c``.
- ``Account`` (``001``, read through the ``Account.`` relationship): ``Name``,
  ``Website``, ``Type`` (``Prospect`` is a prospect, anything else a client), the
  billing address (``BillingStreet``, ``BillingCity``, ``BillingStateCode`` /
  ``BillingCountryCode`` where State and Country/Territory Picklists are on, else
  ``BillingState`` / ``BillingCountry``), ``CurrencyIsoCode``, and the custom fields
  ``pshub_Legal_Name__c``, ``pshub_Segment__c``, ``pshub_Legal_Entity__c`` (the firm's
  contracting entity), ``pshub_Tax_Id__c`` and ``pshub_Tax_Jurisdiction__c``.
- ``Contract`` (``800``, through ``Contract.``): ``StartDate``, ``EndDate`` (Salesforce
  computes it from ``ContractTerm``), ``Status`` / ``StatusCode`` and the custom picklist
  ``pshub_Billing_Model__c``, and for a retainer the currency field
  ``pshub_Retainer_Per_Month__c`` (the monthly fee), and the billing terms: number fields
  ``pshub_Retainer_Hours__c`` and ``pshub_Rollover_Cap_Hours__c``, currency fields
  ``pshub_Overage_Rate__c`` and ``pshub_Budget_Cap__c``, the picklist
  ``pshub_Unused_Hours__c`` (``Roll`` or ``Forfeit``), the percent field
  ``pshub_Expense_Markup__c`` (Salesforce returns 10 for 10 %), checkboxes
  ``pshub_Milestone_Acceptance__c`` and ``pshub_Requires_PO__c``, and the text
  ``pshub_Purchase_Order__c``. No contract: no terms yet (``contract`` is None).
- Salesforce CPQ's primary quote of the opportunity (``SBQQ__Quote__c`` with
  ``SBQQ__Primary__c = true``, ``SBQQ__Opportunity2__c`` = the opportunity) is the
  rate card: its price book's name (``SBQQ__PriceBook__r.Name``), ``SBQQ__StartDate__c``
  / ``SBQQ__EndDate__c``, ``SBQQ__PaymentTerms__c`` (``Net 30``), ``SBQQ__NetAmount__c``
  (the contract value), ``SBQQ__Status__c``, and one ``SBQQ__QuoteLine__c`` per role
  (``SBQQ__LineItems__r``): ``SBQQ__ProductName__c`` is the role, ``SBQQ__NetPrice__c``
  the agreed hourly rate (rounded half-up to the currency's minor unit; CPQ keeps more
  decimals than the currency has).

Contract status: an activated contract is ``active``, a terminated or expired one
``closed``; a draft or in-approval contract is ``approved`` once its primary quote is
``Approved`` or ``Accepted``, otherwise ``draft``.

A CPQ amendment (a change order): amending a contract in Salesforce CPQ creates an
amendment opportunity whose ``SBQQ__AmendedContract__c`` is that contract and whose primary
quote (``SBQQ__Type__c = 'Amendment'``) holds the amended terms; the opportunity's ``Amount`` is
the change in value, not the new total. When it is won, ``change_order_of`` reads: the change
order's id (the amendment opportunity's), its effective date (the quote's
``SBQQ__StartDate__c``) and the new end date (``SBQQ__EndDate__c``, else the contract's
``EndDate``), the new rates (the quote's lines, a new rate card version from the effective
date), the project (``pshub_Project_Code__c`` of the opportunity that won the contract,
``ContractId``), and from the contract's won amendment opportunities, oldest first: the
amendment's number (its place among them) and the new budget (the original opportunity's
``Amount`` plus every amendment's up to this one).

The write-back (``link_project``) sets ``pshub_Project_Code__c`` (Text(80)) and
``pshub_Project_Ids__c`` (Long Text Area(32768), the ids as compact JSON). Salesforce
refuses longer values (``STRING_TOO_LONG``) rather than truncating them, so pshub
refuses them before sending.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
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
    Money,
    Opportunity,
    Rate,
    RateCard,
    TaxProfile,
)
from pshub.connectors.crm import decode_project_ids, encode_project_ids
from pshub.connectors.results import OpportunityDetails, provisional_id
from pshub.platforms import fields
from pshub.platforms.fields import FieldProblem, MappingProblem, country_code, money, web_domain
from pshub.platforms.salesforce.inbound import AMENDED_CONTRACT_FIELD, salesforce_id18

PROJECT_CODE_FIELD = "pshub_Project_Code__c"
PROJECT_IDS_FIELD = "pshub_Project_Ids__c"
PROJECT_CODE_MAX = 80
PROJECT_IDS_MAX = 32_768
LINK_FIELDS = ("Id", PROJECT_CODE_FIELD, PROJECT_IDS_FIELD)

# Personal data and money in response bodies, erased from DEBUG logs.
MASK_FIELDS = (
    "$..Amount",
    "$..SBQQ__NetAmount__c",
    "$..SBQQ__NetPrice__c",
    "$..BillingStreet",
    "$..BillingPostalCode",
    "$..pshub_Tax_Id__c",
)


# -- ids and SOQL -----------------------------------------------------------------------------
def record_id(value: str, what: str) -> str:
    """The 18-character, case-safe form of a Salesforce id (15 or 18 characters), or
    ``MappingProblem``: only a checked id is ever put into SOQL."""
    try:
        return salesforce_id18(value, what)  # the one helper every Salesforce id goes through
    except FieldProblem as problem:
        raise MappingProblem(str(problem)) from None


def same_record(left: str, right: str) -> bool:
    """15- and 18-character ids of one record are the same record (the first 15 decide)."""
    return left[:15] == right[:15]


def _currency_field(multi_currency: bool) -> tuple[str, ...]:
    return ("CurrencyIsoCode",) if multi_currency else ()


def opportunity_fields(*, multi_currency: bool = True, country_picklists: bool = True) -> tuple[str, ...]:
    state, country = (
        ("BillingStateCode", "BillingCountryCode")
        if country_picklists
        else ("BillingState", "BillingCountry")
    )
    currency = _currency_field(multi_currency)
    opportunity = (
        "Id",
        "Name",
        "StageName",
        "Amount",
        *currency,
        "CloseDate",
        "OwnerId",
        "SystemModstamp",
        "AccountId",
        "ContractId",
        "pshub_Service_Line__c",
        AMENDED_CONTRACT_FIELD,
    )
    account = (
        "Id",
        "Name",
        "Type",
        "Website",
        "BillingStreet",
        "BillingCity",
        state,
        "BillingPostalCode",
        country,
        *currency,
        "pshub_Legal_Name__c",
        "pshub_Segment__c",
        "pshub_Legal_Entity__c",
        "pshub_Tax_Id__c",
        "pshub_Tax_Jurisdiction__c",
    )
    contract = (
        "Id", "Status", "StatusCode", "StartDate", "EndDate", *currency, "pshub_Billing_Model__c",
        "pshub_Retainer_Per_Month__c", *BILLING_TERM_FIELDS,
    )  # fmt: skip
    return (
        *opportunity,
        *(f"Account.{name}" for name in account),
        *(f"Contract.{name}" for name in contract),
    )


def opportunity_query(
    opportunity_id: str, *, multi_currency: bool = True, country_picklists: bool = True
) -> str:
    select = ", ".join(opportunity_fields(multi_currency=multi_currency, country_picklists=country_picklists))
    checked = record_id(opportunity_id, "opportunity id")
    return f"SELECT {select} FROM Opportunity WHERE Id = '{checked}'"  # noqa: S608 - a checked id only


def primary_quote_query(opportunity_id: str, *, multi_currency: bool = True) -> str:
    quote = (
        "Id",
        "SBQQ__Status__c",
        "SBQQ__StartDate__c",
        "SBQQ__EndDate__c",
        "SBQQ__PaymentTerms__c",
        "SBQQ__NetAmount__c",
        *_currency_field(multi_currency),
        "SBQQ__PriceBook__r.Name",
    )
    lines = "SELECT Id, SBQQ__Number__c, SBQQ__ProductName__c, SBQQ__NetPrice__c FROM SBQQ__LineItems__r ORDER BY SBQQ__Number__c"
    checked = record_id(opportunity_id, "opportunity id")
    return (
        f"SELECT {', '.join(quote)}, ({lines}) FROM SBQQ__Quote__c "  # noqa: S608 - a checked id only
        f"WHERE SBQQ__Opportunity2__c = '{checked}' AND SBQQ__Primary__c = true LIMIT 1"
    )


APPROVED_QUOTE_STATUSES = frozenset({"Approved", "Accepted"})


def amendment_query(opportunity_id: str, *, multi_currency: bool = True) -> str:
    select = ", ".join(
        ("Id", "Name", "Amount", *_currency_field(multi_currency), "IsWon", "CreatedDate", AMENDED_CONTRACT_FIELD,
         "SBQQ__AmendedContract__r.EndDate")
    )  # fmt: skip
    checked = record_id(opportunity_id, "opportunity id")
    return f"SELECT {select} FROM Opportunity WHERE Id = '{checked}'"  # noqa: S608 - a checked id only


def amendments_query(contract_id: str) -> str:
    """The contract's won amendment opportunities, oldest first."""
    checked = record_id(contract_id, "contract id")
    return (
        f"SELECT Id, Amount, CreatedDate FROM Opportunity WHERE {AMENDED_CONTRACT_FIELD} = '{checked}' "  # noqa: S608
        "AND IsWon = true ORDER BY CreatedDate"
    )


def originating_query(contract_id: str, *, multi_currency: bool = True) -> str:
    """The opportunity that won the contract and was provisioned (it carries the project code)."""
    checked = record_id(contract_id, "contract id")
    select = ", ".join(("Id", "Amount", *_currency_field(multi_currency), PROJECT_CODE_FIELD))
    return (
        f"SELECT {select} FROM Opportunity WHERE ContractId = '{checked}' "  # noqa: S608 - a checked id only
        f"AND {PROJECT_CODE_FIELD} != null ORDER BY CreatedDate LIMIT 1"
    )


def change_order_of(
    connection_id: str,
    amendment: dict[str, Any],
    won_amendments: list[dict[str, Any]],
    original: dict[str, Any] | None,
    quote: dict[str, Any] | None,
    *,
    default_currency: str | None = None,
) -> ChangeOrderApprovedV1:
    """A won CPQ amendment opportunity as the complete ``ChangeOrderApproved`` (module docstring)."""
    opportunity_id = salesforce_id18(fields.text(amendment.get("Id"), "Opportunity.Id"), "Opportunity.Id")
    where = f"amendment opportunity {opportunity_id}"
    contract_id = _text(amendment, AMENDED_CONTRACT_FIELD, where)
    if contract_id is None:
        raise MappingProblem(f"{where} amends no contract ({AMENDED_CONTRACT_FIELD} is empty)")
    if amendment.get("IsWon") is not True:
        raise MappingProblem(f"{where} is not won")
    code = _text(original, PROJECT_CODE_FIELD, "Opportunity") if original is not None else None
    if original is None or code is None:
        raise MappingProblem(f"contract {contract_id} ({where}) has no provisioned opportunity to amend")
    if quote is None:
        raise MappingProblem(f"{where} has no primary quote")
    if _text(quote, "SBQQ__Status__c", "SBQQ__Quote__c") not in APPROVED_QUOTE_STATUSES:
        raise MappingProblem(f"{where}: its primary quote is not approved")
    currency = (
        _text(amendment, "CurrencyIsoCode", where)
        or _text(original, "CurrencyIsoCode", where)
        or default_currency
    )
    if currency is None:
        raise MappingProblem(f"{where} has no CurrencyIsoCode, and the connection no currency")
    effective = _date(quote.get("SBQQ__StartDate__c"), "SBQQ__Quote__c.SBQQ__StartDate__c")
    if effective is None:
        raise MappingProblem(f"{where}: its primary quote has no SBQQ__StartDate__c (the effective date)")
    order = [salesforce_id18(str(r.get("Id")), "Opportunity.Id") for r in won_amendments]
    if opportunity_id not in order:
        raise MappingProblem(f"{where} is not among contract {contract_id}'s won amendments yet")
    position = order.index(opportunity_id)
    total = money(original.get("Amount"), currency, "Opportunity.Amount")
    for earlier in won_amendments[: position + 1]:
        change = money(earlier.get("Amount"), currency, "Opportunity.Amount")
        if total is not None and change is not None:
            total = Money(amount=total.amount + change.amount, currency=currency)
    contract = amendment.get("SBQQ__AmendedContract__r")
    rate_card = rate_card_of(connection_id, quote, currency, effective)
    assert rate_card is not None
    return ChangeOrderApprovedV1(
        project_code=code,
        change_order_id=opportunity_id,
        amendment=ContractAmendment(
            number=position + 1,
            effective_date=effective,
            description=_text(amendment, "Name", where) or f"Amendment {position + 1}",
            value_change=money(amendment.get("Amount"), currency, "Opportunity.Amount"),
        ),
        budget=total,
        end_date=_date(quote.get("SBQQ__EndDate__c"), "SBQQ__Quote__c.SBQQ__EndDate__c")
        or (_date(contract.get("EndDate"), "Contract.EndDate") if isinstance(contract, dict) else None),
        rate_card=rate_card.model_copy(update={"version": position + 2, "effective_to": None})
        if rate_card.rates
        else None,
        # The contract's status is checked on the opportunity that won it (the project's own).
        crm_connection=connection_id,
    )


# sObject -> the fields a poller reads, for ``changed_since``.
CHANGE_FIELDS: dict[str, tuple[str, ...]] = {
    "Opportunity": (
        "Id",
        "Name",
        "StageName",
        "IsWon",
        "CloseDate",
        "AccountId",
        "IsDeleted",
        "LastModifiedDate",
        "SystemModstamp",
    ),
    "Account": ("Id", "Name", "IsDeleted", "LastModifiedDate", "SystemModstamp"),
}
# Canonical object type -> the sObject holding it.
SOBJECT_OF = {"Opportunity": "Opportunity", "Client": "Account", "Account": "Account"}


def soql_datetime(moment: datetime) -> str:
    """A SOQL dateTime literal in UTC, whole seconds, rounded down (a window starting a little
    early repeats a record; one starting late would miss it)."""
    if moment.tzinfo is None:
        raise MappingProblem("the start of a change window has no UTC offset")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def changed_query(sobject: str, since: datetime) -> str:
    select = ", ".join(CHANGE_FIELDS[sobject])
    return (
        f"SELECT {select} FROM {sobject} "  # noqa: S608 - a known sObject and a formatted dateTime only
        f"WHERE SystemModstamp > {soql_datetime(since)} ORDER BY SystemModstamp ASC, Id ASC"
    )


# -- values -----------------------------------------------------------------------------------


def _date(value: object, field: str) -> date | None:
    return None if value in (None, "") else fields.iso_date(value, field)


def source_version(stamp: object, field: str = "SystemModstamp") -> str | None:
    """``2026-11-20T15:02:11.000+0000`` (REST) as ``2026-11-20T15:02:11.000Z``, the form the
    Outbound Messages carry, so both name one version the same way."""
    if stamp in (None, ""):
        return None
    moment = fields.iso_datetime(stamp, field).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(record: dict[str, Any], name: str, where: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise MappingProblem(f"{where}.{name} is {fields.kind_of(value)}, expected text")


_BILLING_MODELS = {
    "time and materials": BillingModel.TIME_AND_MATERIALS,
    "time & materials": BillingModel.TIME_AND_MATERIALS,
    "t&m": BillingModel.TIME_AND_MATERIALS,
    "fixed fee": BillingModel.FIXED_FEE_MILESTONE,
    "fixed fee milestone": BillingModel.FIXED_FEE_MILESTONE,
    "milestone": BillingModel.FIXED_FEE_MILESTONE,
    "retainer": BillingModel.RETAINER,
    "usage": BillingModel.USAGE,
}


def billing_model(value: str | None, where: str) -> BillingModel:
    """The picklist's value (its API name ``time_and_materials`` or a label such as ``Time and
    Materials``)."""
    if value is None:
        raise MappingProblem(f"{where} has no billing model (pshub_Billing_Model__c is empty)")
    key = " ".join(value.replace("_", " ").replace("-", " ").lower().split())
    found = _BILLING_MODELS.get(key) or _BILLING_MODELS.get(key.replace(" and ", " & "))
    if found is None:
        raise MappingProblem(
            f"{where}: pshub_Billing_Model__c is not one of {sorted(m.value for m in BillingModel)}"
        )
    return found


_NET_DAYS = re.compile(r"^net\s*(\d{1,3})$")


def payment_terms_days(value: str | None, where: str) -> int | None:
    """``Net 30`` / ``Net30`` -> 30, ``Due on receipt`` -> 0, empty -> None (the default)."""
    if value is None:
        return None
    text = " ".join(value.lower().split())
    if text in {"due on receipt", "due upon receipt", "immediate"}:
        return 0
    match = _NET_DAYS.match(text)
    if match is None:
        raise MappingProblem(f"{where}: SBQQ__PaymentTerms__c is not 'Net N' or 'Due on receipt'")
    return int(match.group(1))


def contract_status(contract: dict[str, Any], quote: dict[str, Any] | None) -> ContractStatus:
    code = (contract.get("StatusCode") or contract.get("Status") or "Draft").replace(" ", "").lower()
    if code == "activated":
        return ContractStatus.ACTIVE
    if code in {"terminated", "expired"}:
        return ContractStatus.CLOSED
    quote_status = (quote or {}).get("SBQQ__Status__c")
    return ContractStatus.APPROVED if quote_status in APPROVED_QUOTE_STATUSES else ContractStatus.DRAFT


# -- records -> canonical -----------------------------------------------------------------------
def _address(account: dict[str, Any], where: str) -> Address | None:
    street = _text(account, "BillingStreet", where)
    lines = [line.strip() for line in (street or "").splitlines() if line.strip()]
    region = _text(account, "BillingStateCode", where) or _text(account, "BillingState", where)
    country = country_code(account.get("BillingCountryCode")) or country_code(account.get("BillingCountry"))
    parts = {
        "line1": lines[0] if lines else None,
        "line2": ", ".join(lines[1:]) or None,
        "city": _text(account, "BillingCity", where),
        "region": region,
        "postal_code": _text(account, "BillingPostalCode", where),
        "country": country,
    }
    return Address(**parts) if any(parts.values()) else None


def client_of(connection_id: str, account: dict[str, Any], default_currency: str | None) -> Client:
    where = "Account"
    account_id = record_id(fields.text(account.get("Id"), "Account.Id"), "Account.Id")
    name = _text(account, "Name", where)
    if name is None:
        raise MappingProblem(f"account {account_id} has no Name")
    tax_id = _text(account, "pshub_Tax_Id__c", where)
    jurisdiction = _text(account, "pshub_Tax_Jurisdiction__c", where)
    currency = _text(account, "CurrencyIsoCode", where) or default_currency
    return Client(
        id=provisional_id(connection_id, "Client", account_id),
        external_ids={connection_id: account_id},
        name=name,
        legal_name=_text(account, "pshub_Legal_Name__c", where),
        web_domain=web_domain(account.get("Website")),
        segment=_text(account, "pshub_Segment__c", where),
        status=ClientStatus.PROSPECT if account.get("Type") == "Prospect" else ClientStatus.ACTIVE,
        billing_address=_address(account, where),
        tax_profile=TaxProfile(tax_id=tax_id, jurisdiction=jurisdiction) if tax_id or jurisdiction else None,
        currency=currency,
        legal_entity=_text(account, "pshub_Legal_Entity__c", where),
    )


def _child_records(value: object, where: str) -> list[dict[str, Any]]:
    """A subquery's result (``{"totalSize", "done", "records"}``; null when it found nothing)."""
    if value is None:
        return []
    records = fields.mapping(value, where).get("records")
    if not isinstance(records, list):
        raise MappingProblem(f"{where} has no records list")
    return [fields.mapping(item, f"{where}.records[]") for item in records]


def rate_card_of(
    connection_id: str, quote: dict[str, Any], currency: str, effective_from: date | None
) -> RateCard | None:
    where = "SBQQ__Quote__c"
    quote_id = record_id(fields.text(quote.get("Id"), f"{where}.Id"), f"{where}.Id")
    price_book = quote.get("SBQQ__PriceBook__r")
    name = _text(price_book, "Name", "SBQQ__PriceBook__r") if isinstance(price_book, dict) else None
    start = _date(quote.get("SBQQ__StartDate__c"), f"{where}.SBQQ__StartDate__c") or effective_from
    if start is None:
        raise MappingProblem(f"quote {quote_id} has no start date, and its contract none either")
    rates = []
    for line in _child_records(quote.get("SBQQ__LineItems__r"), f"{where}.SBQQ__LineItems__r"):
        role = _text(line, "SBQQ__ProductName__c", "SBQQ__QuoteLine__c")
        rate = money(line.get("SBQQ__NetPrice__c"), currency, "SBQQ__QuoteLine__c.SBQQ__NetPrice__c")
        if role is not None and rate is not None:  # a line without a price is not a rate
            rates.append(Rate(role=role, hourly_rate=rate))
    return RateCard(
        id=provisional_id(connection_id, "RateCard", quote_id),  # the quote's id: no native id of its own
        name=name or f"Quote {quote_id}",
        currency=currency,
        effective_from=start,
        effective_to=_date(quote.get("SBQQ__EndDate__c"), f"{where}.SBQQ__EndDate__c"),
        rates=rates,
    )


BILLING_TERM_FIELDS = (
    "pshub_Retainer_Hours__c",
    "pshub_Overage_Rate__c",
    "pshub_Unused_Hours__c",
    "pshub_Rollover_Cap_Hours__c",
    "pshub_Expense_Markup__c",
    "pshub_Milestone_Acceptance__c",
    "pshub_Requires_PO__c",
    "pshub_Purchase_Order__c",
    "pshub_Budget_Cap__c",
)


def billing_terms_of(contract: dict[str, Any], currency: str, where: str) -> ContractBillingTerms | None:
    """The Contract's billing-term fields; None when none is set (unchecked boxes are unset)."""
    if not any(contract.get(name) not in (None, False, "") for name in BILLING_TERM_FIELDS):
        return None
    unused = (_text(contract, "pshub_Unused_Hours__c", "Contract") or "Forfeit").strip().lower()
    if unused not in ("roll", "forfeit"):
        raise MappingProblem(f"{where}: Contract.pshub_Unused_Hours__c is not Roll or Forfeit")
    markup = _number(contract.get("pshub_Expense_Markup__c"), "pshub_Expense_Markup__c", where)
    return ContractBillingTerms(
        retainer_hours=_number(contract.get("pshub_Retainer_Hours__c"), "pshub_Retainer_Hours__c", where),
        overage_rate=money(contract.get("pshub_Overage_Rate__c"), currency, "Contract.pshub_Overage_Rate__c"),
        unused_hours="roll" if unused == "roll" else "forfeit",
        rollover_cap_hours=_number(
            contract.get("pshub_Rollover_Cap_Hours__c"), "pshub_Rollover_Cap_Hours__c", where
        ),
        expense_markup=markup / 100 if markup is not None else Decimal(0),  # a percent field
        milestones_need_acceptance=contract.get("pshub_Milestone_Acceptance__c") is True,
        budget_cap=money(contract.get("pshub_Budget_Cap__c"), currency, "Contract.pshub_Budget_Cap__c"),
        requires_purchase_order=contract.get("pshub_Requires_PO__c") is True,
        purchase_order=_text(contract, "pshub_Purchase_Order__c", "Contract"),
    )


def _number(value: object, name: str, where: str) -> Decimal | None:
    """A non-negative number or percent field (Salesforce sends a JSON number)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MappingProblem(f"{where}: Contract.{name} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MappingProblem(f"{where}: Contract.{name} is not a number") from None
    if not number.is_finite() or number < 0:
        raise MappingProblem(f"{where}: Contract.{name} is not a non-negative number")
    return number


def contract_of(
    connection_id: str,
    contract: dict[str, Any],
    quote: dict[str, Any] | None,
    *,
    client: Client,
    opportunity_id: str,
    currency: str,
) -> Contract:
    contract_id = record_id(fields.text(contract.get("Id"), "Contract.Id"), "Contract.Id")
    where = f"contract {contract_id}"
    start = _date(contract.get("StartDate"), "Contract.StartDate")
    terms: dict[str, Any] = {}
    if quote is not None:
        quote_currency = _text(quote, "CurrencyIsoCode", "SBQQ__Quote__c") or currency
        if quote_currency != currency:
            raise MappingProblem(f"{where} is in {currency} but its primary quote in {quote_currency}")
        days = payment_terms_days(_text(quote, "SBQQ__PaymentTerms__c", "SBQQ__Quote__c"), where)
        if days is not None:
            terms["payment_terms_days"] = days
        terms["rate_card"] = rate_card_of(connection_id, quote, currency, start)
        terms["total_value"] = money(
            quote.get("SBQQ__NetAmount__c"), currency, "SBQQ__Quote__c.SBQQ__NetAmount__c"
        )
    retainer = contract.get("pshub_Retainer_Per_Month__c")
    if retainer is not None:  # a currency field: the monthly fee of a retainer contract
        terms["retainer_per_month"] = money(retainer, currency, "Contract.pshub_Retainer_Per_Month__c")
    terms["billing_terms"] = billing_terms_of(contract, currency, where)
    return Contract(
        id=provisional_id(connection_id, "Contract", contract_id),
        external_ids={connection_id: contract_id},
        client_id=client.id,
        opportunity_id=opportunity_id,
        billing_model=billing_model(_text(contract, "pshub_Billing_Model__c", "Contract"), where),
        currency=currency,
        status=contract_status(contract, quote),
        start_date=start,
        end_date=_date(contract.get("EndDate"), "Contract.EndDate"),
        legal_entity=client.legal_entity,
        tax_jurisdiction=client.tax_profile.jurisdiction if client.tax_profile else None,
        **terms,
    )


def opportunity_details(
    connection_id: str,
    record: dict[str, Any],
    quote: dict[str, Any] | None,
    *,
    default_currency: str | None = None,
) -> OpportunityDetails:
    """The opportunity query's record (and its primary quote's) as canonical objects."""
    opportunity_id = record_id(fields.text(record.get("Id"), "Opportunity.Id"), "Opportunity.Id")
    where = "Opportunity"
    amended = _text(record, AMENDED_CONTRACT_FIELD, where)
    if amended is not None:
        raise MappingProblem(
            f"opportunity {opportunity_id} is a CPQ amendment of contract {amended}: a change order, not a "
            f"new project (add {AMENDED_CONTRACT_FIELD} to the Outbound Message so it is read as one)"
        )
    account = record.get("Account")
    if not isinstance(account, dict):
        raise MappingProblem(f"opportunity {opportunity_id} has no account")
    client = client_of(connection_id, account, default_currency)
    currency = _text(record, "CurrencyIsoCode", where) or client.currency or default_currency
    if currency is None:
        raise MappingProblem(
            f"opportunity {opportunity_id} has no CurrencyIsoCode and the connection sets no currency option"
        )
    name = _text(record, "Name", where)
    stage = _text(record, "StageName", where)
    if name is None or stage is None:
        raise MappingProblem(f"opportunity {opportunity_id} has no {'Name' if name is None else 'StageName'}")
    contract_record = record.get("Contract")
    opportunity_pid = provisional_id(connection_id, "Opportunity", opportunity_id)
    contract = (
        contract_of(
            connection_id,
            contract_record,
            quote,
            client=client,
            opportunity_id=opportunity_pid,
            currency=_text(contract_record, "CurrencyIsoCode", "Contract") or currency,
        )
        if isinstance(contract_record, dict)
        else None
    )
    opportunity = Opportunity(
        id=opportunity_pid,
        external_ids={connection_id: opportunity_id},
        source_version=source_version(record.get("SystemModstamp")),
        name=name,
        client_id=client.id,
        stage=stage,
        amount=money(record.get("Amount"), currency, "Opportunity.Amount"),
        close_date=_date(record.get("CloseDate"), "Opportunity.CloseDate"),
        owner=_text(record, "OwnerId", where),
        service_line=_text(record, "pshub_Service_Line__c", where),
        contract_id=contract.id if contract is not None else None,
    )
    return OpportunityDetails(opportunity=opportunity, client=client, contract=contract)


# -- the write-back ---------------------------------------------------------------------------
def link_body(project_code: str, project_ids: dict[str, str]) -> dict[str, str]:
    """The PATCH body recording a project on an opportunity; ``MappingProblem`` if a value is
    longer than its field (Salesforce would refuse it: ``STRING_TOO_LONG``)."""
    if not project_code.strip():
        raise MappingProblem("the project code is empty")
    ids = encode_project_ids(project_ids)
    if len(project_code) > PROJECT_CODE_MAX:
        raise MappingProblem(
            f"the project code is {len(project_code)} characters; {PROJECT_CODE_FIELD} holds {PROJECT_CODE_MAX}"
        )
    if len(ids) > PROJECT_IDS_MAX:
        raise MappingProblem(
            f"the project ids are {len(ids)} characters; {PROJECT_IDS_FIELD} holds {PROJECT_IDS_MAX}"
        )
    return {PROJECT_CODE_FIELD: project_code, PROJECT_IDS_FIELD: ids}


def linked_project(record: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The project code and ids an opportunity already carries. Ids that are not a JSON
    object of strings (edited by hand) count as none: the write-back replaces them."""
    code = record.get(PROJECT_CODE_FIELD)
    raw = record.get(PROJECT_IDS_FIELD)
    ids = decode_project_ids(raw)
    return (code if isinstance(code, str) and code else None), ids

"""Salesforce records to canonical objects and back, on realistic and messy data (no I/O).

Record shapes are the REST API's (SOQL results with ``attributes``, relationship fields as
nested records, a child subquery as ``{"totalSize", "done", "records"}`` or null, dateTime
as ``2026-11-20T15:02:11.000+0000``); field limits are the custom fields' as documented in
the mapping (Text(80), Long Text Area(32768)).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from pshub.canonical.model import BillingModel, ClientStatus, ContractStatus
from pshub.platforms.fields import MappingProblem
from pshub.platforms.salesforce import mapping

CONN = "salesforce-acme"
OPPORTUNITY = "0065e00000KxYzAAAV"
ACCOUNT = "0015e00000AcMe1AAF"
CONTRACT = "8005e00000CoNtRAAV"
QUOTE = "a0A5e00000RaTe1EAF"


def account(**changes: Any) -> dict[str, Any]:
    record = {
        "attributes": {"type": "Account", "url": f"/services/data/v66.0/sobjects/Account/{ACCOUNT}"},
        "Id": ACCOUNT,
        "Name": "Acme Consulting Ltd",
        "Type": "Customer - Direct",
        "Website": "https://www.acme-consulting.example",
        "BillingStreet": "1 Example Street",
        "BillingCity": "London",
        "BillingStateCode": None,
        "BillingPostalCode": "EC1A 1AA",
        "BillingCountryCode": "GB",
        "CurrencyIsoCode": "GBP",
        "pshub_Legal_Name__c": "Acme Consulting Ltd",
        "pshub_Segment__c": "enterprise",
        "pshub_Legal_Entity__c": "ACME-UK",
        "pshub_Tax_Id__c": "GB999999973",
        "pshub_Tax_Jurisdiction__c": "GB",
    }
    return record | changes


def contract(**changes: Any) -> dict[str, Any]:
    record = {
        "attributes": {"type": "Contract", "url": "x"},
        "Id": CONTRACT,
        "Status": "Draft",
        "StatusCode": "Draft",
        "StartDate": "2026-12-01",
        "EndDate": "2027-11-30",
        "CurrencyIsoCode": "GBP",
        "pshub_Billing_Model__c": "Time and Materials",
    }
    return record | changes


def opportunity(**changes: Any) -> dict[str, Any]:
    record = {
        "attributes": {"type": "Opportunity", "url": "x"},
        "Id": OPPORTUNITY,
        "Name": "Acme - Retainer",
        "StageName": "Closed Won",
        "Amount": 12500.0,
        "CurrencyIsoCode": "GBP",
        "CloseDate": "2026-11-20",
        "OwnerId": "0055e000003OwNrAAK",
        "SystemModstamp": "2026-11-20T15:02:11.000+0000",
        "AccountId": ACCOUNT,
        "ContractId": CONTRACT,
        "pshub_Service_Line__c": "consulting",
        "Account": account(),
        "Contract": contract(),
    }
    return record | changes


def line(number: int, role: str | None, price: float | None) -> dict[str, Any]:
    return {
        "attributes": {"type": "SBQQ__QuoteLine__c", "url": "x"},
        "Id": f"a0B5e0000000{number:03d}",
        "SBQQ__Number__c": float(number),
        "SBQQ__ProductName__c": role,
        "SBQQ__NetPrice__c": price,
    }


def quote(lines: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    items = [line(1, "Partner", 410.0), line(2, "Consultant", 175.0)] if lines is None else lines
    record = {
        "attributes": {"type": "SBQQ__Quote__c", "url": "x"},
        "Id": QUOTE,
        "SBQQ__Status__c": "Approved",
        "SBQQ__StartDate__c": "2026-12-01",
        "SBQQ__EndDate__c": None,
        "SBQQ__PaymentTerms__c": "Net 45",
        "SBQQ__NetAmount__c": 12500.0,
        "CurrencyIsoCode": "GBP",
        "SBQQ__PriceBook__r": {"attributes": {"type": "Pricebook2", "url": "x"}, "Name": "UK Rates FY27"},
        "SBQQ__LineItems__r": {"totalSize": len(items), "done": True, "records": items} if items else None,
    }
    return record | changes


def test_a_won_opportunity_with_cpq_terms_maps_to_the_canonical_deal() -> None:
    details = mapping.opportunity_details(CONN, opportunity(), quote())
    deal, client, terms = details.opportunity, details.client, details.contract
    assert deal.id == f"{CONN}:opportunity:{OPPORTUNITY}" and deal.external_ids == {CONN: OPPORTUNITY}
    assert deal.source_version == "2026-11-20T15:02:11.000Z"  # as the Outbound Message writes it
    assert (
        deal.amount is not None
        and deal.amount.amount == Decimal("12500.00")
        and deal.amount.currency == "GBP"
    )
    assert deal.close_date == date(2026, 11, 20) and deal.client_id == client.id
    assert client.web_domain == "acme-consulting.example" and client.status is ClientStatus.ACTIVE
    assert terms is not None and terms.status is ContractStatus.APPROVED  # draft contract, approved quote
    assert terms.billing_model is BillingModel.TIME_AND_MATERIALS and terms.payment_terms_days == 45
    assert terms.legal_entity == "ACME-UK" and terms.tax_jurisdiction == "GB"
    assert terms.rate_card is not None and terms.rate_card.name == "UK Rates FY27"
    assert [(r.role, str(r.hourly_rate.amount)) for r in terms.rate_card.rates] == [
        ("Partner", "410.00"),
        ("Consultant", "175.00"),
    ]


def test_a_15_character_id_in_a_record_becomes_the_case_safe_18() -> None:
    details = mapping.opportunity_details(CONN, opportunity(Id=OPPORTUNITY[:15]), None)
    assert details.opportunity.external_ids == {CONN: OPPORTUNITY}


def test_cpq_prices_with_more_decimals_round_half_up_and_unpriced_lines_are_not_rates() -> None:
    lines = [
        line(1, "Partner", 410.125),
        line(2, "Travel", None),
        line(3, None, 99.0),
        line(4, "Analyst", 99.994),
    ]
    rate_card = mapping.opportunity_details(CONN, opportunity(), quote(lines)).contract.rate_card  # type: ignore[union-attr]
    assert rate_card is not None
    assert [(r.role, str(r.hourly_rate.amount)) for r in rate_card.rates] == [
        ("Partner", "410.13"),
        ("Analyst", "99.99"),
    ]


def test_yen_has_no_minor_units() -> None:
    yen = {"CurrencyIsoCode": "JPY"}
    details = mapping.opportunity_details(
        CONN,
        opportunity(Amount=1234567.6, CurrencyIsoCode="JPY", Contract=contract(**yen)),
        quote([line(1, "Partner", 45000.4)], **yen),
    )
    assert details.opportunity.amount is not None and str(details.opportunity.amount.amount) == "1234568"
    assert details.contract is not None and details.contract.rate_card is not None
    assert str(details.contract.rate_card.rates[0].hourly_rate.amount) == "45000"


def test_messy_accounts_non_ascii_free_text_countries_and_missing_optional_fields() -> None:
    messy = account(
        Name="  Øresund Ingeniørfirma ApS  ",
        Website="http://user@WWW.Øresund.example:8080/om?x=1",
        BillingStreet="Strandvejen 1\r\n\r\n3. sal",
        BillingStateCode=None,
        BillingCountryCode=None,
        BillingCountry="Denmark",
        Type="Prospect",
        pshub_Legal_Name__c=None,
        pshub_Tax_Id__c=None,
        pshub_Tax_Jurisdiction__c=None,
        pshub_Segment__c="",
    )
    client = mapping.client_of(CONN, messy, None)
    assert client.name == "Øresund Ingeniørfirma ApS" and client.legal_name is None
    assert client.web_domain == "øresund.example" and client.status is ClientStatus.PROSPECT
    assert client.billing_address is not None
    assert (client.billing_address.line1, client.billing_address.line2) == ("Strandvejen 1", "3. sal")
    assert client.billing_address.country == "DK"
    assert client.tax_profile is None and client.segment is None
    bare = mapping.client_of(
        CONN,
        {"Id": ACCOUNT, "Name": "Bare", "BillingCountry": "Atlantis"},
        "USD",
    )
    assert bare.billing_address is None and bare.currency == "USD" and bare.web_domain is None


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("GB", "GB"),
        ("gb", "GB"),
        ("United Kingdom", "GB"),
        ("united  states", "US"),
        ("Narnia", None),
        ("", None),
    ],
)
def test_country_fields_read_as_iso_codes(value: str, code: str | None) -> None:
    assert mapping.country_code(value) == code


@pytest.mark.parametrize(
    ("value", "days"),
    [("Net 30", 30), ("Net30", 30), ("net 60", 60), ("Due on receipt", 0), (None, None)],
)
def test_cpq_payment_terms(value: str | None, days: int | None) -> None:
    assert mapping.payment_terms_days(value, "quote") == days


def test_unknown_payment_terms_and_billing_models_are_refused_naming_the_field() -> None:
    with pytest.raises(MappingProblem, match="SBQQ__PaymentTerms__c"):
        mapping.payment_terms_days("2% 10 Net 30", "quote")
    with pytest.raises(MappingProblem, match="pshub_Billing_Model__c"):
        mapping.billing_model("Barter", "contract")
    assert mapping.billing_model("fixed_fee_milestone", "c") is BillingModel.FIXED_FEE_MILESTONE
    assert mapping.billing_model("Time & Materials", "c") is BillingModel.TIME_AND_MATERIALS


@pytest.mark.parametrize(
    ("status_code", "quote_status", "expected"),
    [
        ("Activated", "Approved", ContractStatus.ACTIVE),
        ("Terminated", None, ContractStatus.CLOSED),
        ("Expired", None, ContractStatus.CLOSED),
        ("InApproval", "Accepted", ContractStatus.APPROVED),
        ("Draft", "In Review", ContractStatus.DRAFT),
    ],
)
def test_contract_status(status_code: str, quote_status: str | None, expected: ContractStatus) -> None:
    terms = {"SBQQ__Status__c": quote_status} if quote_status else None
    assert mapping.contract_status({"StatusCode": status_code}, terms) is expected


def test_a_record_without_an_account_or_currency_is_refused() -> None:
    with pytest.raises(MappingProblem, match="has no account"):
        mapping.opportunity_details(CONN, opportunity(Account=None), None)
    no_currency = opportunity(CurrencyIsoCode=None, Account=account(CurrencyIsoCode=None))
    with pytest.raises(MappingProblem, match="no CurrencyIsoCode"):
        mapping.opportunity_details(CONN, no_currency, None)
    assert (
        mapping.opportunity_details(CONN, no_currency, None, default_currency="EUR").client.currency == "EUR"
    )


def test_a_quote_in_another_currency_than_its_contract_is_refused() -> None:
    with pytest.raises(MappingProblem, match="in GBP but its primary quote in USD"):
        mapping.opportunity_details(CONN, opportunity(), quote(CurrencyIsoCode="USD"))


def test_ids_are_checked_before_they_reach_soql() -> None:
    assert mapping.record_id("0065e00000KxYzA", "id") == OPPORTUNITY
    for bad in ("0065e00000KxYzA'", "0065e00000KxYzAAAA", "006", "0065e00000KxYzA OR"):
        with pytest.raises(MappingProblem):
            mapping.record_id(bad, "id")
    assert "WHERE Id = '0065e00000KxYzAAAV'" in mapping.opportunity_query("0065e00000KxYzA")
    assert mapping.same_record(OPPORTUNITY, OPPORTUNITY[:15])


def test_single_currency_orgs_and_orgs_without_country_picklists_select_other_fields() -> None:
    fields = mapping.opportunity_fields(multi_currency=False, country_picklists=False)
    assert "CurrencyIsoCode" not in fields and "Account.BillingCountry" in fields
    assert "Account.BillingCountryCode" not in fields


def test_change_windows_start_on_the_whole_second_before() -> None:
    since = datetime(2026, 11, 20, 16, 2, 11, 999_000, tzinfo=timezone(timedelta(hours=1)))
    assert mapping.soql_datetime(since) == "2026-11-20T15:02:11Z"
    query = mapping.changed_query("Opportunity", since)
    assert "WHERE SystemModstamp > 2026-11-20T15:02:11Z ORDER BY SystemModstamp ASC, Id ASC" in query
    with pytest.raises(MappingProblem):
        mapping.soql_datetime(datetime(2026, 11, 20))  # no offset: refused
    assert mapping.source_version("2026-11-20T15:02:11.5+0100") == "2026-11-20T14:02:11.500Z"
    assert datetime.fromisoformat("2026-11-20T15:02:11.000+00:00").tzinfo == UTC


def test_the_write_back_body_and_its_field_limits() -> None:
    body = mapping.link_body("PRJ-ÆØÅ-0001", {"netsuite-acme": "5211", "kantata-acme": "27410001"})
    assert body == {
        "pshub_Project_Code__c": "PRJ-ÆØÅ-0001",
        "pshub_Project_Ids__c": '{"kantata-acme":"27410001","netsuite-acme":"5211"}',
    }
    assert mapping.link_body("É" * 80, {})["pshub_Project_Code__c"] == "É" * 80  # characters, not bytes
    with pytest.raises(MappingProblem, match="81 characters; pshub_Project_Code__c holds 80"):
        mapping.link_body("P" * 81, {})
    with pytest.raises(MappingProblem, match="pshub_Project_Ids__c holds 32768"):
        mapping.link_body("PRJ-1", {f"conn-{n}": "x" * 100 for n in range(400)})
    with pytest.raises(MappingProblem, match="empty"):
        mapping.link_body("  ", {})


def test_what_an_opportunity_already_carries_hand_edited_ids_count_as_none() -> None:
    assert mapping.linked_project({}) == (None, {})
    assert mapping.linked_project(
        {"pshub_Project_Code__c": "PRJ-1", "pshub_Project_Ids__c": '{"a":"1","b":2}'}
    ) == (
        "PRJ-1",
        {"a": "1"},
    )
    assert mapping.linked_project({"pshub_Project_Code__c": "", "pshub_Project_Ids__c": "see Jira"}) == (
        None,
        {},
    )


def test_a_retainer_contracts_billing_terms_come_from_its_custom_fields() -> None:
    from pshub.canonical.model import ContractBillingTerms, Money

    retainer = contract(
        pshub_Billing_Model__c="Retainer", pshub_Retainer_Per_Month__c=8500.0, pshub_Retainer_Hours__c=35.0,
        pshub_Overage_Rate__c=195.0, pshub_Unused_Hours__c="Roll", pshub_Rollover_Cap_Hours__c=10.0,
        pshub_Expense_Markup__c=12.5, pshub_Requires_PO__c=True, pshub_Purchase_Order__c="PO-55-120",
        pshub_Milestone_Acceptance__c=False, pshub_Budget_Cap__c=None,
    )  # fmt: skip
    terms = mapping.opportunity_details(CONN, opportunity(Contract=retainer), quote()).contract
    assert terms is not None and terms.retainer_per_month == Money(amount=Decimal("8500.00"), currency="GBP")
    # Salesforce's percent field holds 12.5 for 12.5 %: the markup is 0.125
    assert terms.billing_terms == ContractBillingTerms(
        retainer_hours=Decimal("35.0"), overage_rate=Money(amount=Decimal("195.00"), currency="GBP"),
        unused_hours="roll", rollover_cap_hours=Decimal("10.0"), expense_markup=Decimal("0.125"),
        requires_purchase_order=True, purchase_order="PO-55-120",
    )  # fmt: skip
    plain = mapping.opportunity_details(CONN, opportunity(), quote()).contract
    assert plain is not None and plain.billing_terms is None
    with pytest.raises(MappingProblem, match="pshub_Unused_Hours__c"):
        mapping.opportunity_details(
            CONN, opportunity(Contract=contract(pshub_Unused_Hours__c="Carry")), quote()
        )
    with pytest.raises(MappingProblem, match="pshub_Retainer_Hours__c"):
        mapping.opportunity_details(CONN, opportunity(Contract=contract(pshub_Retainer_Hours__c=-1)), quote())


# -- CPQ amendments -----------------------------------------------------------------------------
AMENDMENT = "0065e00000AmEnDAAV"
EARLIER = "0065e00000AmEn1AAF"


def amendment(**changes: Any) -> dict[str, Any]:
    record = {
        "attributes": {"type": "Opportunity", "url": "x"},
        "Id": AMENDMENT,
        "Name": "Amendment for contract #00000101",
        "Amount": -2500.0,  # CPQ: the change in value
        "CurrencyIsoCode": "GBP",
        "IsWon": True,
        "CreatedDate": "2026-12-03T10:00:00.000+0000",
        "SBQQ__AmendedContract__c": CONTRACT,
        "SBQQ__AmendedContract__r": {"attributes": {"type": "Contract", "url": "x"}, "EndDate": "2027-11-30"},
    }
    return record | changes


def won(*ids_and_amounts: tuple[str, float]) -> list[dict[str, Any]]:
    return [
        {"attributes": {"type": "Opportunity", "url": "x"}, "Id": i, "Amount": a} for i, a in ids_and_amounts
    ]


ORIGINAL = {"attributes": {"type": "Opportunity", "url": "x"}, "Id": OPPORTUNITY, "Amount": 12500.0,
            "CurrencyIsoCode": "GBP", "pshub_Project_Code__c": "PRJ-ACME-0001"}  # fmt: skip


def test_the_second_amendment_of_a_contract_is_number_2_and_its_budget_sums_every_change() -> None:
    order = mapping.change_order_of(
        "salesforce-acme",
        amendment(),
        won((EARLIER, 30000.0), (AMENDMENT, -2500.0)),
        ORIGINAL,
        quote(SBQQ__StartDate__c="2027-02-01", SBQQ__EndDate__c="2028-01-31"),
    )
    assert (order.project_code, order.change_order_id, order.complete) == ("PRJ-ACME-0001", AMENDMENT, True)
    assert order.amendment is not None and order.amendment.number == 2
    assert order.amendment.effective_date == date(2027, 2, 1)
    # 12,500.00 signed + 30,000.00 (amendment 1) - 2,500.00 (this one) = 40,000.00
    assert order.budget is not None and order.budget.amount == Decimal("40000.00")
    assert order.amendment.value_change is not None and order.amendment.value_change.amount == Decimal(
        "-2500.00"
    )
    assert order.end_date == date(2028, 1, 31)
    card = order.rate_card
    assert card is not None and (card.version, card.effective_from, card.effective_to) == (
        3,
        date(2027, 2, 1),
        None,
    )
    assert [(r.role, r.hourly_rate.amount) for r in card.rates] == [
        ("Partner", Decimal("410.00")), ("Consultant", Decimal("175.00"))
    ]  # fmt: skip
    # the contract's status is checked on the opportunity that won it, not on the amendment
    assert order.opportunity_native_id is None and order.crm_connection == "salesforce-acme"


def test_an_amendment_quote_without_an_end_date_keeps_the_contracts() -> None:
    order = mapping.change_order_of(
        "salesforce-acme", amendment(), won((AMENDMENT, -2500.0)), ORIGINAL, quote()
    )
    assert order.end_date == date(2027, 11, 30)
    assert order.amendment is not None and order.amendment.number == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"quote": None}, "no primary quote"),
        ({"quote": quote(SBQQ__Status__c="Draft")}, "not approved"),
        ({"quote": quote(SBQQ__StartDate__c=None)}, "SBQQ__StartDate__c"),
        ({"original": None}, "no provisioned opportunity"),
        ({"won": won((EARLIER, 1.0))}, "not among contract"),
        ({"amendment": amendment(IsWon=False)}, "is not won"),
        ({"amendment": amendment(SBQQ__AmendedContract__c=None)}, "amends no contract"),
    ],
)
def test_an_amendment_that_cannot_be_applied_says_why(change: dict[str, Any], reason: str) -> None:
    arguments: dict[str, Any] = {"amendment": amendment(), "won": won((AMENDMENT, -2500.0)), "original": ORIGINAL,
                                 "quote": quote(), **change}  # fmt: skip
    with pytest.raises(MappingProblem, match=reason):
        mapping.change_order_of(
            "salesforce-acme",
            arguments["amendment"],
            arguments["won"],
            arguments["original"],
            arguments["quote"],
        )


def test_an_amendment_read_as_a_new_deal_is_refused_rather_than_provisioned_twice() -> None:
    with pytest.raises(
        MappingProblem, match=r"CPQ amendment of contract .* a change order, not a new project"
    ):
        mapping.opportunity_details(
            "salesforce-acme", opportunity(SBQQ__AmendedContract__c=CONTRACT), quote()
        )

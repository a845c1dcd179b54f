"""HubSpot CRM v3 objects to canonical objects and back, on realistic and messy data (no I/O).

Object shapes are CRM v3's (``{"id", "properties", "createdAt", "updatedAt", "archived",
"associations"}``, every property value a string or null); the text limit is HubSpot's
65,536 characters.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pshub.canonical.model import BillingModel, ClientStatus, ContractStatus, Money
from pshub.platforms.fields import FieldProblem, MappingProblem
from pshub.platforms.hubspot import mapping

CONN = "hubspot-acme"


def obj(
    identifier: str, updated: str = "2026-11-20T15:03:00.512Z", **properties: str | None
) -> dict[str, Any]:
    return {
        "id": identifier,
        "properties": {"hs_object_id": identifier, **properties},
        "createdAt": "2026-10-05T14:12:00.000Z",
        "updatedAt": updated,
        "archived": False,
    }


def deal(**properties: str | None) -> dict[str, Any]:
    values: dict[str, str | None] = {
        "dealname": "Harbourline - Assessment",
        "dealstage": "closedwon",
        "amount": "12500",
        "deal_currency_code": "USD",
        "closedate": "2026-11-20T03:30:00Z",
        "hubspot_owner_id": "81234567",
        "pshub_service_line": "consulting",
        "pshub_billing_model": "time_and_materials",
        "pshub_contract_start_date": "2026-12-01",
        "pshub_contract_end_date": "2027-03-31",
        "pshub_payment_terms_days": "45",
    }
    return obj("27182818284", **(values | properties))


def company(**properties: str | None) -> dict[str, Any]:
    values: dict[str, str | None] = {
        "name": "Harbourline Logistics",
        "domain": "harbourline.example",
        "lifecyclestage": "customer",
        "address": "100 Example Avenue",
        "city": "New York",
        "state": "NY",
        "zip": "10001",
        "country": "United States",
        "pshub_legal_name": "Harbourline Logistics Inc.",
        "pshub_legal_entity": "ACME-US",
        "pshub_tax_jurisdiction": "US-NY",
    }
    return obj("9876543210", **(values | properties))


def quote(**properties: str | None) -> dict[str, Any]:
    values: dict[str, str | None] = {
        "hs_title": "US Rates 2027",
        "hs_status": "APPROVED",
        "hs_currency": "USD",
        "hs_quote_amount": "12500.00",
    }
    return obj("55501234", **(values | properties))


def line(identifier: str, name: str | None, price: str | None, position: str | None) -> dict[str, Any]:
    return obj(identifier, name=name, price=price, hs_position_on_quote=position)


LINES = [line("2", "Consultant", "185.00", "1"), line("1", "Engagement Partner", "425", "0")]


def test_a_won_deal_with_an_approved_quote_maps_to_the_canonical_deal() -> None:
    details = mapping.opportunity_details(CONN, deal(), company(), quote(), LINES)
    won, client, terms = details.opportunity, details.client, details.contract
    assert won.source_version == "1795186980512"  # updatedAt in Unix ms, as the webhooks carry it
    assert won.amount is not None and str(won.amount.amount) == "12500.00"
    assert won.close_date == date(2026, 11, 20) and won.owner == "81234567"
    assert client.billing_address is not None and client.billing_address.country == "US"
    assert client.currency == "USD" and client.status is ClientStatus.ACTIVE  # the deal's currency
    assert terms is not None and terms.id == f"{CONN}:contract:55501234" and terms.payment_terms_days == 45
    assert terms.status is ContractStatus.APPROVED and terms.billing_model is BillingModel.TIME_AND_MATERIALS
    assert terms.rate_card is not None and terms.rate_card.effective_from == date(2026, 12, 1)
    assert [(r.role, str(r.hourly_rate.amount)) for r in terms.rate_card.rates] == [
        ("Engagement Partner", "425.00"),  # ordered by their position on the quote
        ("Consultant", "185.00"),
    ]


def test_the_close_date_is_the_day_in_the_portals_time_zone() -> None:
    utc = mapping.opportunity_details(CONN, deal(), company())
    new_york = mapping.opportunity_details(CONN, deal(), company(), zone=ZoneInfo("America/New_York"))
    assert utc.opportunity.close_date == date(2026, 11, 20)
    assert new_york.opportunity.close_date == date(2026, 11, 19)  # 03:30 UTC is the evening before


def test_a_quote_not_yet_approved_is_a_draft_and_unpriced_lines_are_not_rates() -> None:
    lines = [line("1", "Partner", "410.125", "0"), line("2", "Travel", None, "1"), line("3", None, "9", "2")]
    terms = mapping.opportunity_details(
        CONN, deal(), company(), quote(hs_status="PENDING_APPROVAL"), lines
    ).contract
    assert terms is not None and terms.status is ContractStatus.DRAFT
    assert terms.rate_card is not None
    assert [(r.role, str(r.hourly_rate.amount)) for r in terms.rate_card.rates] == [("Partner", "410.13")]


def test_messy_companies_non_ascii_free_text_countries_and_missing_optional_fields() -> None:
    messy = company(
        name="  Ärzte ohne Grenzen \u2013 Zürich ",
        domain="https://WWW.Ärzte.example/",
        country="Narnia",
        state=None,
        address=None,
        zip=None,
        lifecyclestage="salesqualifiedlead",
        pshub_legal_name=None,
        pshub_tax_jurisdiction=None,
    )
    client = mapping.client_of(CONN, messy, None)
    assert client.name == "Ärzte ohne Grenzen \u2013 Zürich" and client.web_domain == "ärzte.example"
    assert client.status is ClientStatus.PROSPECT and client.tax_profile is None and client.currency is None
    assert client.billing_address is not None and client.billing_address.city == "New York"
    assert client.billing_address.country is None
    bare = mapping.client_of(CONN, obj("1", name="Bare"), "EUR")
    assert bare.billing_address is None and bare.web_domain is None and bare.legal_entity is None


def test_a_deal_without_terms_or_amount_still_maps() -> None:
    plain = deal(amount=None, closedate=None, pshub_service_line=None)
    details = mapping.opportunity_details(CONN, plain, company())
    assert details.contract is None and details.opportunity.amount is None
    assert details.opportunity.close_date is None and details.opportunity.contract_id is None


def test_refusals_name_the_property() -> None:
    with pytest.raises(MappingProblem, match="pshub_billing_model"):
        mapping.opportunity_details(CONN, deal(pshub_billing_model="barter"), company(), quote(), LINES)
    with pytest.raises(MappingProblem, match="pshub_contract_start_date"):
        mapping.opportunity_details(CONN, deal(pshub_contract_start_date=None), company(), quote(), LINES)
    with pytest.raises(MappingProblem, match="pshub_payment_terms_days"):
        mapping.opportunity_details(CONN, deal(pshub_payment_terms_days="30.5"), company(), quote(), LINES)
    with pytest.raises(MappingProblem, match="no deal_currency_code"):
        mapping.opportunity_details(CONN, deal(deal_currency_code=None), company())
    with pytest.raises(MappingProblem, match="amount"):
        mapping.opportunity_details(CONN, deal(amount="twelve thousand"), company())
    with pytest.raises(MappingProblem, match="has no name"):
        mapping.client_of(CONN, company(name=" "), "USD")


def test_the_primary_company_wins_and_each_association_counts_once() -> None:
    associated = deal()
    associated["associations"] = {
        "companies": {
            "results": [
                {"id": "111", "type": "deal_to_company_unlabeled"},
                {"id": "222", "type": "deal_to_company_unlabeled"},
                {"id": "222", "type": "deal_to_company"},
            ]
        },
        "line items": {"results": [{"id": "7", "type": "deal_to_line_item"}]},
    }
    assert mapping.primary_company_id(associated) == "222"
    assert mapping.associated_ids(associated, "companies") == [
        ("111", "deal_to_company_unlabeled"),
        ("222", "deal_to_company"),
    ]
    assert mapping.associated_ids(associated, "line_items") == [("7", "deal_to_line_item")]
    assert mapping.primary_company_id(deal()) is None


def test_of_several_quotes_the_approved_one_changed_last_is_chosen() -> None:
    quotes = [
        obj("1", updated="2026-11-01T00:00:00Z", hs_status="APPROVED"),
        obj("2", updated="2026-11-20T00:00:00Z", hs_status="DRAFT"),
        obj("3", updated="2026-11-10T00:00:00Z", hs_status="APPROVAL_NOT_NEEDED"),
    ]
    chosen = mapping.chosen_quote(quotes)
    assert chosen is not None and chosen["id"] == "3"
    assert mapping.chosen_quote([]) is None


def test_ids_are_checked_before_they_reach_a_path() -> None:
    assert mapping.object_id(" 27182818284 ", "deal id") == "27182818284"
    for bad in ("27182818284/../x", "-1", "١٢٣", "1" * 21, ""):
        with pytest.raises(MappingProblem):
            mapping.object_id(bad, "deal id")


def test_datetime_properties_in_both_forms() -> None:
    assert mapping.epoch_millis("2026-11-20T15:03:00.512Z", "x") == "1795186980512"
    assert mapping.epoch_millis("1795186980512", "x") == "1795186980512"
    assert mapping.day("2026-12-01", "x") == date(2026, 12, 1)
    with pytest.raises(FieldProblem, match="x is not an ISO 8601 date and time"):
        mapping.day("next tuesday", "x")


def test_the_write_back_body_and_hubspots_limit() -> None:
    assert mapping.link_body("PRJ-ÆØÅ-1", {"b": "2", "a": "1"}) == {
        "properties": {"pshub_project_code": "PRJ-ÆØÅ-1", "pshub_project_ids": '{"a":"1","b":"2"}'}
    }
    assert len(mapping.link_body("P" * 65_536, {})["properties"]["pshub_project_code"]) == 65_536
    with pytest.raises(MappingProblem, match="65537 characters"):
        mapping.link_body("P" * 65_537, {})
    with pytest.raises(MappingProblem, match="pshub_project_ids"):
        mapping.link_body("PRJ-1", {f"c{n}": "x" * 1000 for n in range(70)})


def test_what_a_deal_already_carries_hand_edited_ids_count_as_none() -> None:
    assert mapping.linked_project(obj("1")) == (None, {})
    assert mapping.linked_project(
        obj("1", pshub_project_code="PRJ-1", pshub_project_ids='{"a":"1","b":[]}')
    ) == (
        "PRJ-1",
        {"a": "1"},
    )
    assert mapping.linked_project(obj("1", pshub_project_code="", pshub_project_ids="n/a")) == (None, {})


def test_a_retainer_deals_billing_terms_come_with_its_contract() -> None:
    from pshub.canonical.model import ContractBillingTerms

    retainer = deal(
        pshub_billing_model="retainer", pshub_retainer_fee="10,000", pshub_retainer_hours="40",
        pshub_overage_rate="225", pshub_unused_hours="Roll", pshub_rollover_cap_hours="20",
        pshub_expense_markup="0.10", pshub_requires_po="true", pshub_purchase_order="PO-4471",
        pshub_budget_cap="120000",
    )  # fmt: skip
    contract = mapping.opportunity_details(CONN, retainer, company(), quote(), LINES).contract
    assert contract is not None
    assert contract.retainer_per_month == Money(amount=Decimal("10000.00"), currency="USD")
    assert contract.billing_terms == ContractBillingTerms(
        retainer_hours=Decimal("40"), overage_rate=Money(amount=Decimal("225.00"), currency="USD"),
        unused_hours="roll", rollover_cap_hours=Decimal("20"), expense_markup=Decimal("0.10"),
        requires_purchase_order=True, purchase_order="PO-4471",
        budget_cap=Money(amount=Decimal("120000.00"), currency="USD"),
    )  # fmt: skip
    # A T&M deal sets none of them: no billing terms at all
    plain = mapping.opportunity_details(CONN, deal(), company(), quote(), LINES).contract
    assert plain is not None and plain.billing_terms is None
    for bad in ({"pshub_unused_hours": "carry"}, {"pshub_requires_po": "yes"}, {"pshub_retainer_hours": "-4"},
                {"pshub_expense_markup": "ten percent"}):  # fmt: skip
        with pytest.raises(MappingProblem, match=next(iter(bad))):
            mapping.opportunity_details(CONN, deal(**bad), company(), quote(), LINES)


# -- change orders ------------------------------------------------------------------------------
def change_order_deal(**properties: str | None) -> dict[str, Any]:
    values: dict[str, str | None] = {
        "amount": "72,500.00",
        "pshub_contract_end_date": "2027-06-30",
        "pshub_project_code": "PRJ-HARBLOGI-0001",
        "pshub_change_order_status": "approved",
        "pshub_change_order_number": "2",
        "pshub_change_order_effective_date": "2026-12-10",
        "pshub_change_order_description": "Phase 2",
        "pshub_change_order_value": "-1,250.50",
        "pshub_change_order_staffing": "false",
    }
    return deal(**(values | properties))


def test_a_change_order_is_read_from_the_deal_with_the_new_rates_from_its_quote() -> None:
    quote = obj("55509999", hs_title="CO-2 rates", hs_status="APPROVED", hs_currency="USD")
    lines = [
        obj("1", name="Analyst", price="150", hs_position_on_quote="1"),
        obj("2", name="Senior Consultant", price="1,300.00", hs_position_on_quote="0"),
    ]
    order = mapping.change_order_of(CONN, change_order_deal(), quote, lines)
    assert (order.project_code, order.change_order_id, order.complete) == (
        "PRJ-HARBLOGI-0001", "27182818284-CO2", True
    )  # fmt: skip
    assert order.amendment is not None
    assert (order.amendment.number, order.amendment.effective_date) == (2, date(2026, 12, 10))
    # A change order that lowers the value: 1,250.50 less, as typed with a thousands comma.
    assert order.amendment.value_change == Money(amount=Decimal("-1250.50"), currency="USD")
    assert order.budget == Money(amount=Decimal("72500.00"), currency="USD")
    assert order.end_date == date(2027, 6, 30)
    card = order.rate_card
    assert card is not None and (card.version, card.effective_from) == (3, date(2026, 12, 10))
    # In the quote's order, not the line items' ids.
    assert [(r.role, r.hourly_rate.amount) for r in card.rates] == [
        ("Senior Consultant", Decimal("1300.00")), ("Analyst", Decimal("150.00"))
    ]  # fmt: skip


def test_a_change_order_without_a_quote_does_not_reprice() -> None:
    order = mapping.change_order_of(CONN, change_order_deal(pshub_change_order_value=None))
    assert order.rate_card is None and order.amendment is not None
    assert order.amendment.value_change is None
    assert order.amendment.description == "Phase 2"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"pshub_change_order_status": "draft"}, "draft, not approved"),
        ({"pshub_project_code": None}, "no pshub_project_code"),
        ({"pshub_change_order_number": None}, "pshub_change_order_number"),
        ({"pshub_change_order_number": "1.5"}, "whole number"),
        ({"pshub_change_order_number": "0"}, "whole number"),
        ({"pshub_change_order_number": "two"}, "not a number"),
        ({"pshub_change_order_effective_date": None}, "pshub_change_order_effective_date"),
        ({"pshub_change_order_effective_date": "10/12/2026"}, "pshub_change_order_effective_date"),
        ({"pshub_change_order_value": "about 60k"}, "pshub_change_order_value"),
        ({"pshub_change_order_staffing": "yes"}, "true or false"),
    ],
)
def test_a_change_order_that_cannot_be_applied_says_what_is_wrong(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises((MappingProblem, FieldProblem), match=reason):
        mapping.change_order_of(CONN, change_order_deal(**change))


def test_a_change_order_quote_that_is_not_approved_is_refused() -> None:
    quote = obj("55509999", hs_title="CO-2 rates", hs_status="DRAFT", hs_currency="USD")
    with pytest.raises(MappingProblem, match="55509999 is not approved"):
        mapping.change_order_of(CONN, change_order_deal(), quote, [])

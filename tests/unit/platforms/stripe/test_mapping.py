"""Canonical objects as Stripe parameters and back: pure functions, realistic and messy data.

Limits are Stripe's (API reference, 2020-08-27): Customer ``name`` at most 256
characters; metadata at most 50 keys, keys 40 and values 500 characters; amounts
integers in the currency's smallest unit (zero-decimal currencies as they are,
three-decimal ones ending in 0).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pshub.canonical.model import (
    Address,
    BillingModel,
    Client,
    Milestone,
    Money,
    TaxProfile,
)
from pshub.connectors.results import BillingPlanKind
from pshub.platforms.stripe import mapping as m
from tests.unit.connectors.builders import client, contract, project, rate_card, usd

TODAY = date(2026, 12, 1)


def money(amount: str, code: str) -> Money:
    return Money(amount=Decimal(amount), currency=code)


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [
        ("12.50", "USD", 1250),
        ("5000", "JPY", 5000),  # zero-decimal
        ("1.230", "BHD", 1230),  # three-decimal, ends in 0
        ("100", "MGA", 100),  # two decimals in ISO 4217, zero-decimal at Stripe
        ("100", "ISK", 10000),  # sent with two decimals at Stripe
        ("0", "EUR", 0),
    ],
)
def test_amounts_are_integers_in_stripes_smallest_unit(amount: str, code: str, minor: int) -> None:
    assert m.to_minor(money(amount, code)) == minor
    assert m.from_minor(minor, code.lower()) == money(amount, code)


def test_amounts_stripe_cannot_take_are_refused() -> None:
    with pytest.raises(m.MappingError, match=r"multiples of 0\.010"):
        m.to_minor(money("1.235", "KWD"))
    with pytest.raises(m.MappingError, match="4-decimal"):
        m.to_minor(money("1.2345", "CLF"))


def test_forms_use_stripes_bracket_notation() -> None:
    params = {
        "customer": "cus_1",
        "items": [{"price": "price_1", "quantity": 1}, {"price_data": {"recurring": {"interval": "month"}}}],
        "metadata": {"pshub_project_code": "PRJ-1"},
        "invoice_now": False,
        "skipped": None,
    }
    assert m.form(params) == {
        "customer": "cus_1",
        "items[0][price]": "price_1",
        "items[0][quantity]": "1",
        "items[1][price_data][recurring][interval]": "month",
        "metadata[pshub_project_code]": "PRJ-1",
        "invoice_now": "false",
    }


def test_search_literals_escape_quotes_and_backslashes() -> None:
    query = m.metadata_query([("pshub_client_id", "o'brien\\co"), ("pshub_tax_key", "abc")])
    assert query == "metadata['pshub_client_id']:'o\\'brien\\\\co' OR metadata['pshub_tax_key']:'abc'"


def test_a_client_becomes_a_customer_with_pshubs_markers() -> None:
    source = client(
        name="Zürich Ærø Consulting 株式会社",
        legal_name="Zürich Ærø Consulting AG",
        billing_address=Address(line1="Bahnhofstrasse 1", city="Zürich", region="ZH", country="ch"),
        tax_profile=TaxProfile(tax_id="CHE-123.456.789 MWST", jurisdiction="CH", exempt=True),
    )
    params = m.customer_params(source)
    assert params["name"] == "Zürich Ærø Consulting 株式会社"
    assert params["address"] == {
        "line1": "Bahnhofstrasse 1",
        "city": "Zürich",
        "state": "ZH",
        "country": "CH",
    }
    assert params["tax_exempt"] == "exempt"
    metadata = params["metadata"]
    assert (
        metadata["pshub_client_id"] == "client_1"
        and metadata["pshub_legal_name"] == "Zürich Ærø Consulting AG"
    )
    assert metadata["pshub_tax_key"] == m.tax_key(client(tax_profile=TaxProfile(tax_id="che123456789mwst")))
    assert len(metadata["pshub_tax_key"]) == 24 and "123456789" not in metadata["pshub_tax_key"]  # a digest
    assert m.customer_identity(source) == {"metadata": {"pshub_client_id": "client_1"}}


def test_optional_client_fields_are_left_out() -> None:
    bare = Client(id="client_2", name="Plain Co")
    params = m.customer_params(bare)
    assert params == {"name": "Plain Co", "metadata": {"pshub_client_id": "client_2"}, "tax_exempt": "none"}
    assert m.tax_key(bare) is None


def test_names_beyond_stripes_limits_are_cut_ids_never() -> None:
    params = m.customer_params(client(name="A" * 300, legal_name="B" * 600))
    assert params["name"] == "A" * 256 and params["metadata"]["pshub_legal_name"] == "B" * 500
    with pytest.raises(m.MappingError, match="500-character"):
        m.customer_params(client("c" * 501))


def test_a_customer_differs_when_stripe_lacks_a_value() -> None:
    params = m.customer_params(client())
    held = {
        "name": params["name"],
        "tax_exempt": "none",
        "address": None,
        "metadata": dict(params["metadata"]),
    }
    assert not m.customer_differs(held, params)
    assert m.customer_differs({**held, "name": "Old name"}, params)
    assert m.customer_differs({**held, "metadata": {}}, params)


def test_plan_markers_fit_stripes_metadata_limits() -> None:
    big = contract(
        BillingModel.TIME_AND_MATERIALS,
        rate_card=rate_card(**{f"Role {n} " + "x" * 30: "100.00" for n in range(15)}),
        opportunity_id="006" + "Q" * 15,
        total_value=usd("250000"),
        end_date=date(2027, 12, 31),
    )
    metadata = m.plan_metadata(project(), big, "cus_ABCDEFGHIJKLMN", 3)
    assert len(metadata) <= m.METADATA_KEYS_MAX
    assert all(len(k) <= m.METADATA_KEY_MAX and len(v) <= m.METADATA_VALUE_MAX for k, v in metadata.items())
    assert metadata["pshub_plan"] == "3" and metadata["pshub_total_value"] == "250000.00 USD"
    assert m.decode_digests(metadata["pshub_content"]) == m.content_digests(big, "cus_ABCDEFGHIJKLMN")


def test_digests_name_the_fields_that_differ() -> None:
    existing = m.content_digests(contract(BillingModel.RETAINER), "cus_1")
    requested = m.content_digests(contract(BillingModel.RETAINER, payment_terms_days=45), "cus_1")
    assert m.differing_fields(existing, requested) == ("payment_terms_days",)
    moved = m.content_digests(contract(BillingModel.RETAINER), "cus_2")
    assert m.differing_fields(existing, moved) == ("customer",)


def test_the_billing_model_decides_the_kind() -> None:
    assert m.plan_kind(BillingModel.RETAINER) is BillingPlanKind.SUBSCRIPTION
    assert m.plan_kind(BillingModel.USAGE) is BillingPlanKind.SUBSCRIPTION
    assert m.plan_kind(BillingModel.TIME_AND_MATERIALS) is BillingPlanKind.INVOICE_SCHEDULE
    assert m.plan_kind(BillingModel.FIXED_FEE_MILESTONE) is BillingPlanKind.INVOICE_SCHEDULE


def test_terms_and_currencies_are_checked_before_anything_is_sent() -> None:
    assert m.missing_terms(contract(BillingModel.FIXED_FEE_MILESTONE, milestones=[])) == ["milestones"]
    empty = rate_card().model_copy(update={"rates": []})
    assert m.missing_terms(contract(BillingModel.USAGE, rate_card=empty)) == ["rate_card"]  # nothing to price
    assert m.missing_terms(contract(BillingModel.USAGE)) == []
    mixed = contract(BillingModel.TIME_AND_MATERIALS, currency="EUR")
    assert m.foreign_currency(mixed) == ["rate_card"]


def _ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def test_milestone_phases_start_on_due_dates_and_past_ones_bill_now() -> None:
    def due(ms_id: str, day: date) -> Milestone:
        return Milestone(id=ms_id, name=ms_id, amount=usd("100"), due_date=day)

    milestones = [
        (due("late", date(2026, 11, 1)), "price_late"),
        (due("today", TODAY), "price_today"),
        (due("feb", date(2027, 2, 1)), "price_feb"),
        (due("feb_too", date(2027, 2, 1)), "price_feb_too"),
        (due("may", date(2027, 5, 1)), "price_may"),
    ]
    phases = m.milestone_phases(contract(BillingModel.FIXED_FEE_MILESTONE), "prod_1", milestones, TODAY)
    assert [[i["price"] for i in p["add_invoice_items"]] for p in phases] == [
        ["price_late", "price_today"],
        ["price_feb", "price_feb_too"],
        ["price_may"],
    ]
    assert [p.get("end_date") for p in phases] == [_ts(date(2027, 2, 1)), _ts(date(2027, 5, 1)), None]
    assert phases[-1]["iterations"] == 1 and "billing_cycle_anchor" not in phases[0]
    assert all(p["items"][0]["price_data"]["unit_amount"] == 0 for p in phases)


def test_a_milestone_without_a_due_date_cannot_be_scheduled() -> None:
    undated = Milestone(id="ms_9", name="Sign-off", amount=usd("100"))
    with pytest.raises(m.MappingError, match="ms_9 has no due date"):
        m.milestone_phases(
            contract(BillingModel.FIXED_FEE_MILESTONE), "prod_1", [(undated, "price_1")], TODAY
        )


def test_a_retainer_that_starts_later_is_anchored_and_one_that_ended_is_refused() -> None:
    later = contract(BillingModel.RETAINER, start_date=date(2027, 1, 1), end_date=date(2027, 12, 31))
    params = m.subscription_params(later, "cus_1", "prod_1", {}, TODAY)
    assert params["billing_cycle_anchor"] == _ts(date(2027, 1, 1)) and params["proration_behavior"] == "none"
    assert params["cancel_at"] == _ts(date(2028, 1, 1))
    now = m.subscription_params(contract(BillingModel.RETAINER), "cus_1", "prod_1", {}, TODAY)
    assert "billing_cycle_anchor" not in now and "cancel_at" not in now
    with pytest.raises(m.MappingError, match="ended on 2026-06-30"):
        m.subscription_params(
            contract(BillingModel.RETAINER, end_date=date(2026, 6, 30)), "c", "p", {}, TODAY
        )


def test_open_ended_time_and_materials_runs_a_year_then_is_released() -> None:
    params = m.schedule_params(
        contract(BillingModel.TIME_AND_MATERIALS), "cus_1", "prod_1", {}, TODAY, role_prices=["price_a"]
    )
    assert params["end_behavior"] == "release" and params["phases"] == [
        {"items": [{"price": "price_a"}], "iterations": 12}
    ]
    ending = contract(BillingModel.TIME_AND_MATERIALS, end_date=date(2027, 6, 30))
    fixed = m.schedule_params(ending, "cus_1", "prod_1", {}, TODAY, role_prices=["price_a"])
    assert fixed["end_behavior"] == "cancel" and fixed["phases"][0]["end_date"] == _ts(date(2027, 7, 1))


def test_a_subscription_reads_back_as_its_plan() -> None:
    source = contract(BillingModel.RETAINER)
    subscription = {
        "id": "sub_1X",
        "object": "subscription",
        "status": "active",
        "customer": "cus_1",
        "days_until_due": 30,
        "metadata": m.plan_metadata(project(), source, "cus_1", 1),
        "items": {"data": [{"price": {"currency": "usd", "unit_amount": 500000, "metadata": {}}}]},
    }
    plan = m.plan_from_subscription(subscription)
    assert (
        plan.contract == source
        and plan.kind is BillingPlanKind.SUBSCRIPTION
        and plan.project_code == "PRJ-HARB-0001"
    )
    assert m.is_live(subscription) and not m.is_live({**subscription, "status": "canceled"})

"""Billing readiness: worked examples, the arithmetic written out in each test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pshub.business_exceptions import OwnerTeam
from pshub.canonical.model import BillingModel, ContractStatus, Money, Rate, RateCard
from pshub.workflows.billing.readiness import (
    BillingTerms,
    CompletedMilestone,
    EntityProfile,
    PeriodInputs,
    PostedExpense,
    PostedTime,
    RatedUsage,
    Rounding,
    UnusedHours,
    assess,
)

US = EntityProfile("acme-us", Rounding.HALF_UP, {"US-NY": D("0.08875"), "US-TX": D("0")})
UK = EntityProfile("acme-uk", Rounding.HALF_UP, {"GB": D("0.20")})
JP = EntityProfile("acme-jp", Rounding.HALF_UP, {"JP": D("0.10")})


def usd(amount: str) -> Money:
    return Money(amount=D(amount), currency="USD")


def card(version: int, start: str, rates: dict[str, str], currency: str = "USD") -> RateCard:
    return RateCard(
        id=f"ratecard_{version}",
        name=f"Acme v{version}",
        version=version,
        currency=currency,
        effective_from=date.fromisoformat(start),
        rates=[Rate(role=r, hourly_rate=Money(amount=D(a), currency=currency)) for r, a in rates.items()],
    )


def terms(model: BillingModel = BillingModel.TIME_AND_MATERIALS, **changes: object) -> BillingTerms:
    values: dict[str, object] = {
        "contract_id": "contract_1",
        "billing_model": model,
        "currency": "USD",
        "status": ContractStatus.ACTIVE,
        "rate_cards": (
            card(1, "2026-11-01", {"Senior Consultant": "250.00", "Consultant": "180.00"}),
            card(2, "2026-11-16", {"Senior Consultant": "275.00", "Consultant": "180.00"}),
        ),
    }
    return BillingTerms(**{**values, **changes})  # type: ignore[arg-type]


def time(entry: str, day: str, hours: str, role: str = "Senior Consultant", **kw: object) -> PostedTime:
    return PostedTime(entry, 1, date.fromisoformat(day), role, D(hours), **kw)  # type: ignore[arg-type]


def inputs(**changes: object) -> PeriodInputs:
    values: dict[str, object] = {
        "project_code": "PRJ-HARBLOGI-0001",
        "period": "2026-11",
        "terms": terms(),
        "profile": US,
        "tax_jurisdiction": "US-NY",
    }
    return PeriodInputs(**{**values, **changes})  # type: ignore[arg-type]


def amounts(draft: object) -> list[str]:
    return [f"{line.amount.amount}" for line in draft.lines]  # type: ignore[attr-defined]


def test_time_and_materials_prices_each_entry_at_the_rate_in_force_on_its_day() -> None:
    draft = assess(
        inputs(
            time=(
                time("te_1", "2026-11-10", "8"),  # before the 16 Nov rate change: v1, 250.00
                time("te_2", "2026-11-20", "6.5"),  # after it: v2, 275.00
                time("te_3", "2026-11-12", "3.25", role="Consultant"),  # 180.00 on both cards
                time("te_4", "2026-11-13", "2", billable=False),  # internal: not billed
            )
        )
    )
    # Consultant 3.25 x 180.00 = 585.00; Senior 8 x 250.00 = 2,000.00; Senior 6.5 x 275.00 = 1,787.50
    assert amounts(draft) == ["585.00", "2000.00", "1787.50"]
    assert [line.sources for line in draft.lines] == [("te_3@1",), ("te_1@1",), ("te_2@1",)]
    # 585.00 + 2,000.00 + 1,787.50 = 4,372.50; tax 4,372.50 x 8.875 % = 388.059375 -> 388.06
    assert draft.subtotal == usd("4372.50")
    assert draft.tax == usd("388.06")
    assert draft.total == usd("4760.56")
    assert not draft.held
    assert "te_4@1" not in draft.billed_sources


def test_hours_billed_once_are_never_billed_again() -> None:
    draft = assess(
        inputs(
            time=(time("te_1", "2026-11-10", "8"), time("te_2", "2026-11-11", "2")),
            already_billed=frozenset({"te_1"}),
        )
    )
    assert amounts(draft) == ["500.00"]  # 2 x 250.00: te_1 was on an earlier invoice
    assert draft.billed_sources == ("te_2@1",)


def test_fixed_fee_bills_completed_and_accepted_milestones() -> None:
    milestones = (
        CompletedMilestone("ms_1", "Discovery", usd("15000.00"), date(2026, 11, 5), date(2026, 11, 7)),
        CompletedMilestone("ms_2", "Design", usd("20000.00"), date(2026, 11, 25)),  # not accepted yet
        CompletedMilestone("ms_3", "Build", usd("45000.00"), None),  # not complete
    )
    held = assess(
        inputs(
            terms=terms(BillingModel.FIXED_FEE_MILESTONE, milestones_need_acceptance=True),
            milestones=milestones,
            tax_jurisdiction="US-TX",
        )
    )
    assert amounts(held) == ["15000.00"]
    assert [h.reason for h in held.holds] == ["milestone_not_accepted"]
    assert "Design" in held.holds[0].message and held.holds[0].owner is OwnerTeam.PMO
    open_terms = assess(
        inputs(
            terms=terms(BillingModel.FIXED_FEE_MILESTONE),
            milestones=milestones,
            profile=UK,
            tax_jurisdiction="GB",
        )
    )
    # no acceptance needed: 15,000.00 + 20,000.00 = 35,000.00; VAT 20 % = 7,000.00
    assert (open_terms.subtotal, open_terms.tax, open_terms.total) == (
        usd("35000.00"),
        usd("7000.00"),
        usd("42000.00"),
    )
    assert open_terms.billed_sources == ("ms_1", "ms_2")


RETAINER = {"retainer_fee": usd("10000.00"), "retainer_hours": D("40"), "overage_rate": usd("225.00")}


def test_retainer_with_overage() -> None:
    draft = assess(
        inputs(
            terms=terms(BillingModel.RETAINER, **RETAINER),
            time=(time("te_1", "2026-11-03", "20"), time("te_2", "2026-11-17", "26.5")),
            tax_jurisdiction="US-TX",
        )
    )
    # 20 + 26.5 = 46.5 h used, 40 included: 6.5 h over x 225.00 = 1,462.50; + fee 10,000.00
    assert amounts(draft) == ["10000.00", "1462.50"]
    assert draft.lines[1].quantity == D("6.5")
    assert draft.subtotal == usd("11462.50") and draft.tax == usd("0.00")
    assert draft.lines[0].sources == ("retainer:contract_1:2026-11",)
    assert draft.lines[1].sources == ("te_1@1", "te_2@1")
    assert (draft.rolled_out_hours, draft.forfeited_hours) == (0, 0)


def test_retainer_rolls_unused_hours_up_to_the_cap_and_forfeits_the_rest() -> None:
    rolling = terms(
        BillingModel.RETAINER, **RETAINER, unused_hours=UnusedHours.ROLL, rollover_cap_hours=D("8")
    )
    draft = assess(inputs(terms=rolling, time=(time("te_1", "2026-11-03", "30"),), rolled_in_hours=D("5")))
    # allowance 40 + 5 rolled in = 45 h; 30 used: 15 unused, 8 roll (the cap), 7 forfeited
    assert amounts(draft) == ["10000.00"]
    assert (draft.rolled_out_hours, draft.forfeited_hours) == (D("8"), D("7"))
    # 44 h used against 45 available: the rolled-in hours absorb what would be 4 h of overage
    used = assess(inputs(terms=rolling, time=(time("te_1", "2026-11-03", "44"),), rolled_in_hours=D("5")))
    assert amounts(used) == ["10000.00"] and used.rolled_out_hours == D("1")
    forfeit = assess(
        inputs(terms=terms(BillingModel.RETAINER, **RETAINER), time=(time("te_1", "2026-11-03", "30"),))
    )
    assert (forfeit.rolled_out_hours, forfeit.forfeited_hours) == (D("0"), D("10"))


def test_a_retainer_cycle_is_billed_once() -> None:
    draft = assess(
        inputs(
            terms=terms(BillingModel.RETAINER, **RETAINER),
            time=(time("te_1", "2026-11-03", "50"),),
            already_billed=frozenset({"retainer:contract_1:2026-11"}),
        )
    )
    assert draft.lines == () and draft.total == usd("0.00")


def test_usage_bills_rated_usage_and_holds_unrated() -> None:
    draft = assess(
        inputs(
            terms=terms(BillingModel.USAGE),
            usage=(
                RatedUsage("us_1", "api_calls", D("1250"), usd("62.50")),
                RatedUsage("us_2", "support_hours", D("12.5"), usd("1875.00")),
                RatedUsage("us_3", "api_calls", D("90"), None),
            ),
            tax_jurisdiction="US-TX",
        )
    )
    # 62.50 + 1,875.00 = 1,937.50
    assert draft.subtotal == usd("1937.50")
    assert [h.reason for h in draft.holds] == ["usage_not_rated"]
    assert draft.lines[0].description == "Usage: 1250 api_calls"


def test_multi_currency_invoices_in_the_contract_currency() -> None:
    gbp = terms(
        currency="GBP",
        rate_cards=(card(1, "2026-11-01", {"Consultant": "150.00"}, currency="GBP"),),
        expense_markup=D("0.10"),
    )
    travel = PostedExpense("ex_1", 1, date(2026, 11, 4), Money(amount=D("84.20"), currency="EUR"), "Travel")
    draft = assess(
        inputs(
            terms=gbp,
            profile=UK,
            tax_jurisdiction="GB",
            time=(time("te_1", "2026-11-04", "7.5", role="Consultant"),),
            expenses=(travel,),
            fx_rates={"EUR/GBP": D("0.8612")},
        )
    )
    # 7.5 x 150.00 = 1,125.00 GBP; 84.20 EUR x 0.8612 = 72.51304 GBP, + 10 % = 79.764344 -> 79.76
    assert amounts(draft) == ["1125.00", "79.76"]
    # 1,125.00 + 79.76 = 1,204.76; VAT 20 % = 240.952 -> 240.95; total 1,445.71
    assert draft.total == Money(amount=D("1445.71"), currency="GBP")
    no_rate = assess(inputs(terms=gbp, profile=UK, tax_jurisdiction="GB", expenses=(travel,)))
    assert [h.reason for h in no_rate.holds] == ["no_fx_rate"]
    assert "EUR/GBP" in no_rate.holds[0].message


def test_zero_decimal_currency() -> None:
    jpy = terms(
        currency="JPY",
        rate_cards=(card(1, "2026-11-01", {"Consultant": "18000"}, currency="JPY"),),
        expense_markup=D("0.05"),
    )
    draft = assess(
        inputs(
            terms=jpy,
            profile=JP,
            tax_jurisdiction="JP",
            time=(time("te_1", "2026-11-04", "3", role="Consultant"),),
            expenses=(PostedExpense("ex_1", 1, date(2026, 11, 4), Money(amount=D("1234"), currency="JPY")),),
        )
    )
    # 3 x 18,000 = 54,000; 1,234 + 5 % = 1,295.7 -> 1,296; 55,296; tax 10 % = 5,529.6 -> 5,530
    assert amounts(draft) == ["54000", "1296"]
    assert draft.total == Money(amount=D("60826"), currency="JPY")


@pytest.mark.parametrize(
    ("rule", "per_line", "subtotal"),
    [(Rounding.HALF_UP, "2.53", "7.59"), (Rounding.HALF_EVEN, "2.52", "7.56")],
)
def test_rounding_is_per_line_then_summed(rule: Rounding, per_line: str, subtotal: str) -> None:
    cards = (card(1, "2026-11-01", {"Analyst": "10.10", "Designer": "10.10", "Reviewer": "10.10"}),)
    draft = assess(
        inputs(
            terms=terms(rate_cards=cards),
            profile=EntityProfile("acme-us", rule, {"US-TX": D("0")}),
            tax_jurisdiction="US-TX",
            time=tuple(
                time(f"te_{r}", "2026-11-02", "0.25", role=r) for r in ("Analyst", "Designer", "Reviewer")
            ),
        )
    )
    # each line 0.25 x 10.10 = 2.525: half-up 2.53, banker's 2.52 (2 is even)
    assert amounts(draft) == [per_line] * 3
    # three rounded lines: 7.59 / 7.56; rounding the unrounded total 7.575 instead would give 7.58
    assert draft.subtotal == usd(subtotal)
    assert draft.subtotal != usd("7.58")


def test_each_hold_with_its_reason_and_owner() -> None:
    base = {"time": (time("te_1", "2026-11-10", "8"),)}
    cases = {
        "open_exceptions": ({"open_exceptions": ("exc_1",)}, OwnerTeam.FINANCE_OPS),
        "unapproved": ({"unapproved": 3}, OwnerTeam.PMO),
        "no_tax_profile": ({"tax_jurisdiction": None}, OwnerTeam.FINANCE_OPS),
        "no_purchase_order": ({"terms": terms(requires_purchase_order=True)}, OwnerTeam.FINANCE_OPS),
        "contract_not_active": ({"terms": terms(status=ContractStatus.CLOSED)}, OwnerTeam.SALES_OPS),
        "budget_cap": (
            {"terms": terms(budget_cap=usd("50000.00")), "billed_to_date": usd("48500.00")},
            OwnerTeam.PMO,
        ),
    }
    for reason, (changes, owner) in cases.items():
        draft = assess(inputs(**{**base, **changes}))
        assert [(h.reason, h.owner) for h in draft.holds] == [(reason, owner)], reason
    # the cap: 48,500.00 billed + 2,000.00 = 50,500.00 > 50,000.00; at 48,000.00 it fits exactly
    fits = assess(inputs(**base, terms=terms(budget_cap=usd("50000.00")), billed_to_date=usd("48000.00")))
    assert not fits.held
    unconfigured = assess(inputs(**base, tax_jurisdiction="US-CA"))
    assert [h.reason for h in unconfigured.holds] == ["no_tax_profile"]
    assert "US-CA" in unconfigured.holds[0].message
    everything = assess(inputs(**base, open_exceptions=("exc_1",), unapproved=1, tax_jurisdiction=None))
    assert {h.reason for h in everything.holds} == {"open_exceptions", "unapproved", "no_tax_profile"}


entries = st.lists(
    st.tuples(
        st.integers(1, 30),
        st.decimals(D("0.01"), D("24"), places=2),
        st.sampled_from(["Senior Consultant", "Consultant", "Unknown"]),
        st.booleans(),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(entries, st.sampled_from(list(Rounding)))
def test_every_billable_priced_entry_is_on_exactly_one_line(
    raw: list[tuple[int, D, str, bool]], rule: Rounding
) -> None:
    posted = tuple(
        PostedTime(f"te_{i}", 1, date(2026, 11, day), role, hours, billable)
        for i, (day, hours, role, billable) in enumerate(raw)
    )
    draft = assess(inputs(time=posted, profile=EntityProfile("acme-us", rule, {"US-NY": D("0.08875")})))
    billed = list(draft.billed_sources)
    expected = [f"{e.entry_id}@1" for e in posted if e.billable and e.role != "Unknown"]
    assert sorted(billed) == sorted(expected)  # once each, none left out, none extra
    assert sum(line.quantity for line in draft.lines) == sum(
        (e.hours for e in posted if e.billable and e.role != "Unknown"), D(0)
    )
    assert draft.subtotal.amount == sum((line.amount.amount for line in draft.lines), D(0))
    assert draft.total.amount == draft.subtotal.amount + draft.tax.amount
    for line in draft.lines:  # each line within half a cent of its exact amount
        assert abs(line.amount.amount - line.quantity * line.unit_price.amount) <= D("0.005")
    unknown = sum(1 for e in posted if e.billable and e.role == "Unknown")
    assert sum(1 for h in draft.holds if h.reason == "no_rate") == unknown


def test_terms_from_a_canonical_retainer_contract() -> None:
    from pshub.canonical.model import Contract, ContractBillingTerms

    contract = Contract.model_validate(
        {
            "id": "contract_9",
            "client_id": "client_1",
            "billing_model": "retainer",
            "currency": "USD",
            "status": "active",
            "retainer_per_month": {"amount": "10000.00", "currency": "USD"},
        }
    )
    agreed = {
        "retainer_hours": "40",
        "overage_rate": {"amount": "225.00", "currency": "USD"},
        "unused_hours": "roll",
        "requires_purchase_order": True,
        "purchase_order": "PO-7781",
    }
    contract = contract.model_copy(update={"billing_terms": ContractBillingTerms.model_validate(agreed)})
    from_contract = BillingTerms.from_contract(contract)
    assert (from_contract.unused_hours, from_contract.purchase_order) == (UnusedHours.ROLL, "PO-7781")
    draft = assess(
        inputs(terms=from_contract, time=(time("te_1", "2026-11-03", "42"),), tax_jurisdiction="US-TX")
    )
    # 42 h against 40 included: 2 h x 225.00 = 450.00 over the 10,000.00 fee
    assert amounts(draft) == ["10000.00", "450.00"]
    assert draft.lines[0].sources == ("retainer:contract_9:2026-11",)


def test_a_contract_without_billing_terms_holds_a_retainer_for_its_missing_hours() -> None:
    from pshub.canonical.model import Contract

    contract = Contract.model_validate(
        {
            "id": "contract_10", "client_id": "client_1", "billing_model": "retainer", "currency": "USD",
            "status": "active", "retainer_per_month": {"amount": "10000.00", "currency": "USD"},
        }
    )  # fmt: skip
    draft = assess(inputs(terms=BillingTerms.from_contract(contract), tax_jurisdiction="US-TX"))
    assert [(h.reason, h.owner) for h in draft.holds] == [("terms_incomplete", OwnerTeam.FINANCE_OPS)]

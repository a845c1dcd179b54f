"""Which exceptions an operator sees first, and the totals per owner team: by money at risk,
hours, blocked project starts and age, never inventing an exchange rate or reading a
malformed amount as zero money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from pshub.business_exceptions import (
    BusinessException,
    Category,
    OwnerTeam,
    by_impact,
    impact,
    matches,
    totals_by_owner,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def exception(
    name: str,
    category: Category = Category.BILLING_HELD,
    owner: OwnerTeam = OwnerTeam.FINANCE_OPS,
    amount: str | None = None,
    hours: str | None = None,
    age_h: int = 1,
    **keys: str,
) -> BusinessException:
    return BusinessException(
        id=name, category=category, owner_team=owner, title=name, detail="-", business_keys=keys,
        amount_at_risk=amount, hours_at_risk=hours, raised_at=NOW - timedelta(hours=age_h),
    )  # fmt: skip


HELD = exception("held", amount="16,331.25 USD", project="PRJ-HARBLOGI-0001")
REFUSED = exception("refused", Category.POSTING_REJECTED, amount="360.00 USD", hours="1.50", age_h=50)
HOURS_ONLY = exception("hours-only", Category.POSTING_REJECTED, hours="7.5")
BLOCKED = exception(
    "blocked", Category.PROVISIONING_FAILED, OwnerTeam.PMO, age_h=3, connection="kantata-acme"
)
OLD_NOTHING = exception("old", Category.OWNERSHIP_CONFLICT, OwnerTeam.DATA_STEWARD, age_h=300)
GARBLED = exception("garbled", amount="about 5k USD", age_h=2)
EURO = exception("euro", Category.AMENDMENT_FAILED, OwnerTeam.SALES_OPS, amount="-2500.00 EUR")


def test_the_most_money_at_risk_comes_first_then_hours_then_blocked_starts_then_age() -> None:
    ordered = by_impact([OLD_NOTHING, BLOCKED, HOURS_ONLY, REFUSED, HELD, GARBLED])
    # 16,331.25 before 360.00; then 7.5 h with no amount; then the blocked start; then by age.
    assert [e.id for e in ordered][:4] == ["held", "refused", "hours-only", "blocked"]
    assert [e.id for e in ordered][4:] == ["old", "garbled"]  # neither at risk: oldest first


def test_a_garbled_amount_is_unknown_not_zero_and_a_credit_is_kept_negative() -> None:
    assert impact(GARBLED).amount is None and impact(GARBLED).currency is None
    assert (impact(EURO).amount, impact(EURO).currency) == (Decimal("-2500.00"), "EUR")
    assert impact(HELD).amount == Decimal("16331.25")


def test_totals_per_owner_keep_each_currency_apart() -> None:
    second = exception("second", amount="100.00 EUR")
    totals = totals_by_owner([HELD, REFUSED, HOURS_ONLY, second, BLOCKED, GARBLED])
    finance = totals[OwnerTeam.FINANCE_OPS]
    assert finance.count == 5
    assert finance.amounts == {"USD": Decimal("16691.25"), "EUR": Decimal("100.00")}  # 16,331.25 + 360.00
    assert finance.hours == Decimal("9.00")  # 1.50 + 7.5
    assert (totals[OwnerTeam.PMO].count, totals[OwnerTeam.PMO].blocked_starts) == (1, 1)


def test_filters_narrow_by_owner_category_connection_project_and_age() -> None:
    every = [HELD, REFUSED, HOURS_ONLY, BLOCKED, OLD_NOTHING]
    assert [e.id for e in every if matches(e, owner="pmo")] == ["blocked"]
    assert [e.id for e in every if matches(e, category="posting_rejected")] == ["refused", "hours-only"]
    assert [e.id for e in every if matches(e, connection="kantata-acme")] == ["blocked"]
    assert [e.id for e in every if matches(e, project="PRJ-HARBLOGI-0001")] == ["held"]
    assert [e.id for e in every if matches(e, older_than=timedelta(days=2), now=NOW)] == ["refused", "old"]


@given(st.lists(st.tuples(st.text(max_size=12), st.sampled_from([None, "USD", "EUR", "JPY"])), max_size=8))
def test_any_amount_text_sorts_and_totals_without_raising(amounts: list[tuple[str, str | None]]) -> None:
    found = [
        exception(f"e{n}", amount=f"{text} {code}" if code else text or None, hours=text or None)
        for n, (text, code) in enumerate(amounts)
    ]
    ordered = by_impact(found)
    assert sorted(e.id for e in ordered) == sorted(e.id for e in found)
    totals = totals_by_owner(found)
    assert sum(t.count for t in totals.values()) == len(found)

"""Contract checks every system that bills from a contract makes before scheduling it."""

from __future__ import annotations

from pshub.canonical.model import BillingModel, Contract


def missing_terms(contract: Contract) -> list[str]:
    """The contract fields a billing model cannot be scheduled without."""
    needs = {
        BillingModel.TIME_AND_MATERIALS: ("rate_card", contract.rate_card),
        BillingModel.FIXED_FEE_MILESTONE: ("milestones", contract.milestones),
        BillingModel.RETAINER: ("retainer_per_month", contract.retainer_per_month),
        BillingModel.USAGE: ("rate_card", contract.rate_card),
    }
    name, value = needs[contract.billing_model]
    return [] if value else [name]


def foreign_currency(contract: Contract) -> list[str]:
    """Contract amounts not in the contract currency (one bill, one currency)."""
    amounts = [("rate_card", contract.rate_card.currency if contract.rate_card else None)]
    amounts += [(f"milestone {m.name}", m.amount.currency) for m in contract.milestones]
    if contract.retainer_per_month:
        amounts.append(("retainer_per_month", contract.retainer_per_month.currency))
    return [name for name, currency in amounts if currency and currency != contract.currency]

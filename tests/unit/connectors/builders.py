"""Builders for canonical objects and connections used by the connector tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pshub.canonical.model import (
    ApprovalStatus,
    BillingModel,
    Client,
    Contract,
    ContractStatus,
    FinancialDimensions,
    Milestone,
    Money,
    Project,
    Rate,
    RateCard,
    TaxProfile,
    TimeEntry,
)
from pshub.connections import Connection


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connection(platform: str, role: str, conn_id: str | None = None, **options: str) -> Connection:
    return Connection(
        id=conn_id or f"{platform}-test",
        platform=platform,
        role=role,
        options=options,
    )


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def client(client_id: str = "client_1", name: str = "Harbourline Logistics Inc.", **changes: Any) -> Client:
    values: dict[str, Any] = {
        "id": client_id,
        "name": name,
        "legal_entity": "ACME-US",
        "tax_profile": TaxProfile(tax_id="98-7654321", jurisdiction="US-NY"),
        "currency": "USD",
    }
    return Client(**(values | changes))


def project(code: str = "PRJ-HARB-0001", **changes: Any) -> Project:
    values: dict[str, Any] = {
        "id": f"project_{code}",
        "code": code,
        "name": "Data Platform Assessment",
        "client_id": "client_1",
        "legal_entity": "ACME-US",
        "service_line": "consulting",
        "budget": usd("12500"),
        "dimensions": FinancialDimensions(legal_entity="ACME-US", service_line="CON", department="D-100"),
    }
    return Project(**(values | changes))


def rate_card(currency: str = "USD", **rates: str) -> RateCard:
    rates = rates or {"Consultant": "185.00", "Analyst": "125.00"}
    return RateCard(
        id="rc_1",
        name="Consulting 2027",
        currency=currency,
        effective_from=date(2026, 12, 1),
        rates=[
            Rate(role=role, hourly_rate=Money(amount=Decimal(a), currency=currency))
            for role, a in rates.items()
        ],
    )


def contract(model: BillingModel = BillingModel.TIME_AND_MATERIALS, **changes: Any) -> Contract:
    values: dict[str, Any] = {
        "id": "contract_1",
        "client_id": "client_1",
        "billing_model": model,
        "currency": "USD",
        "status": ContractStatus.APPROVED,
        "start_date": date(2026, 12, 1),
        "legal_entity": "ACME-US",
        "tax_jurisdiction": "US-NY",
    }
    if model in (BillingModel.TIME_AND_MATERIALS, BillingModel.USAGE):
        values["rate_card"] = rate_card()
    if model is BillingModel.RETAINER:
        values["retainer_per_month"] = usd("5000")
    if model is BillingModel.FIXED_FEE_MILESTONE:
        values["milestones"] = [
            Milestone(id="ms_1", name="Discovery", amount=usd("5000"), due_date=date(2027, 1, 15)),
            Milestone(id="ms_2", name="Roadmap", amount=usd("7500"), due_date=date(2027, 3, 1)),
        ]
    return Contract(**(values | changes))


def time_entry(entry_id: str, project_ref: str = "PRJ-HARB-0001", work_date: date = date(2026, 12, 7),
               **changes: Any) -> TimeEntry:  # fmt: skip
    values: dict[str, Any] = {
        "id": entry_id,
        "project_id": project_ref,
        "worker_id": "worker_1",
        "work_date": work_date,
        "hours": Decimal("7.5"),
        "status": ApprovalStatus.APPROVED,
    }
    return TimeEntry(**(values | changes))

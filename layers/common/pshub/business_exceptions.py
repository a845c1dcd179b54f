"""Business exceptions: failures and decisions a person must see, in business terms.

Each has a category, the team that owns it, what it is about (business keys), the
impact where known (hours, money, invoice cycle) and enough context to act. Ids are
deterministic where the same situation can be detected twice, so raising is idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_NAMESPACE = uuid.UUID("0b9e7c3c-3a3e-4b2a-9d7e-6f5a4c3b2a19")


class Category(StrEnum):
    OWNERSHIP_CONFLICT = "ownership_conflict"
    POSSIBLE_DUPLICATE_CLIENT = "possible_duplicate_client"
    COMMERCIAL_TERMS_INVALID = "commercial_terms_invalid"
    TAX_OR_ENTITY_INVALID = "tax_or_entity_invalid"
    PROVISIONING_FAILED = "provisioning_failed"
    # Approved time or expense that cannot be posted: its project, rate or worker is unknown
    # to pshub or the ERP, or the ERP refused it (closed period, inactive project).
    POSTING_REJECTED = "posting_rejected"
    # A period's invoice that a billing run held (open exceptions, unapproved time, no tax
    # profile or purchase order, an inactive contract, a budget cap) or could not draft.
    BILLING_HELD = "billing_held"
    # A contract amendment that could not reach a system (the CRM's contract not active, the
    # ERP or the PSA refused the new budget, dates or rates): parked until a person acts.
    AMENDMENT_FAILED = "amendment_failed"


class OwnerTeam(StrEnum):
    SALES_OPS = "sales_ops"
    FINANCE_OPS = "finance_ops"
    PMO = "pmo"
    INTEGRATION_SUPPORT = "integration_support"
    DATA_STEWARD = "data_steward"


class Status(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class BusinessException(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str
    category: Category
    owner_team: OwnerTeam
    status: Status = Status.OPEN
    title: str
    detail: str
    business_keys: dict[str, str] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None
    hours_at_risk: str | None = None
    amount_at_risk: str | None = None
    raised_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    resolution: str | None = None


def exception_id(category: Category, *parts: str) -> str:
    return f"{category.value}-{uuid.uuid5(_NAMESPACE, '|'.join(parts)).hex[:20]}"


# -- triage: what to look at first ---------------------------------------------------------------
# Categories whose exception stops a project from starting (nothing is provisioned until fixed).
BLOCKS_START = frozenset(
    {Category.COMMERCIAL_TERMS_INVALID, Category.TAX_OR_ENTITY_INVALID, Category.PROVISIONING_FAILED}
)


@dataclass(frozen=True)
class Impact:
    """What an exception puts at risk: money (in its currency), hours, a project start."""

    amount: Decimal | None
    currency: str | None
    hours: Decimal | None
    blocks_start: bool


def impact(exception: BusinessException) -> Impact:
    """The exception's impact, read from its ``amount_at_risk`` (``"360.00 USD"``) and
    ``hours_at_risk`` (``"1.50"``); what cannot be read counts as unknown, not as zero."""
    amount = currency = None
    if exception.amount_at_risk:
        value, _, code = exception.amount_at_risk.strip().partition(" ")
        amount, currency = _decimal(value), (code.strip() or None)
        if amount is None:
            currency = None
    return Impact(
        amount=amount,
        currency=currency,
        hours=_decimal(exception.hours_at_risk),
        blocks_start=exception.category in BLOCKS_START,
    )


def by_impact(exceptions: Iterable[BusinessException]) -> list[BusinessException]:
    """Most at risk first: money (the largest amount, whatever its currency: no rate is
    invented), then hours, then blocked project starts, then the oldest."""

    def rank(exception: BusinessException) -> tuple[Decimal, Decimal, bool, datetime]:
        found = impact(exception)
        return (
            -(found.amount or Decimal(0)),
            -(found.hours or Decimal(0)),
            not found.blocks_start,
            exception.raised_at,
        )

    return sorted(exceptions, key=rank)


@dataclass
class OwnerTotals:
    """Per owner team: how many, the money at risk per currency, the hours, the blocked starts."""

    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)
    hours: Decimal = Decimal(0)
    blocked_starts: int = 0


def totals_by_owner(exceptions: Iterable[BusinessException]) -> dict[OwnerTeam, OwnerTotals]:
    totals: dict[OwnerTeam, OwnerTotals] = {}
    for exception in exceptions:
        found, owner = impact(exception), totals.setdefault(exception.owner_team, OwnerTotals())
        owner.count += 1
        if found.amount is not None and found.currency:
            owner.amounts[found.currency] = owner.amounts.get(found.currency, Decimal(0)) + found.amount
        owner.hours += found.hours or Decimal(0)
        owner.blocked_starts += found.blocks_start
    return totals


def matches(
    exception: BusinessException,
    *,
    owner: str | None = None,
    category: str | None = None,
    connection: str | None = None,
    project: str | None = None,
    older_than: timedelta | None = None,
    now: datetime | None = None,
) -> bool:
    """Whether the exception passes the operator's filters (each one given narrows)."""
    keys = exception.business_keys
    if owner and exception.owner_team.value != owner:
        return False
    if category and exception.category.value != category:
        return False
    if connection and connection not in (keys.get("connection"), exception.context.get("connection")):
        return False
    if project and keys.get("project") != project:
        return False
    return older_than is None or (now or datetime.now(UTC)) - exception.raised_at >= older_than


def _decimal(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None

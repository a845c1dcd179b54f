"""Business exceptions: failures and decisions a person must see, in business terms.

Each has a category, the team that owns it, what it is about (business keys), the
impact where known (hours, money, invoice cycle) and enough context to act. Ids are
deterministic where the same situation can be detected twice, so raising is idempotent.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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

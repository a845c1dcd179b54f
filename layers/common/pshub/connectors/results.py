"""What connectors return: frozen models holding canonical objects plus the platform's ids.

Objects read from a platform (a CRM opportunity, say) carry their native id in
``external_ids[connection_id]`` and a provisional ``id`` made by ``provisional_id``;
the caller swaps it for the canonical id the identity store resolves.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from pshub.canonical.model import Client, Contract, Money, Opportunity, Project, RateCard


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


def provisional_id(connection_id: str, object_type: str, native_id: str) -> str:
    """The id of an object read from a platform before pshub resolves its canonical id."""
    return f"{connection_id}:{object_type.lower()}:{native_id}"


class UpsertResult(_Result):
    native_id: str
    created: bool = Field(description="False when an existing record was matched and updated")


class ClientRecord(_Result):
    """A customer as a platform holds it."""

    native_id: str
    client: Client


class ErpProject(_Result):
    """The ERP's project shell (NetSuite job, D365 project, S/4HANA enterprise project)."""

    native_id: str
    customer_native_id: str
    project: Project
    active: bool = True
    inactive_reason: str | None = None


class PsaProject(_Result):
    """The PSA's delivery project (Kantata workspace, Certinia pse__Proj__c)."""

    native_id: str
    project: Project
    template: str
    currency: str
    rate_card: RateCard | None = None
    archived: bool = False
    archive_reason: str | None = None


class OpportunityDetails(_Result):
    """An opportunity with its account and, once terms are agreed, its contract."""

    opportunity: Opportunity
    client: Client
    contract: Contract | None = None


class PostingStatus(StrEnum):
    POSTED = "posted"
    ALREADY_POSTED = "already_posted"  # the same source entry was posted before: not posted again
    REJECTED = "rejected"


class TimeEntryResult(_Result):
    entry_id: str = Field(description="The canonical id of the time entry (the duplicate key)")
    status: PostingStatus
    native_id: str | None = Field(default=None, description="The ERP's id of the posted entry")
    reason: str | None = Field(default=None, description="Why it was rejected, in pshub's words")
    platform_code: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not PostingStatus.REJECTED


class PostedDocument(_Result):
    """A time entry or expense as the ERP holds it, read back by pshub's entry id."""

    document_id: str
    hours: Decimal | None = None
    work_date: date | None = None
    amount: Money | None = None


class BillingPlanKind(StrEnum):
    SUBSCRIPTION = "subscription"  # retainers and usage: recurring or metered charges
    INVOICE_SCHEDULE = "invoice_schedule"  # milestones, and T&M billed in arrears


class BillingPlan(_Result):
    """A billing platform's plan for one project (Stripe subscription / schedule, Zuora subscription)."""

    native_id: str
    project_code: str
    customer_native_id: str
    kind: BillingPlanKind
    contract: Contract
    cancelled: bool = False
    cancel_reason: str | None = None


class InvoiceLine(_Result):
    """One line of an invoice draft: what the customer reads, and what it bills."""

    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money
    sources: tuple[str, ...] = ()  # "entry@version", milestone or usage ids


class InvoiceRequest(_Result):
    """A draft invoice for one invoice key, sent under that key's idempotency key."""

    invoice_key: str
    idempotency_key: str
    client_id: str  # pshub's client id: the platform's customer is found by it
    project_code: str
    period: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    tax: Money | None = None
    purchase_order: str | None = None


class DraftedInvoice(_Result):
    """An invoice as the platform holds it."""

    native_id: str
    invoice_key: str
    status: str  # the platform's word: draft, open, paid, void ...
    total: Money
    line_count: int

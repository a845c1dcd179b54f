"""The canonical event envelope (versioned) and the event types the normaliser emits.

An event on the bus is ``source = "pshub.canonical"``, ``detail-type = event_type``
and ``detail = CanonicalEvent`` as JSON. Consumers match on the detail-type and on
``schema_version``; a breaking change to a payload is a new version, never an edit.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from pshub.canonical.model import ContractAmendment, Milestone, Money, RateCard

CANONICAL_EVENT_SOURCE = "pshub.canonical"
# Namespace for deterministic event ids: the same platform event always yields the
# same canonical event id, so any consumer can deduplicate on it.
_EVENT_ID_NAMESPACE = uuid.UUID("8d5c5a1e-6a43-4d63-9d0f-3f1b6f0e2a10")


__all__ = ["Money"]  # re-exported: payloads and adapters use it from here


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


def _not_negative(money: Money) -> Money:
    if money.amount < 0:
        raise ValueError("amount is negative")
    return money


# An amount owed, paid or remaining: never below zero (a credit is a credit note).
NonNegativeMoney = Annotated[Money, AfterValidator(_not_negative)]


class OpportunityClosedWonV1(_Payload):
    opportunity_id: str = Field(description="The CRM's id of the opportunity / deal")
    name: str | None = None
    stage: str
    amount: Money | None = None
    close_date: date | None = None
    client_id: str | None = Field(default=None, description="The CRM's id of the account / company")
    # HubSpot webhooks carry only the changed property: the workflow fetches the rest.
    complete: bool = Field(description="True when the webhook carried the whole opportunity")


class OpportunityUpdatedV1(_Payload):
    opportunity_id: str
    change: Literal["created", "updated"]
    properties: dict[str, str | None] = Field(description="Changed (or, for snapshots, all) properties")


class OpportunityDeletedV1(_Payload):
    opportunity_id: str


class ClientUpsertedV1(_Payload):
    client_id: str = Field(description="The source platform's id of the account / company / customer")
    change: Literal["created", "updated"]
    name: str | None = None
    web_domain: str | None = None
    email: str | None = None
    country: str | None = None
    city: str | None = None
    properties: dict[str, str | None] = Field(default_factory=dict)


class ClientDeletedV1(_Payload):
    client_id: str


class InvoicePaymentV1(_Payload):
    invoice_id: str
    invoice_number: str | None = None
    client_id: str | None = None
    status: str
    amount_due: NonNegativeMoney
    amount_paid: NonNegativeMoney
    amount_remaining: NonNegativeMoney
    project_code: str | None = None
    paid_at: datetime | None = None
    attempt_count: int | None = None
    next_payment_attempt: datetime | None = None


class InvoiceLineV1(_Payload):
    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money
    sources: list[str] = Field(
        default_factory=list, description="What the line bills: 'entry@version', milestone or usage ids"
    )


class InvoiceReadyV1(_Payload):
    """A billing run drafted the period's invoice on the invoicing platform."""

    invoice_key: str = Field(description="(contract, period, cycle): the invoice's key in the billing ledger")
    project_code: str
    period: str = Field(description="The billing period, e.g. '2026-11'")
    legal_entity: str
    invoicing_connection: str = Field(description="The ERP or billing platform holding the draft")
    document_id: str = Field(description="The platform's id of the draft")
    subtotal: Money
    tax: Money
    total: Money
    lines: list[InvoiceLineV1]


class BillingHoldV1(_Payload):
    reason: str = Field(description="A stable code: open_exceptions, unapproved, missing_tax_profile ...")
    message: str
    owner: str = Field(description="The team that can lift it")


class BillingHeldV1(_Payload):
    """A billing run found reasons not to invoice the project's period: every one, with its owner."""

    project_code: str
    period: str
    legal_entity: str
    amount_held: Money | None = Field(default=None, description="The draft's total, before the holds")
    holds: list[BillingHoldV1]
    exception_id: str | None = Field(default=None, description="The business exception opened for it")


class MilestoneCompletedV1(_Payload):
    """Delivery marked a milestone of the project's contract complete (and the client accepted it,
    where the contract requires acceptance): a fixed-fee contract can bill its amount."""

    project_code: str
    milestone_id: str = Field(description="Canonical id of the milestone, as the contract names it")
    name: str | None = None
    completed_on: date
    accepted_on: date | None = None


class ChangeOrderApprovedV1(_Payload):
    """An amendment to a project's contract was approved: in the CRM (an amended opportunity, a
    CPQ amendment) or in the PSA (an approved budget change). Only what changes is set.

    A webhook that says only that a deal's change order was approved (HubSpot's property
    change) is ``complete: false`` with the deal and its CRM and nothing else; the workflow's
    starter reads the change order from the CRM (``ChangeOrderReader``) before it starts."""

    project_code: str | None = Field(default=None, description="Set on every complete change order")
    change_order_id: str | None = Field(
        default=None,
        description="The amendment's id in its source (the workflow runs once per id); set when complete",
    )
    amendment: ContractAmendment | None = Field(
        default=None, description="Its number, effective date, description, value change; set when complete"
    )
    budget: Money | None = Field(default=None, description="The project's new total budget")
    end_date: date | None = Field(default=None, description="The project's new last day")
    rate_card: RateCard | None = Field(
        default=None,
        description="The new rate card version: time worked from the effective date is priced by it",
    )
    milestones: list[Milestone] = Field(default_factory=list, description="Milestones added or re-priced")
    staffing_changed: bool = Field(default=False, description="The amendment changes who works on it")
    crm_connection: str | None = Field(
        default=None, description="The CRM whose contract status is checked (default: the deal's)"
    )
    opportunity_native_id: str | None = None
    complete: bool = Field(
        default=True, description="False when the webhook named only the deal: the CRM is read for the rest"
    )

    @model_validator(mode="after")
    def _complete_or_readable(self) -> ChangeOrderApprovedV1:
        if self.complete:
            missing = [
                n for n in ("project_code", "change_order_id", "amendment") if getattr(self, n) is None
            ]
            if missing:
                raise ValueError(f"a complete change order needs {', '.join(missing)}")
        elif not (self.crm_connection and self.opportunity_native_id):
            raise ValueError("an incomplete change order needs crm_connection and opportunity_native_id")
        return self


class ContractAmendedV1(_Payload):
    """An amendment reached the ERP, the PSA and pshub's billing: what changed, in every system."""

    project_code: str
    change_order_id: str
    amendment: ContractAmendment
    budget: Money | None = None
    end_date: date | None = None
    rate_card_version: int | None = Field(
        default=None, description="The version in force from the effective date"
    )
    milestone_ids: list[str] = Field(default_factory=list)
    systems: dict[str, str] = Field(description="connection id -> the project's native id, each updated")


class ResourcingChangeRequestedV1(_Payload):
    """An amendment changes a project's staffing: for resource planning (and Workday's staffing)."""

    project_code: str
    change_order_id: str
    effective_date: date
    end_date: date | None = None
    description: str


class ProjectActivatedV1(_Payload):
    project_id: str = Field(description="Canonical id of the project")
    project_code: str
    opportunity_id: str = Field(description="Canonical id of the won opportunity")
    client_id: str = Field(description="Canonical id of the client")
    legal_entity: str
    service_line: str
    billing_model: str
    billing_route: Literal["erp", "billing_platform"]
    system_ids: dict[str, str] = Field(
        description="connection id -> the project's (or billing plan's) native id"
    )


class EntityChangedV1(_Payload):
    """A record of a canonical object created or changed in a platform (``<Object>Changed``).

    ``attributes`` holds what the platform asserts, named and valued as the object's model
    dumps them (``pshub.canonical.model``): entity sync decides, per attribute, whether it is
    news, an echo, stale or an ownership conflict, and publishes only what changed.
    """

    native_id: str = Field(description="The source platform's id of the record")
    change: Literal["created", "updated", "snapshot"]
    attributes: dict[str, Any] = Field(default_factory=dict)


class EntityDeletedV1(_Payload):
    """A record deleted in its platform (``<Object>Deleted``): a tombstone at its version."""

    native_id: str


class PostingLineV1(_Payload):
    """What one approved time entry or expense means in the ledger, as approved (one version)."""

    hours: Decimal | None = Field(default=None, description="Hours (time entries)")
    work_date: date = Field(description="The day worked (time) or the cost was incurred (expense)")
    role: str | None = None
    billable: bool = True
    rate: Money | None = Field(
        default=None, description="The hourly rate in force on work_date for the role (rate card)"
    )
    rate_card_id: str | None = None
    rate_card_version: int | None = None
    amount: Money | None = Field(
        default=None, description="hours x rate (time), or the approved cost (expense)"
    )
    category: str | None = Field(default=None, description="Expense category (expenses)")
    notes: str | None = None
    receipt_ref: str | None = None


class TimeApprovalV1(_Payload):
    """An approved entry's posting instruction: ``TimeEntryApproved`` / ``TimeEntryAdjusted`` /
    ``TimeEntryRejected`` and ``ExpenseApproved`` / ``ExpenseAdjusted`` / ``ExpenseRejected``.

    ``version`` counts the approvals of the entry (1: first approved; each adjustment +1; a
    rejection after approval is the next version too): the ERP holds exactly the ``line`` of
    the highest version, or nothing after a rejection. Posting is exactly once per
    ``(entry_id, version)``.
    """

    kind: Literal["time", "expense"]
    entry_id: str = Field(description="Canonical id of the time entry or expense")
    version: int = Field(ge=1)
    source_connection: str
    source_native_id: str
    project_id: str = Field(description="Canonical id of the project")
    project_code: str
    worker: str = Field(description="The worker as the source named them (e-mail or id)")
    erp_connection: str = Field(description="The ERP connection the line posts to")
    erp_project_id: str = Field(description="The ERP's id of the project")
    currency: str
    line: PostingLineV1 | None = Field(default=None, description="None only for a rejection")
    previous: PostingLineV1 | None = Field(
        default=None, description="The line of the version before (adjustments, rejections)"
    )
    approved_at: datetime | None = None


# Canonical objects whose records arrive as generic entity events (Client and Opportunity
# have their own payloads above, kept for their v1 consumers).
GENERIC_ENTITY_OBJECTS = (
    "Contract",
    "RateCard",
    "Project",
    "Milestone",
    "Worker",
    "Assignment",
    "TimeEntry",
    "Expense",
    "Invoice",
    "Payment",
    "ChangeOrder",
    "Subscription",
    "UsageRecord",
)

# What happens to an approved entry: first approved, edited after approval, withdrawn.
APPROVAL_STEPS = ("Approved", "Adjusted", "Rejected")

# event type -> (schema version, payload model). One line per published version.
EVENT_TYPES: dict[str, tuple[int, type[_Payload]]] = {
    "OpportunityClosedWon": (1, OpportunityClosedWonV1),
    "OpportunityUpdated": (1, OpportunityUpdatedV1),
    "OpportunityDeleted": (1, OpportunityDeletedV1),
    "ClientUpserted": (1, ClientUpsertedV1),
    "ClientDeleted": (1, ClientDeletedV1),
    "InvoicePaid": (1, InvoicePaymentV1),
    "InvoicePaymentFailed": (1, InvoicePaymentV1),
    "ProjectActivated": (1, ProjectActivatedV1),
    "InvoiceReady": (1, InvoiceReadyV1),
    "BillingHeld": (1, BillingHeldV1),
    "MilestoneCompleted": (1, MilestoneCompletedV1),
    "ChangeOrderApproved": (1, ChangeOrderApprovedV1),
    "ContractAmended": (1, ContractAmendedV1),
    "ResourcingChangeRequested": (1, ResourcingChangeRequestedV1),
    **{f"{kind}{step}": (1, TimeApprovalV1) for kind in ("TimeEntry", "Expense") for step in APPROVAL_STEPS},
    **{f"{name}Changed": (1, EntityChangedV1) for name in GENERIC_ENTITY_OBJECTS},
    **{f"{name}Deleted": (1, EntityDeletedV1) for name in GENERIC_ENTITY_OBJECTS},
}

# Event types about an entity -> (canonical object type, "upsert" or "delete"): what entity
# sync keeps in order. Every other event type is a fact (an invoice paid), published as is.
ENTITY_EVENT_TYPES: dict[str, tuple[str, Literal["upsert", "delete"]]] = {
    "ClientUpserted": ("Client", "upsert"),
    "ClientDeleted": ("Client", "delete"),
    "OpportunityUpdated": ("Opportunity", "upsert"),
    "OpportunityClosedWon": ("Opportunity", "upsert"),
    "OpportunityDeleted": ("Opportunity", "delete"),
    **{f"{name}Changed": (name, "upsert") for name in GENERIC_ENTITY_OBJECTS},
    **{f"{name}Deleted": (name, "delete") for name in GENERIC_ENTITY_OBJECTS},
}


class SourceVersion(BaseModel):
    """Where a change stands in its platform's own order of changes to the record.

    Compared as ``(major, minor, tiebreak)``: ``major`` is the platform's version (a record
    version or sequence number, a modification stamp in ms, or, for a platform that has
    none, the event time in ms); ``minor`` orders changes that share it (a change event's
    sequence in its transaction, a Stripe object's state); ``tiebreak`` is a stable
    platform key, so that exact ties still break the same way on every delivery.
    ``scheme`` names which it is (``salesforce.SystemModstamp``, ``hubspot.occurredAt``...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    scheme: str = Field(min_length=1)
    major: int
    minor: int = 0
    tiebreak: str = ""

    def key(self) -> tuple[int, int, str]:
        return (self.major, self.minor, self.tiebreak)


class CanonicalEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    event_id: str
    event_type: str
    schema_version: int
    connection: str
    source_platform: str
    source_native_id: str
    source_event_id: str
    # Aware only: a naive time names no instant (whose clock?), so it is refused here rather
    # than read as UTC or as the machine's zone. The JSON Schema is unchanged (date-time).
    occurred_at: AwareDatetime
    correlation_id: str
    legal_entity: str | None = None
    # Filled by the normaliser's identity step for events about an entity.
    canonical_id: str | None = None
    xrefs: dict[str, str] = Field(default_factory=dict, description="connection id -> native id")
    payload: dict[str, Any]
    # The platform's order of changes to the record (events about an entity); None for facts.
    source_version: SourceVersion | None = None

    def to_entry(self, bus_name: str) -> dict[str, str]:
        """The EventBridge PutEvents entry for this event."""
        return {
            "Source": CANONICAL_EVENT_SOURCE,
            "DetailType": self.event_type,
            "Detail": self.model_dump_json(),
            "EventBusName": bus_name,
        }


def make_event(
    event_type: str,
    payload: _Payload,
    *,
    connection: str,
    source_platform: str,
    source_native_id: str,
    source_event_id: str,
    occurred_at: datetime,
    correlation_id: str,
    legal_entity: str | None,
    source_version: SourceVersion | None = None,
) -> CanonicalEvent:
    """The canonical event for one platform event, its id derived from (connection, platform event
    id, type) so that every redelivery makes the same event.

    ``occurred_at`` must be aware (a naive time is refused: ``ValueError``), and is the platform's
    time of the change, never the time pshub saw it. ``source_version`` is where the change stands
    in the platform's own order of changes to the record: the adapters give one for every entity
    event (``ENTITY_EVENT_TYPES``), and for a fact when the platform has one.
    """
    version, model = EVENT_TYPES[event_type]
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        # Named here, without the value, before pydantic's generic "timezone_aware" error.
        raise ValueError(f"{event_type}: occurred_at has no UTC offset, so the moment it names is unknown")
    if not isinstance(payload, model):
        raise TypeError(f"{event_type} v{version} takes a {model.__name__}, not {type(payload).__name__}")
    return CanonicalEvent(
        event_id=str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{connection}|{source_event_id}|{event_type}")),
        event_type=event_type,
        schema_version=version,
        connection=connection,
        source_platform=source_platform,
        source_native_id=source_native_id,
        source_event_id=source_event_id,
        occurred_at=occurred_at,
        correlation_id=correlation_id,
        legal_entity=legal_entity,
        payload=payload.model_dump(mode="json", exclude_none=True),
        source_version=source_version,
    )

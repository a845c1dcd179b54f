"""Canonical business objects, version 1.

Every object carries its canonical id, its ids in each system it is known to
(``external_ids``: connection id -> native id) and the source version it was
built from. Money is ``Decimal`` with an ISO-4217 currency, never a float; every
instant is a timezone-aware ``datetime`` (a naive one is refused here, at the model's
boundary: which zone it meant cannot be known later).
A change that would break a consumer of v1 (a removed or retyped field, a new
required field) is a v2 model beside this one, never an edit; the exported JSON
Schemas in ``pshub/canonical/schemas/`` and their compatibility test hold us to it.

Attributes a source may not know default to ``None`` ("not stated"), so that an object
built from a system that does not carry an attribute asserts nothing about it: each
attribute has one owner (``infra/config/ownership.toml``), and a value asserted by any
other system is an ownership conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from pshub.canonical.currencies import currency as iso_currency

# The largest count of minor units any consumer holds exactly: JSON readers that use IEEE
# doubles (JavaScript's Number.MAX_SAFE_INTEGER). Far beyond any real invoice; anything
# larger is a typing error or an attack, never money. The configured, usually much lower,
# ceiling is checked where events are made (``amounts_beyond``).
MAX_MINOR_UNITS = 2**53 - 1


def _iso_currency(code: str) -> str:
    return iso_currency(code).code


def _iso_country(code: str) -> str:
    # No value in the message: validation errors reach logs and exception records.
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise ValueError("is not an ISO-3166 alpha-2 country code")
    return code.upper()


CurrencyCode = Annotated[str, AfterValidator(_iso_currency)]
CountryCode = Annotated[str, AfterValidator(_iso_country)]
# A share of something whole (a win probability, a worker's time): 0 to 100 inclusive.
Percent = Annotated[Decimal, Field(ge=0, le=100)]


class _Model(BaseModel):
    # hide_input_in_errors: a refused value (an IBAN in the wrong field, a rate) must not
    # reach a log line or a parked delivery's reason through the validation message.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class Money(_Model):
    """An amount in an ISO 4217 currency, exact in that currency's minor units.

    Held and serialised (as a string) with exactly the currency's decimal places:
    ``12.5`` USD is ``"12.50"``, ``1000.00`` JPY is ``"1000"``. Refused: NaN and infinities, more decimal
    places than the currency has (0.125 USD, 10.5 JPY), and magnitudes beyond
    ``MAX_MINOR_UNITS`` minor units.
    """

    amount: Decimal
    currency: CurrencyCode

    @model_validator(mode="after")
    def _exact_in_its_currency(self) -> Self:
        amount = self.amount
        if not amount.is_finite():
            raise ValueError("amount is not a finite number")
        digits = iso_currency(self.currency).minor_unit
        # Magnitude before quantize: quantizing 1E+400 would overflow the decimal context.
        too_large = bool(amount) and amount.adjusted() + digits > 16
        if too_large or abs(amount.scaleb(digits)) > MAX_MINOR_UNITS:
            raise ValueError(f"amount is beyond {MAX_MINOR_UNITS} minor units of {self.currency}")
        exact = amount.quantize(Decimal(1).scaleb(-digits))
        if amount != exact:
            raise ValueError(f"amount has more decimal places than {self.currency}'s {digits}")
        # One spelling per value (12.5 and 12.50 USD are one amount): written in the
        # currency's minor units, so comparing two systems' values compares amounts.
        object.__setattr__(self, "amount", exact)
        return self

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)


def _not_negative(money: Money) -> Money:
    if money.amount < 0:
        raise ValueError("amount is negative")
    return money


# A limit or an amount still owed: never below zero (a credit is a credit note).
NonNegativeMoney = Annotated[Money, AfterValidator(_not_negative)]


def _same_currency(field: str, money: Money | None, currency: str | None) -> None:
    if money is not None and currency is not None and money.currency != currency:
        raise ValueError(f"{field} is in {money.currency}, not {currency}")


def _in_order(first: str, start: date | None, last: str, end: date | None) -> None:
    # Both dates or both datetimes (a datetime is a date).
    if start is not None and end is not None and end < start:
        raise ValueError(f"{last} is before {first}")


class CanonicalObject(_Model):
    id: str = Field(description="pshub's canonical id")
    external_ids: dict[str, str] = Field(
        default_factory=dict, description="connection id -> the record's id in that system"
    )
    source_version: str | None = Field(
        default=None, description="Version (or timestamp) of the source record this was built from"
    )


class Address(_Model):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = Field(default=None, description="State, province or county")
    postal_code: str | None = None
    country: CountryCode | None = Field(default=None, description="ISO 3166-1 alpha-2 country code")


class TaxProfile(_Model):
    tax_id: str | None = Field(
        default=None, description="The VAT / EIN / GST number invoices are issued against, as registered"
    )
    jurisdiction: str | None = Field(default=None, description="e.g. 'GB', 'US-NY'")
    exempt: bool = Field(default=False, description="The customer is exempt from sales tax / VAT")


class ClientStatus(StrEnum):
    PROSPECT = "prospect"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Client(CanonicalObject):
    """A customer of the firm: the CRM's account, the ERP's legal customer and its tax profile."""

    name: str = Field(description="The name the firm knows the client by (the CRM account name)")
    legal_name: str | None = Field(
        default=None, description="The registered legal name invoices and contracts are made out to"
    )
    web_domain: str | None = Field(default=None, description="The client's website domain, e.g. 'acme.com'")
    email_domains: list[str] = Field(
        default_factory=list,
        description=(
            "Domains of the client's contacts' email addresses as they appear in the CRM (e.g. "
            "'acme.co.uk'): identity evidence beside web_domain; personal mail domains excluded"
        ),
    )
    segment: str | None = Field(
        default=None,
        description="Sales segment or tier (e.g. 'enterprise', 'mid-market'), as the CRM sets it",
    )
    industry: str | None = Field(
        default=None, description="The client's industry as the CRM classifies it (its picklist value)"
    )
    status: ClientStatus = Field(
        default=ClientStatus.ACTIVE,
        description="Relationship stage: a prospect, an active client, or no longer one",
    )
    parent_client_id: str | None = Field(
        default=None,
        description=(
            "Canonical id of the group company this client is a subsidiary of: a separate client "
            "in its own right, never a duplicate to merge with its parent"
        ),
    )
    billing_address: Address | None = Field(
        default=None, description="Where invoices are addressed; its country drives tax"
    )
    tax_profile: TaxProfile | None = Field(default=None, description="How the client is taxed on invoices")
    tax_ids: list[str] = Field(
        default_factory=list,
        description=(
            "Every tax registration number the client holds (VAT in each country, EIN, GST), as typed "
            "in the source system, unnormalised; identity normalises and checks them"
        ),
    )
    registration_ids: list[str] = Field(
        default_factory=list,
        description=(
            "Company register numbers and other legal-entity identifiers (Companies House, SIREN, "
            "LEI, DUNS), as typed in the source system, unnormalised"
        ),
    )
    currency: CurrencyCode | None = Field(
        default=None, description="The currency the client is invoiced and carries its receivables in"
    )
    legal_entity: str | None = Field(default=None, description="The firm's contracting legal entity")
    payment_terms_days: int | None = Field(
        default=None,
        ge=0,
        description="The client's standard payment terms: days from invoice date to due date (net N)",
    )
    credit_limit: NonNegativeMoney | None = Field(
        default=None, description="The most the client may owe the firm in open receivables"
    )
    credit_hold: bool | None = Field(
        default=None,
        description=(
            "Finance has stopped new work and invoicing for the client (over its limit, overdue); "
            "null: not stated by the source"
        ),
    )

    @model_validator(mode="after")
    def _credit_in_its_currency(self) -> Self:
        _same_currency("credit_limit", self.credit_limit, self.currency)
        return self


class ForecastCategory(StrEnum):
    OMITTED = "omitted"
    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"


class Opportunity(CanonicalObject):
    """A deal in the CRM's pipeline; closed-won starts a project."""

    name: str = Field(description="The deal's name")
    client_id: str | None = Field(default=None, description="Canonical id of the client the deal is with")
    stage: str = Field(description="The pipeline stage, as the CRM names it (e.g. 'closedwon')")
    amount: Money | None = Field(default=None, description="The deal's total value")
    currency: CurrencyCode | None = Field(
        default=None, description="The deal's currency, also when it has no amount yet"
    )
    probability: Percent | None = Field(
        default=None, description="Likelihood of winning the deal, in percent (0 to 100)"
    )
    forecast_category: ForecastCategory | None = Field(
        default=None, description="The deal's forecast bucket in the sales forecast"
    )
    close_date: date | None = Field(
        default=None,
        description="Expected close date while the deal is open; the date it closed once won or lost",
    )
    owner: str | None = Field(default=None, description="The account executive who owns the deal")
    service_line: str | None = Field(
        default=None, description="The firm's practice that will deliver the work"
    )
    contract_id: str | None = Field(default=None, description="Canonical id of the contract the deal becomes")

    @model_validator(mode="after")
    def _amount_in_its_currency(self) -> Self:
        _same_currency("amount", self.amount, self.currency)
        return self


class BillingModel(StrEnum):
    TIME_AND_MATERIALS = "time_and_materials"
    FIXED_FEE_MILESTONE = "fixed_fee_milestone"
    RETAINER = "retainer"
    USAGE = "usage"


class ContractStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    ACTIVE = "active"
    CLOSED = "closed"


class ContractAmendment(_Model):
    number: int = Field(description="The amendment's sequence number on its contract")
    effective_date: date = Field(description="The day the amended terms apply from")
    description: str = Field(description="What the amendment changes")
    value_change: Money | None = Field(default=None, description="Change to the contract's value")


class Rate(_Model):
    role: str = Field(description="The role the rate applies to (e.g. 'Senior Consultant')")
    hourly_rate: Money = Field(description="The price of one hour of that role")


class RateCardStatus(StrEnum):
    DRAFT = "draft"  # negotiated in CPQ, not yet in force
    ACTIVE = "active"  # in force: its contract was activated
    SUPERSEDED = "superseded"  # replaced by a later version (an amendment that repriced)


class RateCard(CanonicalObject):
    """The prices of a contract's roles, effective-dated and versioned."""

    name: str = Field(description="The rate card's name")
    contract_id: str | None = Field(
        default=None, description="Canonical id of the contract whose prices these are"
    )
    version: int | None = Field(
        default=None,
        ge=1,
        description="Version within its contract: 1 at signature, one more per amendment that reprices",
    )
    status: RateCardStatus | None = Field(
        default=None,
        description=(
            "Whether the rate card is in force (active once its contract is activated, superseded "
            "once a later version is); null: not stated, the contract's status decides"
        ),
    )
    currency: CurrencyCode = Field(description="The currency of every rate on the card")
    effective_from: date = Field(description="First day the rates apply to work done")
    effective_to: date | None = Field(default=None, description="Last day the rates apply; null: open-ended")
    rates: list[Rate] = Field(description="Hourly rate per role")

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        wrong = [r.role for r in self.rates if r.hourly_rate.currency != self.currency]
        if wrong:
            raise ValueError(f"rates for {wrong} are not in the rate card's currency {self.currency}")
        return self


class MilestoneStatus(StrEnum):
    PLANNED = "planned"
    COMPLETED = "completed"
    INVOICED = "invoiced"  # v1's delivery-side flag; billing_status is the invoicing side's own


class MilestoneBillingStatus(StrEnum):
    UNBILLED = "unbilled"
    INVOICED = "invoiced"


class Milestone(CanonicalObject):
    """A deliverable of a project; on a fixed-fee contract, completing it earns its amount."""

    project_id: str | None = Field(default=None, description="Canonical id of the project it belongs to")
    name: str = Field(description="The deliverable")
    amount: Money = Field(description="What the client pays for it (fixed fee), a contract term")
    due_date: date | None = Field(default=None, description="The planned completion date")
    status: MilestoneStatus = Field(default=MilestoneStatus.PLANNED, description="Delivery status")
    completed_on: date | None = Field(
        default=None, description="The day delivery marked it complete: from then it can be billed"
    )
    accepted_on: date | None = Field(
        default=None,
        description="The day the client accepted the deliverable, where the contract requires it",
    )
    billing_status: MilestoneBillingStatus | None = Field(
        default=None,
        description="Whether its amount has been invoiced, as the invoicing system says; null: not stated",
    )

    @model_validator(mode="after")
    def _accepted_after_completion(self) -> Self:
        _in_order("completed_on", self.completed_on, "accepted_on", self.accepted_on)
        return self


class ContractBillingTerms(_Model):
    """How the contract invoices beyond its billing model: the retainer's included hours and
    overage, expenses' markup, milestone acceptance, a budget cap, the client's purchase order."""

    retainer_hours: Decimal | None = Field(
        default=None, description="Hours a retainer's fee includes per month"
    )
    overage_rate: Money | None = Field(default=None, description="The price of an hour above them")
    unused_hours: Literal["roll", "forfeit"] = Field(
        default="forfeit", description="Unused retainer hours: rolled to the next month, or forfeited"
    )
    rollover_cap_hours: Decimal | None = Field(default=None, description="At most this many hours roll over")
    expense_markup: Decimal = Field(default=Decimal(0), description="Expenses billed at cost times 1 + this")
    milestones_need_acceptance: bool = Field(
        default=False, description="A completed milestone bills only once the client accepted it"
    )
    budget_cap: Money | None = Field(
        default=None, description="Invoices (before tax) never exceed this in total"
    )
    requires_purchase_order: bool = Field(default=False, description="The client pays only against a PO")
    purchase_order: str | None = Field(default=None, description="The client's purchase order number")


class Contract(CanonicalObject):
    """The commercial agreement behind a project: billing model, terms, rate card, milestones.

    The CRM / CPQ owns its terms until it is activated, the ERP after (``status``, see
    ``lifecycle_active``).
    """

    client_id: str = Field(description="Canonical id of the client the firm contracts with")
    opportunity_id: str | None = Field(default=None, description="Canonical id of the deal it came from")
    billing_model: BillingModel = Field(description="How the work is charged")
    currency: CurrencyCode = Field(description="The currency the contract is priced and invoiced in")
    status: ContractStatus = Field(
        description="Where the contract stands; active (and closed after it) means it was activated"
    )
    activated_at: AwareDatetime | None = Field(
        default=None, description="When the contract was activated: its terms passed from the CRM to the ERP"
    )
    start_date: date | None = Field(default=None, description="First day of the contracted work")
    end_date: date | None = Field(default=None, description="Last day of the contracted work")
    payment_terms_days: int = Field(default=30, description="Days from invoice date to due date (net N)")
    legal_entity: str | None = Field(default=None, description="The firm's contracting legal entity")
    tax_jurisdiction: str | None = Field(
        default=None, description="Where the services are taxed, e.g. 'GB', 'US-NY'"
    )
    rate_card: RateCard | None = Field(default=None, description="The agreed prices (time and materials)")
    total_value: Money | None = Field(default=None, description="The contract's total value")
    retainer_per_month: Money | None = Field(default=None, description="The monthly fee of a retainer")
    milestones: list[Milestone] = Field(
        default_factory=list, description="The billable deliverables of a fixed-fee contract"
    )
    amendments: list[ContractAmendment] = Field(
        default_factory=list, description="Changes agreed after signature, in order"
    )
    billing_terms: ContractBillingTerms | None = Field(
        default=None, description="Retainer hours and overage, markup, acceptance, budget cap, purchase order"
    )


class ProjectStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


class FinancialDimensions(_Model):
    legal_entity: str = Field(description="The legal entity (subsidiary) whose books the project is in")
    service_line: str = Field(description="The practice delivering it")
    department: str | None = None
    cost_centre: str | None = None
    region: str | None = None


class Project(CanonicalObject):
    """The delivery of a contract: the ERP's financial shell and the PSA's plan."""

    code: str = Field(description="The project code time and cost are booked against")
    name: str = Field(description="The project's name")
    client_id: str = Field(description="Canonical id of the client")
    contract_id: str | None = Field(default=None, description="Canonical id of the contract it delivers")
    legal_entity: str = Field(description="The firm's legal entity that delivers and bills it")
    service_line: str = Field(description="The practice delivering it")
    status: ProjectStatus = Field(default=ProjectStatus.PENDING, description="Delivery status")
    budget: Money | None = Field(default=None, description="The approved budget")
    start_date: date | None = Field(default=None, description="Planned start")
    end_date: date | None = Field(default=None, description="Planned end")
    dimensions: FinancialDimensions = Field(description="The GL dimensions its postings carry")


class EmploymentStatus(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    TERMINATED = "terminated"


class Worker(CanonicalObject):
    """A person who delivers work: an employee or contractor, as HR knows them."""

    name: str = Field(description="The worker's name")
    email: str | None = Field(default=None, description="Work email address")
    employment_status: EmploymentStatus = Field(
        default=EmploymentStatus.ACTIVE, description="Whether the worker is employed, on leave or has left"
    )
    hire_date: date | None = Field(default=None, description="First day of employment")
    termination_date: date | None = Field(
        default=None, description="Last day of employment: no work may be assigned or booked after it"
    )
    cost_rate: Money | None = Field(
        default=None, description="Standard hourly cost to the firm, for project costing (not pay)"
    )
    home_entity: str | None = Field(default=None, description="The legal entity that employs the worker")
    role: str | None = Field(default=None, description="Job title or role")

    @model_validator(mode="after")
    def _left_after_joining(self) -> Self:
        _in_order("hire_date", self.hire_date, "termination_date", self.termination_date)
        return self


class AssignmentStatus(StrEnum):
    TENTATIVE = "tentative"  # a soft booking: proposed, not committed
    CONFIRMED = "confirmed"  # a hard booking
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Assignment(CanonicalObject):
    """A worker staffed on a project in a role."""

    project_id: str = Field(description="Canonical id of the project")
    worker_id: str = Field(description="Canonical id of the worker")
    role: str = Field(description="The role the worker fills (priced by the rate card)")
    status: AssignmentStatus | None = Field(
        default=None, description="How firm the booking is; null: not stated"
    )
    start_date: date | None = Field(default=None, description="First day of the assignment")
    end_date: date | None = Field(default=None, description="Last day of the assignment")
    allocation_percent: Percent | None = Field(
        default=None, description="Share of the worker's capacity booked to the project, in percent"
    )
    planned_hours: Decimal | None = Field(default=None, description="Hours planned for the assignment")
    bill_rate: Money | None = Field(default=None, description="Hourly price charged for the worker here")


class ApprovalStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class PostingStatus(StrEnum):
    NOT_POSTED = "not_posted"
    POSTED = "posted"  # in the ERP's ledger: the ERP owns the entry from then on
    REVERSED = "reversed"  # the posting was reversed in the ERP: open for correction and reposting


_POSTING = (
    "Whether the entry is in the ERP's ledger (posted), or was and its posting was reversed; "
    "null: not stated by the source (read as not posted)"
)
_VERSION = (
    "Revision of the entry in its capture system: one more each time it is corrected after "
    "approval, so each revision is posted once"
)


class TimeEntry(CanonicalObject):
    """Hours a worker spent on a project on a day."""

    project_id: str = Field(description="Canonical id of the project the hours are booked to")
    worker_id: str = Field(description="Canonical id of the worker")
    work_date: date = Field(description="The day the work was done")
    hours: Decimal = Field(gt=0, le=24, description="Hours worked")
    billable: bool = Field(default=True, description="Whether the client is charged for the hours")
    role: str | None = Field(default=None, description="The role worked in (which rate applies)")
    status: ApprovalStatus = Field(default=ApprovalStatus.SUBMITTED, description="Approval status")
    approved_at: AwareDatetime | None = Field(default=None, description="When the entry was approved")
    version: int | None = Field(default=None, ge=1, description=_VERSION)
    posting_status: PostingStatus | None = Field(default=None, description=_POSTING)
    erp_document_ref: str | None = Field(
        default=None, description="The ERP's document the entry was posted in (journal, time bill)"
    )
    notes: str | None = Field(default=None, description="What the work was")


class Expense(CanonicalObject):
    """A cost a worker incurred for a project (travel, materials), possibly rebilled."""

    project_id: str = Field(description="Canonical id of the project the cost is booked to")
    worker_id: str = Field(description="Canonical id of the worker who incurred it")
    incurred_on: date = Field(description="The day the cost was incurred")
    amount: Money = Field(description="The cost")
    category: str = Field(description="Expense category (e.g. 'airfare', 'hotel')")
    billable: bool = Field(default=True, description="Whether the client is recharged for it")
    status: ApprovalStatus = Field(default=ApprovalStatus.SUBMITTED, description="Approval status")
    approved_at: AwareDatetime | None = Field(default=None, description="When the expense was approved")
    version: int | None = Field(default=None, ge=1, description=_VERSION)
    posting_status: PostingStatus | None = Field(default=None, description=_POSTING)
    erp_document_ref: str | None = Field(
        default=None, description="The ERP's document the expense was posted in (expense report, journal)"
    )
    receipt_ref: str | None = Field(default=None, description="Reference to the receipt image")


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class InvoiceLine(_Model):
    description: str = Field(description="What the line charges for")
    quantity: Decimal = Field(description="How many units (hours, months, units of usage)")
    unit_price: Money = Field(description="The price of one unit")
    amount: Money = Field(description="The line's amount before tax")


class Invoice(CanonicalObject):
    """A bill to a client, drafted and issued in the ERP or the billing platform."""

    number: str | None = Field(default=None, description="The invoice number, assigned when issued")
    client_id: str = Field(description="Canonical id of the client billed")
    project_id: str | None = Field(default=None, description="Canonical id of the project billed")
    contract_id: str | None = Field(default=None, description="Canonical id of the contract billed under")
    subscription_id: str | None = Field(
        default=None, description="Canonical id of the subscription a recurring invoice bills"
    )
    legal_entity: str | None = Field(default=None, description="The firm's legal entity that issues it")
    issue_date: date | None = Field(default=None, description="Invoice date")
    due_date: date | None = Field(default=None, description="The day payment is due")
    status: InvoiceStatus = Field(default=InvoiceStatus.DRAFT, description="Where the invoice stands")
    lines: list[InvoiceLine] = Field(default_factory=list, description="What is charged")
    tax: Money | None = Field(default=None, description="Tax on the invoice")
    total: Money = Field(description="The amount billed, tax included")
    balance: NonNegativeMoney | None = Field(
        default=None, description="What is still owed on the invoice (total less payments and credits)"
    )
    paid_at: AwareDatetime | None = Field(default=None, description="When the invoice was paid in full")

    @model_validator(mode="after")
    def _balance_in_its_currency(self) -> Self:
        _same_currency("balance", self.balance, self.total.currency)
        return self


class Payment(CanonicalObject):
    """Money received against an invoice."""

    invoice_id: str = Field(description="Canonical id of the invoice paid")
    amount: Money = Field(description="The amount received")
    received_at: AwareDatetime = Field(description="When the money was received")
    method: str | None = Field(
        default=None, description="How it was paid (card, bank transfer, direct debit)"
    )
    reference: str | None = Field(default=None, description="The payer's or processor's reference")


class ChangeOrderStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


class ChangeOrder(CanonicalObject):
    """A change to a contract's scope and value, agreed in the CRM / CPQ."""

    contract_id: str = Field(description="Canonical id of the contract changed")
    project_id: str | None = Field(default=None, description="Canonical id of the project affected")
    number: str = Field(description="The change order's number")
    description: str = Field(description="What changes")
    value_change: Money = Field(description="Change to the contract's value")
    budget_hours_change: Decimal | None = Field(default=None, description="Change to the budgeted hours")
    status: ChangeOrderStatus = Field(default=ChangeOrderStatus.PROPOSED, description="Approval status")
    effective_date: date | None = Field(default=None, description="The day the change applies from")


class SubscriptionStatus(StrEnum):
    PENDING = "pending"  # created, not yet charging (awaiting first payment or activation)
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal invoice is unpaid
    PAUSED = "paused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # reached its term's end without renewal


class Subscription(CanonicalObject):
    """Recurring charges for a client in the billing platform (a retainer, a usage plan)."""

    client_id: str = Field(description="Canonical id of the client charged")
    contract_id: str | None = Field(default=None, description="Canonical id of the contract it bills")
    project_id: str | None = Field(default=None, description="Canonical id of the project it bills")
    plan_id: str = Field(description="The billing platform's id of what is charged (its price or rate plan)")
    status: SubscriptionStatus = Field(description="Whether the subscription is charging")
    quantity: Decimal = Field(default=Decimal(1), ge=0, description="Units of the plan charged each period")
    currency: CurrencyCode = Field(description="The currency it is charged in")
    current_period_start: AwareDatetime | None = Field(
        default=None, description="Start of the billing period in progress"
    )
    current_period_end: AwareDatetime | None = Field(
        default=None, description="End of the billing period in progress: the next charge"
    )
    cancelled_at: AwareDatetime | None = Field(default=None, description="When it was cancelled")

    @model_validator(mode="after")
    def _period_in_order(self) -> Self:
        _in_order(
            "current_period_start", self.current_period_start, "current_period_end", self.current_period_end
        )
        return self


class UsageRecord(CanonicalObject):
    """Consumption reported against a subscription's metered charge, rated by the billing platform."""

    subscription_id: str = Field(description="Canonical id of the subscription charged for it")
    project_id: str | None = Field(default=None, description="Canonical id of the project it was used on")
    metric: str = Field(description="What was used, in its unit (e.g. 'support_hours', 'api_calls')")
    quantity: Decimal = Field(ge=0, description="How much was used")
    recorded_at: AwareDatetime | None = Field(
        default=None, description="The instant the usage is for (a usage event)"
    )
    period_start: AwareDatetime | None = Field(
        default=None, description="Start of the period the usage covers (a usage summary)"
    )
    period_end: AwareDatetime | None = Field(default=None, description="End of the period it covers")
    rated_amount: Money | None = Field(
        default=None, description="What the usage costs the client once rated; null: not rated yet"
    )

    @model_validator(mode="after")
    def _when(self) -> Self:
        if self.recorded_at is None and self.period_start is None:
            raise ValueError("usage needs the instant (recorded_at) or the period (period_start) it is for")
        _in_order("period_start", self.period_start, "period_end", self.period_end)
        return self


def amounts_beyond(document: object, limit: Decimal, path: str = "") -> list[str]:
    """Paths of the money values (``{"amount", "currency"}``) in a dumped payload above ``limit``."""
    found: list[str] = []
    if isinstance(document, dict):
        if set(document) == {"amount", "currency"}:
            try:
                if abs(Decimal(str(document["amount"]))) > limit:
                    found.append(path or "amount")
            except ArithmeticError:  # not a number: the model refuses it
                found.append(path or "amount")
            return found
        for key, value in document.items():
            found += amounts_beyond(value, limit, f"{path}.{key}" if path else str(key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += amounts_beyond(value, limit, f"{path}[{index}]")
    return found


# Object type name -> model, one line per published version.
OBJECT_TYPES: dict[str, tuple[int, type[CanonicalObject]]] = {
    "Client": (1, Client),
    "Opportunity": (1, Opportunity),
    "Contract": (1, Contract),
    "RateCard": (1, RateCard),
    "Project": (1, Project),
    "Milestone": (1, Milestone),
    "Worker": (1, Worker),
    "Assignment": (1, Assignment),
    "TimeEntry": (1, TimeEntry),
    "Expense": (1, Expense),
    "Invoice": (1, Invoice),
    "Payment": (1, Payment),
    "ChangeOrder": (1, ChangeOrder),
    "Subscription": (1, Subscription),
    "UsageRecord": (1, UsageRecord),
}

# The ownership policy's lifecycle switch (``owner_once_active``), read off the object itself:
# object type -> (the attribute that says, the values that mean "active", the answer when the
# attribute is not stated: None = the contract the object belongs to decides). A contract's
# terms and its rate card pass from the CRM to the ERP at activation and stay there once closed
# or superseded; a time entry or expense passes from its capture system to the ERP when posted,
# and back when the posting is reversed (to be corrected and posted again as a new version).
# Objects not listed (a milestone's amount) follow the activation of the contract they belong to.
ACTIVE_WHEN: dict[str, tuple[str, frozenset[str], bool | None]] = {
    "Contract": ("status", frozenset({ContractStatus.ACTIVE, ContractStatus.CLOSED}), False),
    "RateCard": ("status", frozenset({RateCardStatus.ACTIVE, RateCardStatus.SUPERSEDED}), None),
    "TimeEntry": ("posting_status", frozenset({PostingStatus.POSTED}), False),
    "Expense": ("posting_status", frozenset({PostingStatus.POSTED}), False),
}


def lifecycle_active(object_type: str, attributes: Mapping[str, Any]) -> bool | None:
    """Whether an object is past its lifecycle switch (``ACTIVE_WHEN``), from its own attributes.

    ``attributes`` as the model dumps them: the object's state *before* the change being
    judged, so that the change that activates a contract (or posts an entry) is judged by
    the owner up to then. None when the object has no switch of its own, or does not state
    it (a rate card without a status): then the contract it belongs to decides.
    """
    switch = ACTIVE_WHEN.get(object_type)
    if switch is None:
        return None
    name, active_values, unstated = switch
    value = attributes.get(name)
    return unstated if value is None else str(value) in active_values

"""Canonical business objects, version 1.

Every object carries its canonical id, its ids in each system it is known to
(``external_ids``: connection id -> native id) and the source version it was
built from. Money is ``Decimal`` with an ISO-4217 currency, never a float.
A change that would break a consumer of v1 (a removed or retyped field, a new
required field) is a v2 model beside this one, never an edit; the exported JSON
Schemas in ``pshub/canonical/schemas/`` and their compatibility test hold us to it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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
    region: str | None = None
    postal_code: str | None = None
    country: CountryCode | None = None


class TaxProfile(_Model):
    tax_id: str | None = Field(default=None, description="VAT / EIN / GST number as registered")
    jurisdiction: str | None = Field(default=None, description="e.g. 'GB', 'US-NY'")
    exempt: bool = False


class ClientStatus(StrEnum):
    PROSPECT = "prospect"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Client(CanonicalObject):
    name: str
    legal_name: str | None = None
    web_domain: str | None = None
    segment: str | None = None
    status: ClientStatus = ClientStatus.ACTIVE
    billing_address: Address | None = None
    tax_profile: TaxProfile | None = None
    currency: CurrencyCode | None = None
    legal_entity: str | None = Field(default=None, description="The firm's contracting legal entity")


class Opportunity(CanonicalObject):
    name: str
    client_id: str | None = None
    stage: str
    amount: Money | None = None
    close_date: date | None = None
    owner: str | None = None
    service_line: str | None = None
    contract_id: str | None = None


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
    number: int
    effective_date: date
    description: str
    value_change: Money | None = None


class Rate(_Model):
    role: str
    hourly_rate: Money


class RateCard(CanonicalObject):
    name: str
    currency: CurrencyCode
    effective_from: date
    effective_to: date | None = None
    rates: list[Rate]

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        wrong = [r.role for r in self.rates if r.hourly_rate.currency != self.currency]
        if wrong:
            raise ValueError(f"rates for {wrong} are not in the rate card's currency {self.currency}")
        return self


class MilestoneStatus(StrEnum):
    PLANNED = "planned"
    COMPLETED = "completed"
    INVOICED = "invoiced"


class Milestone(CanonicalObject):
    project_id: str | None = None
    name: str
    amount: Money
    due_date: date | None = None
    status: MilestoneStatus = MilestoneStatus.PLANNED


class Contract(CanonicalObject):
    client_id: str
    opportunity_id: str | None = None
    billing_model: BillingModel
    currency: CurrencyCode
    status: ContractStatus
    start_date: date | None = None
    end_date: date | None = None
    payment_terms_days: int = 30
    legal_entity: str | None = None
    tax_jurisdiction: str | None = None
    rate_card: RateCard | None = None
    total_value: Money | None = None
    retainer_per_month: Money | None = None
    milestones: list[Milestone] = Field(default_factory=list)
    amendments: list[ContractAmendment] = Field(default_factory=list)


class ProjectStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


class FinancialDimensions(_Model):
    legal_entity: str
    service_line: str
    department: str | None = None
    cost_centre: str | None = None
    region: str | None = None


class Project(CanonicalObject):
    code: str
    name: str
    client_id: str
    contract_id: str | None = None
    legal_entity: str
    service_line: str
    status: ProjectStatus = ProjectStatus.PENDING
    budget: Money | None = None
    start_date: date | None = None
    end_date: date | None = None
    dimensions: FinancialDimensions


class EmploymentStatus(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    TERMINATED = "terminated"


class Worker(CanonicalObject):
    name: str
    email: str | None = None
    employment_status: EmploymentStatus = EmploymentStatus.ACTIVE
    cost_rate: Money | None = None
    home_entity: str | None = None
    role: str | None = None


class Assignment(CanonicalObject):
    project_id: str
    worker_id: str
    role: str
    start_date: date | None = None
    end_date: date | None = None
    planned_hours: Decimal | None = None
    bill_rate: Money | None = None


class ApprovalStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class TimeEntry(CanonicalObject):
    project_id: str
    worker_id: str
    work_date: date
    hours: Decimal = Field(gt=0, le=24)
    billable: bool = True
    role: str | None = None
    status: ApprovalStatus = ApprovalStatus.SUBMITTED
    notes: str | None = None


class Expense(CanonicalObject):
    project_id: str
    worker_id: str
    incurred_on: date
    amount: Money
    category: str
    billable: bool = True
    status: ApprovalStatus = ApprovalStatus.SUBMITTED
    receipt_ref: str | None = None


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class InvoiceLine(_Model):
    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money


class Invoice(CanonicalObject):
    number: str | None = None
    client_id: str
    project_id: str | None = None
    legal_entity: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    status: InvoiceStatus = InvoiceStatus.DRAFT
    lines: list[InvoiceLine] = Field(default_factory=list)
    tax: Money | None = None
    total: Money


class Payment(CanonicalObject):
    invoice_id: str
    amount: Money
    received_at: datetime
    method: str | None = None
    reference: str | None = None


class ChangeOrderStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


class ChangeOrder(CanonicalObject):
    contract_id: str
    project_id: str | None = None
    number: str
    description: str
    value_change: Money
    budget_hours_change: Decimal | None = None
    status: ChangeOrderStatus = ChangeOrderStatus.PROPOSED
    effective_date: date | None = None


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
}

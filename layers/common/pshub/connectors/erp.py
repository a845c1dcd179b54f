"""The ERP system API: legal customer, project shell with financial dimensions, billing
schedule and posted time.

How each ERP maps:

- Oracle NetSuite (SuiteTalk REST): customer record (``subsidiary`` = legal entity,
  ``externalId`` = pshub's client id); the project shell is a project (``job``)
  record whose ``entityId`` is the project code, with ``subsidiary``, ``class``
  (service line), ``department`` and ``location`` as dimensions; the billing
  schedule is a ``billingSchedule`` (milestone / fixed-bid) or charge-based rule;
  time is ``timeBill``. Ids are numeric internal ids. A duplicate ``entityId``
  fails with ``DUP_ENTITY``, which the connector turns into a lookup.
- Microsoft Dynamics 365 Finance (OData): ``CustomersV3`` (``dataAreaId`` = legal
  entity), ``Projects`` keyed by ``ProjectID`` with default financial dimensions
  (``DefaultDimensionDisplayValue``), project contract funding / billing rules for
  the schedule, hour journal lines for time.
- SAP S/4HANA Cloud: business partner (customer role) per company code; the
  enterprise project API (``A_EnterpriseProject``, external id = project code,
  profit centre / functional area as dimensions); billing plan on the customer
  project's sales order; time via the CATS timesheet API.
- Oracle Fusion Cloud ERP: customer account / party, Project Financial Management
  project (``ProjectNumber``), contract bill plan, project expenditure items.

Every ERP rejects a second record with the same unique key and refuses postings
into a closed accounting period; the contract below makes create idempotent and
reports those refusals as ``PermanentConnectorError`` (``Conflict`` when the key
exists with different content, ``NotFound`` for a missing record).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from pshub.canonical.model import Client, Contract, Expense, Money, Project, TimeEntry
from pshub.connectors.results import ClientRecord, ErpProject, PostedDocument, TimeEntryResult, UpsertResult


class ErpConnector(Protocol):
    @property
    def connection_id(self) -> str: ...

    @property
    def platform(self) -> str: ...

    def upsert_client(self, client: Client) -> UpsertResult:
        """Create the legal customer, or update the one matched by client id, tax id or
        normalised name. Requires ``legal_entity`` and ``tax_profile.jurisdiction``."""
        ...

    def find_client(
        self, *, client_id: str | None = None, tax_id: str | None = None, name: str | None = None
    ) -> ClientRecord | None:
        """The customer matching any given key (same matching as ``upsert_client``), if one exists."""
        ...

    def create_project(self, project: Project) -> str:
        """Create the project shell under its (already upserted) customer; return its native id.

        Idempotent on ``project.code``: the same content returns the existing record's id;
        different content raises ``Conflict`` naming the code and the differing fields."""
        ...

    def get_project(self, code: str) -> ErpProject | None: ...

    def deactivate_project(self, native_id: str, reason: str) -> None:
        """Compensation: mark the shell inactive so nothing posts to it (ERPs do not delete).
        Deactivating an inactive project is a no-op; an unknown id raises ``NotFound``."""
        ...

    def amend_project(
        self, native_id: str, code: str, *, budget: Money | None = None, end_date: date | None = None
    ) -> None:
        """A change order: the project's new budget and end date (those given); repeatable."""
        ...

    def create_billing_schedule(self, project_native_id: str, contract: Contract) -> str:
        """The project's billing schedule from the contract terms (milestones, fixed fee,
        retainer or T&M in arrears); one per project, idempotent like ``create_project``."""
        ...

    @property
    def max_batch(self) -> int:
        """The most time entries or expenses one ``post_*`` call takes."""
        ...

    def post_time_entries(
        self, entries: Sequence[TimeEntry], rates: dict[str, Money] | None = None
    ) -> list[TimeEntryResult]:
        """Post approved time, one result per entry in order, each at its rate (entry id ->
        the rate in force on its date) when given. An entry is rejected (not raised) for a
        closed period, an unknown or inactive project, an unknown worker, or when not
        approved; an entry posted before (same entry id) is reported ``ALREADY_POSTED``, not
        posted again. Whole-call failures (outage, throttling, oversize batch) raise."""
        ...

    def adjust_time_entry(self, document_id: str, entry: TimeEntry, rate: Money | None) -> None:
        """Correct a posted entry in place (hours, date, project, rate): the ERP's native
        adjustment. A business refusal (closed period, billed) raises ``PermanentConnectorError``."""
        ...

    def reverse_time_entry(self, document_id: str, entry_id: str) -> None:
        """Take a posted entry out (a rejection after posting). Gone already: a no-op."""
        ...

    def find_time_entry(self, entry_id: str) -> PostedDocument | None:
        """The posted entry carrying pshub's entry id, if the ERP holds one (read-back)."""
        ...

    def post_expenses(self, expenses: Sequence[Expense]) -> list[TimeEntryResult]:
        """Post approved expenses, one result per expense, like ``post_time_entries``."""
        ...

    def adjust_expense(self, document_id: str, expense: Expense) -> None: ...

    def reverse_expense(self, document_id: str, expense_id: str) -> None: ...

    def find_expense(self, expense_id: str) -> PostedDocument | None: ...

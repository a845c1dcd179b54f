"""From a synced time entry or expense to the instruction the ERP posting acts on.

Entity sync keeps each entry's record in the platform's own order (``TimeEntryChanged``,
``TimeEntryDeleted``, ``ExpenseChanged``, ``ExpenseDeleted``). This step reads the entry's
whole synced record, works out what the ERP should hold for it, compares that with what it
approved last (the ledger's approval record) and announces the difference:

- ``TimeEntryApproved`` / ``ExpenseApproved``: approved for the first time (or again after a
  rejection);
- ``TimeEntryAdjusted`` / ``ExpenseAdjusted``: hours, date, project, role or amount edited
  after approval (the ERP gets a correction, not a second posting);
- ``TimeEntryRejected`` / ``ExpenseRejected``: un-approved or deleted after approval (the ERP
  gets a reversal).

Each instruction carries the ERP project (through the project directory: the project code
the source names, or the source's own project id bound in the identity store), and the rate
in force on the entry's date for its role (rate cards are effective-dated). An entry that
cannot be priced or placed (unknown project, no rate for a billable role) raises a business
exception with its hours at risk and announces nothing until it is retried.

Reading the record rather than the event makes the step order-proof: a late, older event
finds the newer record and announces nothing new. Exactly once: the approval record's write
is conditional on its revision; the event is stored with it and marked published only once
on the bus, so a crash in between re-publishes the same event id (consumers deduplicate).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.currencies import minor_unit
from pshub.canonical.envelope import CanonicalEvent, PostingLineV1, TimeApprovalV1, make_event
from pshub.canonical.model import Money
from pshub.observability import logger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.identity import IdentityStore
from pshub.store.postings import ApprovalRecord, PostingLedger, StaleRecord
from pshub.store.projects import DirectoryEntry, ProjectDirectory, rate_in_force

CONSUMER = "time_approvals"
OBJECTS = {"TimeEntry": "time", "Expense": "expense"}
_ATTEMPTS = 5
# The fields whose change after approval changes the ledger (an adjustment).
_LEDGER_FIELDS = ("hours", "work_date", "role", "billable", "rate", "amount", "category")


@dataclass(frozen=True)
class Unpostable(Exception):
    reason: str
    owner: OwnerTeam
    hours: str | None = None
    amount: str | None = None
    project: str | None = None


def line_amount(hours: Decimal, rate: Money) -> Money:
    """hours x rate, rounded half-up to the currency's minor unit (one rule, per line)."""
    unit = minor_unit(rate.currency)
    return Money(amount=(hours * rate.amount).quantize(unit, rounding=ROUND_HALF_UP), currency=rate.currency)


class TimeApprovals:
    def __init__(
        self,
        *,
        identity: IdentityStore,
        directory: ProjectDirectory,
        ledger: PostingLedger,
        exceptions: ExceptionStore,
        publish: Callable[[list[CanonicalEvent]], object],
    ) -> None:
        self._identity = identity
        self._directory = directory
        self._ledger = ledger
        self._exceptions = exceptions
        self._publish = publish

    def handle(self, event: CanonicalEvent) -> CanonicalEvent | None:
        """Announce what changed for the event's entry; the event announced (None: nothing)."""
        if event.event_type == "ProjectActivated":
            self.project_activated(event)
            return None
        object_type = event.event_type.removesuffix("Changed").removesuffix("Deleted")
        kind = OBJECTS.get(object_type)
        if kind is None or event.canonical_id is None:
            raise ValueError(f"{event.event_type} {event.event_id} is not a synced time entry or expense")
        for _ in range(_ATTEMPTS):
            try:
                return self._handle(event, object_type, kind, event.canonical_id)
            except StaleRecord:
                continue
        raise StaleRecord(f"{object_type} {event.canonical_id}: approval record changed {_ATTEMPTS} times")

    def _handle(
        self, event: CanonicalEvent, object_type: str, kind: str, entry_id: str
    ) -> CanonicalEvent | None:
        record = self._ledger.approval(entry_id)
        if not record.published and record.event is not None:
            return self._announce(record)  # a crash between write and publish: the same event again
        values = self._identity.load_state(object_type, entry_id).values
        approved = values.get("@exists") is not False and values.get("status") == "approved"
        self._awaiting(event, entry_id, values, approved)
        if not approved:
            if record.line is None:
                return None  # never approved, or withdrawn already
            step, line, project = "Rejected", None, record.event["payload"] if record.event else {}
            return self._next(event, record, kind, step, None, project, values)
        try:
            project_entry = self._project(event, values)
            line = self._line(kind, values, project_entry)
        except Unpostable as problem:
            self._unpostable(event, kind, entry_id, values, problem)
            return None
        placed = (record.event or {}).get("payload", {}).get("project_code")
        if record.line is not None and placed == project_entry.code and _same(record.line, line):
            return None
        step = "Adjusted" if record.line is not None else "Approved"
        return self._next(event, record, kind, step, line, project_entry, values)

    def _awaiting(
        self, event: CanonicalEvent, entry_id: str, values: Mapping[str, Any], approved: bool
    ) -> None:
        """Booked on a known project and not approved: marked so its period's billing holds."""
        day = values.get("work_date") or values.get("incurred_on")
        reference = values.get("project_id")
        if approved or values.get("@exists") is False or not day or not reference:
            self._ledger.clear_awaiting(entry_id)
            return
        project_id = self._identity.lookup("Project", event.connection, str(reference))
        code = (self._directory.code_of(project_id) if project_id else None) or str(reference)
        if self._directory.get(code) is not None:
            self._ledger.mark_awaiting(entry_id, code, str(day))

    def project_activated(self, event: CanonicalEvent) -> list[CanonicalEvent]:
        """Time logged before its project existed (the usual case: people book to a code the
        day the deal closes): announced now, and its exception resolved."""
        code = str(event.payload.get("project_code") or "")
        announced = []
        for entry_id, waiting in self._ledger.waiting_for(code):
            result = self.handle(CanonicalEvent.model_validate(waiting))
            self._ledger.done_waiting(code, entry_id)
            if result is not None:
                announced.append(result)
            exception = exception_id(Category.POSTING_REJECTED, entry_id, "unpostable")
            current = self._exceptions.get(exception)
            if current is not None and current.status.value == "open" and result is not None:
                self._exceptions.resolve(exception, f"project {code} was activated; the entry was posted")
        return announced

    # -- resolution -------------------------------------------------------------------------
    def _project(self, event: CanonicalEvent, values: Mapping[str, Any]) -> DirectoryEntry:
        reference = values.get("project_id")
        hours = values.get("hours")
        if not reference:
            raise Unpostable("the entry names no project", OwnerTeam.PMO, hours=hours)
        reference = str(reference)
        project_id = self._identity.lookup("Project", event.connection, reference)
        code = self._directory.code_of(project_id) if project_id else reference
        entry = self._directory.get(code) if code else None
        if entry is None:
            self._ledger.wait_for_project(reference, str(event.canonical_id), event.model_dump(mode="json"))
            entry = self._directory.get(code) if code else None  # activated meanwhile?
            if entry is None:
                raise Unpostable(
                    f"project {reference} is unknown: no activated project has that code, and "
                    f"{event.connection} has no project {reference} bound to one; it posts as soon "
                    "as the project is activated",
                    OwnerTeam.PMO,
                    hours=hours,
                    project=reference,
                )
            self._ledger.done_waiting(reference, str(event.canonical_id))
        if entry.status != "active":
            raise Unpostable(
                f"project {entry.code} is {entry.status}: nothing posts to it",
                OwnerTeam.PMO,
                hours=hours,
                project=entry.code,
            )
        return entry

    def _line(self, kind: str, values: Mapping[str, Any], project: DirectoryEntry) -> PostingLineV1:
        if kind == "expense":
            amount = Money.model_validate(values["amount"])
            return PostingLineV1(
                work_date=date.fromisoformat(values["incurred_on"]),
                billable=bool(values.get("billable", True)),
                amount=amount,
                category=values.get("category"),
                receipt_ref=values.get("receipt_ref"),
            )
        hours = Decimal(str(values["hours"]))
        day = date.fromisoformat(values["work_date"])
        role = values.get("role")
        billable = bool(values.get("billable", True))
        priced = rate_in_force(project.rate_cards, role, day)
        if priced is None and billable:
            raise Unpostable(
                f"no rate for role {role or '(none)'} on {day} in project {project.code}'s rate cards",
                OwnerTeam.PMO,
                hours=str(hours),
                project=project.code,
            )
        card, rate = priced if priced else (None, None)
        return PostingLineV1(
            hours=hours,
            work_date=day,
            role=role,
            billable=billable,
            rate=rate.hourly_rate if rate else None,
            rate_card_id=card.id if card else None,
            rate_card_version=card.version if card else None,
            amount=line_amount(hours, rate.hourly_rate) if rate else None,
            notes=values.get("notes"),
        )

    # -- announcing -------------------------------------------------------------------------
    def _next(
        self,
        event: CanonicalEvent,
        record: ApprovalRecord,
        kind: str,
        step: str,
        line: PostingLineV1 | None,
        project: DirectoryEntry | Mapping[str, Any],
        values: Mapping[str, Any],
    ) -> CanonicalEvent:
        version = record.version + 1
        if isinstance(project, DirectoryEntry):
            where = {
                "project_id": project.project_id,
                "project_code": project.code,
                "erp_connection": project.erp_connection,
                "erp_project_id": project.erp_project_id,
                "currency": project.currency,
            }
        else:  # a rejection goes where the approval went
            where = {
                k: project[k]
                for k in ("project_id", "project_code", "erp_connection", "erp_project_id", "currency")
            }
        payload = TimeApprovalV1(
            kind="time" if kind == "time" else "expense",
            entry_id=record.entry_id,
            version=version,
            source_connection=event.connection,
            source_native_id=event.source_native_id,
            worker=str(values.get("worker_id") or ""),
            line=line,
            previous=PostingLineV1.model_validate(record.line) if record.line else None,
            approved_at=values.get("approved_at"),
            **where,
        )
        name = "TimeEntry" if kind == "time" else "Expense"
        announced = make_event(
            f"{name}{step}",
            payload,
            connection=event.connection,
            source_platform=event.source_platform,
            source_native_id=event.source_native_id,
            source_event_id=f"{record.entry_id}@v{version}",
            occurred_at=event.occurred_at,
            correlation_id=event.correlation_id,
            legal_entity=event.legal_entity,
        ).model_copy(update={"canonical_id": record.entry_id})
        record.version = version
        record.line = line.model_dump(mode="json") if line else None
        record.event = announced.model_dump(mode="json")
        record.published = False
        self._ledger.save_approval(record)  # StaleRecord: another invocation moved it; redo
        return self._announce(record)

    def _announce(self, record: ApprovalRecord) -> CanonicalEvent:
        assert record.event is not None
        announced = CanonicalEvent.model_validate(record.event)
        self._publish([announced])
        record.published = True
        with contextlib.suppress(StaleRecord):  # a newer version was written meanwhile; this one is out
            self._ledger.save_approval(record)
        logger.info(
            "time or expense approval announced",
            extra={
                "event_type": announced.event_type,
                "entry_id": record.entry_id,
                "version": record.version,
            },
        )
        return announced

    def _unpostable(
        self, event: CanonicalEvent, kind: str, entry_id: str, values: Mapping[str, Any], problem: Unpostable
    ) -> None:
        what = "time entry" if kind == "time" else "expense"
        amount = values.get("amount") if kind == "expense" else None
        exception = BusinessException(
            id=exception_id(Category.POSTING_REJECTED, entry_id, "unpostable"),
            category=Category.POSTING_REJECTED,
            owner_team=problem.owner,
            title=f"Approved {what} cannot be posted: {problem.reason}",
            detail=(
                f"The {what} {event.source_native_id} from {event.connection} is approved but "
                f"{problem.reason}. Fix it, then retry the exception to post it."
            ),
            business_keys={
                k: v
                for k, v in {
                    "entry_id": entry_id,
                    "source": f"{event.connection}/{event.source_native_id}",
                    "project": problem.project,
                    "worker": values.get("worker_id"),
                }.items()
                if v
            },
            context={"retry": {"stage": "approvals", "event": event.model_dump(mode="json")}},
            correlation_id=event.correlation_id,
            hours_at_risk=problem.hours,
            amount_at_risk=f"{amount['amount']} {amount['currency']}"
            if isinstance(amount, dict)
            else problem.amount,
        )
        if self._exceptions.raise_or_reopen(exception):
            logger.info(
                "approved entry cannot be posted", extra={"entry_id": entry_id, "exception_id": exception.id}
            )


def _same(posted: Mapping[str, Any], line: PostingLineV1) -> bool:
    wanted = line.model_dump(mode="json")
    return all(posted.get(name) == wanted.get(name) for name in _LEDGER_FIELDS)

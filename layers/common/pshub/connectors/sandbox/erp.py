"""An in-memory ERP (NetSuite, Dynamics 365 Finance, S/4HANA Cloud, Oracle Fusion).

What it enforces, as the real ones do: a customer needs its subsidiary (legal
entity) and tax jurisdiction; a project code is unique and must match the
configured format; a project needs its legal-entity and service-line dimensions and
an existing customer; postings into a closed period, to unknown or inactive projects
are refused. A real ERP answers a duplicate project code with an error
(``DUP_ENTITY``); the connector turns that into a lookup, which is what this does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pshub.canonical.model import ApprovalStatus, Client, Contract, Project, TimeEntry
from pshub.connections import Connection
from pshub.connectors.errors import PermanentConnectorError
from pshub.connectors.results import ClientRecord, ErpProject, PostingStatus, TimeEntryResult, UpsertResult
from pshub.connectors.sandbox.base import Clock, SandboxSystem
from pshub.connectors.sandbox.content import content_of
from pshub.connectors.sandbox.customers import CustomerBook
from pshub.connectors.sandbox.dialects import Refusal
from pshub.connectors.sandbox.terms import foreign_currency, missing_terms


@dataclass(frozen=True)
class _Schedule:
    native_id: str
    project_native_id: str
    contract: Contract
    content: dict[str, Any]


@dataclass(frozen=True)
class _PostedTime:
    native_id: str
    entry: TimeEntry
    project_code: str


class SandboxErp(SandboxSystem):
    role = "erp"
    platforms = frozenset({"netsuite", "dynamics365", "s4hana", "oracle_fusion"})

    def __init__(self, connection: Connection, *, clock: Clock = time.monotonic) -> None:
        super().__init__(connection, clock=clock)
        self._customers = CustomerBook(match_names=True)
        self._projects: dict[str, ErpProject] = {}
        self._project_content: dict[str, dict[str, Any]] = {}
        self._project_by_code: dict[str, str] = {}
        self._schedules: dict[str, _Schedule] = {}
        self._schedule_by_project: dict[str, str] = {}
        self._time: dict[str, _PostedTime] = {}
        self._time_by_entry: dict[str, str] = {}

    # -- customers -----------------------------------------------------------------------
    def upsert_client(self, client: Client) -> UpsertResult:
        op = "upsert_client"
        with self._call(op, f"client {client.id} ({client.name})") as call:
            missing = [
                name
                for name, value in (
                    ("legal_entity", client.legal_entity),
                    (
                        "tax_profile.jurisdiction",
                        client.tax_profile.jurisdiction if client.tax_profile else None,
                    ),
                )
                if not value
            ]
            if missing:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"customer {client.name!r} lacks {', '.join(missing)}",
                    Refusal.REQUIRED,
                    {"fields": ", ".join(missing)},
                )
            existing = self._customers.match(client, client.external_ids.get(self.connection_id))
            native_id = existing.native_id if existing else self._new_id("customer")
            self._customers.put(native_id, client)
            call.outcome = f"updated {native_id}" if existing else f"created {native_id}"
            return UpsertResult(native_id=native_id, created=existing is None)

    def find_client(
        self, *, client_id: str | None = None, tax_id: str | None = None, name: str | None = None
    ) -> ClientRecord | None:
        with self._call(
            "find_client", f"client {client_id} tax id given: {bool(tax_id)} name {name}"
        ) as call:
            found = self._customers.find(client_id=client_id, tax_id=tax_id, name=name)
            call.outcome = f"found {found.native_id}" if found else "not found"
            return found

    # -- projects ------------------------------------------------------------------------
    def create_project(self, project: Project) -> str:
        op = "create_project"
        with self._call(op, f"code {project.code}") as call:
            self._check_code(op, project.code)
            missing = [
                f"dimensions.{name}"
                for name in ("legal_entity", "service_line")
                if not getattr(project.dimensions, name).strip()
            ]
            if missing:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"project {project.code} lacks {', '.join(missing)}",
                    Refusal.REQUIRED,
                    {"fields": ", ".join(missing)},
                )
            content = content_of(project)
            existing_id = self._project_by_code.get(project.code)
            if existing_id is not None:
                self._same_or_conflict(
                    op,
                    project.code,
                    kind="project",
                    existing_id=existing_id,
                    existing=self._project_content[existing_id],
                    requested=content,
                )
                existing = self._projects[existing_id]
                if not existing.active:  # a compensated shell comes back when the workflow is resumed
                    self._projects[existing_id] = existing.model_copy(
                        update={"active": True, "inactive_reason": None}
                    )
                    call.outcome = f"reactivated existing {existing_id}"
                else:
                    call.outcome = f"returned existing {existing_id}"
                return existing_id
            customer = self._customers.native_id_of(project.client_id)
            if customer is None:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"project {project.code}: customer for client {project.client_id} is not in the ERP "
                    "(upsert the client first)",
                    Refusal.INVALID_VALUE,
                    {"field": "customer", "value": project.client_id},
                )
            native_id = self._new_id("project", key=project.code)
            self._projects[native_id] = ErpProject(
                native_id=native_id, customer_native_id=customer, project=project
            )
            self._project_content[native_id] = content
            self._project_by_code[project.code] = native_id
            call.outcome = f"created {native_id}"
            return native_id

    def get_project(self, code: str) -> ErpProject | None:
        return self._find("get_project", f"code {code}", self._project_by_code.get(code), self._projects)

    def deactivate_project(self, native_id: str, reason: str) -> None:
        op = "deactivate_project"
        with self._call(op, f"project {native_id}") as call:
            record = self._projects.get(native_id)
            if record is None:
                raise self._not_found(op, "project", native_id)
            if not record.active:
                call.outcome = "already inactive"
                return
            self._projects[native_id] = record.model_copy(update={"active": False, "inactive_reason": reason})
            call.outcome = "deactivated"

    # -- billing schedule ----------------------------------------------------------------
    def create_billing_schedule(self, project_native_id: str, contract: Contract) -> str:
        op = "create_billing_schedule"
        with self._call(
            op, f"project {project_native_id} contract {contract.id} ({contract.billing_model})"
        ) as call:
            project = self._projects.get(project_native_id)
            if project is None:
                raise self._not_found(op, "project", project_native_id)
            code = project.project.code
            if not project.active:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"project {code} is inactive",
                    Refusal.INACTIVE,
                    {"record": self.dialect.record("project"), "id": project_native_id},
                )
            missing = missing_terms(contract)
            if missing:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"a {contract.billing_model} schedule for {code} needs {', '.join(missing)}",
                    Refusal.REQUIRED,
                    {"fields": ", ".join(missing)},
                )
            wrong = foreign_currency(contract)
            if wrong:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"{', '.join(wrong)} not in the contract currency {contract.currency}",
                    Refusal.INVALID_VALUE,
                    {"field": "currency", "value": contract.currency},
                )
            content = content_of(contract)
            existing_id = self._schedule_by_project.get(project_native_id)
            if existing_id is not None:
                self._same_or_conflict(
                    op,
                    code,
                    kind="billing_schedule",
                    existing_id=existing_id,
                    existing=self._schedules[existing_id].content,
                    requested=content,
                )
                call.outcome = f"returned existing {existing_id}"
                return existing_id
            native_id = self._new_id("billing_schedule")
            self._schedules[native_id] = _Schedule(native_id, project_native_id, contract, content)
            self._schedule_by_project[project_native_id] = native_id
            call.outcome = f"created {native_id}"
            return native_id

    # -- time ----------------------------------------------------------------------------
    def post_time_entries(self, entries: Sequence[TimeEntry]) -> list[TimeEntryResult]:
        op = "post_time_entries"
        with self._call(op, f"{len(entries)} entries") as call:
            if len(entries) > self.options.max_batch:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"{len(entries)} entries in one call; this ERP takes at most {self.options.max_batch}",
                    Refusal.INVALID_VALUE,
                    {"field": "batch size", "value": len(entries)},
                )
            results = [self._post_one(entry) for entry in entries]
            counts = {status: sum(r.status is status for r in results) for status in PostingStatus}
            call.outcome = ", ".join(f"{status.value} {n}" for status, n in counts.items())
            return results

    def _post_one(self, entry: TimeEntry) -> TimeEntryResult:
        posted = self._time_by_entry.get(entry.id)
        if posted is not None:  # checked first: a replay after the period closed is still a duplicate
            return TimeEntryResult(entry_id=entry.id, status=PostingStatus.ALREADY_POSTED, native_id=posted)
        project = self._project_for(entry.project_id)
        if project is None:
            words = {"field": "project", "value": entry.project_id}
            return self._rejected(
                entry, f"unknown project code {entry.project_id}", Refusal.INVALID_VALUE, words
            )
        refusal = self._refusal(entry, project)
        if refusal is not None:
            return self._rejected(entry, *refusal)
        native_id = self._new_id("time_entry")
        self._time[native_id] = _PostedTime(native_id, entry, project.project.code)
        self._time_by_entry[entry.id] = native_id
        return TimeEntryResult(entry_id=entry.id, status=PostingStatus.POSTED, native_id=native_id)

    def _refusal(
        self, entry: TimeEntry, project: ErpProject
    ) -> tuple[str, Refusal, Mapping[str, object]] | None:
        closed = self.options.closed_periods_through
        if not project.active:
            words: dict[str, object] = {"record": self.dialect.record("project"), "id": project.native_id}
            return f"project {project.project.code} is inactive", Refusal.INACTIVE, words
        if closed is not None and entry.work_date <= closed:
            text = f"accounting period for {entry.work_date} is closed (closed through {closed})"
            return text, Refusal.CLOSED_PERIOD, {"date": entry.work_date}
        if entry.status is not ApprovalStatus.APPROVED:
            words = {"field": "approval status", "value": entry.status.value}
            return f"entry is {entry.status.value}, not approved", Refusal.INVALID_VALUE, words
        return None

    def _rejected(
        self, entry: TimeEntry, text: str, refusal: Refusal, words: Mapping[str, object]
    ) -> TimeEntryResult:
        code, _, _ = self.dialect.words(refusal, **words)
        return TimeEntryResult(
            entry_id=entry.id, status=PostingStatus.REJECTED, reason=text, platform_code=code
        )

    def _project_for(self, reference: str) -> ErpProject | None:
        """A time entry names its project by code or by pshub's project id."""
        native_id = self._project_by_code.get(reference)
        if native_id is not None:
            return self._projects[native_id]
        return next((p for p in self._projects.values() if p.project.id == reference), None)

    def _records(self) -> dict[str, Any]:
        return {
            "customers": [
                {
                    "native_id": r.native_id,
                    "client_id": r.client.id,
                    "name": r.client.name,
                    "legal_entity": r.client.legal_entity,
                    "tax_jurisdiction": r.client.tax_profile.jurisdiction if r.client.tax_profile else None,
                }
                for r in self._customers.records.values()
            ],
            "projects": [
                {
                    "native_id": p.native_id,
                    "code": p.project.code,
                    "name": p.project.name,
                    "customer": p.customer_native_id,
                    "legal_entity": p.project.dimensions.legal_entity,
                    "service_line": p.project.dimensions.service_line,
                    "active": p.active,
                    "inactive_reason": p.inactive_reason,
                }
                for p in self._projects.values()
            ],
            "billing_schedules": [
                {
                    "native_id": s.native_id,
                    "project": s.project_native_id,
                    "billing_model": str(s.contract.billing_model),
                    "currency": s.contract.currency,
                }
                for s in self._schedules.values()
            ],
            "time_entries": [
                {
                    "native_id": t.native_id,
                    "entry_id": t.entry.id,
                    "project_code": t.project_code,
                    "work_date": t.entry.work_date.isoformat(),
                    "hours": str(t.entry.hours),
                }
                for t in self._time.values()
            ],
        }

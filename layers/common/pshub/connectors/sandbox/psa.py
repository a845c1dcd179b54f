"""An in-memory PSA (Kantata, Certinia).

What it enforces: a project code is unique (and matches ``project_code_pattern`` if
configured); a project is created only from a configured template; its currency is
fixed at creation; a rate card is replaced whole, in the project currency, with each
role once; an archived project takes no rate card.
"""

from __future__ import annotations

import time
from typing import Any

from pshub.canonical.model import Project, RateCard
from pshub.connections import Connection
from pshub.connectors.errors import PermanentConnectorError
from pshub.connectors.results import PsaProject
from pshub.connectors.sandbox.base import Clock, SandboxSystem
from pshub.connectors.sandbox.content import content_of
from pshub.connectors.sandbox.dialects import Refusal


class SandboxPsa(SandboxSystem):
    role = "psa"
    platforms = frozenset({"kantata", "certinia"})

    def __init__(self, connection: Connection, *, clock: Clock = time.monotonic) -> None:
        super().__init__(connection, clock=clock)
        self._projects: dict[str, PsaProject] = {}
        self._content: dict[str, dict[str, Any]] = {}
        self._by_code: dict[str, str] = {}

    def template_for(self, service_line: str) -> str | None:
        # Configuration, not an API call: no call log, no throttling.
        return self.options.templates.get(service_line)

    def create_project_from_template(self, project: Project, template: str) -> str:
        op = "create_project_from_template"
        with self._call(op, f"code {project.code} template {template}") as call:
            self._check_code(op, project.code)
            known = sorted(set(self.options.templates.values()))
            if template not in known:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"template {template!r} is not a project template here "
                    f"(known: {', '.join(known) or 'none'})",
                    Refusal.INVALID_VALUE,
                    {"field": "template", "value": template},
                )
            content = content_of(project, template=template)
            existing_id = self._by_code.get(project.code)
            if existing_id is not None:
                self._same_or_conflict(
                    op,
                    project.code,
                    kind="project",
                    existing_id=existing_id,
                    existing=self._content[existing_id],
                    requested=content,
                )
                existing = self._projects[existing_id]
                if existing.archived:  # a compensated project comes back when the workflow is resumed
                    self._projects[existing_id] = existing.model_copy(
                        update={"archived": False, "archive_reason": None}
                    )
                    call.outcome = f"restored existing {existing_id}"
                else:
                    call.outcome = f"returned existing {existing_id}"
                return existing_id
            currency = project.budget.currency if project.budget else self.options.default_currency
            native_id = self._new_id("project", key=project.code)
            self._projects[native_id] = PsaProject(
                native_id=native_id, project=project, template=template, currency=currency
            )
            self._content[native_id] = content
            self._by_code[project.code] = native_id
            call.outcome = f"created {native_id}"
            return native_id

    def push_rate_card(self, project_native_id: str, rate_card: RateCard) -> None:
        op = "push_rate_card"
        summary = f"project {project_native_id} rate card {rate_card.id} ({len(rate_card.rates)} roles)"
        with self._call(op, summary) as call:
            record = self._projects.get(project_native_id)
            if record is None:
                raise self._not_found(op, "project", project_native_id)
            self._check_rate_card(op, record, rate_card)
            call.outcome = "unchanged" if record.rate_card == rate_card else "replaced"
            self._projects[project_native_id] = record.model_copy(update={"rate_card": rate_card})

    def _check_rate_card(self, op: str, record: PsaProject, rate_card: RateCard) -> None:
        code = record.project.code
        problem: tuple[str, Refusal, dict[str, object]] | None = None
        roles = [rate.role for rate in rate_card.rates]
        repeated = sorted({role for role in roles if roles.count(role) > 1})
        if record.archived:
            problem = (
                f"project {code} is archived",
                Refusal.INACTIVE,
                {"record": self.dialect.record("project"), "id": record.native_id},
            )
        elif not rate_card.rates:
            problem = (f"rate card {rate_card.id} has no rates", Refusal.REQUIRED, {"fields": "rates"})
        elif rate_card.currency != record.currency:
            problem = (
                f"rate card is in {rate_card.currency}; project {code} bills in {record.currency}",
                Refusal.INVALID_VALUE,
                {"field": "currency", "value": rate_card.currency},
            )
        elif repeated:
            problem = (
                f"roles listed twice: {', '.join(repeated)}",
                Refusal.INVALID_VALUE,
                {"field": "role", "value": repeated[0]},
            )
        if problem is not None:
            raise self._error(PermanentConnectorError, op, *problem)

    def archive_project(self, native_id: str, reason: str) -> None:
        op = "archive_project"
        with self._call(op, f"project {native_id}") as call:
            record = self._projects.get(native_id)
            if record is None:
                raise self._not_found(op, "project", native_id)
            if record.archived:
                call.outcome = "already archived"
                return
            self._projects[native_id] = record.model_copy(update={"archived": True, "archive_reason": reason})
            call.outcome = "archived"

    def get_project(self, code: str) -> PsaProject | None:
        return self._find("get_project", f"code {code}", self._by_code.get(code), self._projects)

    def _records(self) -> dict[str, Any]:
        # Rates are commercially sensitive: the printout shows roles, never amounts.
        return {
            "projects": [
                {
                    "native_id": p.native_id,
                    "code": p.project.code,
                    "name": p.project.name,
                    "template": p.template,
                    "currency": p.currency,
                    "rate_card_roles": [r.role for r in p.rate_card.rates] if p.rate_card else [],
                    "archived": p.archived,
                    "archive_reason": p.archive_reason,
                }
                for p in self._projects.values()
            ]
        }

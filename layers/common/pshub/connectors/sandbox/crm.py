"""An in-memory CRM (Salesforce, HubSpot), seeded from ``seed.py``.

Salesforce answers a 15-character id as it does the 18-character one (the last three
characters only make the id case-safe); HubSpot ids are numeric strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pshub.connections import Connection
from pshub.connectors.errors import Conflict
from pshub.connectors.results import OpportunityDetails
from pshub.connectors.sandbox.base import Clock, SandboxSystem
from pshub.connectors.sandbox.dialects import Refusal
from pshub.connectors.sandbox.seed import CRM_SEEDS


@dataclass(frozen=True)
class ProjectLink:
    project_code: str
    project_ids: dict[str, str]


class SandboxCrm(SandboxSystem):
    role = "crm"
    platforms = frozenset({"salesforce", "hubspot"})

    def __init__(self, connection: Connection, *, clock: Clock = time.monotonic, seeded: bool = True) -> None:
        super().__init__(connection, clock=clock)
        self._opportunities: dict[str, OpportunityDetails] = {}
        self._links: dict[str, ProjectLink] = {}
        if seeded:
            for details in CRM_SEEDS[self.platform](self.connection_id):
                self.add_opportunity(details)

    def _key(self, native_id: str) -> str:
        return native_id[:15] if self.platform == "salesforce" and len(native_id) == 18 else native_id

    # -- test and demo controls ----------------------------------------------------------
    def add_opportunity(self, details: OpportunityDetails) -> str:
        """Put an opportunity in the CRM (as a salesperson would); return its native id."""
        with self._lock:
            native_id = details.opportunity.external_ids.get(self.connection_id) or self._new_id(
                "opportunity"
            )
            self._opportunities[self._key(native_id)] = details
            return native_id

    def linked_project(self, opportunity_native_id: str) -> ProjectLink | None:
        with self._lock:
            return self._links.get(self._key(opportunity_native_id))

    # -- the CRM interface ---------------------------------------------------------------
    def get_opportunity(self, native_id: str) -> OpportunityDetails:
        op = "get_opportunity"
        with self._call(op, f"opportunity {native_id}") as call:
            details = self._opportunities.get(self._key(native_id))
            if details is None:
                raise self._not_found(op, "opportunity", native_id)
            call.outcome = "found"
            return details

    def link_project(
        self, opportunity_native_id: str, project_code: str, project_ids: dict[str, str]
    ) -> None:
        op = "link_project"
        with self._call(op, f"opportunity {opportunity_native_id} project {project_code}") as call:
            key = self._key(opportunity_native_id)
            if key not in self._opportunities:
                raise self._not_found(op, "opportunity", opportunity_native_id)
            linked = self._links.get(key)
            if linked is not None and linked.project_code != project_code:
                raise self._error(
                    Conflict,
                    op,
                    f"opportunity {opportunity_native_id} is already linked to project {linked.project_code}",
                    Refusal.DUPLICATE,
                    {"field": "project code", "value": project_code, "id": opportunity_native_id},
                    key=opportunity_native_id,
                    fields=("project_code",),
                )
            # Ids gathered over a resumed run accumulate; the latest id per system wins.
            ids = {**(linked.project_ids if linked else {}), **project_ids}
            call.outcome = "unchanged" if linked and linked.project_ids == ids else "linked"
            self._links[key] = ProjectLink(project_code, ids)

    def _records(self) -> dict[str, Any]:
        return {
            "opportunities": [
                {
                    "native_id": d.opportunity.external_ids.get(self.connection_id, key),
                    "name": d.opportunity.name,
                    "stage": d.opportunity.stage,
                    "client": d.client.name,
                    "billing_model": str(d.contract.billing_model) if d.contract else None,
                    "linked_project": self._links[key].project_code if key in self._links else None,
                    "linked_ids": dict(self._links[key].project_ids) if key in self._links else {},
                }
                for key, d in self._opportunities.items()
            ]
        }

"""The PSA system API: the delivery project, from a service-line template, and its rate card.

How each PSA maps:

- Kantata (Mavenlink) API v1: a project is a workspace (numeric id), created from a
  workspace template (``creator_role``, ``workspace_template_id``); the project code
  is a custom field or ``external_reference``; its currency is fixed at creation;
  the rate card is a workspace rate card (``rate_card_roles`` per role, in the
  workspace currency), replaced as a whole; archive sets ``archived: true``.
- Certinia PSA (on Salesforce): a ``pse__Proj__c`` record (18-character Salesforce
  id) cloned from a template project (``pse__Is_Template__c``), keyed by an external
  id field holding the code, ``CurrencyIsoCode`` set at creation; the rate card is a
  set of ``pse__Rate_Card__c`` rows scoped to the project; archive closes it
  (``pse__Stage__c = 'Closed'``, ``pse__Is_Active__c = false``).

Templates per service line come from the connection option ``templates``
(``consulting=TPL-CONSULT,managed_services=TPL-MSP``).
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from pshub.canonical.model import Milestone, Money, Project, RateCard
from pshub.connectors.results import PsaProject


class PsaConnector(Protocol):
    @property
    def connection_id(self) -> str: ...

    @property
    def platform(self) -> str: ...

    def template_for(self, service_line: str) -> str | None:
        """The project template configured for a service line, if any."""
        ...

    def create_project_from_template(self, project: Project, template: str) -> str:
        """Create the delivery project from a known template; return its native id.

        Idempotent on ``project.code`` (same content and template returns the existing
        id; different content raises ``Conflict``). The project currency is the budget's
        currency, else the connection's default currency."""
        ...

    def push_rate_card(self, project_native_id: str, rate_card: RateCard) -> None:
        """Replace the project's rate card; its currency must be the project currency."""
        ...

    def amend_project(
        self, native_id: str, code: str, *, budget: Money | None = None, end_date: date | None = None
    ) -> None:
        """A change order: the project's new budget and end date (those given); repeatable."""
        ...

    def push_milestones(self, native_id: str, code: str, milestones: list[Milestone]) -> dict[str, str]:
        """A change order's milestones on the project's plan, each once (by pshub's milestone id:
        one added is created, one re-priced or re-dated is updated); returns milestone id ->
        the PSA's id. Repeatable."""
        ...

    def archive_project(self, native_id: str, reason: str) -> None:
        """Compensation: archive the project; archiving twice is a no-op."""
        ...

    def get_project(self, code: str) -> PsaProject | None: ...

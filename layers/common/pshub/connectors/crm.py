"""The CRM system API: read an opportunity with its account and contract terms; write the
provisioned project back.

How each CRM maps:

- Salesforce: ``Opportunity`` (``006`` ids) with its ``Account`` (``001``) and, from
  CPQ, the ``Contract`` / ``SBQQ__Quote__c`` and its lines for the rate card; the
  write-back is an update of custom fields on the opportunity
  (``pshub_Project_Code__c`` and one id field per system).
- HubSpot: a deal (numeric id) read with ``associations=companies`` and the deal's
  line items / quote for terms; the write-back sets deal properties
  (``pshub_project_code``, ``pshub_project_ids``). A HubSpot webhook carries only the
  changed property, so the workflow calls ``get_opportunity`` to get the rest.

The write-back will come back as a change webhook; the normaliser's echo
suppression, not the connector, keeps that from looping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pshub.connectors.results import OpportunityDetails

if TYPE_CHECKING:
    from pshub.canonical.envelope import ChangeOrderApprovedV1
    from pshub.canonical.model import Client


class CrmConnector(Protocol):
    @property
    def connection_id(self) -> str: ...

    @property
    def platform(self) -> str: ...

    def get_opportunity(self, native_id: str) -> OpportunityDetails:
        """The opportunity, its account as a ``Client`` and its ``Contract`` (None until
        terms exist). Raises ``NotFound`` for an unknown id."""
        ...

    def link_project(
        self, opportunity_native_id: str, project_code: str, project_ids: dict[str, str]
    ) -> None:
        """Record the provisioned project on the opportunity (``project_ids``: connection
        id -> native id). Repeating it is harmless; linking a different project code to an
        already linked opportunity raises ``Conflict`` (a second provisioning)."""
        ...


@runtime_checkable
class ClientReader(Protocol):
    """A CRM whose webhooks can carry a record's id alone: the record is read before identity."""

    def read_client(self, native_id: str) -> Client:
        """The account / company as a ``Client``. Raises ``NotFound`` if it is gone."""
        ...


@runtime_checkable
class ChangeOrderReader(Protocol):
    """A CRM whose webhook says only that a deal's change order was approved (HubSpot): the
    change order is read from the deal before its workflow starts."""

    def read_change_order(self, opportunity_native_id: str) -> ChangeOrderApprovedV1:
        """The deal's approved change order, complete. Raises ``NotFound`` for a deal that is
        gone and ``PermanentConnectorError`` for one whose change order cannot be applied (not
        approved, no project, no number or effective date)."""
        ...


def encode_project_ids(project_ids: Mapping[str, str]) -> str:
    """The link-back's project ids as the CRM field holds them: compact JSON, sorted by connection."""
    return json.dumps(dict(sorted(project_ids.items())), separators=(",", ":"), ensure_ascii=False)


def decode_project_ids(raw: object) -> dict[str, str]:
    """The ids a CRM field holds; anything but a JSON object of strings (edited by hand) is none."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): v for k, v in parsed.items() if isinstance(v, str)} if isinstance(parsed, dict) else {}

"""Reading a record from its platform when the webhook carried only its id.

Some creation webhooks name the new record and nothing else (HubSpot's
``company.creation``). Identity cannot match a client on a name and domain it was not
given: it would mint a new canonical client for a company pshub may already know from
another system. So before entity sync, an event its adapter marks with
``needs_record_read`` gets the record read through the connection's CRM connector
(``ClientReader.read_client``) and its payload filled in, as a snapshot of the record
would carry it:

- the top-level fields the CRM owns (name, web domain);
- the identity facts among its properties (legal name, tax id, country), under the names
  entity sync reads them by. The country goes there rather than into the address, which
  the ERP owns: a fact for matching, not a change to propagate.

A record that is gone by the time it is read (``NotFound``) is left as it came: its
deletion is on its way. A throttled or failing read raises, and SQS delivers the
message again later; nothing is matched on missing facts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pshub.canonical.envelope import CanonicalEvent
from pshub.connectors.crm import ClientReader
from pshub.connectors.errors import NotFound
from pshub.observability import logger
from pshub.platforms import adapter_for

ConnectorFor = Callable[[str, str], Any]  # (connection id, role) -> connector


class RecordReader:
    def __init__(self, connector_for: ConnectorFor) -> None:
        self._connector_for = connector_for
        self.reads = 0

    def connector_for(self, connection_id: str, role: str) -> Any:
        """The connection's connector (a platform adapter that reads records uses it)."""
        self.reads += 1
        return self._connector_for(connection_id, role)

    def needs_read(self, event: CanonicalEvent) -> bool:
        if event.event_type != "ClientUpserted":  # the common path: no adapter lookup
            return False
        needs = getattr(adapter_for(event.source_platform), "needs_record_read", None)
        return needs is not None and bool(needs(event))

    def __call__(self, event: CanonicalEvent) -> CanonicalEvent:
        if not self.needs_read(event):
            return event
        connector = self._connector_for(event.connection, "crm")
        if not isinstance(connector, ClientReader):
            return event
        self.reads += 1
        try:
            client = connector.read_client(event.source_native_id)
        except NotFound:
            logger.info("record gone before it could be read", extra={"event_id": event.event_id})
            return event
        payload = dict(event.payload)
        address = client.billing_address
        found = {"name": client.name, "web_domain": client.web_domain}
        payload.update({k: v for k, v in found.items() if v is not None})
        facts = {
            "legal_name": client.legal_name,
            "tax_id": client.tax_profile.tax_id if client.tax_profile else None,
            "country": address.country if address else None,
        }
        payload["properties"] = {
            **(payload.get("properties") or {}),
            **{k: v for k, v in facts.items() if v is not None},
        }
        return event.model_copy(update={"payload": payload})

"""Customers as ERPs and billing platforms keep them, with duplicate detection.

A customer is found again by any client id that was upserted into it (NetSuite
``externalId``, Stripe ``metadata.pshub_client_id``, Zuora ``CrmId``), then by tax id,
then, where the platform's users de-duplicate on it, by normalised legal name.
A name match is ignored when both records carry different tax ids: two companies
may share a name, never a tax registration. Normalisation is pshub's own
(``pshub.sync.client_matching``), so the sandbox and the identity store agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pshub.canonical.model import Client
from pshub.connectors.results import ClientRecord
from pshub.sync.client_matching import normalise_name, normalise_tax_id


def _tax_id(client: Client) -> str | None:
    return normalise_tax_id(client.tax_profile.tax_id if client.tax_profile else None)


def _names(client: Client) -> set[str]:
    return {n for n in (normalise_name(client.name), normalise_name(client.legal_name)) if n}


@dataclass
class CustomerBook:
    match_names: bool
    records: dict[str, ClientRecord] = field(default_factory=dict)  # native id -> record
    _by_client_id: dict[str, str] = field(default_factory=dict)

    def find(
        self, *, client_id: str | None = None, tax_id: str | None = None, name: str | None = None
    ) -> ClientRecord | None:
        if client_id and client_id in self._by_client_id:
            return self.records[self._by_client_id[client_id]]
        wanted_tax = normalise_tax_id(tax_id)
        if wanted_tax:
            for record in self.records.values():
                if _tax_id(record.client) == wanted_tax:
                    return record
        wanted_name = normalise_name(name)
        if wanted_name and self.match_names:
            return self._by_name({wanted_name}, wanted_tax)
        return None

    def _by_name(self, wanted: set[str], tax_id: str | None) -> ClientRecord | None:
        for record in self.records.values():
            other_tax = _tax_id(record.client)
            if tax_id and other_tax and other_tax != tax_id:
                continue
            if wanted & _names(record.client):
                return record
        return None

    def match(self, client: Client, native_id: str | None = None) -> ClientRecord | None:
        """The customer ``client`` is: its known native id, its client id, tax id, then name."""
        if native_id in self.records:
            return self.records[native_id]
        found = self.find(client_id=client.id, tax_id=_tax_id(client))
        if found is None and self.match_names:
            found = self._by_name(_names(client), _tax_id(client))
        return found

    def put(self, native_id: str, client: Client) -> ClientRecord:
        """Store ``client`` as the customer ``native_id`` and remember its client id."""
        record = ClientRecord(native_id=native_id, client=client)
        self.records[native_id] = record
        self._by_client_id[client.id] = native_id
        return record

    def native_id_of(self, client_id: str) -> str | None:
        return self._by_client_id.get(client_id)

"""Oracle NetSuite inbound: what the customer's SuiteScript relay sends (``pshub.platforms.relay``).

NetSuite has no outbound webhooks of its own. A SuiteScript 2.1 user-event script installed in
the account (``docs/relays/netsuite-user-event.js``) posts each change, after it is submitted,
signed as Standard Webhooks. Field names are NetSuite's own field ids, as ``record.getValue``
reads them; ids are internal ids (text).

| record type | fields | canonical |
|---|---|---|
| ``customer`` | ``companyname`` (or ``firstname`` + ``lastname`` for an individual), ``email``, ``url``, ``billcountry``, ``billcity`` | ``ClientUpserted``; a delete is ``ClientDeleted`` |
| ``invoice`` | ``tranid``, ``entity``, ``currency`` (ISO code, the currency record's symbol), ``total``, ``amountremaining`` | ``InvoicePaid`` once ``amountremaining`` is 0 (the script relays the invoices a customer payment applies to); nothing otherwise |

``modified_at`` is the record's ``lastmodifieddate``. A payment applied to an invoice does not
run the invoice's own user-event scripts, so the relay runs on ``customerpayment`` and sends one
``invoice`` message per invoice the payment settles or reduces (its fields read back with
``search.lookupFields``).
"""

from __future__ import annotations

from typing import Any

from pshub.platforms import fields
from pshub.platforms.relay import (
    RelayAdapter,
    RelayChange,
    RelayRecord,
    client_deleted,
    client_upserted,
    invoice_paid_if_settled,
    records_table,
)


def _customer(change: RelayChange) -> list[tuple[str, Any]]:
    values = change.fields
    company = fields.optional_text(values.get("companyname"), change.field("companyname"))
    person = " ".join(
        part.strip()
        for part in (
            fields.optional_text(values.get("firstname"), change.field("firstname")) or "",
            fields.optional_text(values.get("lastname"), change.field("lastname")) or "",
        )
        if part.strip()
    )
    name = (company or "").strip() or person or None
    return [
        client_upserted(
            change, name=name, email="email", website="url", country="billcountry", city="billcity"
        )
    ]


def _invoice(change: RelayChange) -> list[tuple[str, Any]]:
    return invoice_paid_if_settled(
        change,
        number="tranid",
        client="entity",
        currency="currency",
        total="total",
        remaining="amountremaining",
    )


class NetSuiteRelayAdapter(RelayAdapter):
    platform = "netsuite"
    title = "Oracle NetSuite"
    records = records_table(
        RelayRecord("customer", _customer, client_deleted),
        RelayRecord("invoice", _invoice),
    )

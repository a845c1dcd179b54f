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

from pshub.platforms import fields
from pshub.platforms.relay import RelayAdapter, RelayChange, client_record, paid_invoice_record, records_table


def _customer_name(change: RelayChange) -> str | None:
    """The company name, or an individual's first and last name (``isperson`` customers)."""
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
    return (company or "").strip() or person or None


class NetSuiteRelayAdapter(RelayAdapter):
    platform = "netsuite"
    title = "Oracle NetSuite"
    records = records_table(
        client_record(
            "customer", _customer_name, email="email", website="url", country="billcountry", city="billcity"
        ),
        paid_invoice_record(
            "invoice",
            number="tranid",
            client="entity",
            currency="currency",
            total="total",
            remaining="amountremaining",
        ),
    )

"""Oracle Fusion Cloud ERP inbound: what the customer's Oracle Integration (OIC) flow relays.

Fusion raises business events (and its REST resources answer queries by ``LastUpdateDate``);
an OIC flow the customer runs (``docs/relays/oracle-fusion-oic.md``) subscribes to them through
the ERP Cloud adapter, reads the record from its REST resource, and posts it to pshub signed as
Standard Webhooks (OIC's REST adapter with a JavaScript or XSLT function computing the
HMAC-SHA256). Field names are the REST resources' attribute names.

| record type | REST resource | fields | canonical |
|---|---|---|---|
| ``customerAccount`` | ``/fscmRestApi/resources/11.13.18.05/customerAccounts`` | ``OrganizationName``, ``EmailAddress``, ``URL``, ``Country``, ``City`` (from the bill-to site) | ``ClientUpserted``; a delete (an account made inactive and purged) ``ClientDeleted`` |
| ``receivablesInvoice`` | ``/fscmRestApi/resources/11.13.18.05/receivablesInvoices`` | ``TransactionNumber``, ``BillToCustomerNumber``, ``InvoiceCurrencyCode``, ``EnteredAmount``, ``InvoiceBalanceAmount`` | ``InvoicePaid`` once ``InvoiceBalanceAmount`` is 0; nothing otherwise |

``id`` is ``CustomerAccountId`` / ``CustomerTransactionId``; ``modified_at`` is ``LastUpdateDate``.
Receivables invoices are not deleted once complete (they are credited), so a delete is refused.
"""

from __future__ import annotations

from pshub.platforms import fields
from pshub.platforms.relay import RelayAdapter, RelayChange, client_record, paid_invoice_record, records_table


def _organization_name(change: RelayChange) -> str | None:
    name = fields.optional_text(change.fields.get("OrganizationName"), change.field("OrganizationName"))
    return (name or "").strip() or None


class OracleFusionRelayAdapter(RelayAdapter):
    platform = "oracle_fusion"
    title = "Oracle Fusion Cloud ERP"
    records = records_table(
        client_record(
            "customerAccount",
            _organization_name,
            email="EmailAddress",
            website="URL",
            country="Country",
            city="City",
        ),
        paid_invoice_record(
            "receivablesInvoice",
            number="TransactionNumber",
            client="BillToCustomerNumber",
            currency="InvoiceCurrencyCode",
            total="EnteredAmount",
            remaining="InvoiceBalanceAmount",
        ),
    )

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


def _account(change: RelayChange) -> list[tuple[str, Any]]:
    name = fields.optional_text(change.fields.get("OrganizationName"), change.field("OrganizationName"))
    return [
        client_upserted(
            change,
            name=(name or "").strip() or None,
            email="EmailAddress",
            website="URL",
            country="Country",
            city="City",
        )
    ]


def _invoice(change: RelayChange) -> list[tuple[str, Any]]:
    return invoice_paid_if_settled(
        change,
        number="TransactionNumber",
        client="BillToCustomerNumber",
        currency="InvoiceCurrencyCode",
        total="EnteredAmount",
        remaining="InvoiceBalanceAmount",
    )


class OracleFusionRelayAdapter(RelayAdapter):
    platform = "oracle_fusion"
    title = "Oracle Fusion Cloud ERP"
    records = records_table(
        RelayRecord("customerAccount", _account, client_deleted),
        RelayRecord("receivablesInvoice", _invoice),
    )

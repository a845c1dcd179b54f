"""Oracle NetSuite: the ERP role (customers, project shells, billing schedules, time, expenses,
draft invoices and credit memos, amendments); changes in through the customer's SuiteScript
relay (``inbound``)."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="netsuite",
    title="Oracle NetSuite",
    roles=frozenset({"erp"}),
    inbound="webhook",
    adapter="pshub.platforms.netsuite.inbound:NetSuiteRelayAdapter",
    outbound={"erp": "pshub.platforms.netsuite.outbound:connect"},
    # Concurrency is per account, shared by SOAP, REST and RESTlets: 5 on the shared tier
    # (15 on Tier 1, +10 per SuiteCloud Plus licence); REST batches take 100 records.
    limits={"max_concurrency": "5", "max_batch": "100"},
)

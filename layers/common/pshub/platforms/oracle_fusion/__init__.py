"""Oracle Fusion Cloud ERP: customer accounts and receivables invoices, relayed in by an Oracle
Integration flow the customer runs (``pshub.platforms.relay``); no outbound yet."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="oracle_fusion",
    title="Oracle Fusion Cloud ERP",
    roles=frozenset({"erp"}),
    inbound="webhook",
    adapter="pshub.platforms.oracle_fusion.inbound:OracleFusionRelayAdapter",
)

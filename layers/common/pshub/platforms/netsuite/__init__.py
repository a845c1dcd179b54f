"""Oracle NetSuite: the ERP role (customers, project shells, billing schedules, time)."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="netsuite",
    title="Oracle NetSuite",
    roles=frozenset({"erp"}),
    outbound={"erp": "pshub.platforms.netsuite.outbound:connect"},
)

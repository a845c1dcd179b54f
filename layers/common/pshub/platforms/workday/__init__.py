"""Workday HCM: workers, relayed in by an outbound integration the customer runs
(``pshub.platforms.relay``); no outbound."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="workday",
    title="Workday",
    roles=frozenset({"hr"}),
    inbound="webhook",
    adapter="pshub.platforms.workday.inbound:WorkdayRelayAdapter",
)

"""Harvest (API v2): time entries polled (Harvest has no webhooks), the time role's change feed."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="harvest",
    title="Harvest",
    roles=frozenset({"time"}),
    inbound="poll",
    adapter="pshub.platforms.harvest.inbound:HarvestAdapter",
    outbound={"time": "pshub.platforms.harvest.outbound:connect"},
)

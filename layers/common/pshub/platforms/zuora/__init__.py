"""Zuora Billing: the billing role out (the client's account, standalone invoices and credit
memos); nothing in yet.

No inbound: Zuora's callout notifications are not wired, so the manifest declares neither
``inbound`` nor ``adapter`` (as NetSuite's does). Paid invoices come back another way, or
once a callout adapter is written.
"""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="zuora",
    title="Zuora Billing",
    roles=frozenset({"billing"}),
    outbound={"billing": "pshub.platforms.zuora.outbound:connect"},
)

"""SAP Concur Expense: signed report workflow notifications in (ESS), approved expenses read back."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="concur",
    title="SAP Concur",
    roles=frozenset({"expense"}),
    inbound="webhook",
    adapter="pshub.platforms.concur.inbound:ConcurAdapter",
    outbound={"expense": "pshub.platforms.concur.outbound:connect"},
)

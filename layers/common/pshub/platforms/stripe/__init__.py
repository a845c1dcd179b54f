"""Stripe Billing: signed webhooks in (invoices, customers); the billing role out."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="stripe",
    title="Stripe Billing",
    roles=frozenset({"billing"}),
    inbound="webhook",
    adapter="pshub.platforms.stripe.inbound:StripeAdapter",
    outbound={"billing": "pshub.platforms.stripe.outbound:connect"},
)

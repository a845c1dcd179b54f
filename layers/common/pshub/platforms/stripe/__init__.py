"""Everything pshub knows about Stripe: its inbound adapter, mapping and outbound client."""

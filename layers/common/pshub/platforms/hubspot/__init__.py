"""Everything pshub knows about Hubspot: its inbound adapter, mapping and outbound client."""

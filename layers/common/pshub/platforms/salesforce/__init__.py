"""Everything pshub knows about Salesforce: its inbound adapter, mapping and outbound client."""

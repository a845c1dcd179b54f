"""The local runtime's Hubspot: how it signs a webhook."""

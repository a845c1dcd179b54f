"""The local runtime's Toggl Track: how it signs a webhook."""

"""The local runtime's Salesforce: how it signs a webhook."""

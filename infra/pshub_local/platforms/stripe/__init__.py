"""The local runtime's Stripe: how it signs a webhook."""

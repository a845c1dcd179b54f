"""The local runtime's Workday: a relay signer (an outbound integration posting as Standard Webhooks)."""

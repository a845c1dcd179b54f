"""The local runtime's Zuora: its API fake (no webhooks to sign: pshub takes none from Zuora yet)."""

"""The local runtime's Oracle Fusion Cloud ERP: a relay signer (an OIC flow posting as Standard Webhooks)."""

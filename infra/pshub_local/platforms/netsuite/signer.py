"""The customer's relay, signing as Standard Webhooks (``pshub.platforms.relay``)."""

from pshub_local.platforms.signing import StandardWebhooksSigner

SIGNER = StandardWebhooksSigner()

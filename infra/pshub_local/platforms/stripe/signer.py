"""Stripe's ``Stripe-Signature``: ``t=<unix s>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>``."""

from __future__ import annotations

import hashlib
import hmac

from pshub_local.platforms.signing import Signer

TOLERANCE_S = 300  # Stripe's libraries


def signature_header(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class StripeSigner(Signer):
    secret_prefix = "whsec_localdemo_"  # noqa: S105 - a name prefix, not a secret
    max_age_s = TOLERANCE_S

    def headers(self, url: str, body: bytes, secret: str, now: float) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(body, secret, int(now)),
        }


SIGNER = StripeSigner()

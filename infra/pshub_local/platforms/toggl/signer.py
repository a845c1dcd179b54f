"""Toggl's ``X-Webhook-Signature-256: sha256=<hex HMAC-SHA256(subscription secret, raw body)>``.

Toggl signs the body alone (no URL, no timestamp): a signature never grows too old.
"""

from __future__ import annotations

import hashlib
import hmac

from pshub_local.platforms.signing import Signer


def signature_header(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class TogglSigner(Signer):
    def headers(self, url: str, body: bytes, secret: str, now: float) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Webhook-Signature-256": signature_header(body, secret)}


SIGNER = TogglSigner()

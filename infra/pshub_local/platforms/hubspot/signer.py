"""HubSpot's v3 signature: base64(HMAC-SHA256(client secret, method + uri + body + timestamp))."""

from __future__ import annotations

import base64
import hashlib
import hmac

from pshub_local.platforms.signing import Signer

MAX_AGE_MS = 5 * 60 * 1000

# HubSpot's request-validation guide: decode these in the URI before signing.
# (pshub's verifier also accepts lower-case hex; the vendor table lists upper case.)
_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


def signed_uri(url: str) -> str:
    for encoded, char in _DECODE.items():
        url = url.replace(encoded, char)
    return url


def v3_signature(method: str, url: str, body: bytes, secret: str, timestamp_ms: int) -> str:
    """UTF-8 throughout, as HubSpot's guide and SDK do."""
    message = method.encode() + signed_uri(url).encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class HubSpotSigner(Signer):
    max_age_s = MAX_AGE_MS / 1000

    def headers(self, url: str, body: bytes, secret: str, now: float) -> dict[str, str]:
        timestamp_ms = int(now * 1000)
        return {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": v3_signature("POST", url, body, secret, timestamp_ms),
            "X-HubSpot-Request-Timestamp": str(timestamp_ms),
        }


SIGNER = HubSpotSigner()

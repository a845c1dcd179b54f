"""Sign a webhook exactly as the vendor does, so local requests pass the real checks.

Used by ``pshub demo``, ``pshub sign`` and the tests. Each signer follows the
vendor's published scheme; nothing here knows how pshub verifies.

The local signing secrets are derived from the connection id so that a second
process (``pshub sign``) can sign for a running ``pshub serve``. They are for the
local runtime only and never leave this machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pshub.connections import Connection

WEBHOOK_PATH = "/webhooks/{connection}"

STRIPE_TOLERANCE_S = 300
HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000

# HubSpot's request-validation guide: decode these in the URI before signing.
# (pshub's verifier also accepts lower-case hex; the vendor table lists upper case.)
_HUBSPOT_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request as the vendor would send it."""

    connection: str
    platform: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    # What the sender did on purpose (``"tampered body"``), for reports.
    note: str = field(default="", compare=False)


def local_secret(connection_id: str, platform: str, environ: Mapping[str, str] | None = None) -> str:
    """The LOCAL-ONLY demo signing secret of a connection (override: PSHUB_LOCAL_SECRET_<ID>)."""
    env = os.environ if environ is None else environ
    override = env.get("PSHUB_LOCAL_SECRET_" + connection_id.upper().replace("-", "_"))
    if override:
        return override
    digest = hashlib.sha256(connection_id.encode()).hexdigest()[:24]
    return f"whsec_localdemo_{digest}" if platform == "stripe" else f"localdemo-{digest}"


def webhook_url(base_url: str, connection: Connection, secret: str) -> str:
    """The URL to configure in the vendor: Salesforce's carries the connection token."""
    url = base_url.rstrip("/") + WEBHOOK_PATH.format(connection=quote(connection.id, safe=""))
    if connection.platform == "salesforce":
        url += "?" + urlencode({"token": secret})
    return url


# --- Stripe ---------------------------------------------------------------------------------


def stripe_signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """``t=<unix s>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>`` (Stripe's scheme)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _stripe_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe_signature_header(body, secret, timestamp),
    }


# --- HubSpot --------------------------------------------------------------------------------


def hubspot_signed_uri(url: str) -> str:
    for encoded, char in _HUBSPOT_DECODE.items():
        url = url.replace(encoded, char)
    return url


def hubspot_v3_signature(method: str, url: str, body: bytes, secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(client secret, method + uri + body + timestamp)), UTF-8 throughout."""
    message = method.encode() + hubspot_signed_uri(url).encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _hubspot_headers(url: str, body: bytes, secret: str, timestamp_ms: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hubspot_v3_signature("POST", url, body, secret, timestamp_ms),
        "X-HubSpot-Request-Timestamp": str(timestamp_ms),
    }


# --- Salesforce -----------------------------------------------------------------------------


def _salesforce_headers() -> dict[str, str]:
    # Outbound Messages are SOAP 1.1; the proof of origin is the token in the URL.
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


# --- any platform ---------------------------------------------------------------------------


def sign(
    connection: Connection, body: bytes, base_url: str, secret: str, *, now: float | None = None
) -> SignedRequest:
    """The request the connection's platform would send for ``body`` at time ``now``."""
    now = time.time() if now is None else now
    url = webhook_url(base_url, connection, secret)
    if connection.platform == "stripe":
        headers = _stripe_headers(body, secret, int(now))
    elif connection.platform == "hubspot":
        headers = _hubspot_headers(url, body, secret, int(now * 1000))
    elif connection.platform == "salesforce":
        headers = _salesforce_headers()
    else:
        raise ValueError(f"no signer for platform {connection.platform!r}")
    return SignedRequest(connection.id, connection.platform, "POST", url, headers, body)


def tampered(request: SignedRequest) -> SignedRequest:
    """A copy an attacker altered after signing.

    Stripe and HubSpot sign the body, so the body changes. Salesforce
    signs nothing; what an attacker lacks is the endpoint token, so that changes.
    """
    if request.platform == "salesforce":
        parts = urlsplit(request.url)
        url = urlunsplit(parts._replace(query=urlencode({"token": "not-the-connection-token"})))
        return replace(request, url=url, note="wrong endpoint token")
    # One byte more after signing: still valid JSON, so only the signature can catch it.
    return replace(request, body=request.body + b" ", note="tampered body")


def too_old(connection: Connection, body: bytes, base_url: str, secret: str) -> SignedRequest:
    """A correctly signed request whose timestamp is just outside the vendor's window."""
    now = time.time()
    if connection.platform == "stripe":
        request = sign(connection, body, base_url, secret, now=now - STRIPE_TOLERANCE_S - 1)
    elif connection.platform == "hubspot":
        request = sign(connection, body, base_url, secret, now=now - (HUBSPOT_MAX_AGE_MS + 1000) / 1000)
    else:
        raise ValueError(f"{connection.platform} deliveries carry no timestamp")
    return replace(request, note="timestamp outside the vendor's tolerance")


def signs_timestamp(platform: str) -> bool:
    return platform in ("stripe", "hubspot")

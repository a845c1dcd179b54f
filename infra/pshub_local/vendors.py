"""Sign a webhook exactly as the vendor does, so local requests pass the real checks.

Used by ``pshub demo``, ``pshub sign`` and the tests. Each platform's signer lives in
``pshub_local.platforms.<vendor>.signer`` and follows the vendor's published scheme;
nothing here knows a vendor, nor how pshub verifies.

The local signing secrets are derived from the connection id so that a second
process (``pshub sign``) can sign for a running ``pshub serve``. They are for the
local runtime only and never leave this machine.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from importlib import import_module
from urllib.parse import quote

from pshub.connections import Connection
from pshub_local.platforms.signing import SignedRequest, Signer

WEBHOOK_PATH = "/webhooks/{connection}"

__all__ = ["SignedRequest", "local_secret", "sign", "signer_for", "signs_timestamp", "tampered", "too_old"]


def signer_for(platform: str) -> Signer:
    """The local signer of ``platform``; ValueError if it has none (it sends no webhooks)."""
    try:
        module = import_module(f"pshub_local.platforms.{platform}.signer")
    except ModuleNotFoundError:
        raise ValueError(f"no signer for platform {platform!r}") from None
    signer: Signer = module.SIGNER
    return signer


def local_secret(connection_id: str, platform: str, environ: Mapping[str, str] | None = None) -> str:
    """The LOCAL-ONLY demo signing secret of a connection (override: PSHUB_LOCAL_SECRET_<ID>)."""
    env = os.environ if environ is None else environ
    override = env.get("PSHUB_LOCAL_SECRET_" + connection_id.upper().replace("-", "_"))
    if override:
        return override
    digest = hashlib.sha256(connection_id.encode()).hexdigest()[:24]
    try:
        prefix = signer_for(platform).secret_prefix
    except ValueError:
        prefix = Signer.secret_prefix
    return f"{prefix}{digest}"


def webhook_url(base_url: str, connection: Connection, secret: str) -> str:
    """The URL to configure in the vendor (some carry the connection's token)."""
    url = base_url.rstrip("/") + WEBHOOK_PATH.format(connection=quote(connection.id, safe=""))
    return signer_for(connection.platform).endpoint_url(url, secret)


def sign(
    connection: Connection, body: bytes, base_url: str, secret: str, *, now: float | None = None
) -> SignedRequest:
    """The request the connection's platform would send for ``body`` at time ``now``."""
    now = time.time() if now is None else now
    signer = signer_for(connection.platform)
    url = webhook_url(base_url, connection, secret)
    headers = signer.headers(url, body, secret, now)
    return SignedRequest(connection.id, connection.platform, "POST", url, headers, body)


def tampered(request: SignedRequest) -> SignedRequest:
    """A copy an attacker altered after signing (the body, or for unsigned platforms the token)."""
    return signer_for(request.platform).tampered(request)


def too_old(connection: Connection, body: bytes, base_url: str, secret: str) -> SignedRequest:
    """A correctly signed request whose timestamp is just outside the vendor's window."""
    max_age = signer_for(connection.platform).max_age_s
    if max_age is None:
        raise ValueError(f"{connection.platform} deliveries carry no timestamp")
    request = sign(connection, body, base_url, secret, now=time.time() - max_age - 1)
    return replace(request, note="timestamp outside the vendor's tolerance")


def signs_timestamp(platform: str) -> bool:
    try:
        return signer_for(platform).max_age_s is not None
    except ValueError:
        return False

"""The shape every local signer has; each follows its vendor's published scheme."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


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


class Signer:
    """A platform's way of signing: override what differs from "HMAC over the body in a header"."""

    secret_prefix = "localdemo-"  # noqa: S105 - the local demo secret's form, not a secret
    # Seconds after which the vendor's own verifiers refuse a signature; None: it signs no time.
    max_age_s: float | None = None

    def endpoint_url(self, url: str, secret: str) -> str:
        """The URL configured in the vendor (Salesforce's carries the connection's token)."""
        return url

    def headers(self, url: str, body: bytes, secret: str, now: float) -> dict[str, str]:
        raise NotImplementedError

    def tampered(self, request: SignedRequest) -> SignedRequest:
        """A copy an attacker altered after signing: one byte more, still valid JSON or XML."""
        return replace(request, body=request.body + b" ", note="tampered body")

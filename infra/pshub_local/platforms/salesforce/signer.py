"""Salesforce Outbound Messages are unsigned: the proof of origin is the token in the endpoint URL."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode, urlsplit, urlunsplit

from pshub_local.platforms.signing import SignedRequest, Signer


class SalesforceSigner(Signer):
    def endpoint_url(self, url: str, secret: str) -> str:
        return url + "?" + urlencode({"token": secret})

    def headers(self, url: str, body: bytes, secret: str, now: float) -> dict[str, str]:
        # SOAP 1.1, as Salesforce posts it.
        return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

    def tampered(self, request: SignedRequest) -> SignedRequest:
        # Salesforce signs nothing; what an attacker lacks is the endpoint token.
        parts = urlsplit(request.url)
        url = urlunsplit(parts._replace(query=urlencode({"token": "not-the-connection-token"})))
        return replace(request, url=url, note="wrong endpoint token")


SIGNER = SalesforceSigner()

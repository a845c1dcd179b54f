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


class StandardWebhooksSigner(Signer):
    """A relay signing as Standard Webhooks (NetSuite, Oracle Fusion, Workday relays), with the
    specification's own library: ``webhook-id`` (the body's ``data.event_id``),
    ``webhook-timestamp`` and ``webhook-signature: v1,<base64>``."""

    secret_prefix = "whsec_"  # noqa: S105 - the form of a secret, not one
    max_age_s: float | None = 300

    def headers(self, url: str, body: bytes, secret: str, now: float) -> dict[str, str]:
        import hashlib
        import json
        from datetime import UTC, datetime

        from standardwebhooks import Webhook

        try:
            message_id = str(json.loads(body)["data"]["event_id"])
        except (
            ValueError,
            KeyError,
            TypeError,
            RecursionError,
        ):  # not the contract's body: signed all the same
            message_id = "msg_" + hashlib.sha256(body).hexdigest()[:24]
        moment = datetime.fromtimestamp(int(now), UTC)

        def sign(key: str) -> str:
            try:
                return Webhook(key).sign(msg_id=message_id, timestamp=moment, data=body.decode())
            except UnicodeError:  # the library signs text; a relay may still send other bytes
                import base64
                import hmac

                raw = base64.b64decode(key.removeprefix("whsec_") + "==")
                content = f"{message_id}.{int(now)}.".encode() + body
                return "v1," + base64.b64encode(hmac.new(raw, content, hashlib.sha256).digest()).decode()

        signatures = " ".join(sign(key) for key in secret.split())
        return {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": signatures,
        }

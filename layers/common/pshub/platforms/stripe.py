"""Stripe webhooks: ``Stripe-Signature`` verification and Event mapping.

Stripe signs ``f"{t}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint's signing
secret (``whsec_...``, used as is) and sends ``t=<unix seconds>,v1=<hex>[,v1=...]``;
several ``v1`` values appear while a secret is being rolled. Stripe's libraries
reject a timestamp older than 300 seconds by default.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pshub import fastjson
from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.http import HttpResponse, InboundRequest
from pshub.platforms.base import ACCEPTED, PlatformEvent, canonical_from

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, Money
    from pshub.raw_delivery import RawDelivery

TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "stripe-signature"

# Stripe amounts are integers in the currency's minor unit; these currencies have
# none (Stripe's list of zero-decimal currencies).
_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
# ...and these have three decimal places.
_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def minor_to_major(amount: int, currency: str) -> Decimal:
    code = currency.upper()
    exponent = 0 if code in _ZERO_DECIMAL else 3 if code in _THREE_DECIMAL else 2
    return Decimal(amount).scaleb(-exponent)


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureInvalid("Stripe-Signature has a non-numeric timestamp") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise SignatureInvalid("Stripe-Signature has no timestamp (t=...)")
    if not signatures:
        raise SignatureInvalid("Stripe-Signature has no v1 signature")
    return timestamp, signatures


def _event(body: bytes, loads: Callable[[bytes], Any]) -> Any:
    """The Stripe Event in ``body`` as ``loads`` reads it, its shape checked."""
    try:
        event = loads(body)
    except ValueError as exc:
        raise UnparseableBody(f"Stripe body is not JSON: {exc}") from None
    if not fastjson.is_object(event) or event.get("object") != "event":
        raise UnparseableBody('Stripe body is not an Event object (expected "object": "event")')
    for key in ("id", "type", "created", "data"):
        if key not in event:
            raise UnparseableBody(f"Stripe Event has no {key!r}")
    return event


class StripeAdapter:
    platform = "stripe"

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        header = request.header(SIGNATURE_HEADER)
        if not header:
            raise SignatureInvalid("missing Stripe-Signature header")
        timestamp, signatures = _parse_header(header)
        expected = hmac.new(
            secret.encode(), str(timestamp).encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            raise SignatureInvalid("Stripe-Signature does not match the body (wrong secret or altered body)")
        if timestamp < now - TOLERANCE_SECONDS:
            raise SignatureInvalid(
                f"Stripe-Signature timestamp is {int(now - timestamp)} s old "
                f"(tolerance {TOLERANCE_SECONDS} s): possible replay"
            )

    def parse(self, body: bytes) -> Any:
        return _event(body, fastjson.loads_for_shape)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACCEPTED

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        event: dict[str, Any] = _event(body, json.loads)
        obj = event["data"].get("object") or {}
        return [
            PlatformEvent(
                event_id=event["id"],
                event_type=event["type"],
                native_id=str(obj.get("id", "")),
                occurred_at=datetime.fromtimestamp(event["created"], UTC),
                data=event,
            )
        ]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical import envelope as cv

        obj: dict[str, Any] = event.data["data"]["object"]
        payload: cv._Payload
        if event.event_type in ("invoice.paid", "invoice.payment_failed"):
            event_type = "InvoicePaid" if event.event_type == "invoice.paid" else "InvoicePaymentFailed"
            payload = _invoice_payload(obj)
        elif event.event_type in ("customer.created", "customer.updated"):
            event_type = "ClientUpserted"
            address = obj.get("address") or {}
            previous = (event.data["data"].get("previous_attributes") or {}).keys()
            payload = cv.ClientUpsertedV1(
                client_id=obj["id"],
                change="created" if event.event_type == "customer.created" else "updated",
                name=obj.get("name"),
                email=obj.get("email"),
                country=address.get("country"),
                city=address.get("city"),
                properties={key: _as_text(obj.get(key)) for key in sorted(previous)},
            )
        elif event.event_type == "customer.deleted":
            event_type = "ClientDeleted"
            payload = cv.ClientDeletedV1(client_id=obj["id"])
        else:
            raise Unmappable(f"no mapping for Stripe event type {event.event_type!r}")
        return canonical_from(self.platform, event_type, payload, event, delivery)


def _money(amount: int, currency: str) -> Money:
    from pshub.canonical.envelope import Money

    return Money(amount=minor_to_major(amount, currency), currency=currency)


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _invoice_payload(invoice: dict[str, Any]) -> Any:
    from pshub.canonical.envelope import InvoicePaymentV1

    try:
        currency = invoice["currency"]
        metadata = invoice.get("metadata") or {}
        transitions = invoice.get("status_transitions") or {}
        return InvoicePaymentV1(
            invoice_id=invoice["id"],
            invoice_number=invoice.get("number"),
            client_id=invoice.get("customer"),
            status=invoice["status"],
            amount_due=_money(invoice["amount_due"], currency),
            amount_paid=_money(invoice["amount_paid"], currency),
            amount_remaining=_money(invoice["amount_remaining"], currency),
            project_code=metadata.get("pshub_project_code"),
            paid_at=_timestamp(transitions.get("paid_at")),
            attempt_count=invoice.get("attempt_count"),
            next_payment_attempt=_timestamp(invoice.get("next_payment_attempt")),
        )
    except KeyError as exc:
        raise Unmappable(f"Stripe invoice {invoice.get('id')!r} has no {exc.args[0]!r}") from None


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)

"""Stripe webhooks: ``Stripe-Signature`` verification and Event mapping.

Stripe signs ``f"{t}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint's signing
secret (``whsec_...``, used as is) and sends ``t=<unix seconds>,v1=<hex>[,v1=...]``;
several ``v1`` values appear while a secret is being rolled. Stripe's libraries
reject a timestamp older than 300 seconds by default; pshub also refuses one more than
300 seconds in the future (the libraries do not), because a signature dated ahead would
stay replayable for longer than the window: the tolerance is symmetric.

Versions. Stripe does not deliver events in order and its objects carry no version; the
event's ``created`` (whole seconds) is the order, and a change of state breaks ties within
a second (an invoice finalised and paid in one second is open, then paid):

| platform | scheme | major | minor | tiebreak |
|---|---|---|---|---|
| Stripe | ``stripe.created+state`` | the event's ``created``, Unix seconds | the object's state rank (``STATE_RANKS``) | the event id |

State ranks follow each object's documented lifecycle. Invoice: ``draft`` < ``open`` <
``uncollectible`` (it can still be paid or voided) < ``paid`` = ``void`` (final). Subscription:
``incomplete`` < ``trialing`` = ``active`` = ``paused`` (a trial that ended without a payment
method, resumable) < ``past_due`` < ``unpaid`` < ``canceled`` = ``incomplete_expired`` (final).
Customer (no status field): ``customer.created`` < ``customer.updated`` < ``customer.deleted``,
by the event's type. Customer events are the entity events here; invoice events are facts and
carry the version too. A state Stripe adds later is refused (``unmappable``), not ranked by a
guess. The event id breaks exact ties the same way on every delivery; it is random, so
two changes of one customer in one second keep an arbitrary (but stable) order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline import fastjson
from pshub.pipeline.http import HttpResponse, InboundRequest
from pshub.platforms import fields
from pshub.platforms.base import ACCEPTED, PlatformEvent, canonical_from

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, Money, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

TOLERANCE_SECONDS = 300  # either way: older (a replay), or newer (a clock ahead, a forged date)
SIGNATURE_HEADER = "stripe-signature"
VERSION_SCHEME = "stripe.created+state"

# object type -> its states in lifecycle order (see the module docstring); one rank, one step.
STATE_RANKS: dict[str, dict[str, int]] = {
    "invoice": {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3},
    "subscription": {
        "incomplete": 0,
        "trialing": 1,
        "active": 1,
        "paused": 1,
        "past_due": 2,
        "unpaid": 3,
        "canceled": 4,
        "incomplete_expired": 4,
    },
}
# Customers have no status: the event's type is the state.
_CUSTOMER_RANKS = {"customer.created": 0, "customer.updated": 1, "customer.deleted": 2}

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
    """Stripe's integer amount in the currency's smallest unit, as an exact Decimal.

    Exact whatever the size: built from the digits, not by arithmetic in the 28-digit
    decimal context (which would round a 30-digit amount without a word).
    """
    code = currency.upper()
    exponent = 0 if code in _ZERO_DECIMAL else 3 if code in _THREE_DECIMAL else 2
    return Decimal(f"{amount}E-{exponent}") if exponent else Decimal(amount)


def _parse_header(header: str) -> tuple[int, list[bytes]]:
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            # ASCII digits only: int() would also take " 1_795 " or other scripts' digits.
            if not (value.isascii() and value.isdigit() and len(value) <= 20):
                raise SignatureInvalid("Stripe-Signature has a non-numeric timestamp")
            timestamp = int(value)
        elif key == "v1":
            # Bytes for compare_digest: it refuses str with non-ASCII characters (a 500, not a 401).
            signatures.append(value.encode("utf-8", "surrogatepass"))
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
        expected = (
            hmac.new(secret.encode(), str(timestamp).encode() + b"." + request.body, hashlib.sha256)
            .hexdigest()
            .encode()
        )
        if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            raise SignatureInvalid("Stripe-Signature does not match the body (wrong secret or altered body)")
        age = int(now) - timestamp
        if age > TOLERANCE_SECONDS:
            raise SignatureInvalid(
                f"Stripe-Signature timestamp is {age} s old (tolerance {TOLERANCE_SECONDS} s): possible replay"
            )
        if -age > TOLERANCE_SECONDS:
            raise SignatureInvalid(
                f"Stripe-Signature timestamp is {-age} s in the future (tolerance {TOLERANCE_SECONDS} s "
                "either way): a clock is wrong (Stripe's or this host's), or the timestamp was not Stripe's"
            )

    def parse(self, body: bytes) -> Any:
        return _event(body, fastjson.loads_for_shape)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACCEPTED

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        event: dict[str, Any] = _event(body, fastjson.loads_exact)
        try:
            event_id = fields.identifier(event["id"], "Stripe Event id")
            event_type = fields.text(event["type"], "Stripe Event type")
            created = fields.epoch_seconds(event["created"], "Stripe Event created")
            data = fields.mapping(event["data"], "Stripe Event data")
            obj = fields.mapping(data.get("object"), "Stripe Event data.object")
            native_id = fields.identifier(obj.get("id"), "Stripe Event data.object.id")
        except fields.FieldProblem as problem:
            raise Unmappable(str(problem)) from None
        return [
            PlatformEvent(
                event_id=event_id, event_type=event_type, native_id=native_id, occurred_at=created, data=event
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
            address = fields.mapping(obj.get("address") or {}, "Stripe customer address")
            previous = fields.mapping(
                event.data["data"].get("previous_attributes") or {}, "Stripe Event data.previous_attributes"
            )
            payload = cv.ClientUpsertedV1(
                client_id=event.native_id,
                change="created" if event.event_type == "customer.created" else "updated",
                name=fields.optional_text(obj.get("name"), "Stripe customer name"),
                email=fields.optional_text(obj.get("email"), "Stripe customer email"),
                country=fields.optional_text(address.get("country"), "Stripe customer address.country"),
                city=fields.optional_text(address.get("city"), "Stripe customer address.city"),
                properties={key: _as_text(obj.get(key)) for key in sorted(previous)},
            )
        elif event.event_type == "customer.deleted":
            event_type = "ClientDeleted"
            payload = cv.ClientDeletedV1(client_id=event.native_id)
        else:
            raise Unmappable(f"no mapping for Stripe event type {event.event_type!r}")
        return canonical_from(self.platform, event_type, payload, event, delivery, version(event))


def version(event: PlatformEvent) -> SourceVersion:
    """The event's place in Stripe's order of changes to its object (see the module docstring).

    ``Unmappable`` for an object whose state is not one ``STATE_RANKS`` knows: ordering it by a
    guess could put a paid invoice before an open one.
    """
    from pshub.canonical.envelope import SourceVersion

    obj: dict[str, Any] = event.data["data"]["object"]
    kind = obj.get("object")
    if kind == "customer":
        rank = _CUSTOMER_RANKS.get(event.event_type)
        if rank is None:
            raise Unmappable(f"Stripe event type {event.event_type!r} has no place in a customer's order")
    elif isinstance(kind, str) and kind in STATE_RANKS:
        status = obj.get("status")
        ranks = STATE_RANKS[kind]
        if not isinstance(status, str) or status not in ranks:
            found = "a state pshub does not order" if isinstance(status, str) else fields.kind_of(status)
            raise Unmappable(
                f"Stripe {kind} status is {found} (pshub orders {', '.join(sorted(ranks))}): "
                "add the new state to STATE_RANKS, then redrive"
            )
        rank = ranks[status]
    else:
        raise Unmappable(f"Stripe event {event.event_id}: pshub has no version scheme for its data.object")
    return SourceVersion(
        scheme=VERSION_SCHEME,
        major=fields.integer(event.data["created"], "Stripe Event created", 0),
        minor=rank,
        tiebreak=event.event_id,
    )


def _money(invoice: dict[str, Any], key: str, currency: str) -> Money:
    """A Stripe amount: an integer count of the currency's smallest unit, never a fraction."""
    from pshub.canonical.envelope import Money

    amount = fields.integer(invoice.get(key), f"Stripe invoice {key}")
    return Money(amount=minor_to_major(amount, currency), currency=currency)


def _timestamp(invoice: dict[str, Any], key: str, field: str) -> datetime | None:
    value = invoice.get(key)
    return None if value is None else fields.epoch_seconds(value, field)


def _invoice_payload(invoice: dict[str, Any]) -> Any:
    from pshub.canonical.envelope import InvoicePaymentV1

    currency = fields.text(invoice.get("currency"), "Stripe invoice currency")
    metadata = fields.mapping(invoice.get("metadata") or {}, "Stripe invoice metadata")
    transitions = fields.mapping(invoice.get("status_transitions") or {}, "Stripe invoice status_transitions")
    attempts = invoice.get("attempt_count")
    return InvoicePaymentV1(
        invoice_id=fields.identifier(invoice.get("id"), "Stripe invoice id"),
        invoice_number=fields.optional_text(invoice.get("number"), "Stripe invoice number"),
        client_id=fields.optional_text(invoice.get("customer"), "Stripe invoice customer"),
        status=fields.text(invoice.get("status"), "Stripe invoice status"),
        amount_due=_money(invoice, "amount_due", currency),
        amount_paid=_money(invoice, "amount_paid", currency),
        amount_remaining=_money(invoice, "amount_remaining", currency),
        project_code=fields.optional_text(
            metadata.get("pshub_project_code"), "Stripe invoice metadata.pshub_project_code"
        ),
        paid_at=_timestamp(transitions, "paid_at", "Stripe invoice status_transitions.paid_at"),
        attempt_count=None
        if attempts is None
        else fields.integer(attempts, "Stripe invoice attempt_count", 0),
        next_payment_attempt=_timestamp(
            invoice, "next_payment_attempt", "Stripe invoice next_payment_attempt"
        ),
    )


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)

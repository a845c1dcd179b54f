"""HubSpot webhooks: v3 signature verification and the batched event array.

HubSpot signs ``method + uri + body + timestamp`` (UTF-8) with HMAC-SHA256 keyed by
the app's client secret, base64-encodes it into ``X-HubSpot-Signature-v3`` and
sends the timestamp (Unix milliseconds) in ``X-HubSpot-Request-Timestamp``; a
request older than 5 minutes must be rejected, and pshub refuses one more than 5 minutes
in the future too (HubSpot's SDK checks only the past): a signature dated ahead would stay
replayable for longer than the window, so the window is symmetric. ``uri`` is the full URL
HubSpot called, with a documented set of percent-encodings decoded first. The body is a
JSON array of up to 100 events, each with its own ``eventId``.

Versions. Webhooks v3 carry no version of the record, only when the change happened; HubSpot
does not deliver in order (retries, batching), so that time is the order:

| platform | scheme | major | minor | tiebreak |
|---|---|---|---|---|
| HubSpot | ``hubspot.occurredAt`` | ``occurredAt``, Unix ms | 0 | ``eventId`` then ``subscriptionId``, each zero-padded to 20 digits |

The tiebreak is made only of fields HubSpot repeats on every retry of an event (so a redelivery
has the same version) and compares as text in the numbers' order (padded to the 20 digits of
a 64-bit id). ``eventId`` alone is "not guaranteed to be unique", and one save can raise
events of several subscriptions in one millisecond (a creation and property changes):
``subscriptionId`` keeps those apart. A property change (``*.propertyChange``) is a version of
that one property only, so changes to different properties never compete; entity sync orders
them per property.

A ``deal.propertyChange`` of ``pshub_change_order_status`` to ``approved`` is a change order
approved on a won deal: a ``ChangeOrderApproved`` with ``complete: false`` naming the deal, whose
terms its workflow's starter reads from the deal.

Creations carry only the record's id. ``company.creation`` becomes a ``ClientUpserted`` with
``change == "created"`` and no ``name`` (and ``deal.creation`` an ``OpportunityUpdated`` with
``change == "created"`` and no ``properties``): ``needs_record_read`` recognises them, so that
the record can be read from HubSpot before identity matches on a name or domain it lacks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline import fastjson
from pshub.pipeline.http import HttpResponse, InboundRequest
from pshub.platforms import fields
from pshub.platforms.base import ACCEPTED, PlatformEvent, canonical_from

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

MAX_AGE_MS = 5 * 60 * 1000  # either way: older, or (a clock ahead, a forged date) newer
VERSION_SCHEME = "hubspot.occurredAt"
# HubSpot's ids are 64-bit integers; bounding them keeps the padded tiebreak in numeric order.
_MAX_ID = 2**64 - 1
SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
DEFAULT_CLOSED_WON_STAGES = "closedwon"
# A deal's change order approved (``pshub.platforms.hubspot.mapping`` holds its properties).
CHANGE_ORDER_STATUS = "pshub_change_order_status"
CHANGE_ORDER_APPROVED = "approved"

# The percent-encodings HubSpot's validation guide says to decode in the URI.
_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signed_uri(url: str) -> str:
    if "%" not in url:
        return url
    for encoded, char in _DECODE.items():
        url = url.replace(encoded, char).replace(encoded.lower(), char)
    return url


def _utf8(text: str) -> bytes:
    # Header values and URLs may hold anything a client sends; never fail on encoding them.
    return text.encode("utf-8", "surrogatepass")


def _events(body: bytes, loads: Callable[[bytes], Any]) -> Any:
    """HubSpot's batch of events in ``body`` as ``loads`` reads it, its shape checked."""
    try:
        events = loads(body)
    except ValueError as exc:
        raise UnparseableBody(f"HubSpot body is not JSON: {exc}") from None
    if not fastjson.is_array(events):
        raise UnparseableBody("HubSpot body is not a JSON array of events")
    for index, event in enumerate(events):
        if not fastjson.is_object(event):
            raise UnparseableBody(f"HubSpot event [{index}] is not an object")
        for key in ("eventId", "subscriptionType", "objectId", "occurredAt"):
            if key not in event:
                raise UnparseableBody(f"HubSpot event [{index}] has no {key!r}")
    return events


def _platform_event(index: int, event: dict[str, Any]) -> PlatformEvent:
    """One event of the batch, its fields of HubSpot's documented types (or ``malformed``)."""
    try:
        portal = fields.integer(event.get("portalId"), f"HubSpot event [{index}] portalId", 0)
        subscription = fields.integer(
            event.get("subscriptionId"), f"HubSpot event [{index}] subscriptionId", 0, _MAX_ID
        )
        event_number = fields.integer(event["eventId"], f"HubSpot event [{index}] eventId", 0, _MAX_ID)
        occurred_ms = fields.integer(event["occurredAt"], f"HubSpot event [{index}] occurredAt", 0)
        occurred_at = fields.epoch_millis(occurred_ms, f"HubSpot event [{index}] occurredAt")
        object_id = fields.identifier(event["objectId"], f"HubSpot event [{index}] objectId")
        kind = fields.text(event["subscriptionType"], f"HubSpot event [{index}] subscriptionType")
    except fields.FieldProblem as problem:
        return PlatformEvent.malformed(_loose_id(index, event), str(problem), event)
    return PlatformEvent(
        # HubSpot says eventId alone is not guaranteed unique; a retry repeats all four.
        event_id=f"{portal}:{subscription}:{event_number}:{occurred_ms}",
        event_type=kind,
        native_id=object_id,
        occurred_at=occurred_at,
        data=event,
    )


def _version(event: PlatformEvent) -> SourceVersion:
    """The event's place in HubSpot's order of changes (see the module docstring)."""
    from pshub.canonical.envelope import SourceVersion

    data: dict[str, Any] = event.data
    where = f"HubSpot event {event.event_id}"
    occurred_ms = fields.integer(data.get("occurredAt"), f"{where} occurredAt", 0)
    event_number = fields.integer(data.get("eventId"), f"{where} eventId", 0, _MAX_ID)
    subscription = fields.integer(data.get("subscriptionId"), f"{where} subscriptionId", 0, _MAX_ID)
    return SourceVersion(
        scheme=VERSION_SCHEME,
        major=occurred_ms,
        minor=0,
        tiebreak=f"{event_number:020d}:{subscription:020d}",
    )


def needs_record_read(event: CanonicalEvent) -> bool:
    """True for a HubSpot creation event, which carries the new record's id and nothing else:
    a ``ClientUpserted`` with ``change == "created"`` and no ``name`` (``company.creation``), or an
    ``OpportunityUpdated`` with ``change == "created"`` and no ``properties`` (``deal.creation``).
    The record must be read from HubSpot before identity runs: matching a client on a name and
    domain it does not carry would mint a new canonical id for a company pshub may already know.
    """
    if event.source_platform != "hubspot" or event.payload.get("change") != "created":
        return False
    if event.event_type == "ClientUpserted":
        return not event.payload.get("name")
    return event.event_type == "OpportunityUpdated" and not event.payload.get("properties")


def _loose_id(index: int, event: dict[str, Any]) -> str:
    """A label for an event whose own ids are unusable: its eventId if it is one, else its position."""
    value = event.get("eventId")
    return f"eventId:{value}" if isinstance(value, int) and not isinstance(value, bool) else f"[{index}]"


def _deal_change(
    event: PlatformEvent, delivery: RawDelivery, options: dict[str, str], name: str, value: str | None
) -> tuple[str, Any]:
    """A deal property's change: a closed-won stage, a change order approved, or an update."""
    from pshub.canonical import envelope as cv

    won_stages = options.get("closed_won_stages", DEFAULT_CLOSED_WON_STAGES).split(",")
    if name == "dealstage" and value is not None and value in won_stages:
        return "OpportunityClosedWon", cv.OpportunityClosedWonV1(
            opportunity_id=event.native_id, stage=value, complete=False
        )
    if name == CHANGE_ORDER_STATUS and (value or "").strip().lower() == CHANGE_ORDER_APPROVED:
        # The signal alone: the change order's terms are read from the deal before it runs.
        return "ChangeOrderApproved", cv.ChangeOrderApprovedV1(
            complete=False, crm_connection=delivery.connection, opportunity_native_id=event.native_id
        )
    return "OpportunityUpdated", cv.OpportunityUpdatedV1(
        opportunity_id=event.native_id, change="updated", properties={name: value}
    )


class HubSpotAdapter:
    platform = "hubspot"

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        signature = request.header(SIGNATURE_HEADER)
        timestamp = request.header(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise SignatureInvalid("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
        # ASCII digits only: int() would also take " 1_795 " or other scripts' digits.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 20):
            raise SignatureInvalid("X-HubSpot-Request-Timestamp is not Unix milliseconds")
        sent_ms = int(timestamp)
        message = request.method.encode() + _utf8(signed_uri(request.url)) + request.body + timestamp.encode()
        expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, _utf8(signature)):
            raise SignatureInvalid(
                "X-HubSpot-Signature-v3 does not match (wrong client secret, altered body, or the URL "
                "HubSpot called differs from the one received)"
            )
        age_ms = int(now * 1000) - sent_ms
        if age_ms > MAX_AGE_MS:
            raise SignatureInvalid(
                f"X-HubSpot-Request-Timestamp is {int(age_ms / 1000)} s old (HubSpot allows 300 s): "
                "possible replay"
            )
        if -age_ms > MAX_AGE_MS:
            raise SignatureInvalid(
                f"X-HubSpot-Request-Timestamp is {int(-age_ms / 1000)} s in the future (300 s are "
                "allowed either way): a clock is wrong (HubSpot's or this host's), or the timestamp "
                "was not HubSpot's"
            )

    # A creation event carries its record's id alone: the normaliser reads the record first.
    needs_record_read = staticmethod(needs_record_read)

    def parse(self, body: bytes) -> Any:
        return _events(body, fastjson.loads_for_shape)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACCEPTED

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        return [
            _platform_event(index, event) for index, event in enumerate(_events(body, fastjson.loads_exact))
        ]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical import envelope as cv

        if event.problem:  # malformed in split: its reason, not a second one
            raise Unmappable(event.problem)
        data: dict[str, Any] = event.data
        options = delivery.options or {}
        portal = options.get("portal_id")
        if portal and str(data.get("portalId")) != portal:
            raise Unmappable(
                f"HubSpot event {event.event_id} is from portal {data.get('portalId')}, "
                f"but connection {delivery.connection!r} is portal {portal}"
            )
        kind = event.event_type
        payload: cv._Payload
        if kind.endswith(".propertyChange"):
            name = fields.text(data.get("propertyName"), f"HubSpot event {event.event_id} propertyName")
            value = fields.optional_text(
                data.get("propertyValue"), f"HubSpot event {event.event_id} propertyValue"
            )
        if kind == "deal.propertyChange":
            event_type, payload = _deal_change(event, delivery, options, name, value)
        elif kind == "deal.creation":
            event_type = "OpportunityUpdated"
            payload = cv.OpportunityUpdatedV1(opportunity_id=event.native_id, change="created", properties={})
        elif kind == "deal.deletion":
            event_type = "OpportunityDeleted"
            payload = cv.OpportunityDeletedV1(opportunity_id=event.native_id)
        elif kind in ("company.creation", "company.propertyChange"):
            event_type = "ClientUpserted"
            properties: dict[str, str | None] = {}
            if kind == "company.propertyChange":
                properties[name] = value
            payload = cv.ClientUpsertedV1(
                client_id=event.native_id,
                change="created" if kind == "company.creation" else "updated",
                name=properties.get("name"),
                web_domain=properties.get("domain"),
                properties=properties,
            )
        elif kind == "company.deletion":
            event_type = "ClientDeleted"
            payload = cv.ClientDeletedV1(client_id=event.native_id)
        else:
            raise Unmappable(f"no mapping for HubSpot subscription type {kind!r}")
        return canonical_from(self.platform, event_type, payload, event, delivery, _version(event))

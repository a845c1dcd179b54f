"""HubSpot webhooks: v3 signature verification and the batched event array.

HubSpot signs ``method + uri + body + timestamp`` (UTF-8) with HMAC-SHA256 keyed by
the app's client secret, base64-encodes it into ``X-HubSpot-Signature-v3`` and
sends the timestamp (Unix milliseconds) in ``X-HubSpot-Request-Timestamp``; a
request older than 5 minutes must be rejected. ``uri`` is the full URL HubSpot
called, with a documented set of percent-encodings decoded first. The body is a
JSON array of up to 100 events, each with its own ``eventId``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pshub import fastjson
from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.http import HttpResponse, InboundRequest
from pshub.platforms.base import ACCEPTED, PlatformEvent, canonical_from

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent
    from pshub.raw_delivery import RawDelivery

MAX_AGE_MS = 5 * 60 * 1000
SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
DEFAULT_CLOSED_WON_STAGES = "closedwon"

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


class HubSpotAdapter:
    platform = "hubspot"

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        signature = request.header(SIGNATURE_HEADER)
        timestamp = request.header(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise SignatureInvalid("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
        try:
            sent_ms = int(timestamp)
        except ValueError:
            raise SignatureInvalid("X-HubSpot-Request-Timestamp is not Unix milliseconds") from None
        message = (
            request.method.encode() + signed_uri(request.url).encode() + request.body + timestamp.encode()
        )
        expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.encode()):
            raise SignatureInvalid(
                "X-HubSpot-Signature-v3 does not match (wrong client secret, altered body, or the URL "
                "HubSpot called differs from the one received)"
            )
        age_ms = now * 1000 - sent_ms
        if age_ms > MAX_AGE_MS:
            raise SignatureInvalid(
                f"X-HubSpot-Request-Timestamp is {int(age_ms / 1000)} s old (HubSpot allows 300 s): "
                "possible replay"
            )

    def parse(self, body: bytes) -> Any:
        return _events(body, fastjson.loads_for_shape)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACCEPTED

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        return [
            PlatformEvent(
                # HubSpot says eventId alone is not guaranteed unique; a retry repeats all four.
                event_id=f"{event.get('portalId')}:{event.get('subscriptionId')}:{event['eventId']}:"
                f"{event['occurredAt']}",
                event_type=str(event["subscriptionType"]),
                native_id=str(event["objectId"]),
                occurred_at=datetime.fromtimestamp(event["occurredAt"] / 1000, UTC),
                data=event,
            )
            for event in _events(body, json.loads)
        ]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical import envelope as cv

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
        if kind == "deal.propertyChange":
            name, value = data.get("propertyName"), data.get("propertyValue")
            won_stages = options.get("closed_won_stages", DEFAULT_CLOSED_WON_STAGES).split(",")
            if name == "dealstage" and value in won_stages:
                event_type = "OpportunityClosedWon"
                payload = cv.OpportunityClosedWonV1(
                    opportunity_id=event.native_id, stage=str(value), complete=False
                )
            else:
                event_type = "OpportunityUpdated"
                payload = cv.OpportunityUpdatedV1(
                    opportunity_id=event.native_id, change="updated", properties={str(name): value}
                )
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
                properties[str(data.get("propertyName"))] = data.get("propertyValue")
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
        return canonical_from(self.platform, event_type, payload, event, delivery)

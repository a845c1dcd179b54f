"""What every platform adapter provides: verify, parse, acknowledge, split, map.

One module per platform implements this for the platform's real webhook format and
signature scheme; adding a platform means adding a module and registering it in
``pshub.platforms``, not editing the ingress or the normaliser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pshub.connections import Connection
from pshub.pipeline.http import HttpResponse, InboundRequest

if TYPE_CHECKING:  # pydantic stays off the ingress cold start
    from pshub.canonical.envelope import CanonicalEvent, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

ACCEPTED = HttpResponse.json(200, {"status": "accepted"})


@dataclass(frozen=True)
class PlatformEvent:
    """One event inside a delivery, in the platform's own terms."""

    event_id: str  # the platform's own id: the idempotency key
    event_type: str  # the platform's own type name
    native_id: str  # id of the record the event is about
    occurred_at: datetime | None
    data: Any
    # Set when the event's own fields are malformed (an id of the wrong type, a timestamp
    # that is not one): the event is parked with this reason, the rest of its batch goes on.
    problem: str | None = None

    @classmethod
    def malformed(cls, event_id: str, problem: str, data: Any = None) -> PlatformEvent:
        """An event of a batch that cannot be read: parked with ``problem``, never mapped."""
        return cls(
            event_id=event_id, event_type="", native_id="", occurred_at=None, data=data, problem=problem
        )


class PlatformAdapter(Protocol):
    platform: str

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        """Raise ``SignatureInvalid`` unless the request is authentic and fresh."""

    def parse(self, body: bytes) -> Any:
        """The ingress's check: raise ``UnparseableBody`` unless the body is in the platform's
        format. For shape only; ``split`` reads the values (exactly) in the normaliser."""

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        """The response the platform expects once the delivery is stored."""

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        """The events a delivery carries (a HubSpot batch, Salesforce notifications).

        Raises ``UnparseableBody`` or ``Unmappable`` when the delivery as a whole cannot be
        read; an event of a batch whose own fields are malformed comes back ``malformed``.
        Pure: reads only ``body``, so whatever it raises is the same on every retry.
        """

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        """Canonical events for one platform event; raise ``Unmappable`` with the reason. Pure."""


def canonical_from(
    platform: str,
    event_type: str,
    payload: Any,
    event: PlatformEvent,
    delivery: RawDelivery,
    source_version: SourceVersion | None = None,
) -> list[CanonicalEvent]:
    """The canonical event for one platform event, stamped with where and when it came from.

    An event about an entity must carry the platform's own version of the change: entity sync
    orders changes by it, and a version made up here (the time pshub saw it) could put a stale
    change after a newer one. Without one, it is refused, not guessed.
    """
    from pshub.canonical.envelope import ENTITY_EVENT_TYPES, make_event
    from pshub.errors import Unmappable

    if event.occurred_at is None or event.problem:
        raise Unmappable(event.problem or f"{platform} event {event.event_id} has no time it occurred")
    if source_version is None and event_type in ENTITY_EVENT_TYPES:
        raise Unmappable(f"{platform} event {event.event_id} ({event_type}) has no version of its record")
    return [
        make_event(
            event_type,
            payload,
            connection=delivery.connection,
            source_platform=platform,
            source_native_id=event.native_id,
            source_event_id=event.event_id,
            occurred_at=event.occurred_at,
            correlation_id=delivery.correlation_id,
            legal_entity=delivery.legal_entity,
            source_version=source_version,
        )
    ]


POLL_FORMAT = 1  # the ``pshub_poll`` version of a polled page (``pshub.pipeline.poller``)


class PolledAdapter:
    """What every adapter of a platform pshub polls shares: it takes no webhooks (its raw
    deliveries are the poller's pages, put on the raw queue directly), and a page's shape is
    pshub's own (``{"pshub_poll": 1, "object_type", "records": [...], "deleted": [...]}``)."""

    platform: str
    title: str  # the platform's name in messages
    polled: str  # what is polled, in messages ("its time entries are polled")

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        from pshub.errors import SignatureInvalid

        raise SignatureInvalid(
            f"connection {connection.id!r} is {self.title}, which sends no webhooks: {self.polled} and "
            "reach the raw queue from the poller, never through POST /webhooks"
        )

    def parse(self, body: bytes) -> Any:
        from pshub.pipeline import fastjson

        return self.page(body, fastjson.loads_for_shape)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACCEPTED  # never sent: verify refuses every request

    def page(self, body: bytes, loads: Callable[[bytes], Any]) -> Any:
        """The poller's page in ``body``, its shape checked (``UnparseableBody`` naming what is wrong)."""
        from pshub.errors import UnparseableBody
        from pshub.pipeline import fastjson

        try:
            page = loads(body)
        except ValueError as exc:
            raise UnparseableBody(f"{self.title} poll page is not JSON: {exc}") from None
        if not fastjson.is_object(page) or page.get("pshub_poll") != POLL_FORMAT:
            raise UnparseableBody(
                f'not a pshub poll page (expected an object with "pshub_poll": {POLL_FORMAT}); '
                f"{self.title} itself sends nothing to pshub"
            )
        if not isinstance(page.get("object_type"), str):
            raise UnparseableBody(f"{self.title} poll page has no object_type")
        if not fastjson.is_array(page.get("records")):
            raise UnparseableBody(f"{self.title} poll page has no records array")
        deleted = page.get("deleted")
        if deleted is not None and not fastjson.is_array(deleted):
            raise UnparseableBody(f"{self.title} poll page's deleted is not an array")
        return page

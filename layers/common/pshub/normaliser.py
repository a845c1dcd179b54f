"""Normaliser logic: raw deliveries in, canonical events on the bus, exactly once.

Per delivery: split it into the platform's events; claim each event on its own
id (a redelivered webhook finds its claim COMPLETED and publishes nothing); map
the new ones; publish them together in PutEvents batches; then complete the
claims. What cannot be mapped is parked with its reason, never dropped, and its
claim released so a redrive after a mapping fix is processed. What fails for a
transient reason raises, so SQS redelivers the record (partial batch failure)
and, after 5 attempts, moves it to the DLQ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from pshub.canonical.envelope import CanonicalEvent
from pshub.dal.archive import RawArchive
from pshub.dal.bodies import DeliveryBodies
from pshub.dal.event_bus import EventBusPublisher
from pshub.dal.event_claims import Claim, PlatformEventClaims
from pshub.dal.raw_queue import ParkingQueue
from pshub.entity_sync import ENTITY_EVENTS, EntitySync
from pshub.errors import PshubError, TransientError, Unmappable, UnparseableBody
from pshub.observability import logger, metrics
from pshub.platforms import PlatformEvent, adapter_for
from pshub.raw_delivery import RawDelivery

_IN_FLIGHT = object()  # another invocation holds this platform event right now


@dataclass(frozen=True)
class Staged:
    """A platform event ready to publish: its canonical events, and whether it holds a lock."""

    platform_event: PlatformEvent
    events: list[CanonicalEvent]
    locked: bool


@dataclass
class DeliveryOutcome:
    delivery_id: str
    published: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)
    stale: int = 0
    echoes: int = 0
    conflicts: int = 0


class DeliveryNormaliser:
    def __init__(
        self,
        bodies: DeliveryBodies,
        claims: PlatformEventClaims,
        publisher: EventBusPublisher,
        parking: ParkingQueue,
        archive: RawArchive,
        entity_sync: EntitySync,
    ) -> None:
        self._entity_sync = entity_sync
        self._bodies = bodies
        self._claims = claims
        self._publisher = publisher
        self._parking = parking
        self._archive = archive

    def archive(self, messages: Sequence[str]) -> None:
        """Archive the raw-queue messages as raw-delivery documents, one per line."""
        self._archive.put([RawDelivery.archive_line(message) for message in messages])

    def normalise(self, message_body: str, remaining_ms: Callable[[], int]) -> DeliveryOutcome:
        try:
            delivery = RawDelivery.from_message(message_body)
        except (ValueError, TypeError) as exc:
            # Not ours to map, but never dropped: the parking queue keeps the text.
            logger.error("message on the raw queue is not a raw delivery", extra={"detail": str(exc)})
            self._parking.park_text(message_body, "not_a_raw_delivery", str(exc))
            metrics.add_metric(name="DeliveryParked", unit="Count", value=1)
            return DeliveryOutcome(delivery_id="")
        logger.set_correlation_id(delivery.correlation_id)
        logger.append_keys(connection=delivery.connection, delivery_id=delivery.delivery_id)
        outcome = DeliveryOutcome(delivery_id=delivery.delivery_id)

        try:
            adapter = adapter_for(delivery.platform)
        except PshubError as error:
            self._park(delivery, "unknown_platform", error.message, None, outcome)
            return outcome
        try:
            platform_events = adapter.split(self._bodies.load(delivery), delivery.connection)
        except (UnparseableBody, Unmappable) as error:
            self._park(delivery, error.code, error.message, None, outcome)
            return outcome

        staged: list[Staged] = []
        in_flight: list[str] = []
        for event in platform_events:
            try:
                canonical = self._map(adapter.to_canonical, event, delivery)
            except Unmappable as error:
                self._park(delivery, error.code, error.message, event.event_id, outcome)
                continue
            if canonical and all(c.event_type in ENTITY_EVENTS for c in canonical):
                ready = self._stage_entity_change(event, canonical, delivery, outcome)
            else:
                ready = self._stage_fact(event, canonical, delivery, outcome, remaining_ms)
            if ready is _IN_FLIGHT:
                in_flight.append(event.event_id)
            elif isinstance(ready, Staged):
                staged.append(ready)

        self._publish(delivery, staged, outcome)
        _count(outcome)
        if in_flight:
            raise TransientError(f"platform events {in_flight} are being processed by another invocation")
        return outcome

    def _stage_entity_change(
        self,
        event: PlatformEvent,
        canonical: list[CanonicalEvent],
        delivery: RawDelivery,
        outcome: DeliveryOutcome,
    ) -> Staged | object | None:
        """An entity's state change: 2 writes on the common path.

        Its sync state, saved before publishing with this event's version, makes a retry
        after a failed publish re-apply and publish; the completion record, written after,
        makes a redelivery a duplicate; a concurrent duplicate finds its version already
        applied by the other invocation and backs off. No separate in-progress lock.
        """
        if self._claims.completed(delivery.connection, event.event_id):
            outcome.duplicates.append(event.event_id)
            return None
        publishable, applied_elsewhere = self._sync(canonical, delivery, outcome)
        if applied_elsewhere:
            return _IN_FLIGHT
        return Staged(event, publishable, locked=False)

    def _stage_fact(
        self,
        event: PlatformEvent,
        canonical: list[CanonicalEvent],
        delivery: RawDelivery,
        outcome: DeliveryOutcome,
        remaining_ms: Callable[[], int],
    ) -> Staged | object | None:
        """A fact (an invoice paid): claimed in progress first (Powertools), so it is published once."""
        claim = self._claims.claim(delivery.connection, event.event_id, remaining_ms)
        if claim is Claim.DONE:
            outcome.duplicates.append(event.event_id)
            return None
        if claim is Claim.IN_FLIGHT:
            return _IN_FLIGHT
        try:
            publishable, _ = self._sync(canonical, delivery, outcome)
        except Exception as error:
            self._claims.release(delivery.connection, event.event_id, error)
            raise
        return Staged(event, publishable, locked=True)

    def _sync(
        self, events: list[CanonicalEvent], delivery: RawDelivery, outcome: DeliveryOutcome
    ) -> tuple[list[CanonicalEvent], bool]:
        """Identity, echo, ownership and ordering: what survives is published.

        Also says whether another invocation applied the very same event meanwhile.
        """
        publishable: list[CanonicalEvent] = []
        applied_elsewhere = False
        for event in events:
            decision = self._entity_sync.apply(event, delivery.role or "")
            outcome.stale += len(decision.stale)
            outcome.echoes += len(decision.echoes)
            outcome.conflicts += len(decision.conflicts)
            if decision.stale or decision.echoes or decision.conflicts:
                logger.info(
                    "attribute changes not propagated",
                    extra={
                        "event_id": event.event_id,
                        "canonical_id": decision.canonical_id,
                        "stale": sorted(decision.stale),
                        "echoes": sorted(decision.echoes),
                        "ownership_conflicts": sorted(decision.conflicts),
                    },
                )
            applied_elsewhere = applied_elsewhere or decision.applied_elsewhere
            if decision.publish is not None:
                publishable.append(decision.publish)
        return publishable, applied_elsewhere

    @staticmethod
    def _map(
        to_canonical: Callable[[PlatformEvent, RawDelivery], list[CanonicalEvent]],
        event: PlatformEvent,
        delivery: RawDelivery,
    ) -> list[CanonicalEvent]:
        try:
            return to_canonical(event, delivery)
        except Unmappable:
            raise
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            raise Unmappable(
                f"{delivery.platform} {event.event_type} event {event.event_id} does not fit the canonical "
                f"model: {exc}"
            ) from exc

    def _publish(self, delivery: RawDelivery, staged: list[Staged], outcome: DeliveryOutcome) -> None:
        if not staged:
            return
        try:
            failed = self._publisher.publish([event for item in staged for event in item.events])
        except Exception as error:
            self._release(delivery, staged, error)
            raise
        refused_items = []
        for item in staged:
            ids = [event.event_id for event in item.events]
            refused = [failed[i] for i in ids if i in failed]
            if refused:
                refused_items.append(item)
                continue
            self._claims.complete(delivery.connection, item.platform_event.event_id, ids)
            outcome.published += ids
            for event in item.events:
                logger.info(
                    "canonical event published",
                    extra={
                        "event_type": event.event_type,
                        "event_id": event.event_id,
                        "source_native_id": event.source_native_id,
                    },
                )
        if outcome.published:
            metrics.add_metric(name="CanonicalEventPublished", unit="Count", value=len(outcome.published))
        if failed:
            refusal = TransientError(
                f"EventBridge refused {len(failed)} event(s): {next(iter(failed.values()))}"
            )
            self._release(delivery, refused_items, refusal)
            raise refusal

    def _release(self, delivery: RawDelivery, items: list[Staged], error: Exception) -> None:
        """Let a retry process these again (entity changes need nothing: their state re-applies)."""
        for item in items:
            if item.locked:
                self._claims.release(delivery.connection, item.platform_event.event_id, error)

    def _park(
        self, delivery: RawDelivery, code: str, reason: str, event_id: str | None, outcome: DeliveryOutcome
    ) -> None:
        logger.warning(
            "delivery parked for a person",
            extra={"reason": code, "detail": reason, "platform_event_id": event_id},
        )
        self._parking.park(delivery, code, reason, platform_event_id=event_id)
        outcome.parked.append(event_id or delivery.delivery_id)
        metrics.add_metric(name="DeliveryParked", unit="Count", value=1)


def _count(outcome: DeliveryOutcome) -> None:
    for name, count in (
        ("StaleUpdate", outcome.stale),
        ("EchoSuppressed", outcome.echoes),
        ("OwnershipConflict", outcome.conflicts),
        ("DuplicateSuppressed", len(outcome.duplicates)),
    ):
        if count:
            metrics.add_metric(name=name, unit="Count", value=count)
    if outcome.duplicates:
        logger.info("redelivered platform events suppressed", extra={"event_ids": outcome.duplicates})

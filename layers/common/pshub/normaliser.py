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
from pshub.entity_sync import EntitySync
from pshub.errors import PshubError, TransientError, Unmappable, UnparseableBody
from pshub.observability import logger, metrics
from pshub.platforms import PlatformEvent, adapter_for
from pshub.raw_delivery import RawDelivery


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

    def archive(self, raw_deliveries: Sequence[str]) -> None:
        self._archive.put(raw_deliveries)

    def normalise(self, message_body: str, remaining_ms: Callable[[], int]) -> DeliveryOutcome:
        try:
            delivery = RawDelivery.from_json(message_body)
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

        claimed: list[tuple[PlatformEvent, list[CanonicalEvent]]] = []
        in_flight: list[str] = []
        for event in platform_events:
            claim = self._claims.claim(delivery.connection, event.event_id, remaining_ms)
            if claim is Claim.DONE:
                outcome.duplicates.append(event.event_id)
                continue
            if claim is Claim.IN_FLIGHT:
                in_flight.append(event.event_id)
                continue
            try:
                canonical = self._sync(self._map(adapter.to_canonical, event, delivery), delivery, outcome)
            except Unmappable as error:
                self._claims.release(delivery.connection, event.event_id, error)
                self._park(delivery, error.code, error.message, event.event_id, outcome)
                continue
            except Exception as error:
                self._claims.release(delivery.connection, event.event_id, error)
                raise
            claimed.append((event, canonical))

        self._publish(delivery, claimed, outcome)
        for name, count in (
            ("StaleUpdate", outcome.stale),
            ("EchoSuppressed", outcome.echoes),
            ("OwnershipConflict", outcome.conflicts),
        ):
            if count:
                metrics.add_metric(name=name, unit="Count", value=count)
        if outcome.duplicates:
            logger.info("redelivered platform events suppressed", extra={"event_ids": outcome.duplicates})
            metrics.add_metric(name="DuplicateSuppressed", unit="Count", value=len(outcome.duplicates))
        if in_flight:
            raise TransientError(f"platform events {in_flight} are being processed by another invocation")
        return outcome

    def _sync(
        self, events: list[CanonicalEvent], delivery: RawDelivery, outcome: DeliveryOutcome
    ) -> list[CanonicalEvent]:
        """Identity, echo, ownership and ordering: what survives is published."""
        publishable: list[CanonicalEvent] = []
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
            if decision.publish is not None:
                publishable.append(decision.publish)
        return publishable

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

    def _publish(
        self,
        delivery: RawDelivery,
        claimed: list[tuple[PlatformEvent, list[CanonicalEvent]]],
        outcome: DeliveryOutcome,
    ) -> None:
        if not claimed:
            return
        if not any(events for _, events in claimed):
            for platform_event, _ in claimed:  # processed: nothing left to propagate
                self._claims.complete(delivery.connection, platform_event.event_id, [])
            return
        try:
            failed = self._publisher.publish([event for _, events in claimed for event in events])
        except Exception as error:
            for platform_event, _ in claimed:
                self._claims.release(delivery.connection, platform_event.event_id, error)
            raise
        for platform_event, events in claimed:
            ids = [event.event_id for event in events]
            refused = [failed[i] for i in ids if i in failed]
            if refused:
                self._claims.release(delivery.connection, platform_event.event_id, TransientError(refused[0]))
                continue
            self._claims.complete(delivery.connection, platform_event.event_id, ids)
            outcome.published += ids
            for event in events:
                logger.info(
                    "canonical event published",
                    extra={
                        "event_type": event.event_type,
                        "event_id": event.event_id,
                        "source_native_id": event.source_native_id,
                    },
                )
        metrics.add_metric(name="CanonicalEventPublished", unit="Count", value=len(outcome.published))
        if failed:
            raise TransientError(f"EventBridge refused {len(failed)} event(s): {next(iter(failed.values()))}")

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

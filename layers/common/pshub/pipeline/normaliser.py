"""Normaliser logic: raw deliveries in, canonical events on the bus, exactly once.

Per delivery: split it into the platform's events; map each; an event about an
entity goes through entity sync (identity, echo, ownership, ordering), whose saved
state holds the event's publication lease; a fact is claimed on its own id
(Powertools idempotency records: a redelivered webhook finds its claim COMPLETED).
The survivors are published together in PutEvents batches, and each platform event
is marked done the moment the call carrying it returns, so a retry after a throttled
later call re-sends only what was not sent. What cannot be mapped is parked with its reason, never dropped, and its
claim released so a redrive after a mapping fix is processed. What fails for a
transient reason raises, so SQS redelivers the record (partial batch failure)
and, after 5 attempts, moves it to the DLQ.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from pshub.canonical.envelope import CanonicalEvent
from pshub.canonical.model import amounts_beyond
from pshub.errors import PermanentError, PshubError, TransientError, Unmappable, UnparseableBody
from pshub.kpis import DELIVERIES_RECEIVED
from pshub.observability import logger, metrics

if TYPE_CHECKING:
    from pshub.pipeline.enrichment import RecordReader
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import PlatformEvent, adapter_for
from pshub.platforms.fields import FieldProblem
from pshub.store.archive import RawArchive
from pshub.store.bodies import DeliveryBodies
from pshub.store.event_bus import MAX_REQUEST_BYTES, EventBusPublisher, entry_size
from pshub.store.event_claims import Claim, PlatformEventClaims
from pshub.store.raw_queue import ParkingQueue
from pshub.sync.entity_sync import EntitySync, SyncDecision, attribute_problem, entity_of

_IN_FLIGHT = object()  # another invocation holds this platform event right now
# The largest amount (in major units) an event may carry unless configured otherwise.
DEFAULT_MONEY_LIMIT = Decimal("1000000000000")


class _Refused(Exception):
    """This platform event can never be published as it is: park it (code, reason)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Staged:
    """A platform event ready to publish: its canonical events, and what settles them.

    ``locked``: it holds a fact claim (completed or released); ``leases``: the entity-sync
    decisions whose publication leases are ended once the events are on the bus.
    """

    platform_event: PlatformEvent
    events: list[CanonicalEvent]
    locked: bool
    leases: list[tuple[CanonicalEvent, SyncDecision]] = field(default_factory=list)


@dataclass
class DeliveryOutcome:
    delivery_id: str
    published: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)
    stale: int = 0
    echoes: int = 0
    conflicts: int = 0
    # Platform event id -> what became of it: "published", "duplicate", "parked", or
    # "not_propagated" (every change stale, an echo or an ownership conflict). A delivery
    # parked whole is under its delivery id. Every event of a delivery ends in one of these.
    settled: dict[str, str] = field(default_factory=dict)


class DeliveryNormaliser:
    def __init__(
        self,
        bodies: DeliveryBodies,
        claims: PlatformEventClaims,
        publisher: EventBusPublisher,
        parking: ParkingQueue,
        archive: RawArchive,
        entity_sync: EntitySync,
        money_limit: Decimal = DEFAULT_MONEY_LIMIT,
        record_reader: RecordReader | None = None,
    ) -> None:
        self._record_reader = record_reader
        self._entity_sync = entity_sync
        self._money_limit = money_limit
        self._bodies = bodies
        self._claims = claims
        self._publisher = publisher
        self._parking = parking
        self._archive = archive
        self._received: Counter[str] = Counter()  # connection -> deliveries taken in, this batch

    def archive(self, messages: Sequence[str]) -> None:
        """Archive the raw-queue messages as raw-delivery documents, one per line."""
        self._archive.put([RawDelivery.archive_line(message) for message in messages])

    def count_received(self) -> dict[str, int]:
        """Emit ``DeliveriesReceived`` per connection for the deliveries taken in since the last
        call (one metric line per connection per batch, not per delivery); returns the counts."""
        counts = dict(self._received)
        self._received.clear()
        for connection, count in sorted(counts.items()):
            DELIVERIES_RECEIVED.emit(count, connection=connection)
        return counts

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
        self._received[delivery.connection] += 1
        outcome = DeliveryOutcome(delivery_id=delivery.delivery_id)

        try:
            adapter = adapter_for(delivery.platform)
        except PshubError as error:
            self._park(delivery, "unknown_platform", error.message, None, outcome)
            return outcome
        body = self._bodies.load(delivery)  # S3 for a claim check: an outage here is worth a retry
        try:
            platform_events = adapter.split(body, delivery.connection)
        except (UnparseableBody, Unmappable) as error:
            self._park(delivery, error.code, error.message, None, outcome)
            return outcome
        except Exception as error:  # split is pure: the same error on every retry
            self._park(
                delivery, Unmappable.code, _unexpected(delivery.platform, "reading", error), None, outcome
            )
            return outcome

        staged: list[Staged] = []
        in_flight: list[str] = []
        seen: set[str] = set()
        for event in platform_events:
            if event.event_id in seen and not event.problem:
                # The same event twice in one batch: once is the event, twice is not news.
                outcome.duplicates.append(event.event_id)
                continue
            seen.add(event.event_id)
            try:
                ready = self._stage(self._mapper(adapter, delivery), event, delivery, outcome, remaining_ms)
            except _Refused as refused:
                self._park(delivery, refused.code, refused.reason, event.event_id, outcome)
                continue
            if ready is _IN_FLIGHT:
                in_flight.append(event.event_id)
            elif isinstance(ready, Staged):
                staged.append(ready)

        self._publish(delivery, staged, outcome)
        _count(outcome)
        if in_flight:
            raise TransientError(f"platform events {in_flight} are being processed by another invocation")
        return outcome

    def _stage(
        self,
        to_canonical: Callable[[PlatformEvent, RawDelivery], list[CanonicalEvent]],
        event: PlatformEvent,
        delivery: RawDelivery,
        outcome: DeliveryOutcome,
        remaining_ms: Callable[[], int],
    ) -> Staged | object | None:
        """One platform event mapped, checked and synced; ``_Refused`` if it can never be published."""
        if event.problem:
            raise _Refused(Unmappable.code, event.problem)
        canonical = self._map(to_canonical, event, delivery)
        self._check_publishable(canonical)
        if canonical and all(entity_of(c) is not None for c in canonical):
            return self._stage_entity_change(event, canonical, delivery, outcome, remaining_ms)
        return self._stage_fact(event, canonical, delivery, outcome, remaining_ms)

    def _mapper(
        self, adapter: Any, delivery: RawDelivery
    ) -> Callable[[PlatformEvent, RawDelivery], list[CanonicalEvent]]:
        """The adapter's mapping; for a platform whose notifications carry only ids (an expense
        report approved), its ``read_and_map`` through the connection's own connector."""
        if not getattr(adapter, "reads_records", False) or self._record_reader is None:
            return adapter.to_canonical  # type: ignore[no-any-return]
        reader = self._record_reader

        def read_and_map(event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
            connector = reader.connector_for(delivery.connection, delivery.role or "")
            result: list[CanonicalEvent] = adapter.read_and_map(event, delivery, connector)
            return result

        return read_and_map

    def _read_record(self, event: CanonicalEvent) -> CanonicalEvent:
        """The event with its record read from the platform, if it came as an id alone.

        A transient failure raises (the message is retried); a permanent one (credentials
        refused, a record pshub cannot map) parks the delivery with its reason, to replay.
        """
        assert self._record_reader is not None
        try:
            return self._record_reader(event)
        except PermanentError as error:
            raise _Refused(
                "record_unreadable",
                f"{event.event_type} for {event.source_native_id} carries only an id, and the record "
                f"could not be read from {event.source_platform}: {error}",
            ) from error

    def _check_publishable(self, events: list[CanonicalEvent]) -> None:
        for event in events:
            beyond = amounts_beyond(event.payload, self._money_limit)
            if beyond:
                raise _Refused(
                    "amount_out_of_range",
                    f"{event.event_type} {', '.join(beyond)}: beyond the configured ceiling of "
                    f"{self._money_limit:,} in any currency (MAX_MONEY_AMOUNT); refused, not rounded",
                )
            size = entry_size(event)
            if size > MAX_REQUEST_BYTES:
                raise _Refused(
                    "event_too_large",
                    f"{event.event_type} would be {size:,} bytes; EventBridge takes {MAX_REQUEST_BYTES:,}",
                )

    def _stage_entity_change(
        self,
        event: PlatformEvent,
        canonical: list[CanonicalEvent],
        delivery: RawDelivery,
        outcome: DeliveryOutcome,
        remaining_ms: Callable[[], int],
    ) -> Staged | object | None:
        """An entity's state change: 2 reads (its identity, its state) and 2 writes on the common path.

        Its sync state, saved before publishing with this event's version and a lease, is
        the claim: a redelivery after publishing finds the version applied and no lease (a
        duplicate); a concurrent duplicate finds the lease held (retry later); a retry after
        a failed publish finds it expired and publishes. Ending the lease is the completion.
        """
        if self._record_reader is not None:
            canonical = [self._read_record(c) for c in canonical]
        publishable, leases, state = self._refusing_invalid_records(
            self._sync, canonical, delivery, outcome, remaining_ms
        )
        if state == "in_flight":
            self._end_leases(leases, published=False)
            return _IN_FLIGHT
        if state == "duplicate":
            outcome.duplicates.append(event.event_id)
            outcome.settled[event.event_id] = "duplicate"
            return None
        return Staged(event, publishable, locked=False, leases=leases)

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
            outcome.settled[event.event_id] = "duplicate"
            return None
        if claim is Claim.IN_FLIGHT:
            return _IN_FLIGHT
        try:
            publishable, leases, _ = self._refusing_invalid_records(
                self._sync, canonical, delivery, outcome, remaining_ms
            )
        except Exception as error:
            self._claims.release(delivery.connection, event.event_id, error)
            raise
        return Staged(event, publishable, locked=True, leases=leases)

    def _refusing_invalid_records(
        self,
        sync: Callable[
            [list[CanonicalEvent], RawDelivery, DeliveryOutcome, Callable[[], int]],
            tuple[list[CanonicalEvent], list[tuple[CanonicalEvent, SyncDecision]], str],
        ],
        events: list[CanonicalEvent],
        delivery: RawDelivery,
        outcome: DeliveryOutcome,
        remaining_ms: Callable[[], int],
    ) -> tuple[list[CanonicalEvent], list[tuple[CanonicalEvent, SyncDecision]], str]:
        for event in events:
            problem = attribute_problem(event, self._entity_sync.policy)
            if problem:
                raise _Refused(Unmappable.code, problem)
        try:
            return sync(events, delivery, outcome, remaining_ms)
        except ClientError as error:
            # DynamoDB answers ValidationException for a record it will never store (an item
            # over 400 KB): deterministic, so parked; throttling and outages still raise.
            details = error.response.get("Error", {})
            if details.get("Code") != "ValidationException":
                raise
            raise _Refused(
                "record_refused",
                f"DynamoDB refused the entity's sync record: {details.get('Message', '')[:200]}",
            ) from error

    def _sync(
        self,
        events: list[CanonicalEvent],
        delivery: RawDelivery,
        outcome: DeliveryOutcome,
        remaining_ms: Callable[[], int],
    ) -> tuple[list[CanonicalEvent], list[tuple[CanonicalEvent, SyncDecision]], str]:
        """Identity, echo, ownership and ordering: what survives is published.

        Also says how the platform event stands: "in_flight" (another invocation is
        publishing one of its events), "duplicate" (every event applied and settled
        before) or "new".
        """
        publishable: list[CanonicalEvent] = []
        leases: list[tuple[CanonicalEvent, SyncDecision]] = []
        in_flight = False
        duplicates = 0
        for event in events:
            # The lease outlives this invocation: a retry after a crash takes over only then.
            decision = self._entity_sync.apply(event, delivery.role or "", lease_ms=max(remaining_ms(), 1000))
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
            in_flight = in_flight or decision.applied_elsewhere
            duplicates += decision.duplicate
            if decision.lease is not None:
                leases.append((event, decision))
            if decision.publish is not None:
                publishable.append(decision.publish)
        state = "in_flight" if in_flight else "duplicate" if events and duplicates == len(events) else "new"
        return publishable, leases, state

    @staticmethod
    def _map(
        to_canonical: Callable[[PlatformEvent, RawDelivery], list[CanonicalEvent]],
        event: PlatformEvent,
        delivery: RawDelivery,
    ) -> list[CanonicalEvent]:
        try:
            return to_canonical(event, delivery)
        except TransientError:
            raise  # a read of the record that may work next time (throttled, an outage): retried
        except Unmappable as error:
            raise _Refused(error.code, error.message) from error
        except (ValidationError, FieldProblem) as error:
            # Safe to quote: field problems name no values, and of a validation error only the
            # location and message are taken (never its "input").
            problem = str(error) if isinstance(error, FieldProblem) else _summary(error)
            raise _Refused(
                Unmappable.code,
                f"{delivery.platform} {event.event_type} event {event.event_id} does not fit the canonical "
                f"model: {problem}",
            ) from error
        except Exception as error:  # to_canonical is pure: the same error on every retry
            raise _Refused(Unmappable.code, _unexpected(delivery.platform, "mapping", error)) from error

    def _publish(self, delivery: RawDelivery, staged: list[Staged], outcome: DeliveryOutcome) -> None:
        if not staged:
            return
        done: set[int] = set()

        def sent(index: int) -> None:
            item = staged[index]
            ids = [event.event_id for event in item.events]
            if item.locked:
                self._complete_claim(delivery, item, ids)
            self._end_leases(item.leases, published=True)
            done.add(index)
            outcome.published += ids
            outcome.settled[item.platform_event.event_id] = "published" if ids else "not_propagated"
            for event in item.events:
                logger.info(
                    "canonical event published",
                    extra={
                        "event_type": event.event_type,
                        "event_id": event.event_id,
                        "source_native_id": event.source_native_id,
                    },
                )

        try:
            failed = self._publisher.publish_groups([item.events for item in staged], sent)
        except Exception as error:
            self._release(delivery, [item for i, item in enumerate(staged) if i not in done], error)
            raise
        finally:
            if outcome.published:
                metrics.add_metric(name="CanonicalEventPublished", unit="Count", value=len(outcome.published))
        if failed:
            refusal = TransientError(
                f"EventBridge refused {len(failed)} event(s): {next(iter(failed.values()))}"
            )
            self._release(delivery, [item for i, item in enumerate(staged) if i not in done], refusal)
            raise refusal

    def _complete_claim(self, delivery: RawDelivery, item: Staged, ids: list[str]) -> None:
        """Mark a fact's claim completed; like a lease, a failure is logged and its claim runs out."""
        try:
            self._claims.complete(delivery.connection, item.platform_event.event_id, ids)
        except Exception as error:
            logger.warning(
                "fact claim not completed; it runs out by itself",
                extra={"platform_event_id": item.platform_event.event_id, "error": type(error).__name__},
            )
            metrics.add_metric(name="LeaseNotSettled", unit="Count", value=1)

    def _end_leases(self, leases: list[tuple[CanonicalEvent, SyncDecision]], *, published: bool) -> None:
        """Settle the publication leases; a failure here is logged, never raised.

        Raising after a publish would make SQS redeliver at once and publish again. A lease
        left standing only makes a later redelivery wait for it to run out and then publish
        the same canonical event (same id, absorbed by consumers' inboxes); an abandoned
        lease left standing is taken over when it runs out.
        """
        for event, decision in leases:
            try:
                if published:
                    self._entity_sync.complete(event, decision)
                else:
                    self._entity_sync.abandon(event, decision)
            except Exception as error:
                logger.warning(
                    "publication lease not settled; it runs out by itself",
                    extra={"event_id": event.event_id, "published": published, "error": type(error).__name__},
                )
                metrics.add_metric(name="LeaseNotSettled", unit="Count", value=1)

    def _release(self, delivery: RawDelivery, items: list[Staged], error: Exception) -> None:
        """Let a retry publish these: fact claims released, entity leases expired."""
        for item in items:
            if item.locked:
                self._claims.release(delivery.connection, item.platform_event.event_id, error)
            self._end_leases(item.leases, published=False)

    def _park(
        self, delivery: RawDelivery, code: str, reason: str, event_id: str | None, outcome: DeliveryOutcome
    ) -> None:
        logger.warning(
            "delivery parked for a person",
            extra={"reason": code, "detail": reason, "platform_event_id": event_id},
        )
        self._parking.park(delivery, code, reason, platform_event_id=event_id)
        outcome.parked.append(event_id or delivery.delivery_id)
        outcome.settled[event_id or delivery.delivery_id] = "parked"
        metrics.add_metric(name="DeliveryParked", unit="Count", value=1)


def _summary(error: ValidationError) -> str:
    """``model field: message; ...`` of a validation error, without the values it refused."""
    return "; ".join(
        f"{error.title} {'.'.join(str(part) for part in item['loc']) or '(whole)'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    )


def _unexpected(platform: str, doing: str, error: Exception) -> str:
    """A reason for an error the adapter did not foresee: its type and where, not its message
    (messages such as ``Invalid isoformat string: '...'`` quote the input)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"the {platform} adapter failed {doing} the delivery: {type(error).__name__}{where}"


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

"""Exactly-once publishing of entity changes: the interleavings that once published twice.

A duplicate delivery while the first is publishing; a throttled second PutEvents call; a
failed completion write; a replay after the idempotency records' 7 days; and a
concurrent duplicate applying between our read and our write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from pshub.canonical.envelope import CanonicalEvent, ClientUpsertedV1, make_event
from pshub.errors import TransientError
from pshub.pipeline.normaliser import DeliveryNormaliser
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.store.archive import RawArchive
from pshub.store.bodies import DeliveryBodies
from pshub.store.event_bus import EventBusPublisher
from pshub.store.event_claims import PlatformEventClaims
from pshub.store.identity import EntityState, IdentityStore
from pshub.store.raw_queue import ParkingQueue
from pshub.sync.entity_sync import EntitySync
from tests.integration.aws import REGION, Stores, aws_stores


class RecordingPublisher(EventBusPublisher):
    """The real publisher over a stand-in PutEvents: records what went; can fail or throttle calls."""

    def __init__(self) -> None:
        super().__init__(self, "bus")  # type: ignore[arg-type]
        self.published: list[CanonicalEvent] = []
        self.fail_next = 0
        self.throttle_call: int | None = None  # 1-based index of the call to throttle
        self.during_call: Callable[[], None] | None = None
        self.seen_calls = 0

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.seen_calls += 1
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("EventBridge unavailable")
        if self.throttle_call == self.seen_calls:
            self.throttle_call = None
            return {
                "FailedEntryCount": len(Entries),
                "Entries": [
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"} for _ in Entries
                ],
            }
        if self.during_call is not None:
            hook, self.during_call = self.during_call, None
            hook()
        self.published += [CanonicalEvent.model_validate_json(entry["Detail"]) for entry in Entries]
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(len(Entries))]}


@pytest.fixture
def stores() -> Iterator[Stores]:
    with aws_stores() as value:
        yield value


def normaliser(
    stores: Stores,
    publisher: RecordingPublisher,
    identity: IdentityStore | None = None,
    clock: Clock | None = None,
) -> DeliveryNormaliser:
    name = stores.resources.get
    return DeliveryNormaliser(
        bodies=DeliveryBodies(boto3.client("s3", region_name=REGION)),
        claims=PlatformEventClaims(
            DynamoDBPersistenceLayer(
                table_name=name("table", "idempotency").name, boto3_session=boto3.Session(region_name=REGION)
            )
        ),
        publisher=publisher,  # type: ignore[arg-type]
        parking=ParkingQueue(
            lambda: boto3.client("sqs", region_name=REGION),
            name("queue", "unmappable_deliveries").url or "",
            claim_check_bucket=name("bucket", "claim_checks").name,
            s3=lambda: boto3.client("s3", region_name=REGION),
        ),
        archive=RawArchive(
            boto3.client("firehose", region_name=REGION), name("stream", "raw_archive_stream").name
        ),
        entity_sync=EntitySync(
            identity or stores.identity, stores.exceptions, stores.policy, clock or Clock()
        ),
    )


class Clock:
    """Epoch milliseconds that a test can move on (a lease expiring, eight days passing)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return int(datetime.now(UTC).timestamp() * 1000) + self.offset_ms


def company_change(event_id: int, name: str, object_ids: tuple[int, ...] = (5150,)) -> str:
    body = json.dumps(
        [
            {
                "eventId": event_id * 100 + n, "subscriptionId": 7, "portalId": 24681357,
                "occurredAt": 1795000000000 + event_id, "subscriptionType": "company.propertyChange",
                "objectId": object_id, "propertyName": "name", "propertyValue": f"{name} {object_id}",
            }
            for n, object_id in enumerate(object_ids)
        ]
    )  # fmt: skip
    return RawDelivery(
        delivery_id=f"d-{event_id}", correlation_id=f"c-{event_id}", connection="hubspot-acme", platform="hubspot",
        received_at="2026-11-20T00:00:00.000+00:00", method="POST", url="https://x/webhooks/hubspot-acme",
        headers={}, source_ip="192.0.2.1", role="crm", body_text=body, options={"portal_id": "24681357"},
    ).to_json()  # fmt: skip


def remaining() -> int:
    return 30_000


def test_failed_publish_is_retried_to_exactly_one_event_and_redelivery_adds_none(stores: Stores) -> None:
    publisher = RecordingPublisher()
    subject = normaliser(stores, publisher)
    delivery = company_change(1, "Initech Partners")
    # Given EventBridge refuses the first attempt
    publisher.fail_next = 1
    with pytest.raises(TransientError):
        subject.normalise(delivery, remaining)
    assert publisher.published == []
    # When SQS redelivers the record, and later the platform redelivers the webhook
    retried = subject.normalise(delivery, remaining)
    again = subject.normalise(delivery, remaining)
    # Then exactly one canonical event went out
    assert [e.payload["name"] for e in publisher.published] == ["Initech Partners 5150"]
    assert len(retried.published) == 1
    assert again.published == [] and len(again.duplicates) == 1


def test_duplicate_applied_concurrently_by_another_invocation_backs_off(stores: Stores) -> None:
    event = make_event(
        "ClientUpserted",
        ClientUpsertedV1(client_id="5151", change="updated", name="Vandelay Industries"),
        connection="hubspot-acme", source_platform="hubspot", source_native_id="5151", source_event_id="e-5151",
        occurred_at=datetime(2026, 11, 20, tzinfo=UTC), correlation_id="c", legal_entity=None,
    )  # fmt: skip
    other = stores.entity_sync()

    class RacingIdentity(IdentityStore):
        """The other invocation saves the same event between our read and our write."""

        raced = False

        def save_state(self, state: EntityState) -> None:
            if not self.raced:
                self.raced = True
                other.apply(event, "crm")
            super().save_state(state)

    racing = RacingIdentity(
        boto3.client("dynamodb", region_name=REGION), stores.resources.get("table", "identity").name
    )
    decision = EntitySync(racing, stores.exceptions, stores.policy).apply(event, "crm")
    assert decision.applied_elsewhere is True
    assert decision.publish is None


def test_duplicate_delivered_while_the_first_is_publishing_publishes_once(stores: Stores) -> None:
    publisher = RecordingPublisher()
    subject = normaliser(stores, publisher)
    delivery = company_change(2, "Globex", (6160,))
    outcomes: list[Exception] = []

    def duplicate_arrives() -> None:  # between the state write and the lease's end
        try:
            subject.normalise(delivery, remaining)
        except TransientError as error:
            outcomes.append(error)

    publisher.during_call = duplicate_arrives
    first = subject.normalise(delivery, remaining)
    # The duplicate found the publication in flight and asked to be retried ...
    assert len(outcomes) == 1 and "another invocation" in str(outcomes[0])
    # ... and its retry, once the first is done, is a duplicate
    retry = subject.normalise(delivery, remaining)
    assert len(first.published) == 1 and retry.published == [] and len(retry.duplicates) == 1
    assert [e.payload["name"] for e in publisher.published] == ["Globex 6160"]


def test_throttled_second_batch_resends_only_what_was_not_sent(stores: Stores) -> None:
    publisher = RecordingPublisher()
    subject = normaliser(stores, publisher)
    companies = tuple(range(7000, 7012))  # 12 companies: two PutEvents calls (10 + 2)
    delivery = company_change(3, "Hooli", companies)
    publisher.throttle_call = 2
    with pytest.raises(TransientError, match="ThrottlingException"):
        subject.normalise(delivery, remaining)
    assert len(publisher.published) == 10
    retried = subject.normalise(delivery, remaining)
    # Then each of the 12 changes is on the bus exactly once
    assert len(retried.published) == 2
    names = sorted(e.payload["name"] for e in publisher.published)
    assert names == sorted(f"Hooli {c}" for c in companies)


def test_failed_completion_write_neither_loses_nor_rushes_a_second_publication(stores: Stores) -> None:
    publisher = RecordingPublisher()
    clock = Clock()

    class FailingEnd(IdentityStore):
        failures = 1

        def end_lease(self, *args: Any, **kwargs: Any) -> None:
            if self.failures:
                self.failures -= 1
                raise TransientError("DynamoDB unavailable")
            super().end_lease(*args, **kwargs)

    identity = FailingEnd(
        boto3.client("dynamodb", region_name=REGION), stores.resources.get("table", "identity").name
    )
    subject = normaliser(stores, publisher, identity=identity, clock=clock)
    delivery = company_change(4, "Umbrella", (8180,))
    first = subject.normalise(delivery, remaining)  # published; ending its lease failed
    assert len(first.published) == 1
    # A redelivery while the lease stands waits: nothing is published a second time meanwhile
    with pytest.raises(TransientError, match="another invocation"):
        subject.normalise(delivery, remaining)
    assert len(publisher.published) == 1
    # Once the lease has run out, a redelivery publishes the same canonical event (same id:
    # consumers' inboxes absorb it), and settles it for good
    clock.offset_ms = remaining() + 1
    again = subject.normalise(delivery, remaining)
    assert [e.event_id for e in publisher.published] == [first.published[0], first.published[0]]
    assert again.published == first.published
    assert subject.normalise(delivery, remaining).duplicates


def test_replay_after_the_idempotency_window_publishes_nothing_new(stores: Stores) -> None:
    publisher = RecordingPublisher()
    clock = Clock()
    subject = normaliser(stores, publisher, clock=clock)
    delivery = company_change(5, "Soylent", (9190,))
    subject.normalise(delivery, remaining)
    clock.offset_ms = 8 * 24 * 3600 * 1000  # eight days on: the platform-event claims have expired
    replayed = subject.normalise(delivery, remaining)
    assert replayed.published == [] and len(replayed.duplicates) == 1
    assert len(publisher.published) == 1

"""Exactly-once publishing of entity changes without an in-progress lock (2 writes per event)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from pshub.canonical.envelope import CanonicalEvent, ClientUpsertedV1, make_event
from pshub.errors import TransientError
from pshub.pipeline.normaliser import DeliveryNormaliser
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.store.archive import RawArchive
from pshub.store.bodies import DeliveryBodies
from pshub.store.event_claims import PlatformEventClaims
from pshub.store.identity import EntityState, IdentityStore
from pshub.store.raw_queue import ParkingQueue
from pshub.sync.entity_sync import EntitySync
from tests.integration.aws import REGION, Stores, aws_stores


class RecordingPublisher:
    """Stands in for EventBridge: records what was published; can fail the next call."""

    def __init__(self) -> None:
        self.published: list[CanonicalEvent] = []
        self.fail_next = 0

    def publish(self, events: Sequence[CanonicalEvent]) -> dict[str, str]:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("EventBridge unavailable")
        self.published += events
        return {}


@pytest.fixture
def stores() -> Iterator[Stores]:
    with aws_stores() as value:
        yield value


def normaliser(stores: Stores, publisher: RecordingPublisher) -> DeliveryNormaliser:
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
        entity_sync=stores.entity_sync(),
    )


def company_change(event_id: int, name: str) -> str:
    body = json.dumps(
        [
            {
                "eventId": event_id, "subscriptionId": 7, "portalId": 24681357, "occurredAt": 1795000000000 + event_id,
                "subscriptionType": "company.propertyChange", "objectId": 5150, "propertyName": "name",
                "propertyValue": name,
            }
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
    assert [e.payload["name"] for e in publisher.published] == ["Initech Partners"]
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

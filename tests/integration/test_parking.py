"""Nothing authentic is lost on the way to a person: parking at any size and in any characters."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from pshub.pipeline.normaliser import DeliveryNormaliser
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.store.bodies import DeliveryBodies
from pshub.store.identity import EntityState, IdentityStore
from pshub.store.raw_queue import ParkingQueue
from pshub.sync.entity_sync import EntitySync
from tests.integration.aws import REGION, Stores, aws_stores
from tests.integration.test_exactly_once import RecordingPublisher, company_change, normaliser, remaining

THRESHOLD = 256 * 1024


@pytest.fixture
def stores() -> Iterator[Stores]:
    with aws_stores() as value:
        yield value


def parking(stores: Stores) -> ParkingQueue:
    get = stores.resources.get
    return ParkingQueue(
        lambda: boto3.client("sqs", region_name=REGION),
        get("queue", "unmappable_deliveries").url or "",
        claim_check_bucket=get("bucket", "claim_checks").name,
        s3=lambda: boto3.client("s3", region_name=REGION),
        inline_limit=THRESHOLD,
    )


def parked(stores: Stores) -> list[tuple[dict[str, str], str]]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = stores.resources.get("queue", "unmappable_deliveries").url or ""
    found = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
            found.append((attributes, message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def delivery_with(body: bytes) -> RawDelivery:
    delivery = RawDelivery(
        delivery_id="d-1", correlation_id="c-1", connection="stripe-acme", platform="stripe",
        received_at="2026-11-20T00:00:00.000+00:00", method="POST", url="https://x/webhooks/stripe-acme",
        headers={}, source_ip="192.0.2.1",
    )  # fmt: skip
    for name, value in RawDelivery.body_fields(body).items():
        setattr(delivery, name, value)
    return delivery


@pytest.mark.parametrize(
    "body",
    [b"x" * 1_100_000, b'"' * 600_000, b"\x01" * 200_000, b"\xff" * 900_000, "\uffff".encode() * 50_000,
     "\ufffe and text".encode(), b"small and plain"],
    ids=["1.1MB-ascii", "600KB-quotes", "200KB-control", "900KB-not-utf8", "U+FFFF-large", "U+FFFE-small",
         "small"],
)  # fmt: skip
def test_a_delivery_of_any_size_or_characters_is_parked_whole(stores: Stores, body: bytes) -> None:
    # When a delivery with this body is parked
    parking(stores).park(delivery_with(body), "unparseable_body", "Stripe body is not JSON")

    # Then exactly one message holds it (inline, or by its claim check), byte for byte, with its reason
    [(attributes, text)] = parked(stores)
    assert attributes["error_code"] == "unparseable_body"
    delivery = RawDelivery.from_message(text)
    assert DeliveryBodies(boto3.client("s3", region_name=REGION)).load(delivery) == body


def test_a_reason_with_characters_sqs_refuses_still_parks(stores: Stores) -> None:
    parking(stores).park(delivery_with(b"{}"), "unmappable", "key '\x00\uffff' appears twice")
    [(attributes, _)] = parked(stores)
    assert attributes["reason"] == "key '\ufffd\ufffd' appears twice"


def test_text_that_is_not_a_delivery_is_kept_even_when_sqs_could_not_carry_it(stores: Stores) -> None:
    text = "\uffff" + "y" * 300_000
    parking(stores).park_text(text, "not_a_raw_delivery", "not JSON")
    [(_, body)] = parked(stores)
    ref = json.loads(body)["text_ref"]
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read().decode() == text


def test_a_canonical_event_too_large_for_eventbridge_is_parked_not_retried(stores: Stores) -> None:
    # Given a HubSpot company whose name change is 300 KB of text (EventBridge takes 256 KB a call)
    publisher = RecordingPublisher()
    subject = normaliser(stores, publisher)

    # When the normaliser reads it
    outcome = subject.normalise(company_change(1, "N" * 300_000), remaining)

    # Then nothing is published, and it is parked once with the reason (no exception: no retry)
    assert publisher.published == []
    assert outcome.parked == ["24681357:7:100:1795000000001"]
    [(attributes, _)] = parked(stores)
    assert attributes["error_code"] == "event_too_large"
    assert "EventBridge takes 262,144" in attributes["reason"]


class RefusingIdentity(IdentityStore):
    """DynamoDB answering the sync-state write with ``code`` (as it does for an item over 400 KB)."""

    code = "ValidationException"

    def save_state(self, state: EntityState) -> None:
        message = "Item size has exceeded the maximum allowed size"
        raise ClientError({"Error": {"Code": self.code, "Message": message}}, "PutItem")


def refusing_normaliser(stores: Stores, code: str) -> DeliveryNormaliser:
    subject = normaliser(stores, RecordingPublisher())
    identity = RefusingIdentity(
        boto3.client("dynamodb", region_name=REGION), stores.resources.get("table", "identity").name
    )
    identity.code = code
    subject._entity_sync = EntitySync(identity, stores.exceptions, stores.policy)
    return subject


def test_a_record_dynamodb_refuses_as_invalid_is_parked_on_the_first_try(stores: Stores) -> None:
    outcome = refusing_normaliser(stores, "ValidationException").normalise(
        company_change(1, "Initech"), remaining
    )

    assert outcome.published == [] and len(outcome.parked) == 1
    [(attributes, _)] = parked(stores)
    assert attributes["error_code"] == "record_refused"
    assert "Item size has exceeded" in attributes["reason"]


def test_dynamodb_throttling_is_still_retried(stores: Stores) -> None:
    subject = refusing_normaliser(stores, "ProvisionedThroughputExceededException")
    with pytest.raises(ClientError):
        subject.normalise(company_change(1, "Initech"), remaining)
    assert parked(stores) == []

"""The raw delivery's two forms: the queue message and the archive document."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pshub.pipeline.raw_delivery import MESSAGE_SCHEMA, SCHEMA, BodyRef, RawDelivery
from pshub.store.raw_queue import RawDeliveryQueue
from tests.helpers import sample

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/pshub-raw-deliveries"


def delivery(**body: Any) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1",
        correlation_id="req-42",
        connection="stripe-acme",
        platform="stripe",
        received_at="2026-11-22T10:00:00.000+00:00",
        method="POST",
        url="https://hooks.example.com/webhooks/stripe-acme",
        headers={"content-type": "application/json", "stripe-signature": "t=1,v1=ab"},
        source_ip="192.0.2.7",
        legal_entity="acme-us",
        role="billing",
        **body,
    )


@pytest.mark.parametrize(
    "body",
    [
        sample("stripe/invoice.paid.json").decode(),  # pretty-printed: newlines, non-ASCII
        "\n\nstarts and ends with newlines\n",
        "",
        '{"schema": "pshub.raw-delivery/1"}\n{"looks": "like a header"}',
    ],
)
def test_text_body_travels_verbatim_after_one_metadata_line(body: str) -> None:
    # Given a delivery with a text body
    original = delivery(body_text=body)

    # When it is written as a queue message and read back
    message = original.to_message()
    again = RawDelivery.from_message(message)

    # Then the message is one JSON line, then the body exactly as received
    head, _, tail = message.partition("\n")
    assert json.loads(head)["schema"] == MESSAGE_SCHEMA
    assert tail == body
    # And nothing is lost or changed
    assert again == original
    assert again.inline_body() == body.encode()


def test_binary_body_travels_as_base64_and_claim_checked_body_as_a_pointer() -> None:
    binary = delivery(body_base64=base64.b64encode(b"\xff\xfe\x00 not utf-8").decode())
    pointer = delivery(body_ref=BodyRef(bucket="pshub-claim-checks", key="claim-checks/x/d-1", size=300_000))

    assert RawDelivery.from_message(binary.to_message()).inline_body() == b"\xff\xfe\x00 not utf-8"
    assert pointer.to_message().endswith("\n")
    assert RawDelivery.from_message(pointer.to_message()).body_ref == pointer.body_ref


def test_document_form_is_still_read_so_messages_queued_before_an_upgrade_are_processed() -> None:
    # Given a delivery in the document form (one JSON object)
    document = delivery(body_text='{"id": "evt_1"}').to_json()

    # Then it reads back as the same delivery
    assert json.loads(document)["schema"] == SCHEMA
    assert RawDelivery.from_message(document) == delivery(body_text='{"id": "evt_1"}')


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json at all", "Expecting value"),
        ('{"schema": "something/else"}\nbody', "not a raw delivery (schema 'something/else'"),
        (json.dumps({"schema": MESSAGE_SCHEMA, "delivery_id": "d"}) + "\nbody", "without a body"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_text_that_is_not_a_raw_delivery_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        RawDelivery.from_message(text)


def test_archive_line_is_one_line_of_the_document_form_whatever_the_message_holds() -> None:
    # Given a queue message whose body has newlines, and text that is not a delivery at all
    original = delivery(body_text=sample("stripe/invoice.paid.json").decode())
    lines = [RawDelivery.archive_line(original.to_message()), RawDelivery.archive_line("garbage\nline two")]

    # Then each is exactly one line of JSON
    assert all("\n" not in line for line in lines)
    # And the delivery comes back whole from its line; the garbage is kept as it was
    assert RawDelivery.from_message(lines[0]) == original
    assert json.loads(lines[1]) == {"schema": "pshub.unreadable-message/1", "text": "garbage\nline two"}


def _queue(sqs: Any) -> RawDeliveryQueue:
    return RawDeliveryQueue(
        sqs=lambda: sqs,
        queue_url=QUEUE_URL,
        claim_check_bucket="pshub-claim-checks",
        s3=lambda: pytest.fail("no claim check expected"),  # type: ignore[arg-type, return-value]
        claim_check_threshold=256 * 1024,
    )


def test_body_with_characters_sqs_refuses_is_resent_as_base64_byte_for_byte() -> None:
    # Given a UTF-8 body holding a raw control character, which SQS refuses in a message
    body = b'{"note": "bell \x07 inside"}'
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(sqs)
    as_text = delivery(body_text=body.decode()).to_message()
    as_base64 = delivery(body_base64=base64.b64encode(body).decode()).to_message()
    stubber.add_client_error(
        "send_message",
        service_error_code="InvalidMessageContents",
        http_status_code=400,
        expected_params={"QueueUrl": QUEUE_URL, "MessageBody": as_text},
    )
    stubber.add_response(
        "send_message",
        {"MessageId": "m-2", "MD5OfMessageBody": "0" * 32},
        expected_params={"QueueUrl": QUEUE_URL, "MessageBody": as_base64},
    )

    # When the ingress enqueues it
    with stubber:
        message_id = _queue(sqs).enqueue(delivery(), body)

    # Then the text attempt was refused, the base64 one stored, and it reads back byte for byte
    stubber.assert_no_pending_responses()
    assert message_id == "m-2"
    assert RawDelivery.from_message(as_base64).inline_body() == body


def test_other_sqs_errors_are_not_retried_so_the_platform_gets_no_ack() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(sqs)
    stubber.add_client_error("send_message", service_error_code="AccessDenied", http_status_code=403)

    with stubber, pytest.raises(Exception, match="AccessDenied"):
        _queue(sqs).enqueue(delivery(), b'{"id": "evt_1"}')

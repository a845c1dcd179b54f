"""The hand-made SQS event-source mapping behaves as Lambda's does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel
from moto import mock_aws

from pshub_infra.topology import QueueConsumerSpec
from pshub_local.consumers import BatchFailed, QueueConsumer, failed_message_ids, sqs_event

REGION = "us-east-1"


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def make_queue(sqs: Any, max_receive_count: int = 3) -> tuple[str, str, str]:
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    url = sqs.create_queue(
        QueueName="work", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "60"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def consumer(sqs: Any, url: str, arn: str, invoke: Any, batch_size: int = 10) -> QueueConsumer:
    spec = QueueConsumerSpec(queue="work", function="fn", batch_size=batch_size)
    return QueueConsumer(spec, sqs=sqs, queue_url=url, queue_arn=arn, region=REGION, invoke=invoke)


def test_event_has_lambdas_sqs_shape(sqs: Any) -> None:
    # Given a message with string and binary attributes
    url, arn, _ = make_queue(sqs)
    sqs.send_message(
        QueueUrl=url,
        MessageBody='{"x": 1}',
        MessageAttributes={
            "connection": {"DataType": "String", "StringValue": "stripe-acme"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    seen: list[dict[str, Any]] = []

    # When the consumer polls
    consumer(sqs, url, arn, seen.append).poll_once()

    # Then the function got Lambda's record shape, which Powertools' model accepts
    (record,) = seen[0]["Records"]
    assert record["body"] == '{"x": 1}'
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == REGION
    assert set(record["attributes"]) >= {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["messageAttributes"]["connection"] == {
        "stringValue": "stripe-acme",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert len(record["md5OfBody"]) == 32
    SqsModel.model_validate(seen[0])


def test_successful_batch_is_deleted(sqs: Any) -> None:
    url, arn, _ = make_queue(sqs)
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))

    handled = consumer(sqs, url, arn, lambda event: {"batchItemFailures": []}).poll_once()

    assert handled == 3
    assert depth(sqs, url) == 0


def test_reported_failures_come_back_at_once_and_the_rest_is_deleted(sqs: Any) -> None:
    url, arn, _ = make_queue(sqs)
    for body in ("good", "bad"):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }

    consumer(sqs, url, arn, handler).poll_once()

    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == ["bad"]


def test_an_exception_fails_the_whole_batch_and_redrive_moves_it_to_the_dlq(sqs: Any) -> None:
    url, arn, dlq = make_queue(sqs, max_receive_count=3)
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    calls = []

    def handler(event: dict[str, Any]) -> None:
        calls.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
        raise RuntimeError("boom")

    poller = consumer(sqs, url, arn, handler)
    while poller.poll_once():
        pass

    assert calls == ["1", "2", "3"]
    assert depth(sqs, url) == 0
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=dlq)["Messages"]] == ["poison"]


def test_batch_size_above_ten_is_gathered_from_several_receives(sqs: Any) -> None:
    url, arn, _ = make_queue(sqs)
    for n in range(15):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    sizes: list[int] = []

    consumer(sqs, url, arn, lambda event: sizes.append(len(event["Records"])), batch_size=12).poll_once()

    assert sizes == [12]


def test_sqs_event_without_messages_is_empty() -> None:
    assert sqs_event([], "arn", REGION) == {"Records": []}


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_responses_meaning_complete_success(response: Any) -> None:
    assert failed_message_ids(response, ["a", "b"]) == set()


def test_listed_items_are_the_failures() -> None:
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["a", "b"]) == {"b"}


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "a"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
        "ok",
    ],
)
def test_responses_meaning_the_whole_batch_failed(response: Any) -> None:
    with pytest.raises(BatchFailed):
        failed_message_ids(response, ["a", "b"])

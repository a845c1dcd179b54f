"""Dead letters with their reason, masked: a raw delivery the normaliser failed on five times
reaches the dead-letter queue SQS's redrive policy names (moto), and ``pshub dlq`` shows it
with the error the consumer recorded, its connection, and no salary or rate from its body."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from pshub.pipeline.failures import FailureRecordingProcessor
from pshub.pipeline.raw_delivery import RawDelivery
from pshub_infra.topology import PIPELINE
from pshub_local.ops import dlq
from pshub_local.ops.target import Target
from pshub_local.resources import stack_outputs
from tests.integration.aws import REGION, aws_stores

SALARY, RATE = "98765.43", "275.50"


def hubspot_delivery() -> str:
    body = json.dumps(
        [{"objectId": 27182818284, "propertyName": "hourly_rate", "propertyValue": RATE,
          "subscriptionType": "deal.propertyChange", "eventId": 100, "occurredAt": 1764950400000}]
    )  # fmt: skip
    # A firm's own custom field that should never have been sent: still never shown.
    body = body[:-2] + f', "owner": {{"salary": {SALARY}, "email": "ana.souza@example.com"}}}}]'
    delivery = RawDelivery(
        delivery_id="d-1", correlation_id="c-1", connection="hubspot-acme", platform="hubspot",
        received_at="2026-12-07T10:00:00Z", method="POST", url="https://hooks.example/webhooks/hubspot-acme",
        headers={"x-hubspot-signature-v3": "sig"}, source_ip="54.174.1.1", body_text=body,
    )  # fmt: skip
    return delivery.to_message()


def as_lambda_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        ]
    }


def test_a_dead_letter_carries_the_consumers_recorded_error_and_shows_no_salary_or_rate() -> None:
    with aws_stores() as stores:
        sqs, dynamodb = boto3.client("sqs", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
        raw = stores.resources.get("queue", "raw_deliveries")
        failures = stores.resources.get("table", "failures").name
        processor = FailureRecordingProcessor(table=failures, client=dynamodb)

        def normalise(record: Any) -> None:
            raise KeyError("dealstage")  # a mapping bug, for this payload

        sqs.send_message(QueueUrl=raw.url, MessageBody=hubspot_delivery())
        tries = 0
        while messages := sqs.receive_message(QueueUrl=raw.url, AttributeNames=["All"]).get("Messages"):
            tries += 1
            # A batch whose every record failed fails the invocation (Powertools): SQS retries it.
            with pytest.raises(BatchProcessingError):
                process_partial_response(
                    event=as_lambda_event(messages[0], raw.arn), record_handler=normalise, processor=processor
                )
            sqs.change_message_visibility(
                QueueUrl=raw.url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
            )
        assert tries == PIPELINE.queue("raw_deliveries").max_receive_count

        target = Target.with_outputs(stack_outputs(PIPELINE, stores.resources), region=REGION)
        [letter] = dlq.read(target, "raw_deliveries_dlq")
        dlq.release(target, "raw_deliveries_dlq", [letter])
        assert (letter.connection, letter.event_type, letter.correlation_id) == (
            "hubspot-acme",
            "raw:hubspot",
            "c-1",
        )
        assert (letter.error_class, letter.error) == ("KeyError", "'dealstage'")
        assert letter.receive_count >= tries
        shown = json.dumps(letter.to_doc())
        assert SALARY not in shown and RATE not in shown and "ana.souza" not in shown
        assert "27182818284" in shown  # the deal id stays: it is how the operator finds the record
        # The failures table holds one item: written on failure only, overwritten per attempt
        items = dynamodb.scan(TableName=failures)["Items"]
        assert [(i["error_class"]["S"], i["attempt"]["N"], i["queue"]["S"]) for i in items] == [
            ("KeyError", str(tries), raw.arn.rsplit(":", 1)[-1])
        ]


def test_a_record_that_succeeds_writes_nothing() -> None:
    with aws_stores() as stores:
        sqs, dynamodb = boto3.client("sqs", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
        raw = stores.resources.get("queue", "raw_deliveries")
        failures = stores.resources.get("table", "failures").name
        sqs.send_message(QueueUrl=raw.url, MessageBody=hubspot_delivery())
        [message] = sqs.receive_message(QueueUrl=raw.url, AttributeNames=["All"])["Messages"]
        processor = FailureRecordingProcessor(table=failures, client=dynamodb)
        answer = process_partial_response(
            event=as_lambda_event(message, raw.arn), record_handler=lambda record: None, processor=processor
        )
        assert answer["batchItemFailures"] == []
        assert dynamodb.scan(TableName=failures)["Items"] == []

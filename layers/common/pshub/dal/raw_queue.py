"""Durable hand-off of a verified delivery: one SQS message, S3 only when too large."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pshub.raw_delivery import BodyRef, RawDelivery

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


def _attributes(delivery: RawDelivery, extra: dict[str, str] | None = None) -> dict[str, Any]:
    values = {
        "connection": delivery.connection,
        "platform": delivery.platform,
        "correlation_id": delivery.correlation_id,
        **(extra or {}),
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


class RawDeliveryQueue:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        claim_check_bucket: str,
        s3_factory: Callable[[], S3Client],
        claim_check_threshold: int,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._bucket = claim_check_bucket
        self._s3_factory = s3_factory  # built on first oversize body: keeps S3 off the cold start
        self._s3: S3Client | None = None
        self._threshold = claim_check_threshold

    def enqueue(self, delivery: RawDelivery, body: bytes) -> str:
        """Store the delivery durably; returns the SQS message id. Raises on failure (no ack)."""
        if len(body) > self._threshold:
            key = f"claim-checks/{delivery.connection}/{delivery.received_at[:10]}/{delivery.delivery_id}"
            if self._s3 is None:
                self._s3 = self._s3_factory()
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)
            delivery.body_ref = BodyRef(bucket=self._bucket, key=key, size=len(body))
        else:
            for name, value in RawDelivery.body_fields(body).items():
                setattr(delivery, name, value)
        # The body says everything; message attributes would only slow the ack path.
        response = self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=delivery.to_json())
        return response["MessageId"]


class ParkingQueue:
    """Where deliveries a person must look at wait, each with its reason attached."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def park(
        self, delivery: RawDelivery, code: str, reason: str, platform_event_id: str | None = None
    ) -> str:
        extra = {"error_code": code, "reason": reason[:1000], "platform_event_id": platform_event_id or ""}
        response = self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=delivery.to_json(),
            MessageAttributes=_attributes(delivery, extra),
        )
        return response["MessageId"]

    def park_text(self, text: str, code: str, reason: str) -> str:
        """Keep a message that is not even a raw delivery, as it was."""
        response = self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=text or "(empty)",
            MessageAttributes={
                "error_code": {"DataType": "String", "StringValue": code},
                "reason": {"DataType": "String", "StringValue": reason[:1000] or code},
            },
        )
        return response["MessageId"]

"""Durable hand-off of a verified delivery: one SQS message, S3 only when too large."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pshub.raw_delivery import BodyRef, RawDelivery

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


INVALID_CONTENTS = "InvalidMessageContents"


def _attributes(delivery: RawDelivery, extra: dict[str, str] | None = None) -> dict[str, Any]:
    values = {
        "connection": delivery.connection,
        "platform": delivery.platform,
        "correlation_id": delivery.correlation_id,
        **(extra or {}),
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


class RawDeliveryQueue:
    """Clients come from factories called on first use: the function's init builds none
    (``functools.cache`` in the handler keeps one per execution environment)."""

    def __init__(
        self,
        sqs: Callable[[], SQSClient],
        queue_url: str,
        claim_check_bucket: str,
        s3: Callable[[], S3Client],
        claim_check_threshold: int,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._bucket = claim_check_bucket
        self._s3 = s3  # first called for the first oversize body
        self._threshold = claim_check_threshold

    def enqueue(self, delivery: RawDelivery, body: bytes) -> str:
        """Store the delivery durably; returns the SQS message id. Raises on failure (no ack)."""
        if len(body) > self._threshold:
            key = f"claim-checks/{delivery.connection}/{delivery.received_at[:10]}/{delivery.delivery_id}"
            self._s3().put_object(Bucket=self._bucket, Key=key, Body=body)
            delivery.body_ref = BodyRef(bucket=self._bucket, key=key, size=len(body))
        else:
            for name, value in RawDelivery.body_fields(body).items():
                setattr(delivery, name, value)
        # The message says everything; message attributes would only slow the ack path.
        try:
            response = self._sqs().send_message(QueueUrl=self._queue_url, MessageBody=delivery.to_message())
        except ClientError as error:
            # SQS refuses some characters (raw control characters, U+FFFE/FFFF) that valid
            # UTF-8 may hold; checking every body for them would cost more than this rare retry.
            if error.response.get("Error", {}).get("Code") != INVALID_CONTENTS or delivery.body_text is None:
                raise
            delivery.body_text, delivery.body_base64 = None, base64.b64encode(body).decode()
            response = self._sqs().send_message(QueueUrl=self._queue_url, MessageBody=delivery.to_message())
        return response["MessageId"]


class ParkingQueue:
    """Where deliveries a person must look at wait, each with its reason attached."""

    def __init__(self, sqs: Callable[[], SQSClient], queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def park(
        self, delivery: RawDelivery, code: str, reason: str, platform_event_id: str | None = None
    ) -> str:
        extra = {"error_code": code, "reason": reason[:1000], "platform_event_id": platform_event_id or ""}
        response = self._sqs().send_message(
            QueueUrl=self._queue_url,
            MessageBody=delivery.to_json(),
            MessageAttributes=_attributes(delivery, extra),
        )
        return response["MessageId"]

    def park_text(self, text: str, code: str, reason: str) -> str:
        """Keep a message that is not even a raw delivery, as it was."""
        response = self._sqs().send_message(
            QueueUrl=self._queue_url,
            MessageBody=text or "(empty)",
            MessageAttributes={
                "error_code": {"DataType": "String", "StringValue": code},
                "reason": {"DataType": "String", "StringValue": reason[:1000] or code},
            },
        )
        return response["MessageId"]

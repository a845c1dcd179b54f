"""Durable hand-off of a verified delivery: one SQS message, S3 only when too large."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pshub.pipeline import fastjson
from pshub.pipeline.raw_delivery import BodyRef, RawDelivery

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
    return {
        name: {"DataType": "String", "StringValue": _sqs_safe(value)}
        for name, value in values.items()
        if value
    }


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
            if _code(error) != INVALID_CONTENTS or delivery.body_text is None:
                raise
            delivery.body_text, delivery.body_base64 = None, base64.b64encode(body).decode()
            response = self._sqs().send_message(QueueUrl=self._queue_url, MessageBody=delivery.to_message())
        return response["MessageId"]


class ParkingQueue:
    """Where deliveries a person must look at wait, each with its reason attached.

    Whatever the delivery, it is kept: a document too large for one SQS message (a
    large body, or one that JSON escaping makes several times larger: quotes, control
    bytes, non-UTF-8 carried as base64) goes with its body in S3, as on the raw queue;
    text SQS refuses (U+FFFE, U+FFFF) goes as base64.
    """

    def __init__(
        self,
        sqs: Callable[[], SQSClient],
        queue_url: str,
        claim_check_bucket: str = "",
        s3: Callable[[], S3Client] | None = None,
        inline_limit: int = 256 * 1024,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._bucket = claim_check_bucket
        self._s3 = s3
        self._inline_limit = inline_limit

    def park(
        self, delivery: RawDelivery, code: str, reason: str, platform_event_id: str | None = None
    ) -> str:
        extra = {"error_code": code, "reason": reason[:1000], "platform_event_id": platform_event_id or ""}
        attributes = _attributes(delivery, extra)
        document = delivery.to_json()
        if len(document.encode()) > self._inline_limit and delivery.has_inline_body:
            document = self._claim_checked(delivery).to_json()
        try:
            return self._send(document, attributes)
        except ClientError as error:
            if _code(error) != INVALID_CONTENTS or delivery.body_text is None:
                raise
        # Characters SQS refuses in the body text: the same body, as base64.
        body = delivery.inline_body()
        as_base64 = replace(delivery, body_text=None, body_base64=base64.b64encode(body).decode())
        document = as_base64.to_json()
        if len(document.encode()) > self._inline_limit:
            document = self._claim_checked(as_base64).to_json()
        return self._send(document, attributes)

    def park_text(self, text: str, code: str, reason: str) -> str:
        """Keep a message that is not even a raw delivery, as it was (in S3 if it must be)."""
        attributes = {
            "error_code": {"DataType": "String", "StringValue": code},
            "reason": {"DataType": "String", "StringValue": _sqs_safe(reason[:1000] or code)},
        }
        message = text or "(empty)"
        if len(message.encode()) > self._inline_limit or _sqs_safe(message) != message:
            ref = self._put(f"parked-text/{uuid.uuid4()}", message.encode())
            message = fastjson.dumps({"schema": "pshub.unreadable-message/1", "text_ref": vars(ref)})
        return self._send(message, attributes)

    def _claim_checked(self, delivery: RawDelivery) -> RawDelivery:
        key = f"parked/{delivery.connection}/{delivery.received_at[:10]}/{delivery.delivery_id}"
        ref = self._put(key, delivery.inline_body())
        return replace(delivery, body_text=None, body_base64=None, body_ref=ref)

    def _put(self, key: str, body: bytes) -> BodyRef:
        if self._s3 is None or not self._bucket:
            raise RuntimeError("the parking queue has no claim-check bucket for a body this large")
        self._s3().put_object(Bucket=self._bucket, Key=key, Body=body)
        return BodyRef(bucket=self._bucket, key=key, size=len(body))

    def _send(self, body: str, attributes: dict[str, Any]) -> str:
        response = self._sqs().send_message(
            QueueUrl=self._queue_url, MessageBody=body, MessageAttributes=attributes
        )
        return response["MessageId"]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# What SQS accepts in a message (body and string attributes): #x9 #xA #xD #x20-#xD7FF
# #xE000-#xFFFD #x10000-#x10FFFF. Anything else is refused with InvalidMessageContents.
_NOT_FOR_SQS = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _sqs_safe(text: str) -> str:
    return _NOT_FOR_SQS.sub("\ufffd", text)

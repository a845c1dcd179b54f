"""The SQS event-source mapping, done by hand (moto's would start Docker).

Receives a batch, hands the function the event Lambda would build, deletes what
succeeded and makes the rest visible again at once (Lambda waits out the
visibility timeout; locally we retry immediately). The queue's RedrivePolicy,
which moto applies on receive, moves a message to its DLQ after
``maxReceiveCount`` failed deliveries, as in AWS.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pshub_infra.topology import QueueConsumerSpec

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

log = logging.getLogger(__name__)

SQS_RECEIVE_MAX = 10


def lambda_message_attributes(
    attributes: Mapping[str, MessageAttributeValueOutputTypeDef],
) -> dict[str, dict[str, Any]]:
    """SQS API message attributes in the shape Lambda's SQS event uses."""
    converted: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        converted[name] = item
    return converted


def sqs_event(messages: Sequence[MessageTypeDef], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller hands the function for one batch."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": lambda_message_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


class BatchFailed(Exception):
    """The function's answer means the whole batch failed."""


def failed_message_ids(response: Any, batch_ids: Iterable[str]) -> set[str]:
    """Which messages to retry, by Lambda's ReportBatchItemFailures rules.

    No response, or no/empty ``batchItemFailures``: all succeeded. An item whose
    ``itemIdentifier`` is missing, empty or not in the batch fails the whole batch.
    """
    ids = set(batch_ids)
    if response is None:
        return set()
    if not isinstance(response, dict):
        raise BatchFailed(f"response is not a JSON object: {response!r:.200}")
    failures = response.get("batchItemFailures") or []
    if not isinstance(failures, list):
        raise BatchFailed("batchItemFailures is not a list")
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            raise BatchFailed(f"invalid batchItemFailures entry {item!r}")
        failed.add(identifier)
    return failed


class QueueConsumer:
    """Drives one function from one queue, like an event-source mapping."""

    def __init__(
        self,
        spec: QueueConsumerSpec,
        *,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        region: str,
        invoke: Callable[[dict[str, Any]], Any],
    ) -> None:
        self.spec = spec
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._invoke = invoke

    def poll_once(self, wait_s: int = 0) -> int:
        """Receive and process one batch; returns how many messages it held."""
        messages = self._receive(wait_s)
        if not messages:
            return 0
        by_id = {m["MessageId"]: m for m in messages}
        try:
            response = self._invoke(sqs_event(messages, self._queue_arn, self._region))
            failed = failed_message_ids(response, by_id)
        except Exception as exc:  # the function raised, or answered nonsense: all are retried
            log.warning(
                "%s: batch of %d failed (%s: %s); will retry", self.spec.function, len(messages),
                type(exc).__name__, exc,
            )  # fmt: skip
            failed = set(by_id)
        if failed:
            log.info("%s: %d of %d messages reported failed; will retry", self.spec.function,
                     len(failed), len(messages))  # fmt: skip
        self._delete([m for i, m in by_id.items() if i not in failed])
        self._retry_now([by_id[i] for i in failed])
        return len(messages)

    def _receive(self, wait_s: int) -> list[MessageTypeDef]:
        batch: list[MessageTypeDef] = []
        while len(batch) < self.spec.batch_size:
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.spec.batch_size - len(batch)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=wait_s if not batch else 0,
            )
            received = response.get("Messages", [])
            if not received:
                break
            batch.extend(received)
        return batch

    def _delete(self, messages: list[MessageTypeDef]) -> None:
        for chunk in _chunks(messages):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
            )

    def _retry_now(self, messages: list[MessageTypeDef]) -> None:
        for chunk in _chunks(messages):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(chunk)
                ],
            )


class Poller:
    """A background thread per consumer, for ``pshub serve``."""

    def __init__(self, consumer: QueueConsumer, wait_s: int = 1) -> None:
        self._consumer = consumer
        self._wait_s = wait_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller-{consumer.spec.queue}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = 5.0) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consumer.poll_once(self._wait_s)
            except Exception:
                log.exception("poller for %s failed; retrying in 1 s", self._consumer.spec.queue)
                self._stop.wait(1.0)


def _chunks(messages: list[MessageTypeDef]) -> Iterable[list[MessageTypeDef]]:
    for start in range(0, len(messages), SQS_RECEIVE_MAX):
        yield messages[start : start + SQS_RECEIVE_MAX]

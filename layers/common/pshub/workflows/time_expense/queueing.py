"""The posting queue's side of the posting: delayed retries and dead letters with reasons.

Work that must wait (throttled, or a transient fault) goes back on the connection's own queue
as a new message with ``DelaySeconds`` and its counters in message attributes, and the
delivered one is acknowledged. So SQS's receive count, which moves a message to the DLQ
after ``maxReceiveCount`` failed receives, never grows with throttling: a month-end burst
can be throttled for hours and still never dead-letter. Work that must not be retried goes
to the DLQ at once, with the error class and the reason as message attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pshub.observability import logger, metrics
from pshub.workflows.time_expense.posting import (
    ATTEMPT_ATTRIBUTE,
    MAX_DELAY_S,
    THROTTLE_ATTRIBUTE,
    ErpPoster,
    Work,
    eventbridge_body,
    parse_work,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

ERROR_CLASS_ATTRIBUTE = "pshub-error-class"
ERROR_REASON_ATTRIBUTE = "pshub-error-reason"


class PostingQueue:
    def __init__(self, sqs: Callable[[], SQSClient], queue_url: str, dlq_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._dlq_url = dlq_url

    def requeue(self, body: str, delay_s: float, attempts: int, throttles: int) -> None:
        self._sqs().send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            DelaySeconds=max(0, min(MAX_DELAY_S, round(delay_s))),
            MessageAttributes={
                ATTEMPT_ATTRIBUTE: {"DataType": "Number", "StringValue": str(attempts)},
                THROTTLE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(throttles)},
            },
        )

    def dead_letter(self, body: str, error_class: str, reason: str) -> None:
        self._sqs().send_message(
            QueueUrl=self._dlq_url,
            MessageBody=body,
            MessageAttributes={
                ERROR_CLASS_ATTRIBUTE: {"DataType": "String", "StringValue": error_class},
                ERROR_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000] or error_class},
            },
        )
        logger.warning("posting dead-lettered", extra={"error_class": error_class})
        metrics.add_metric(name="PostingDeadLettered", unit="Count", value=1)


def handle_batch(
    event: dict[str, Any],
    poster: ErpPoster,
    queue: PostingQueue,
    remaining_s: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """One SQS batch: every message applied, requeued or dead-lettered, and acknowledged; the
    whole batch is reported failed only when the ledger itself cannot be reached.
    ``remaining_s``: the invocation's time left (what is left over goes back on the queue)."""
    works: list[Work] = []
    for record in event.get("Records", []):
        body = eventbridge_body(record["body"])
        attributes = {
            name: value.get("stringValue", "")
            for name, value in (record.get("messageAttributes") or {}).items()
        }
        try:
            works.append(parse_work(record["messageId"], body, attributes))
        except (ValidationError, ValueError, KeyError) as error:
            queue.dead_letter(
                body, "UnreadableInstruction", f"not a posting instruction: {type(error).__name__}"
            )
    try:
        outcome = poster.post(works, remaining_s)
    except Exception:
        logger.exception("posting batch failed before it settled; SQS delivers it again")
        return {"batchItemFailures": [{"itemIdentifier": w.message_id} for w in works]}
    for name, value in (
        ("TimeExpensePosted", outcome.posted),
        ("TimeExpenseAdjusted", outcome.adjusted),
        ("TimeExpenseReversed", outcome.reversed),
        ("PostingDuplicates", outcome.duplicates),
        ("PostingRefused", outcome.refused),
        ("PostingRequeued", outcome.requeued),
    ):
        if value:
            metrics.add_metric(name=name, unit="Count", value=value)
    return {"batchItemFailures": []}

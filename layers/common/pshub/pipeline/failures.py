"""Why a queued message failed: its last error, by message id, for ``pshub dlq show``.

SQS moves a message to its dead-letter queue after ``maxReceiveCount`` failed receives, and
keeps no reason. Each consumer's Powertools ``BatchProcessor`` is this one, which on every
failed record writes (one small item, only on failure) the error's class and message, the
attempt and the queue, under the message's id, which the dead-letter queue keeps. Recording
never fails the batch: a failure to record is logged and the record is reported failed as it
would have been. Each failure also counts in the ``MessagesFailed`` KPI, per queue.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.base import FailureResponse
from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo

from pshub.kpis import MESSAGES_FAILED

log = logging.getLogger(__name__)

TABLE_ENV = "FAILURES_TABLE"
KEEP_S = 15 * 86400  # a little longer than SQS keeps a message (14 days at most)
MAX_MESSAGE_CHARS = 500


@cache
def _dynamodb() -> Any:
    import boto3

    return boto3.client("dynamodb")


def describe_error(error: BaseException | None) -> tuple[str, str]:
    """(class, first line of the message, bounded): what an operator reads beside a dead letter."""
    if error is None:
        return "Unknown", ""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return type(error).__name__, text[:MAX_MESSAGE_CHARS]


def _queue_name(record: Any) -> str:
    return str(getattr(record, "event_source_arn", "") or "").rsplit(":", 1)[-1]


class FailureRecordingProcessor(BatchProcessor):
    """``BatchProcessor`` (SQS) that records each failed record's error under its message id."""

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        super().__init__(event_type=EventType.SQS)
        self._table = table if table is not None else os.environ.get(TABLE_ENV, "")
        self._client = client

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        entry = super().failure_handler(record, exception)
        MESSAGES_FAILED.emit(1, queue=_queue_name(record))
        if self._table:
            try:
                self._record(record, exception[1])
            except Exception:  # never turn a recorded failure into a lost batch
                log.warning("could not record why message %s failed", getattr(record, "message_id", "?"))
        return entry

    def _record(self, record: Any, error: BaseException | None) -> None:
        error_class, message = describe_error(error)
        attributes = getattr(record, "attributes", None)
        attempt = str(getattr(attributes, "approximate_receive_count", None) or "1")
        queue = _queue_name(record)
        now = time.time()
        (self._client or _dynamodb()).put_item(
            TableName=self._table,
            Item={
                "id": {"S": record.message_id},
                "queue": {"S": queue},
                "error_class": {"S": error_class},
                "error": {"S": message or "-"},
                "attempt": {"N": attempt if attempt.isdigit() else "1"},
                "failed_at": {"S": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")},
                "expires_at": {"N": str(int(now + KEEP_S))},
            },
        )


def read_failures(client: Any, table: str, message_ids: list[str]) -> dict[str, dict[str, str]]:
    """Message id -> {queue, error_class, error, attempt, failed_at} for those recorded."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(message_ids), 100):
        keys = [{"id": {"S": m}} for m in dict.fromkeys(message_ids[start : start + 100])]
        request: dict[str, Any] = {table: {"Keys": keys}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                found[item["id"]["S"]] = {k: next(iter(v.values())) for k, v in item.items() if k != "id"}
            request = answer.get("UnprocessedKeys") or {}
    return found

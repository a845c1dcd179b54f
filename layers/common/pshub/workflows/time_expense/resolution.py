"""A person resolves a time or expense posting exception: post it again once fixed, or let it go.

The exception keeps the instruction that failed (``context.retry``): for an entry pshub could
not place or price, the synced change the approvals step reads again; for an entry the ERP
refused, the posting instruction itself. Retrying puts it back on the queue it came from: the
approvals step or the ERP connection's posting queue, where the ledger makes it post exactly
once (the refused version is applied again; anything already posted is a duplicate).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pshub.business_exceptions import BusinessException, Category, Status
from pshub.store.exceptions_store import ExceptionStore

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

APPROVALS_QUEUE = "time_expense_changes"


class NotRetryable(ValueError):
    pass


def retry_queue(exception: BusinessException, posting_queue_of: Callable[[str], str]) -> tuple[str, str]:
    """(queue key, message body) that retrying ``exception`` sends."""
    retry = exception.context.get("retry")
    if exception.category is not Category.POSTING_REJECTED or not isinstance(retry, dict):
        raise NotRetryable(f"{exception.id} ({exception.category.value}) holds no posting to retry")
    event = retry.get("event")
    if not isinstance(event, dict):
        raise NotRetryable(f"{exception.id}: the instruction to retry is missing")
    if retry.get("stage") == "posting":
        return posting_queue_of(str(retry.get("erp_connection"))), json.dumps(event, separators=(",", ":"))
    # The approvals step reads EventBridge's envelope, as the bus delivers it.
    envelope = {"detail-type": event.get("event_type"), "source": "pshub.canonical", "detail": event}
    return APPROVALS_QUEUE, json.dumps(envelope, separators=(",", ":"))


def resolve_posting(
    exceptions: ExceptionStore,
    sqs: SQSClient,
    exception_id: str,
    action: Literal["retry", "abandon"],
    note: str,
    *,
    queue_url: Callable[[str], str],
    posting_queue_of: Callable[[str], str],
) -> BusinessException:
    exception = exceptions.get(exception_id)
    if exception is None:
        raise NotRetryable(f"no business exception {exception_id!r}")
    if exception.status is Status.RESOLVED:
        raise NotRetryable(f"{exception_id} was already resolved: {exception.resolution}")
    if action == "abandon":
        return exceptions.resolve(exception_id, f"abandon (not posted): {note}")
    key, body = retry_queue(exception, posting_queue_of)
    # Resolved first: a retry that fails the same way opens it again (raise_or_reopen).
    resolved = exceptions.resolve(exception_id, f"retry: {note}")
    sqs.send_message(QueueUrl=queue_url(key), MessageBody=body)
    return resolved

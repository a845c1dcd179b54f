"""The trace index: every canonical event, filed under each business key it names.

The whole batch is written together (BatchWriteItem, 25 items a call); a record that is not a
canonical event fails alone and reaches the dead-letter queue after its retries.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.observability import logger, metrics
from pshub.store.trace import TraceIndex

index = TraceIndex(boto3.client("dynamodb"), os.environ["TRACE_TABLE"])


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    events, failed = [], []
    for record in event.get("Records", []):
        try:
            envelope = json.loads(record["body"])
            events.append((envelope["detail"], str(envelope["time"])))
        except (ValueError, KeyError, TypeError):
            logger.warning(
                "not a canonical event; left for the dead-letter queue",
                extra={"message_id": record.get("messageId")},
            )
            failed.append({"itemIdentifier": record["messageId"]})
    written = index.index(events)
    metrics.add_metric(name="TraceItemsWritten", unit="Count", value=written)
    return {"batchItemFailures": failed}

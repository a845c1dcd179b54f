"""ERP posting: one ERP connection's queue of posting instructions -> the ERP, exactly once."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.connectors.registry import erp
from pshub.observability import logger, metrics
from pshub.settings import ErpPostingSettings, read_settings
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.postings import PostingLedger
from pshub.workflows.time_expense.posting import ErpPoster
from pshub.workflows.time_expense.queueing import PostingQueue, handle_batch

settings = read_settings(ErpPostingSettings)
_dynamodb = boto3.client("dynamodb")
connections = load_registry(settings.pshub_connections)
queue = PostingQueue(cache(lambda: boto3.client("sqs")), settings.posting_queue_url, settings.posting_dlq_url)
poster = ErpPoster(
    connection_id=settings.erp_connection,
    connector=lambda: erp(settings.erp_connection, connections),
    ledger=PostingLedger(_dynamodb, settings.postings_table),
    exceptions=ExceptionStore(_dynamodb, settings.exceptions_table),
    requeue=queue.requeue,
    dead_letter=queue.dead_letter,
)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_batch(event, poster, queue, lambda: context.get_remaining_time_in_millis() / 1000)

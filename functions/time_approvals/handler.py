"""Approvals: synced time entries and expenses -> posting instructions on the bus."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.canonical.envelope import CanonicalEvent
from pshub.observability import logger, metrics
from pshub.pipeline.failures import FailureRecordingProcessor
from pshub.settings import TimeApprovalsSettings, read_settings
from pshub.store.event_bus import EventBusPublisher
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.identity import IdentityStore
from pshub.store.postings import PostingLedger
from pshub.store.projects import ProjectDirectory
from pshub.workflows.time_expense.approvals import TimeApprovals

settings = read_settings(TimeApprovalsSettings)
_dynamodb = boto3.client("dynamodb")
_publisher = EventBusPublisher(boto3.client("events"), settings.event_bus_name)
approvals = TimeApprovals(
    identity=IdentityStore(_dynamodb, settings.identity_table),
    directory=ProjectDirectory(_dynamodb, settings.identity_table),
    ledger=PostingLedger(_dynamodb, settings.postings_table),
    exceptions=ExceptionStore(_dynamodb, settings.exceptions_table),
    publish=_publisher.publish,
)
processor = FailureRecordingProcessor()


def announce(record: SQSRecord) -> None:
    event = CanonicalEvent.model_validate(json.loads(record.body)["detail"])
    logger.set_correlation_id(event.correlation_id)
    if approvals.handle(event) is not None:
        metrics.add_metric(name="PostingInstructions", unit="Count", value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=announce, processor=processor, context=context
    )

"""Starts the opportunity-to-project workflow for each OpportunityClosedWon on the queue."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.observability import logger, metrics
from pshub.pipeline.failures import FailureRecordingProcessor
from pshub.settings import StarterSettings, read_settings
from pshub.store.inbox import ConsumerInbox
from pshub.workflows.provisioning.starter import CONSUMER, ProvisioningStarter

settings = read_settings(StarterSettings)
starter = ProvisioningStarter(
    boto3.client("stepfunctions"),
    settings.provisioning_state_machine_arn,
    ConsumerInbox(DynamoDBPersistenceLayer(table_name=settings.inbox_table), CONSUMER),
)
processor = FailureRecordingProcessor()


def start_for(record: SQSRecord, lambda_context: LambdaContext) -> None:
    # The deadline bounds the inbox's in-progress claim: a crash frees it for the retry.
    if starter.start(json.loads(record.body), lambda_context.get_remaining_time_in_millis) is not None:
        metrics.add_metric(name="ProvisioningStarted", unit="Count", value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=start_for, processor=processor, context=context
    )

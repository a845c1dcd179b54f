"""Starts one change-order execution per ChangeOrderApproved on the queue (reading one that
named only its deal from the CRM first)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.connectors.registry import connector_for_id
from pshub.observability import logger, metrics
from pshub.pipeline.failures import FailureRecordingProcessor
from pshub.settings import StartAmendmentSettings, read_settings
from pshub.store.exceptions_store import ExceptionStore
from pshub.workflows.amendments.starter import AmendmentStarter

settings = read_settings(StartAmendmentSettings)
connections = load_registry(settings.pshub_connections)
starter = AmendmentStarter(
    boto3.client("stepfunctions"),
    settings.amendment_state_machine_arn,
    connector_for=lambda connection_id, role: connector_for_id(connections, connection_id, role),
    exceptions=ExceptionStore(boto3.client("dynamodb"), settings.exceptions_table),
)
processor = FailureRecordingProcessor()


def start_for(record: SQSRecord) -> None:
    if starter.start(json.loads(record.body)["detail"]) is not None:
        metrics.add_metric(name="AmendmentStarted", unit="Count", value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=start_for, processor=processor, context=context
    )

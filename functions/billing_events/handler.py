"""Milestones completed start their billing run; invoices paid mark their lines paid."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.observability import logger, metrics
from pshub.pipeline.failures import FailureRecordingProcessor
from pshub.settings import BillingEventsSettings, read_settings
from pshub.store.billing import BillingLedger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.projects import ProjectDirectory
from pshub.workflows.billing.events import BillingEvents

settings = read_settings(BillingEventsSettings)
_dynamodb = boto3.client("dynamodb")
_sfn = boto3.client("stepfunctions")
processor = FailureRecordingProcessor()


def start_run(name: str, state: dict[str, Any]) -> bool:
    """Start the billing run ``name``; False if a run of that name exists already."""
    try:
        _sfn.start_execution(
            stateMachineArn=settings.billing_state_machine_arn, name=name, input=json.dumps(state)
        )
    except _sfn.exceptions.ExecutionAlreadyExists:
        return False
    return True


events = BillingEvents(
    directory=ProjectDirectory(_dynamodb, settings.identity_table),
    ledger=BillingLedger(_dynamodb, settings.billing_table),
    exceptions=ExceptionStore(_dynamodb, settings.exceptions_table),
    start_run=start_run,
)


def handle(record: SQSRecord) -> None:
    detail = json.loads(record.body)["detail"]
    events.handle(detail)
    metrics.add_metric(name=f"BillingEvent_{detail['event_type']}", unit="Count", value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)

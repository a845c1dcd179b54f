"""Starts one change-order execution per ChangeOrderApproved on the queue."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.observability import logger, metrics
from pshub.settings import StartAmendmentSettings, read_settings
from pshub.workflows.amendments.steps import execution_name

settings = read_settings(StartAmendmentSettings)
_sfn = boto3.client("stepfunctions")
processor = BatchProcessor(event_type=EventType.SQS)


def start_for(record: SQSRecord) -> None:
    detail = json.loads(record.body)["detail"]
    logger.set_correlation_id(detail.get("correlation_id"))
    name = execution_name(detail["connection"], detail["payload"]["change_order_id"])
    try:
        _sfn.start_execution(
            stateMachineArn=settings.amendment_state_machine_arn,
            name=name,
            input=json.dumps({"event": detail}),
        )
    except _sfn.exceptions.ExecutionAlreadyExists:
        logger.info("amendment already started for this change order", extra={"execution_name": name})
        return
    logger.info("amendment started", extra={"execution_name": name})
    metrics.add_metric(name="AmendmentStarted", unit="Count", value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=start_for, processor=processor, context=context
    )

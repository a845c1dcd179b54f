"""The daily billing tick: each legal entity's run for the month before, on its billing day."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.observability import logger, metrics
from pshub.settings import BillingTickSettings, read_settings
from pshub.workflows.billing.config import load_billing_config
from pshub.workflows.billing.steps import start_due_runs

settings = read_settings(BillingTickSettings)
config = load_billing_config(settings.pshub_billing)
_sfn = boto3.client("stepfunctions")


def start_run(name: str, state: dict[str, Any]) -> bool:
    """Start the billing run ``name``; False if a run of that name exists already."""
    try:
        _sfn.start_execution(
            stateMachineArn=settings.billing_state_machine_arn, name=name, input=json.dumps(state)
        )
    except _sfn.exceptions.ExecutionAlreadyExists:
        return False
    return True


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = start_due_runs(config, datetime.fromtimestamp(time.time(), UTC).date(), start_run)
    if started["started"]:
        logger.info("billing runs started", extra=started)
        metrics.add_metric(name="BillingRunsStarted", unit="Count", value=len(started["started"]))
    return started

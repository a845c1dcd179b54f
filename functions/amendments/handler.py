"""The change-order workflow's Task states: ``{"op": step, "state": {...}}``."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.connectors.registry import connector_for_id
from pshub.observability import logger, metrics
from pshub.settings import AmendmentSettings, read_settings
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.projects import ProjectDirectory
from pshub.workflows.amendments.steps import AmendmentSteps, as_workflow_error

settings = read_settings(AmendmentSettings)
_dynamodb = boto3.client("dynamodb")
connections = load_registry(settings.pshub_connections)
steps = AmendmentSteps(
    connector_for=lambda connection_id, role: connector_for_id(connections, connection_id, role),
    directory=ProjectDirectory(_dynamodb, settings.identity_table),
    exceptions=ExceptionStore(_dynamodb, settings.exceptions_table),
)


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="state.event.correlation_id", clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    op = event["op"]
    logger.append_keys(step=op)
    try:
        return steps.run(op, event.get("state", {}), event)
    except Exception as error:
        # Step Functions matches on the error's type name: TransientError is retried with
        # backoff, anything else is caught and parked with this structured message.
        raise as_workflow_error(op, error) from error

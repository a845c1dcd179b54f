"""The billing workflow's Task states: ``{"op": step, "state": {...}}``."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.connectors.registry import connector_for_id
from pshub.observability import logger, metrics
from pshub.settings import BillingSettings, read_settings
from pshub.store.billing import BillingLedger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.postings import PostingLedger
from pshub.store.projects import ProjectDirectory
from pshub.workflows.billing.config import load_billing_config
from pshub.workflows.billing.steps import BillingSteps

settings = read_settings(BillingSettings)
_dynamodb = boto3.client("dynamodb")
connections = load_registry(settings.pshub_connections)


steps = BillingSteps(
    directory=ProjectDirectory(_dynamodb, settings.identity_table),
    postings=PostingLedger(_dynamodb, settings.postings_table),
    ledger=BillingLedger(_dynamodb, settings.billing_table),
    exceptions=ExceptionStore(_dynamodb, settings.exceptions_table),
    config=load_billing_config(settings.pshub_billing),
    target_for=lambda connection_id: connector_for_id(
        connections, connection_id, connections[connection_id].role
    ),
)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    op = event["op"]
    logger.append_keys(step=op)
    result = steps.run(op, event.get("state", {}))
    if op == "bill_project":
        metrics.add_metric(name=f"Billing_{result['status']}", unit="Count", value=1)
    return result

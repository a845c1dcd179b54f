"""Starting one provisioning execution per won opportunity.

The execution name is derived from the deal (connection + opportunity id), and Step
Functions Standard refuses a second execution with the same name for 90 days: a
duplicate closed-won delivery, or the same deal won twice, starts nothing new.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pshub.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(connection: str, opportunity_id: str) -> str:
    return _NOT_ALLOWED.sub("-", f"opp-{connection}-{opportunity_id}")[:80]


class ProvisioningStarter:
    def __init__(self, sfn: SFNClient, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn

    def start(self, eventbridge_event: dict[str, Any]) -> str | None:
        """Start the workflow for an ``OpportunityClosedWon``; None when it already ran."""
        detail = eventbridge_event["detail"]
        name = execution_name(detail["connection"], detail["source_native_id"])
        logger.set_correlation_id(detail.get("correlation_id"))
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps({"event": detail})
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            logger.info("provisioning already started for this deal", extra={"execution_name": name})
            return None
        logger.info("provisioning started", extra={"execution_name": name})
        return response["executionArn"]

"""Starting one provisioning execution per won opportunity, once per canonical event.

Two guards, for two different spans of time:
- the consumer inbox (``pshub.store.inbox``): a canonical event id this starter already
  handled starts nothing for as long as the raw archive can replay it (years), where
  the normaliser's own claims last 7 days and Step Functions' names 90;
- the execution name, derived from the deal (connection + opportunity id): Step Functions
  Standard refuses a second execution with that name for 90 days after the first ended,
  which covers the seconds an inbox cannot (a crash or a failed completion write after
  the execution started: the retry finds the name taken) and the same deal won twice
  under another canonical event id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pshub.observability import logger
from pshub.store.inbox import ConsumerInbox, Seen

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# The inbox's consumer name: the starter's function key in the topology, which limits
# its role to this consumer's inbox records.
CONSUMER = "start_provisioning"
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(connection: str, opportunity_id: str) -> str:
    return _NOT_ALLOWED.sub("-", f"opp-{connection}-{opportunity_id}")[:80]


class ProvisioningStarter:
    def __init__(self, sfn: SFNClient, state_machine_arn: str, inbox: ConsumerInbox) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn
        self._inbox = inbox

    def start(self, eventbridge_event: dict[str, Any], remaining_ms: Callable[[], int]) -> str | None:
        """Start the workflow for an ``OpportunityClosedWon``; None when it already ran.

        Raises ``InFlight`` while another invocation handles the same canonical event, so
        the message is retried rather than dropped.
        """
        detail = eventbridge_event["detail"]
        name = execution_name(detail["connection"], detail["source_native_id"])
        logger.set_correlation_id(detail.get("correlation_id"))
        seen, execution_arn = self._inbox.once(
            detail["event_id"],
            remaining_ms,
            lambda: self._start(name, detail),
            lambda arn: {"execution_name": name, "execution_arn": arn},
        )
        if seen is Seen.DONE:
            logger.info(
                "canonical event already handled: nothing started",
                extra={"event_id": detail["event_id"], "execution_name": name},
            )
        return execution_arn

    def _start(self, name: str, detail: dict[str, Any]) -> str | None:
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps({"event": detail})
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            logger.info("provisioning already started for this deal", extra={"execution_name": name})
            return None
        logger.info("provisioning started", extra={"execution_name": name})
        return response["executionArn"]

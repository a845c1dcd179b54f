"""How a step's failure reaches the state machine.

Lambda reports an exception by its class name, and the state machine's Retry
matches ``TransientError`` exactly: every transient failure (a connector's timeout,
5xx, DynamoDB throttling) is re-raised as that, and everything else as
``PermanentError`` whose message is the JSON a parked exception is built from.

A platform that throttles for longer than a Lambda should sleep (the HTTP kit waits
out short ``Retry-After`` values itself) raises ``RateLimited``; it reaches the state
machine as ``Throttled`` with the step and the wait in its message, and the
execution sleeps exactly that long in a Wait state before it runs the step again,
however many times the platform asks: a throttle is never turned into a failure by a
fixed retry count.
"""

from __future__ import annotations

import json
import math

from botocore.exceptions import ClientError

from pshub.business_exceptions import Category, OwnerTeam
from pshub.connectors.errors import ConnectorError, RateLimited
from pshub.errors import PermanentError, PshubError, TransientError
from pshub.workflows.provisioning.steps import StepFailed

# Who fixes a permanent failure, by step.
_STEP_OWNERS = {
    "load_deal": OwnerTeam.SALES_OPS,
    "validate_terms": OwnerTeam.SALES_OPS,
    "upsert_erp_client": OwnerTeam.FINANCE_OPS,
    "create_erp_project": OwnerTeam.FINANCE_OPS,
    "create_psa_project": OwnerTeam.PMO,
    "push_rate_card": OwnerTeam.PMO,
    "set_up_billing": OwnerTeam.FINANCE_OPS,
}
_THROTTLING = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


# The state machine's state of each step that calls a platform (its Choice resumes there).
_STEP_STATES = {
    "load_deal": "LoadDeal",
    "upsert_erp_client": "UpsertErpClient",
    "create_erp_project": "CreateErpProject",
    "create_psa_project": "CreatePsaProject",
    "push_rate_card": "PushRateCard",
    "set_up_billing": "SetUpBilling",
}
# Step Functions waits whole seconds; a vendor's quota resets within a day.
MAX_THROTTLE_WAIT_S = 86_400


class Throttled(PshubError):
    """The step's platform asked for a wait: ``{"step": state name, "retry_after_s": n}``."""


def as_workflow_error(op: str, error: Exception) -> Exception:
    if isinstance(error, RateLimited) and op in _STEP_STATES:
        wait = min(MAX_THROTTLE_WAIT_S, max(1, math.ceil(error.retry_after_s)))
        return Throttled(json.dumps({"step": _STEP_STATES[op], "retry_after_s": wait}))
    if isinstance(error, TransientError):
        return TransientError(str(error))
    if isinstance(error, ClientError) and error.response["Error"]["Code"] in _THROTTLING:
        return TransientError(str(error))
    if isinstance(error, StepFailed):
        return PermanentError(error.to_json())
    context = error.to_dict() if isinstance(error, ConnectorError) else {"error": type(error).__name__}
    failure = StepFailed(
        str(error),
        category=Category.PROVISIONING_FAILED,
        owner_team=_STEP_OWNERS.get(op, OwnerTeam.INTEGRATION_SUPPORT),
        context=context,
    )
    return PermanentError(failure.to_json())

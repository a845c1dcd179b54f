"""How a step's failure reaches the state machine.

Lambda reports an exception by its class name, and the state machine's Retry
matches ``TransientError`` exactly: every transient failure (a connector's timeout,
429 or 5xx, DynamoDB throttling) is re-raised as that, and everything else as
``PermanentError`` whose message is the JSON a parked exception is built from.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from pshub.business_exceptions import Category, OwnerTeam
from pshub.connectors.errors import ConnectorError
from pshub.errors import PermanentError, TransientError
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


def as_workflow_error(op: str, error: Exception) -> Exception:
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

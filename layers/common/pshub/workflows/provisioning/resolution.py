"""A person resolves a parked provisioning: retry the step, or abandon (compensate)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from pshub.business_exceptions import BusinessException, Status
from pshub.store.exceptions_store import ExceptionStore

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class NotResumable(ValueError):
    pass


def resolve_parked(
    exceptions: ExceptionStore,
    sfn: SFNClient,
    exception_id: str,
    action: Literal["retry", "abandon"],
    note: str,
) -> BusinessException:
    exception = exceptions.get(exception_id)
    if exception is None:
        raise NotResumable(f"no business exception {exception_id!r}")
    if exception.status is Status.RESOLVED:
        raise NotResumable(f"{exception_id} was already resolved: {exception.resolution}")
    token = exception.context.get("task_token")
    if not token:
        raise NotResumable(f"{exception_id} ({exception.category.value}) does not hold a workflow")
    if action == "retry":
        sfn.send_task_success(taskToken=token, output=json.dumps({"action": "retry", "note": note}))
    else:
        sfn.send_task_failure(taskToken=token, error="Abandoned", cause=note[:32768])
    return exceptions.resolve(exception_id, f"{action}: {note}")

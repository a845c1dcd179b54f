"""Business exceptions for the operator: list (most at risk first), show, resolve.

``resolve`` resumes a parked provisioning at its failed step (or compensates what it created),
or, for time or an expense the ERP refused, puts the posting back on its queue once fixed,
where the posting ledger posts it exactly once. Every resolution is on the audit trail, with
who did it (the caller's IAM identity, or ``local:<user>``), the note and the status before
and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pshub.business_exceptions import (
    BusinessException,
    Category,
    OwnerTeam,
    OwnerTotals,
    Status,
    by_impact,
    matches,
    totals_by_owner,
)
from pshub.store.audit import AuditEntry, AuditLog, exception_subject
from pshub.store.exceptions_store import ExceptionStore
from pshub_local.ops.render import mask
from pshub_local.ops.target import Target

Action = Literal["retry", "abandon"]


class CannotResolve(Exception):
    """The exception is unknown, already resolved, or its work cannot be resumed; says why."""


@dataclass(frozen=True)
class Filters:
    owner: str | None = None
    category: str | None = None
    connection: str | None = None
    project: str | None = None
    older_than: timedelta | None = None


def store(target: Target) -> ExceptionStore:
    return ExceptionStore(target.client("dynamodb"), target.resource("table", "business_exceptions"))


def audit_log(target: Target) -> AuditLog:
    return AuditLog(target.client("dynamodb"), target.resource("table", "audit"))


def list_exceptions(
    target: Target, filters: Filters, include_resolved: bool = False
) -> tuple[list[BusinessException], dict[OwnerTeam, OwnerTotals]]:
    held = store(target).list(None if include_resolved else Status.OPEN)
    found = by_impact(
        e
        for e in held
        if matches(
            e,
            owner=filters.owner,
            category=filters.category,
            connection=filters.connection,
            project=filters.project,
            older_than=filters.older_than,
        )
    )
    return found, totals_by_owner(found)


def totals_doc(totals: dict[OwnerTeam, OwnerTotals]) -> dict[str, Any]:
    return {
        owner.value: {
            "count": t.count,
            "amount_at_risk": {c: str(a) for c, a in sorted(t.amounts.items())},
            "hours_at_risk": str(t.hours),
            "blocked_starts": t.blocked_starts,
        }
        for owner, t in sorted(totals.items())
    }


def exception_doc(exception: BusinessException) -> dict[str, Any]:
    """The exception as JSON, its context (the raw record it concerns) masked."""
    document = exception.model_dump(mode="json")
    document["context"] = mask(document.get("context", {}))
    return document


def show(target: Target, exception_id: str) -> tuple[BusinessException, list[AuditEntry]] | None:
    found = store(target).get(exception_id)
    if found is None:
        return None
    return found, audit_log(target).entries(exception_subject(found.id))


def resolve(target: Target, exception_id: str, action: Action, note: str) -> BusinessException:
    from pshub.workflows.provisioning.resolution import NotResumable, resolve_parked
    from pshub.workflows.time_expense.resolution import NotRetryable, resolve_posting
    from pshub_infra.topology import posting_key

    exceptions = store(target)
    audit = audit_log(target)  # found before anything is done: every resolution is audited
    held = exceptions.get(exception_id)
    try:
        if held is not None and held.category is Category.POSTING_REJECTED:
            # Time or expense: back on the queue it came from, where the ledger posts it once.
            resolved = resolve_posting(
                exceptions, target.client("sqs"), exception_id, action, note,
                queue_url=lambda key: target.resource("queue", key), posting_queue_of=posting_key,
            )  # fmt: skip
        else:
            resolved = resolve_parked(exceptions, target.client("stepfunctions"), exception_id, action, note)
    except (NotRetryable, NotResumable) as error:
        raise CannotResolve(str(error)) from None
    assert held is not None  # resolving an unknown id raises above
    audit.record(
        exception_subject(resolved.id),
        f"exception.{action}",
        target.actor(),
        note=note,
        before={"status": held.status.value, "resolution": held.resolution},
        after={"status": resolved.status.value, "resolution": resolved.resolution},
    )
    return resolved

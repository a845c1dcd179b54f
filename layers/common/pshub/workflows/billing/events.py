"""The billing workflow's events from the bus: ``MilestoneCompleted`` starts a run, ``InvoicePaid``
closes the loop.

- ``MilestoneCompleted``: the milestone is recorded completed (and accepted) on the project's
  contract in the project directory, and the project's billing run for that milestone is
  started, named ``bill-<project>-<milestone>``: its invoice is keyed by the milestone
  (``<contract>#<period>#milestone-<id>``), so a second delivery, a replay or the period's
  scheduled run never bills it twice.
- ``InvoicePaid`` (Stripe's ``invoice.paid``, normalised): the invoice pshub drafted for that
  document is marked paid, and so are its lines. A document pshub did not draft (an invoice
  finance raised by hand) is left alone and said so in the log.

A milestone pshub cannot place (no such project, or not on its contract) opens an exception for
the PMO naming the project and the milestone instead of failing the message until it is dead.

Both are idempotent on their own business keys (the milestone's completion, the execution
name, the invoice's state), so a redelivered or replayed event changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import InvoicePaymentV1, MilestoneCompletedV1
from pshub.observability import logger
from pshub.store.billing import BillingLedger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.projects import ProjectDirectory
from pshub.workflows.billing.run import mark_paid

HANDLED = ("MilestoneCompleted", "InvoicePaid")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def milestone_run_name(project_code: str, milestone_id: str) -> str:
    """The billing run of one milestone: Step Functions refuses a second run of the name."""
    return _NOT_ALLOWED.sub("-", f"bill-{project_code}-{milestone_id}")[:80]


class BillingEvents:
    def __init__(
        self,
        *,
        directory: ProjectDirectory,
        ledger: BillingLedger,
        exceptions: ExceptionStore,
        start_run: Callable[[str, dict[str, Any]], bool],
    ) -> None:
        self._directory = directory
        self._ledger = ledger
        self._exceptions = exceptions
        self._start_run = start_run

    def handle(self, detail: Mapping[str, Any]) -> dict[str, Any]:
        """One canonical event (an EventBridge event's ``detail``); what it did."""
        kind = detail.get("event_type")
        logger.set_correlation_id(detail.get("correlation_id"))
        if kind == "MilestoneCompleted":
            return self._milestone(MilestoneCompletedV1.model_validate(detail["payload"]))
        if kind == "InvoicePaid":
            return self._paid(str(detail["connection"]), InvoicePaymentV1.model_validate(detail["payload"]))
        raise ValueError(f"the billing events consumer takes {', '.join(HANDLED)}, not {kind!r}")

    def _milestone(self, event: MilestoneCompletedV1) -> dict[str, Any]:
        try:
            self._directory.complete_milestone(
                event.project_code, event.milestone_id, event.completed_on, event.accepted_on
            )
        except LookupError as error:
            self._exceptions.raise_or_reopen(
                BusinessException(
                    id=exception_id(Category.BILLING_HELD, event.project_code, event.milestone_id),
                    category=Category.BILLING_HELD,
                    owner_team=OwnerTeam.PMO,
                    title=f"{event.project_code}: milestone {event.milestone_id} completed but not billed",
                    detail=f"{error.args[0]}; link the milestone to the contract, then replay the event",
                    business_keys={"project": event.project_code, "milestone": event.milestone_id},
                )
            )
            return {"milestone": event.milestone_id, "run": None, "started": False}
        name = milestone_run_name(event.project_code, event.milestone_id)
        state = {
            "project_code": event.project_code,
            "period": _month(event.completed_on),
            "milestone_id": event.milestone_id,
        }
        started = self._start_run(name, state)
        logger.info(
            "milestone completed: billing run started" if started else "milestone billing run exists",
            extra={"project_code": event.project_code, "milestone_id": event.milestone_id, "run": name},
        )
        return {"milestone": event.milestone_id, "run": name, "started": started}

    def _paid(self, connection: str, event: InvoicePaymentV1) -> dict[str, Any]:
        record = mark_paid(self._ledger, connection, event.invoice_id)
        if record is None:
            logger.info(
                "invoice paid that pshub did not draft: nothing to mark",
                extra={"connection": connection, "document_id": event.invoice_id},
            )
            return {"invoice": None, "document_id": event.invoice_id}
        logger.info("invoice paid", extra={"invoice_key": record.key, "project_code": record.project_code})
        return {"invoice": record.key, "state": record.state}


def _month(day: date) -> str:
    return day.strftime("%Y-%m")

"""The billing workflow's Task states: ``{"op": step, "state": {...}}``.

``bill_projects`` (Step Functions, ``infra/statemachines/bill_projects.asl.json``) runs them:

- ``due_projects``: the projects a run bills: the one named (``pshub billing run --project``),
  or every project of the legal entity (the scheduled run); and the period (default: the
  month before today, UTC).
- ``bill_project`` (in a Map, one per project): reads what the ERP holds for the project in the
  period (the posting ledger), the contract as activated and the legal entity's invoicing
  rules, and drafts the invoice once (``run.bill``). A held project gets one business exception
  with every reason and the amount held. Returns the canonical event to publish
  (``InvoiceReady`` or ``BillingHeld``), which the state machine puts on the bus.

``start_due_runs`` is the daily schedule's (the ``billing_tick`` function): on a legal entity's
billing day it starts the entity's run for the month before, named ``bill-<entity>-<period>``
(a second start of the same name is refused by Step Functions: one scheduled run per entity
and period, however often it ticks; the billing ledger bills once even if two ran).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import (
    BillingHeldV1,
    BillingHoldV1,
    InvoiceLineV1,
    InvoiceReadyV1,
    make_event,
)
from pshub.canonical.model import BillingModel, Money
from pshub.store.billing import BillingLedger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.postings import PostingLedger, PostingRecord
from pshub.store.projects import DirectoryEntry, ProjectDirectory
from pshub.workflows.billing.config import BillingConfig
from pshub.workflows.billing.readiness import (
    BillingTerms,
    CompletedMilestone,
    Draft,
    EntityProfile,
    Hold,
    PeriodInputs,
    PostedExpense,
    PostedTime,
    Rounding,
    assess,
)
from pshub.workflows.billing.run import BillingOutcome, InvoiceTarget, bill

SOURCE_CONNECTION = "pshub-billing"
# An invoice that counts as billed: sent (or on its way) and not credited.
_BILLED_STATES = ("sending", "drafted", "paid")


class BillingSteps:
    def __init__(
        self,
        *,
        directory: ProjectDirectory,
        postings: PostingLedger,
        ledger: BillingLedger,
        exceptions: ExceptionStore,
        config: BillingConfig,
        target_for: Callable[[str], object],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._postings = postings
        self._ledger = ledger
        self._exceptions = exceptions
        self._config = config
        self._target_for = target_for
        self._clock = clock

    def run(self, op: str, state: Mapping[str, Any]) -> Any:
        steps: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "due_projects": self.due_projects,
            "bill_project": self.bill_project,
            "project_failed": self.project_failed,
        }
        if op not in steps:
            raise ValueError(f"unknown billing step {op!r}")
        return steps[op](state)

    # -- steps ----------------------------------------------------------------------------------
    def due_projects(self, state: Mapping[str, Any]) -> dict[str, Any]:
        period = state.get("period") or _previous_month(self._today())
        _check_period(period)
        if state.get("project_code"):
            codes = [str(state["project_code"])]
        elif state.get("legal_entity"):
            codes = [
                code
                for code in self._directory.codes_of(str(state["legal_entity"]))
                if (entry := self._directory.get(code)) is not None and entry.status == "active"
            ]
        else:
            raise ValueError("a billing run needs project_code or legal_entity")
        return {
            "period": period,
            "projects": codes,
            "dry_run": bool(state.get("dry_run")),
            "milestone_id": state.get("milestone_id") if state.get("project_code") else None,
        }

    def bill_project(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The project's outcome: ``event`` (to publish, or None) and ``summary`` (the run's
        output for it: small, so a run over hundreds of projects stays within Step Functions'
        256 KB payload)."""
        report = self._bill_project(state)
        report["summary"] = {k: v for k, v in report.items() if k != "event" and v is not None}
        return report

    def _bill_project(self, state: Mapping[str, Any]) -> dict[str, Any]:
        code, period = str(state["project_code"]), str(state["period"])
        _check_period(period)
        entry = self._directory.get(code)
        if entry is None:
            return {
                "project_code": code,
                "status": "refused",
                "reason": f"no project {code} in the directory",
            }
        if entry.contract is None or not entry.client_id or not entry.invoicing_connection:
            return {
                "project_code": code,
                "status": "refused",
                "reason": f"project {code} was activated before its contract was recorded for billing",
            }
        milestone = state.get("milestone_id")
        inputs = self.inputs(entry, period, milestone=str(milestone) if milestone else None)
        if state.get("dry_run"):
            draft = assess(inputs)
            return {"project_code": code, "status": "dry_run", "draft": _draft_doc(draft), "event": None}
        run = str(state.get("run_id") or "billing")
        target = self._target_for(entry.invoicing_connection)
        if not isinstance(target, InvoiceTarget):
            outcome = BillingOutcome(
                "refused",
                None,
                reason=f"{entry.invoicing_connection} ({entry.invoicing_route}) cannot draft invoices yet: "
                "its connector has no invoicing",
            )
        else:
            outcome = bill(
                inputs,
                client_id=entry.client_id,
                ledger=self._ledger,
                target=target,
                owner=run,
                # A milestone's invoice is its own: keyed by the milestone, not the period.
                cycle=f"milestone-{milestone}" if milestone else "period",
            )
        if (
            outcome.status == "nothing_to_bill"
            and outcome.draft is not None
            and outcome.draft.rolled_out_hours
        ):
            self._ledger.note_cycle(entry.contract.id, period, str(outcome.draft.rolled_out_hours))
        return self._reported(entry, period, outcome, run)

    def project_failed(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A project's billing step failed past its retries: an exception for finance ops, so
        the period is not silently left unbilled (the run goes on with the other projects)."""
        code, period = str(state["project_code"]), str(state["period"])
        error = state.get("error") or {}
        self._exceptions.raise_or_reopen(
            BusinessException(
                id=exception_id(Category.BILLING_HELD, code, period, "failed"),
                category=Category.BILLING_HELD,
                owner_team=OwnerTeam.FINANCE_OPS,
                title=f"{code} {period}: the billing run failed; nothing was invoiced",
                detail=f"{error.get('Error') or 'error'}: {str(error.get('Cause') or '')[:500]}",
                business_keys={"project": code, "period": period},
            )
        )
        return {"project_code": code, "status": "failed", "error": error.get("Error")}

    # -- inputs ---------------------------------------------------------------------------------
    def inputs(self, entry: DirectoryEntry, period: str, milestone: str | None = None) -> PeriodInputs:
        """The period as the ledgers hold it: posted lines, the contract, the entity's rules.
        ``milestone``: only that milestone (a ``MilestoneCompleted`` run), no time or expenses."""
        contract = entry.contract
        assert contract is not None
        profile = self._config.profile(entry.legal_entity)
        posted = [] if milestone else self._postings.posted_in(entry.code, period)
        end = _period_end(period)
        open_on_project = tuple(
            e.id
            for e in self._exceptions.list()
            if e.business_keys.get("project") == entry.code and e.category is not Category.BILLING_HELD
        )
        return PeriodInputs(
            project_code=entry.code,
            period=period,
            terms=BillingTerms.from_contract(contract, rate_cards=entry.rate_cards),
            # An entity without invoicing rules has no tax rates: readiness holds the invoice.
            profile=profile or EntityProfile(entry.legal_entity, Rounding.HALF_UP, {}),
            tax_jurisdiction=contract.tax_jurisdiction,
            time=tuple(_time(r) for r in posted if r.kind == "time" and r.hours is not None),
            expenses=tuple(_expense(r) for r in posted if r.kind == "expense" and r.amount is not None),
            milestones=tuple(
                CompletedMilestone(m.id, m.name, m.amount, m.completed_on, m.accepted_on)
                for m in contract.milestones
                if m.completed_on is not None
                and m.completed_on <= end
                and (milestone is None or m.id == milestone)
            ),
            open_exceptions=open_on_project,
            unapproved=0 if milestone else len(self._postings.awaiting_in(entry.code, period)),
            fx_rates=self._config.fx_rates(entry.legal_entity, period),
            plan_bills_fee=entry.invoicing_route == "billing_platform"
            and contract.billing_model in (BillingModel.RETAINER, BillingModel.USAGE),
            **self._billed_before(contract.id, contract.currency, period),
        )

    def _billed_before(self, contract_id: str, currency: str, period: str) -> dict[str, Any]:
        """What the contract's invoices so far mean for this one: billed to date (before tax,
        for the budget cap) and the retainer hours the month before rolled into this one."""
        invoices = list(self._ledger.of_contract(contract_id).values())
        live = [i for i in invoices if i.get("state") in _BILLED_STATES]
        billed = sum((Decimal(i["subtotal"]) for i in live if i.get("subtotal")), Decimal(0))
        before = _previous_month(datetime.strptime(period, "%Y-%m").date())
        # A month's roll-over: its invoice's, or the note of a month the platform's plan billed.
        rolled = sum(
            (
                Decimal(i["rolled_out_hours"])
                for i in [*live, *(i for i in invoices if i.get("state") == "plan")]
                if i.get("period") == before and i.get("rolled_out_hours")
            ),
            Decimal(0),
        )
        return {"billed_to_date": Money(amount=billed, currency=currency), "rolled_in_hours": rolled}

    # -- outcomes -------------------------------------------------------------------------------
    def _reported(
        self, entry: DirectoryEntry, period: str, outcome: BillingOutcome, run: str
    ) -> dict[str, Any]:
        report: dict[str, Any] = {
            "project_code": entry.code,
            "status": outcome.status,
            "invoice_key": outcome.invoice_key,
            "reason": outcome.reason,
            "event": None,
        }
        if outcome.status == "drafted" and outcome.invoice is not None and outcome.draft is not None:
            draft = outcome.draft
            payload = InvoiceReadyV1(
                invoice_key=outcome.invoice.key,
                project_code=entry.code,
                period=period,
                legal_entity=entry.legal_entity,
                invoicing_connection=outcome.invoice.connection or "",
                document_id=outcome.invoice.document_id or "",
                subtotal=draft.subtotal,
                tax=draft.tax,
                total=draft.total,
                lines=[
                    InvoiceLineV1(
                        description=line.description,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        amount=line.amount,
                        sources=list(line.sources),
                    )
                    for line in draft.lines
                ],
            )
            report["event"] = self._event(
                "InvoiceReady", payload, outcome.invoice.key, entry.legal_entity, run
            )
            report["total"] = str(draft.total.amount)
        elif outcome.status == "held" and outcome.draft is not None:
            report["event"] = self._held(entry, period, outcome.draft, outcome.holds, run)
            report["holds"] = [h.reason for h in outcome.holds]
        elif outcome.status == "refused":
            self._exceptions.raise_or_reopen(
                BusinessException(
                    id=exception_id(Category.BILLING_HELD, entry.code, period, "refused"),
                    category=Category.BILLING_HELD,
                    owner_team=OwnerTeam.FINANCE_OPS,
                    title=f"{entry.code} {period}: the invoice could not be drafted",
                    detail=outcome.reason or "refused by the invoicing platform",
                    business_keys={"project": entry.code, "period": period},
                )
            )
        return report

    def _held(
        self, entry: DirectoryEntry, period: str, draft: Draft, holds: tuple[Hold, ...], run: str
    ) -> dict[str, Any]:
        owners = sorted({h.owner for h in holds}, key=lambda o: o.value)
        held = exception_id(Category.BILLING_HELD, entry.code, period)
        self._exceptions.raise_or_reopen(
            BusinessException(
                id=held,
                category=Category.BILLING_HELD,
                owner_team=owners[0] if len(owners) == 1 else OwnerTeam.FINANCE_OPS,
                title=f"{entry.code} {period}: invoice of {_money(draft.total)} held ({len(holds)} reasons)",
                detail="; ".join(f"{h.message} [{h.owner.value}]" for h in holds),
                business_keys={"project": entry.code, "period": period},
                context={"holds": [{"reason": h.reason, "owner": h.owner.value} for h in holds]},
                amount_at_risk=_money(draft.total),
            )
        )
        payload = BillingHeldV1(
            project_code=entry.code,
            period=period,
            legal_entity=entry.legal_entity,
            amount_held=draft.total if draft.lines else None,
            holds=[BillingHoldV1(reason=h.reason, message=h.message, owner=h.owner.value) for h in holds],
            exception_id=held,
        )
        return self._event("BillingHeld", payload, f"{entry.code}#{period}#{run}", entry.legal_entity, run)

    def _event(self, kind: str, payload: Any, key: str, entity: str, run: str) -> dict[str, Any]:
        """The canonical event; its id derives from ``key`` (the invoice key: a retried run
        announces the same invoice under the same id)."""
        event = make_event(
            kind,
            payload,
            connection=SOURCE_CONNECTION,
            source_platform="pshub",
            source_native_id=key,
            source_event_id=key,
            occurred_at=datetime.fromtimestamp(self._clock(), UTC),
            correlation_id=run,
            legal_entity=entity,
        )
        return {"detail_type": kind, "detail": event.model_dump(mode="json")}

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()


def start_due_runs(
    config: BillingConfig, today: date, start_run: Callable[[str, dict[str, Any]], bool]
) -> dict[str, Any]:
    """The daily tick: each legal entity's run for the month before, from its billing day on.
    ``start_run(name, input)`` is False when a run of that name exists: one per entity and period."""
    period = _previous_month(today)
    started = [
        entity
        for entity, rules in sorted(config.legal_entities.items())
        if today.day >= rules.billing_day
        and start_run(f"bill-{entity}-{period}", {"legal_entity": entity, "period": period})
    ]
    return {"period": period, "started": started}


def _time(record: PostingRecord) -> PostedTime:
    line = record.line or {}
    return PostedTime(
        entry_id=record.entry_id,
        version=record.version,
        day=date.fromisoformat(str(line["work_date"])),
        role=line.get("role"),
        hours=Decimal(str(line["hours"])),
        billable=bool(line.get("billable", True)),
    )


def _expense(record: PostingRecord) -> PostedExpense:
    line = record.line or {}
    return PostedExpense(
        entry_id=record.entry_id,
        version=record.version,
        day=date.fromisoformat(str(line["work_date"])),
        amount=Money.model_validate(line["amount"]),
        category=line.get("category"),
        billable=bool(line.get("billable", True)),
    )


def _draft_doc(draft: Draft) -> dict[str, Any]:
    return {
        "lines": [
            {"description": line.description, "amount": _money(line.amount), "sources": list(line.sources)}
            for line in draft.lines
        ],
        "subtotal": _money(draft.subtotal),
        "tax": _money(draft.tax),
        "total": _money(draft.total),
        "holds": [{"reason": h.reason, "message": h.message, "owner": h.owner.value} for h in draft.holds],
    }


def _money(money: Money) -> str:
    return f"{money.amount} {money.currency}"


def _check_period(period: str) -> None:
    try:
        datetime.strptime(period, "%Y-%m")
    except ValueError:
        raise ValueError(f"a billing period is a month, YYYY-MM: not {period!r}") from None


def _previous_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def _period_end(period: str) -> date:
    first = datetime.strptime(period, "%Y-%m").date()
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)

"""The change-order workflow's Task states: ``{"op": step, "state": {...}}``.

``amend_contract`` (Step Functions, ``infra/statemachines/amend_contract.asl.json``) runs one
execution per approved change order (named by its id: a second delivery starts nothing):

1. ``check_contract``: the project is known, and its contract is active in the CRM (read
   through the CRM's connector, the deal's own record): an amendment to a contract that is
   closed or not signed yet is not applied, and sales ops are told.
2. ``update_erp``: the ERP project's budget and end date (its controls) are the amended ones.
3. ``update_psa``: the PSA project's budget and end date, its rates (the new rate card
   version is pushed) and its plan (the milestones added or re-priced, each once).
4. ``record_amendment``: pshub's own record (the project directory) takes the new rate card
   version from the amendment's effective date, the milestones and the budget: time worked
   before the date keeps the old rate (posting and billing read ``rate_in_force``), time after
   it gets the new one; a fixed-fee milestone added is billable once completed.
5. the state machine publishes ``ContractAmended``, and ``ResourcingChangeRequested`` for
   resource planning when the amendment changes staffing.

Every step is idempotent (the same budget written again, the same rate card pushed again, an
amendment number recorded once), so a retry or a resumed execution changes nothing twice. A
step that fails permanently parks the execution on a business exception owned by whoever can
fix it (``park``); ``pshub exceptions resolve ID --retry`` runs the step again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import (
    CanonicalEvent,
    ChangeOrderApprovedV1,
    ContractAmendedV1,
    ResourcingChangeRequestedV1,
    make_event,
)
from pshub.canonical.model import ContractAmendment, ContractStatus
from pshub.errors import PermanentError, TransientError
from pshub.observability import logger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.projects import DirectoryEntry, ProjectDirectory

ConnectorFor = Callable[[str, str], Any]  # (connection id, role) -> connector

# Who fixes a step's permanent failure.
STEP_OWNERS = {
    "check_contract": OwnerTeam.SALES_OPS,
    "update_erp": OwnerTeam.FINANCE_OPS,
    "update_psa": OwnerTeam.PMO,
    "record_amendment": OwnerTeam.INTEGRATION_SUPPORT,
}
# A contract takes amendments once signed and until it is closed.
_AMENDABLE = (ContractStatus.APPROVED, ContractStatus.ACTIVE)
_THROTTLING = {"ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"}


class AmendmentFailed(PermanentError):
    """A permanent failure, with the team that can fix it (the parked exception's owner)."""

    def __init__(self, message: str, owner_team: OwnerTeam) -> None:
        super().__init__(message)
        self.owner_team = owner_team

    def to_json(self) -> str:
        return json.dumps({"message": self.message, "owner_team": self.owner_team.value})


def as_workflow_error(op: str, error: Exception) -> Exception:
    """Step Functions retries ``TransientError`` by name; anything else parks, with its owner."""
    if isinstance(error, TransientError):
        return TransientError(str(error))
    if isinstance(error, ClientError) and error.response["Error"]["Code"] in _THROTTLING:
        return TransientError(str(error))
    if isinstance(error, AmendmentFailed):
        return PermanentError(error.to_json())
    owner = STEP_OWNERS.get(op, OwnerTeam.INTEGRATION_SUPPORT)
    return PermanentError(AmendmentFailed(str(error), owner).to_json())


class AmendmentSteps:
    def __init__(
        self,
        *,
        connector_for: ConnectorFor,
        directory: ProjectDirectory,
        exceptions: ExceptionStore,
    ) -> None:
        self._connector_for = connector_for
        self._directory = directory
        self._exceptions = exceptions

    def run(self, op: str, state: dict[str, Any], payload: dict[str, Any]) -> Any:
        steps: dict[str, Callable[[dict[str, Any]], Any]] = {
            "check_contract": self.check_contract,
            "update_erp": self.update_erp,
            "update_psa": self.update_psa,
            "record_amendment": self.record_amendment,
        }
        if op == "park":
            return self.park(payload)
        if op not in steps:
            raise ValueError(f"unknown amendment step {op!r}")
        return steps[op](state)

    # -- steps ----------------------------------------------------------------------------------
    def check_contract(self, state: dict[str, Any]) -> dict[str, Any]:
        order = _order(state)
        entry = self._entry(order.project_code)
        crm = order.terms.crm_connection or entry.crm_connection
        deal = order.terms.opportunity_native_id or entry.opportunity_native_id
        status = entry.contract.status if entry.contract else None
        if crm and deal:
            details = self._connector_for(crm, "crm").get_opportunity(deal)
            status = details.contract.status if details.contract is not None else None
        if status not in _AMENDABLE:
            raise AmendmentFailed(
                f"change order {order.change_order_id} on {order.project_code}: the contract is "
                f"{status.value if status else 'missing'} in {crm or 'pshub'}, so the amendment is not "
                "applied; activate the contract (or withdraw the change order), then retry",
                OwnerTeam.SALES_OPS,
            )
        return {
            "contract_status": status.value if status else None,
            "erp": {"connection": entry.erp_connection, "native_id": entry.erp_project_id},
            "psa": {"connection": entry.psa_connection, "native_id": entry.psa_project_id}
            if entry.psa_connection and entry.psa_project_id
            else None,
        }

    def update_erp(self, state: dict[str, Any]) -> dict[str, Any]:
        order, erp = _order(state), state["checked"]["erp"]
        if order.terms.budget is None and order.terms.end_date is None:
            return {"updated": False}
        self._connector_for(erp["connection"], "erp").amend_project(
            erp["native_id"], order.project_code, budget=order.terms.budget, end_date=order.terms.end_date
        )
        return {"updated": True}

    def update_psa(self, state: dict[str, Any]) -> dict[str, Any]:
        order, psa = _order(state), state["checked"]["psa"]
        if psa is None:
            return {"updated": False, "reason": "the project has no PSA project recorded"}
        connector = self._connector_for(psa["connection"], "psa")
        if order.terms.budget is not None or order.terms.end_date is not None:
            connector.amend_project(
                psa["native_id"], order.project_code, budget=order.terms.budget, end_date=order.terms.end_date
            )
        if order.terms.rate_card is not None:
            connector.push_rate_card(psa["native_id"], order.terms.rate_card)
        pushed = (
            connector.push_milestones(psa["native_id"], order.project_code, order.terms.milestones)
            if order.terms.milestones
            else {}
        )
        return {"updated": True, "milestones": pushed}

    def record_amendment(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """The amendment in pshub's directory; the events the state machine publishes."""
        order = _order(state)
        self._directory.amend(
            order.project_code,
            order.amendment,
            budget=order.terms.budget,
            end_date=order.terms.end_date,
            rate_card=order.terms.rate_card,
            milestones=list(order.terms.milestones),
        )
        checked = state["checked"]
        systems = {checked["erp"]["connection"]: checked["erp"]["native_id"]}
        if checked.get("psa"):
            systems[checked["psa"]["connection"]] = checked["psa"]["native_id"]
        event = _event(state)
        amended = ContractAmendedV1(
            project_code=order.project_code,
            change_order_id=order.change_order_id,
            amendment=order.amendment,
            budget=order.terms.budget,
            end_date=order.terms.end_date,
            rate_card_version=order.terms.rate_card.version if order.terms.rate_card else None,
            milestone_ids=[m.id for m in order.terms.milestones],
            systems=systems,
        )
        events = [self._announce(event, "ContractAmended", amended, order.change_order_id)]
        if order.terms.staffing_changed:
            staffing = ResourcingChangeRequestedV1(
                project_code=order.project_code,
                change_order_id=order.change_order_id,
                effective_date=order.amendment.effective_date,
                end_date=order.terms.end_date,
                description=order.amendment.description,
            )
            events.append(self._announce(event, "ResourcingChangeRequested", staffing, order.change_order_id))
        logger.info(
            "contract amended",
            extra={
                "project_code": order.project_code,
                "change_order": order.change_order_id,
                "systems": systems,
            },
        )
        return events

    # -- parking --------------------------------------------------------------------------------
    def park(self, payload: dict[str, Any]) -> dict[str, Any]:
        state, step = payload["state"], payload["step"]
        order = _order(state)
        failure = _failure(
            state.get("error") or {}, STEP_OWNERS.get(_op_of(step), OwnerTeam.INTEGRATION_SUPPORT)
        )
        exception = BusinessException(
            id=exception_id(Category.AMENDMENT_FAILED, payload["execution"], step, payload["token"]),
            category=Category.AMENDMENT_FAILED,
            owner_team=OwnerTeam(failure["owner_team"]),
            title=f"Change order {order.change_order_id} on {order.project_code} stopped at {step}",
            detail=failure["message"],
            business_keys={"project": order.project_code, "change_order": order.change_order_id},
            context={
                "step": step,
                "execution": payload["execution"],
                "task_token": payload["token"],
                "effective_date": order.amendment.effective_date.isoformat(),
                "resume": "retry re-runs the step; abandon stops the amendment where it is",
            },
            correlation_id=_event(state).correlation_id,
            amount_at_risk=f"{order.amendment.value_change.amount} {order.amendment.value_change.currency}"
            if order.amendment.value_change
            else None,
        )
        self._exceptions.raise_exception(exception)
        logger.warning("amendment parked", extra={"exception_id": exception.id, "step": step})
        return {"exception_id": exception.id}

    # -- helpers --------------------------------------------------------------------------------
    def _entry(self, code: str) -> DirectoryEntry:
        entry = self._directory.get(code)
        if entry is None:
            raise AmendmentFailed(
                f"a change order names project {code}, which pshub has not activated", OwnerTeam.PMO
            )
        return entry

    @staticmethod
    def _announce(event: CanonicalEvent, kind: str, payload: Any, key: str) -> dict[str, Any]:
        announced = make_event(
            kind,
            payload,
            connection=event.connection,
            source_platform=event.source_platform,
            source_native_id=key,
            source_event_id=f"{event.event_id}:{kind}",
            occurred_at=datetime.now(UTC),
            correlation_id=event.correlation_id,
            legal_entity=event.legal_entity,
        )
        return {"detail_type": kind, "detail": announced.model_dump(mode="json")}


def _event(state: dict[str, Any]) -> CanonicalEvent:
    return CanonicalEvent.model_validate(state["event"])


@dataclass(frozen=True)
class _Order:
    """A complete change order (the starter completes one that named only its deal): the
    fields every complete one has, narrowed, beside the rest of its terms."""

    project_code: str
    change_order_id: str
    amendment: ContractAmendment
    terms: ChangeOrderApprovedV1


def _order(state: dict[str, Any]) -> _Order:
    order = ChangeOrderApprovedV1.model_validate(state["event"]["payload"])
    if order.project_code is None or order.change_order_id is None or order.amendment is None:
        raise ValueError("the change order reached the workflow incomplete (its starter reads the CRM first)")
    return _Order(order.project_code, order.change_order_id, order.amendment, order)


def _op_of(step: str) -> str:
    """``UpdateErp`` -> ``update_erp``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in step).lstrip("_")


def _failure(error: dict[str, Any], owner: OwnerTeam) -> dict[str, Any]:
    """The message and owner inside a Catch's ``{"Error", "Cause"}``."""
    cause = error.get("Cause") or ""
    message: Any = cause
    try:
        message = json.loads(cause).get("errorMessage", cause)
        parsed = json.loads(message)
        if isinstance(parsed, dict) and "owner_team" in parsed:
            return parsed
    except (ValueError, TypeError, AttributeError):
        pass
    return {"message": f"{error.get('Error', 'Error')}: {message}", "owner_team": owner.value}


def execution_name(connection: str, change_order_id: str) -> str:
    """One execution per change order: Step Functions refuses a second of the name for 90 days,
    and after that every step is idempotent (the amendment number is recorded once)."""
    raw = f"co-{connection}-{change_order_id}"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in raw)[:80]

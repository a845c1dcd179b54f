"""Starting one ``amend_contract`` execution per approved change order.

A ``ChangeOrderApproved`` that arrives complete starts at once. One that only names its deal
(``complete: false``: HubSpot's webhook says a property changed, nothing more) is read from
the CRM first (``ChangeOrderReader.read_change_order``), so the execution is named by the
change order's own id, and a second approval of the same change order starts nothing.

A change order the CRM cannot give (the deal is gone, it names no project, it has no number or
effective date) opens one exception for sales ops, who fix the deal and approve it again; a
CRM that does not answer raises, and SQS delivers the message again later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import ChangeOrderApprovedV1
from pshub.connectors.crm import ChangeOrderReader
from pshub.connectors.errors import PermanentConnectorError
from pshub.observability import logger
from pshub.store.exceptions_store import ExceptionStore
from pshub.workflows.amendments.steps import execution_name

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

ConnectorFor = Callable[[str, str], Any]  # (connection id, role) -> connector


class AmendmentStarter:
    def __init__(
        self,
        sfn: SFNClient,
        state_machine_arn: str,
        *,
        connector_for: ConnectorFor,
        exceptions: ExceptionStore,
    ) -> None:
        self._sfn = sfn
        self._arn = state_machine_arn
        self._connector_for = connector_for
        self._exceptions = exceptions

    def start(self, detail: dict[str, Any]) -> str | None:
        """Start the change order's execution; None when it already ran or cannot be read."""
        logger.set_correlation_id(detail.get("correlation_id"))
        order = ChangeOrderApprovedV1.model_validate(detail["payload"])
        if not order.complete:
            read = self._read(detail, order)
            if read is None:
                return None
            detail = {**detail, "payload": read.model_dump(mode="json")}
            order = read
        assert order.change_order_id is not None  # a complete change order has its id
        name = execution_name(detail["connection"], order.change_order_id)
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps({"event": detail})
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            logger.info("amendment already started for this change order", extra={"execution_name": name})
            return None
        logger.info("amendment started", extra={"execution_name": name})
        return response["executionArn"]

    def _read(self, detail: dict[str, Any], order: ChangeOrderApprovedV1) -> ChangeOrderApprovedV1 | None:
        crm, deal = order.crm_connection or detail["connection"], order.opportunity_native_id or ""
        connector = self._connector_for(crm, "crm")
        if not isinstance(connector, ChangeOrderReader):
            self._refuse(
                detail,
                crm,
                deal,
                f"connection {crm} cannot read change orders",
                OwnerTeam.INTEGRATION_SUPPORT,
            )
            return None
        try:
            return connector.read_change_order(deal)
        except PermanentConnectorError as problem:  # NotFound included: the deal is gone
            self._refuse(detail, crm, deal, problem.message, OwnerTeam.SALES_OPS)
            return None

    def _refuse(self, detail: dict[str, Any], crm: str, deal: str, reason: str, owner: OwnerTeam) -> None:
        exception = BusinessException(
            id=exception_id(Category.AMENDMENT_FAILED, crm, deal, detail["event_id"]),
            category=Category.AMENDMENT_FAILED,
            owner_team=owner,
            title=f"A change order approved on deal {deal} in {crm} was not applied",
            detail=reason,
            business_keys={"opportunity": deal, "connection": crm},
            context={
                "event_id": detail["event_id"],
                "resume": "correct the change order on the deal, then approve it again",
            },
            correlation_id=detail.get("correlation_id"),
        )
        self._exceptions.raise_exception(exception)
        logger.warning("change order not readable", extra={"exception_id": exception.id})

"""The opportunity-to-project workflow's steps (one Lambda, one ``op`` per Task state).

Each step reads the execution's state document and returns its own result, which
the state machine stores under the step's ResultPath. Every write is idempotent on
a business key (the project code, the client's tax id or name), so a retried step
or a second execution for the same deal creates nothing twice. The project code is
allocated once per deal (``store/project_codes``): unique across deals, and the same
for every retry and every execution of one deal.

Failures: a connector's transient error (timeout, 429, 5xx) is retried by the state
machine with backoff and jitter; anything permanent parks the execution on a
business exception (``park``) that a person resolves, after which the step runs
again, or abandons, after which ``compensate`` undoes what was created.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pshub.business_exceptions import BusinessException, Category, OwnerTeam, exception_id
from pshub.canonical.envelope import CanonicalEvent, ProjectActivatedV1, make_event
from pshub.canonical.model import (
    Client,
    Contract,
    ContractStatus,
    FinancialDimensions,
    Project,
    ProjectStatus,
    TaxProfile,
)
from pshub.connections import Connection
from pshub.connectors.results import OpportunityDetails
from pshub.errors import PermanentError
from pshub.kpis import PROJECT_ACTIVATION, STRAIGHT_THROUGH
from pshub.observability import logger
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.identity import IdentityStore, new_canonical_id
from pshub.store.project_codes import ProjectCodeAllocator, SeriesExhausted
from pshub.store.projects import DirectoryEntry, ProjectDirectory
from pshub.sync.entity_sync import record_write
from pshub.sync.identity.names import name_words
from pshub.workflows.provisioning.config import ProvisioningConfig
from pshub.workflows.provisioning.validation import exception_kind, find_problems

_PROJECT_NAMESPACE = uuid.UUID("5f0c7c2e-9b7a-4c55-8f1e-2d7e0b3c4a61")
ConnectorFor = Callable[[str, str], Any]  # (connection id, role) -> connector


class StepFailed(PermanentError):
    """A permanent failure with what a person needs to act on it."""

    def __init__(
        self,
        message: str,
        *,
        category: Category,
        owner_team: OwnerTeam,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.owner_team = owner_team
        self.context = context or {}

    def to_json(self) -> str:
        return json.dumps(
            {
                "message": self.message,
                "category": self.category.value,
                "owner_team": self.owner_team.value,
                "context": self.context,
            },
            default=str,
        )


def code_series(client_name: str) -> str:
    """``PRJ-<CLIENT>``: the readable part of a project code, numbered per series.

    The client part is the first four letters of the first two words of its normalised
    name (legal forms dropped): ``Harbourline Logistics Inc.`` is ``PRJ-HARBLOGI``. Two
    clients with the same part share one series, so their codes still differ.
    """
    words = [w.upper() for w in name_words(client_name)] or ["CLIENT"]
    short = re.sub(r"[^A-Z0-9]", "", "".join(w[:4] for w in words[:2]))[:8]
    return f"PRJ-{short if len(short) >= 2 else 'CLIENT'}"


class ProvisioningSteps:
    def __init__(
        self,
        connections: dict[str, Connection],
        connector_for: ConnectorFor,
        identity: IdentityStore,
        exceptions: ExceptionStore,
        config: ProvisioningConfig,
        codes: ProjectCodeAllocator,
        directory: ProjectDirectory | None = None,
    ) -> None:
        self._connections = connections
        # Where time and expenses find the project, its ERP id and its rates (same table).
        self._directory = directory or ProjectDirectory(identity.client, identity.table)
        self._connector_for = connector_for
        self._identity = identity
        self._codes = codes
        self._exceptions = exceptions
        self._config = config

    def run(self, op: str, state: dict[str, Any], payload: dict[str, Any]) -> Any:
        step = getattr(self, op, None)
        if op.startswith("_") or step is None:
            raise ValueError(f"unknown provisioning step {op!r}")
        if op == "park":
            return self.park(payload)
        return step(state)

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def _event(state: dict[str, Any]) -> CanonicalEvent:
        return CanonicalEvent.model_validate(state["event"])

    @staticmethod
    def _details(state: dict[str, Any]) -> OpportunityDetails:
        return OpportunityDetails.model_validate(state["deal"]["details"])

    def _project(self, state: dict[str, Any]) -> Project:
        return Project.model_validate(state["plan"]["project"])

    # -- steps --------------------------------------------------------------------------
    def load_deal(self, state: dict[str, Any]) -> dict[str, Any]:
        event = self._event(state)
        details = self._connector_for(event.connection, "crm").get_opportunity(event.source_native_id)
        client_native = details.client.external_ids.get(event.connection)
        opportunity_id = (
            event.canonical_id
            or self._identity.resolve("Opportunity", event.connection, event.source_native_id).canonical_id
        )
        client_id = (
            self._identity.resolve("Client", event.connection, client_native).canonical_id
            if client_native
            else new_canonical_id("Client")
        )
        return {
            "details": details.model_dump(mode="json"),
            "opportunity_id": opportunity_id,
            "client_id": client_id,
            "crm_connection": event.connection,
        }

    def validate_terms(self, state: dict[str, Any]) -> dict[str, Any]:
        details = self._details(state)
        problems = find_problems(details, self._config)
        if problems:
            category, team = exception_kind(problems)
            listed = "; ".join(f"{p.field}: {p.message} ({p.team.value})" for p in problems)
            raise StepFailed(
                f"Opportunity {details.opportunity.name!r} cannot be provisioned: {listed}",
                category=category,
                owner_team=team,
                context={"problems": [p.__dict__ for p in problems]},
            )
        contract = details.contract
        assert contract is not None  # find_problems reports a missing contract
        entity = contract.legal_entity or details.client.legal_entity or ""
        line_name = details.opportunity.service_line or self._config.default_service_line
        line = self._config.service_lines.get(line_name)
        if line is None:
            raise StepFailed(
                f"service line {line_name!r} is not configured",
                category=Category.COMMERCIAL_TERMS_INVALID,
                owner_team=OwnerTeam.SALES_OPS,
            )
        deal = state["deal"]
        # Allocated only once the terms are valid, so refused deals use up no numbers.
        try:
            code = self._codes.code_for(deal["opportunity_id"], code_series(details.client.name))
        except SeriesExhausted as exhausted:
            raise StepFailed(
                exhausted.message,
                category=Category.PROVISIONING_FAILED,
                owner_team=OwnerTeam.INTEGRATION_SUPPORT,
            ) from None
        project = Project(
            id=f"project_{uuid.uuid5(_PROJECT_NAMESPACE, deal['opportunity_id']).hex}",
            code=code,
            name=details.opportunity.name,
            client_id=deal["client_id"],
            contract_id=contract.id,
            legal_entity=entity,
            service_line=line_name,
            status=ProjectStatus.ACTIVE,
            budget=contract.total_value or details.opportunity.amount,
            start_date=contract.start_date,
            end_date=contract.end_date,
            dimensions=FinancialDimensions(
                legal_entity=entity,
                service_line=line.code,
                department=line.department,
                cost_centre=line.cost_centre,
                region=self._config.regions_by_legal_entity.get(entity),
            ),
        )
        return {
            "project": project.model_dump(mode="json"),
            "erp_connection": self._config.erp_by_legal_entity[entity],
            "psa_connection": self._config.psa,
            "billing_route": self._config.billing_route_by_model[contract.billing_model.value],
            "billing_connection": self._config.billing_platform,
        }

    def _client_for(self, state: dict[str, Any]) -> Client:
        """The CRM's account as the canonical client, completed from the approved contract."""
        details = self._details(state)
        contract, client = details.contract, details.client
        update: dict[str, Any] = {"id": state["deal"]["client_id"]}
        if client.legal_entity is None and contract is not None:
            update["legal_entity"] = contract.legal_entity
        if contract is not None and contract.tax_jurisdiction:
            profile = client.tax_profile or TaxProfile()
            if not profile.jurisdiction:
                update["tax_profile"] = profile.model_copy(update={"jurisdiction": contract.tax_jurisdiction})
        return client.model_copy(update=update)

    def upsert_erp_client(self, state: dict[str, Any]) -> dict[str, Any]:
        connection = state["plan"]["erp_connection"]
        client = self._client_for(state)
        result = self._connector_for(connection, "erp").upsert_client(client)
        linked = self._identity.link("Client", connection, result.native_id, client.id)
        if linked.canonical_id != client.id:
            # The ERP matched a customer already known under another canonical id: a person decides.
            self._exceptions.raise_exception(
                BusinessException(
                    id=exception_id(
                        Category.POSSIBLE_DUPLICATE_CLIENT, connection, result.native_id, client.id
                    ),
                    category=Category.POSSIBLE_DUPLICATE_CLIENT,
                    owner_team=OwnerTeam.DATA_STEWARD,
                    title=f"ERP matched {client.name!r} to a customer known under another client id",
                    detail=(
                        f"{connection} customer {result.native_id} is client {linked.canonical_id}; the CRM's "
                        f"account is client {client.id}. Provisioning used the ERP customer; merge or split them."
                    ),
                    business_keys={"erp_customer": result.native_id, "client_id": client.id},
                    context={"existing_client_id": linked.canonical_id},
                )
            )
        record_write(self._identity, "Client", linked.canonical_id, connection, {"name": client.name})
        return {"native_id": result.native_id, "created": result.created, "client_id": linked.canonical_id}

    def create_erp_project(self, state: dict[str, Any]) -> dict[str, Any]:
        connection = state["plan"]["erp_connection"]
        project = self._project(state)
        native_id = self._connector_for(connection, "erp").create_project(project)
        return {"native_id": native_id, "connection": connection}

    def create_psa_project(self, state: dict[str, Any]) -> dict[str, Any]:
        connection = state["plan"]["psa_connection"]
        project = self._project(state)
        psa = self._connector_for(connection, "psa")
        template = psa.template_for(project.service_line)
        if template is None:
            raise StepFailed(
                f"{connection} has no project template for service line {project.service_line!r}",
                category=Category.PROVISIONING_FAILED,
                owner_team=OwnerTeam.PMO,
                context={"erp_project": state.get("erp_project")},
            )
        native_id = psa.create_project_from_template(project, template)
        return {"native_id": native_id, "connection": connection, "template": template}

    def push_rate_card(self, state: dict[str, Any]) -> dict[str, Any]:
        contract = self._details(state).contract
        if contract is None or contract.rate_card is None:
            return {"pushed": False}
        connection = state["plan"]["psa_connection"]
        psa = self._connector_for(connection, "psa")
        native_id = state["psa_project"]["native_id"]
        psa.push_rate_card(native_id, contract.rate_card)
        # A fixed-fee contract's milestones go on the plan too: completing one there bills it.
        milestones = (
            psa.push_milestones(native_id, self._project(state).code, contract.milestones)
            if contract.milestones
            else {}
        )
        return {
            "pushed": True,
            "rate_card_id": contract.rate_card.id,
            "roles": len(contract.rate_card.rates),
            "milestones": milestones,
        }

    def set_up_billing(self, state: dict[str, Any]) -> dict[str, Any]:
        plan = state["plan"]
        contract: Contract | None = self._details(state).contract
        assert contract is not None
        project = self._project(state)
        if plan["billing_route"] == "erp":
            connection = plan["erp_connection"]
            native_id = self._connector_for(connection, "erp").create_billing_schedule(
                state["erp_project"]["native_id"], contract
            )
            return {"route": "erp", "connection": connection, "native_id": native_id}
        connection = plan["billing_connection"]
        billing = self._connector_for(connection, "billing")
        customer = billing.upsert_customer(self._client_for(state))
        client_id = state["erp_client"]["client_id"]
        # The billing customer is the same client: link it, and remember what pshub wrote
        # so the platform's webhook echoing it back is not taken for a change.
        self._identity.link("Client", connection, customer.native_id, client_id)
        record_write(
            self._identity, "Client", client_id, connection, {"name": self._details(state).client.name}
        )
        native_id = billing.create_billing_plan(project, contract)
        return {
            "route": "billing_platform",
            "connection": connection,
            "native_id": native_id,
            "customer_native_id": customer.native_id,
        }

    def record_activation(self, state: dict[str, Any]) -> dict[str, Any]:
        event = self._event(state)
        project = self._project(state)
        plan, deal = state["plan"], state["deal"]
        system_ids = {
            state["erp_project"]["connection"]: state["erp_project"]["native_id"],
            state["psa_project"]["connection"]: state["psa_project"]["native_id"],
        }
        for connection, native_id in system_ids.items():
            self._identity.link("Project", connection, native_id, project.id)
        billing = state["billing"]
        if billing["route"] == "billing_platform":
            self._identity.link("BillingPlan", billing["connection"], billing["native_id"], project.id)
            system_ids[billing["connection"]] = billing["native_id"]
        self._connector_for(deal["crm_connection"], "crm").link_project(
            event.source_native_id, project.code, dict(system_ids)
        )
        contract = self._details(state).contract
        assert contract is not None
        if contract.status is ContractStatus.APPROVED:  # activated now: its terms pass to the ERP
            contract = contract.model_copy(
                update={
                    "status": ContractStatus.ACTIVE,
                    "activated_at": contract.activated_at or event.occurred_at,
                }
            )
        self._directory.register(
            DirectoryEntry(
                code=project.code,
                project_id=project.id,
                legal_entity=project.legal_entity,
                currency=contract.currency,
                erp_connection=state["erp_project"]["connection"],
                erp_project_id=state["erp_project"]["native_id"],
                rate_cards=[contract.rate_card] if contract.rate_card else [],
                contract=contract,
                client_id=state["erp_client"]["client_id"],
                invoicing_route=billing["route"],
                invoicing_connection=billing["connection"],
                crm_connection=deal["crm_connection"],
                opportunity_native_id=event.source_native_id,
                psa_connection=state["psa_project"]["connection"],
                psa_project_id=state["psa_project"]["native_id"],
            )
        )
        activated = make_event(
            "ProjectActivated",
            ProjectActivatedV1(
                project_id=project.id,
                project_code=project.code,
                opportunity_id=deal["opportunity_id"],
                client_id=state["erp_client"]["client_id"],
                legal_entity=project.legal_entity,
                service_line=project.service_line,
                billing_model=contract.billing_model.value,
                billing_route=plan["billing_route"],
                system_ids=system_ids,
            ),
            connection=event.connection,
            source_platform=event.source_platform,
            source_native_id=event.source_native_id,
            source_event_id=event.event_id,
            occurred_at=datetime.now(UTC),
            correlation_id=event.correlation_id,
            legal_entity=project.legal_entity,
        ).model_copy(update={"canonical_id": project.id, "xrefs": system_ids})
        logger.info("project provisioned", extra={"project_code": project.code, "system_ids": system_ids})
        # Closed-won to live; a person touched it if any step parked (a resume is in the state).
        PROJECT_ACTIVATION.emit(max(0.0, (activated.occurred_at - event.occurred_at).total_seconds()))
        STRAIGHT_THROUGH.emit(0 if "resume" in state else 1)
        return activated.model_dump(mode="json")

    # -- parking and compensation -------------------------------------------------------
    def park(self, payload: dict[str, Any]) -> dict[str, Any]:
        state = payload["state"]
        step = payload["step"]
        failure = _failure(state.get("error") or {})
        event = self._event(state)
        project = state.get("plan", {}).get("project", {})
        created = {k: state[k] for k in ("erp_client", "erp_project", "psa_project", "billing") if k in state}
        exception = BusinessException(
            # One exception per parking: a step that fails again after a retry parks anew,
            # with a new task token, and must not collide with the resolved one.
            id=exception_id(Category(failure["category"]), payload["execution"], step, payload["token"]),
            category=Category(failure["category"]),
            owner_team=OwnerTeam(failure["owner_team"]),
            title=f"Provisioning of {project.get('code') or event.source_native_id} stopped at {step}",
            detail=failure["message"],
            business_keys={
                "opportunity": event.source_native_id,
                "connection": event.connection,
                **({"project_code": project["code"]} if project.get("code") else {}),
            },
            context={
                "step": step,
                "execution": payload["execution"],
                "task_token": payload["token"],
                "already_created": created,
                "failure": failure.get("context", {}),
                "resume": "retry re-runs the step; abandon compensates what was created",
            },
            correlation_id=event.correlation_id,
            amount_at_risk=str(project.get("budget", {}).get("amount")) if project.get("budget") else None,
        )
        self._exceptions.raise_exception(exception)
        logger.warning("provisioning parked", extra={"exception_id": exception.id, "step": step})
        return {"exception_id": exception.id}

    def compensate(self, state: dict[str, Any]) -> dict[str, Any]:
        reason = "provisioning abandoned by a person"
        undone: list[str] = []
        billing = state.get("billing")
        if billing and billing.get("route") == "billing_platform":
            self._connector_for(billing["connection"], "billing").cancel_billing_plan(
                billing["native_id"], reason
            )
            undone.append(f"billing plan {billing['native_id']} cancelled")
        if "psa_project" in state:
            psa = state["psa_project"]
            self._connector_for(psa["connection"], "psa").archive_project(psa["native_id"], reason)
            undone.append(f"PSA project {psa['native_id']} archived")
        if "erp_project" in state:
            erp = state["erp_project"]
            self._connector_for(erp["connection"], "erp").deactivate_project(erp["native_id"], reason)
            undone.append(f"ERP project {erp['native_id']} deactivated")
        logger.warning("provisioning compensated", extra={"undone": undone})
        return {"undone": undone}


def _failure(error: dict[str, Any]) -> dict[str, Any]:
    """The structured failure inside a Catch's ``{"Error", "Cause"}``."""
    cause = error.get("Cause") or ""
    message: Any = cause
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(cause).get("errorMessage", cause)
    try:
        parsed = json.loads(message)
        if isinstance(parsed, dict) and "category" in parsed:
            return parsed
    except (ValueError, TypeError):
        pass
    return {
        "message": f"{error.get('Error', 'Error')}: {message}",
        "category": Category.PROVISIONING_FAILED.value,
        "owner_team": OwnerTeam.INTEGRATION_SUPPORT.value,
        "context": {},
    }

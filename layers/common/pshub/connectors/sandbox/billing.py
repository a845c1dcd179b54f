"""An in-memory billing platform (Stripe Billing, Zuora).

What it enforces: a plan needs an existing customer and the terms its billing model
bills from; a customer bills in one currency (Stripe fixes it with the first
subscription); one live plan per project code. A cancelled plan stays cancelled,
as in Stripe and Zuora: creating the plan again makes a new one.
"""

from __future__ import annotations

import time
from typing import Any

from pshub.canonical.model import BillingModel, Client, Contract, Project
from pshub.connections import Connection
from pshub.connectors.errors import PermanentConnectorError
from pshub.connectors.results import BillingPlan, BillingPlanKind, UpsertResult
from pshub.connectors.sandbox.base import Clock, SandboxSystem
from pshub.connectors.sandbox.content import content_of
from pshub.connectors.sandbox.customers import CustomerBook
from pshub.connectors.sandbox.dialects import Refusal
from pshub.connectors.sandbox.terms import foreign_currency, missing_terms

_RECURRING = frozenset({BillingModel.RETAINER, BillingModel.USAGE})


class SandboxBilling(SandboxSystem):
    role = "billing"
    platforms = frozenset({"stripe", "zuora"})

    def __init__(self, connection: Connection, *, clock: Clock = time.monotonic) -> None:
        super().__init__(connection, clock=clock)
        # Billing platforms de-duplicate on ids they were given, not on names.
        self._customers = CustomerBook(match_names=False)
        self._customer_currency: dict[str, str] = {}
        self._plans: dict[str, BillingPlan] = {}
        self._content: dict[str, dict[str, Any]] = {}
        self._live_by_code: dict[str, str] = {}

    def upsert_customer(self, client: Client) -> UpsertResult:
        with self._call("upsert_customer", f"client {client.id} ({client.name})") as call:
            existing = self._customers.match(client, client.external_ids.get(self.connection_id))
            native_id = existing.native_id if existing else self._new_id("customer")
            self._customers.put(native_id, client)
            call.outcome = f"updated {native_id}" if existing else f"created {native_id}"
            return UpsertResult(native_id=native_id, created=existing is None)

    def create_billing_plan(self, project: Project, contract: Contract) -> str:
        op = "create_billing_plan"
        code = project.code
        with self._call(op, f"project {code} contract {contract.id} ({contract.billing_model})") as call:
            customer = self._customers.native_id_of(project.client_id) or self._customers.native_id_of(
                contract.client_id
            )
            if customer is None:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"no billing customer for client {project.client_id} (upsert the customer first)",
                    Refusal.INVALID_VALUE,
                    {"field": "customer", "value": project.client_id},
                )
            self._check_terms(op, code, customer, contract)
            content = content_of(contract, customer=customer)
            existing_id = self._live_by_code.get(code)
            if existing_id is not None:
                self._same_or_conflict(
                    op,
                    code,
                    kind=self._plans[existing_id].kind.value,
                    existing_id=existing_id,
                    existing=self._content[existing_id],
                    requested=content,
                )
                call.outcome = f"returned existing {existing_id}"
                return existing_id
            kind = (
                BillingPlanKind.SUBSCRIPTION
                if contract.billing_model in _RECURRING
                else BillingPlanKind.INVOICE_SCHEDULE
            )
            native_id = self._new_id(kind.value)
            self._plans[native_id] = BillingPlan(
                native_id=native_id,
                project_code=code,
                customer_native_id=customer,
                kind=kind,
                contract=contract,
            )
            self._content[native_id] = content
            self._live_by_code[code] = native_id
            self._customer_currency.setdefault(customer, contract.currency)
            call.outcome = f"created {kind.value} {native_id}"
            return native_id

    def _check_terms(self, op: str, code: str, customer: str, contract: Contract) -> None:
        missing = missing_terms(contract)
        if missing:
            raise self._error(
                PermanentConnectorError,
                op,
                f"a {contract.billing_model} plan for {code} needs {', '.join(missing)}",
                Refusal.REQUIRED,
                {"fields": ", ".join(missing)},
            )
        wrong = foreign_currency(contract)
        fixed = self._customer_currency.get(customer)
        if fixed is not None and fixed != contract.currency:
            wrong.append(f"customer {customer} already bills in {fixed}")
        if wrong:
            raise self._error(
                PermanentConnectorError,
                op,
                f"currency mismatch for {code} ({contract.currency}): {'; '.join(wrong)}",
                Refusal.INVALID_VALUE,
                {"field": "currency", "value": contract.currency},
            )

    def get_billing_plan(self, project_code: str) -> BillingPlan | None:
        native_id = self._live_by_code.get(project_code)
        return self._find("get_billing_plan", f"project {project_code}", native_id, self._plans)

    def cancel_billing_plan(self, native_id: str, reason: str) -> None:
        op = "cancel_billing_plan"
        with self._call(op, f"plan {native_id}") as call:
            plan = self._plans.get(native_id)
            if plan is None:
                raise self._not_found(op, "subscription", native_id)
            if plan.cancelled:
                call.outcome = "already cancelled"
                return
            self._plans[native_id] = plan.model_copy(update={"cancelled": True, "cancel_reason": reason})
            if self._live_by_code.get(plan.project_code) == native_id:
                del self._live_by_code[plan.project_code]
            call.outcome = "cancelled"

    def _records(self) -> dict[str, Any]:
        return {
            "customers": [
                {"native_id": r.native_id, "client_id": r.client.id, "name": r.client.name}
                for r in self._customers.records.values()
            ],
            "billing_plans": [
                {
                    "native_id": p.native_id,
                    "project_code": p.project_code,
                    "customer": p.customer_native_id,
                    "kind": p.kind.value,
                    "billing_model": p.contract.billing_model.value,
                    "currency": p.contract.currency,
                    "cancelled": p.cancelled,
                    "cancel_reason": p.cancel_reason,
                }
                for p in self._plans.values()
            ],
        }

"""The billing-platform system API: customer and the project's billing plan.

How each platform maps:

- Stripe Billing: a Customer (``cus_...``) found by ``metadata.pshub_client_id``
  (Customer Search) before creating; retainers and usage become a Subscription
  (``sub_...``, licensed or metered prices), milestones and T&M in arrears a
  Subscription Schedule (``sub_sched_...``) of one-off phases. Stripe has no unique
  key, so creates carry an ``Idempotency-Key`` derived from the project code and the
  plan is found again by ``metadata.pshub_project_code``; a customer's currency is
  fixed by its first subscription. Cancel is ``DELETE /v1/subscriptions/{id}`` or
  ``POST /v1/subscription_schedules/{id}/cancel``.
- Zuora: an Account (32-hex id, ``A0000...`` number) with ``CrmId`` = pshub's client
  id; retainers and usage are a Subscription (``A-S...``) of recurring / usage
  charges, milestones a subscription of one-time charges billed on their dates;
  the project code lives in a custom field; cancel is a Cancel Subscription order.
"""

from __future__ import annotations

from typing import Protocol

from pshub.canonical.model import Client, Contract, Project
from pshub.connectors.results import BillingPlan, UpsertResult


class BillingConnector(Protocol):
    @property
    def connection_id(self) -> str: ...

    @property
    def platform(self) -> str: ...

    def upsert_customer(self, client: Client) -> UpsertResult:
        """Create the billing customer, or update the one matched by client id or tax id."""
        ...

    def create_billing_plan(self, project: Project, contract: Contract) -> str:
        """Subscription (retainer, usage) or invoice schedule (milestones, T&M) for the
        project; idempotent on ``project.code`` (different content raises ``Conflict``)."""
        ...

    def get_billing_plan(self, project_code: str) -> BillingPlan | None: ...

    def cancel_billing_plan(self, native_id: str, reason: str) -> None:
        """Compensation: cancel the plan before anything is invoiced; repeat is a no-op."""
        ...

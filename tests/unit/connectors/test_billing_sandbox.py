"""The billing sandbox behaves like Stripe / Zuora: customers, plans per project, final cancels."""

from __future__ import annotations

import re

import pytest

from pshub.canonical.model import BillingModel
from pshub.connectors.errors import Conflict, NotFound, PermanentConnectorError
from pshub.connectors.results import BillingPlanKind
from pshub.connectors.sandbox.billing import SandboxBilling
from tests.unit.connectors.builders import client, connection, contract, project, rate_card


def stripe(platform: str = "stripe") -> SandboxBilling:
    billing = SandboxBilling(connection(platform, "billing", "stripe-acme"))
    billing.upsert_customer(client())
    return billing


def test_upsert_customer_is_idempotent_on_the_client_id() -> None:
    billing = SandboxBilling(connection("stripe", "billing"))
    first = billing.upsert_customer(client())
    again = billing.upsert_customer(client(name="Harbourline Logistics (renamed)"))
    assert first.created and not again.created and again.native_id == first.native_id
    assert re.fullmatch(r"cus_[0-9A-Za-z]{14}", first.native_id)


@pytest.mark.parametrize(
    ("model", "kind", "id_format"),
    [
        (BillingModel.RETAINER, BillingPlanKind.SUBSCRIPTION, r"sub_1[0-9A-Za-z]{23}"),
        (BillingModel.USAGE, BillingPlanKind.SUBSCRIPTION, r"sub_1[0-9A-Za-z]{23}"),
        (BillingModel.FIXED_FEE_MILESTONE, BillingPlanKind.INVOICE_SCHEDULE, r"sub_sched_1[0-9A-Za-z]{23}"),
    ],
)
def test_the_billing_model_decides_subscription_or_schedule(
    model: BillingModel, kind: BillingPlanKind, id_format: str
) -> None:
    billing = stripe()
    native_id = billing.create_billing_plan(project(), contract(model))
    assert billing.create_billing_plan(project(), contract(model)) == native_id
    plan = billing.get_billing_plan("PRJ-HARB-0001")
    assert plan is not None and plan.kind is kind and re.fullmatch(id_format, native_id)
    assert len(billing.snapshot()["records"]["billing_plans"]) == 1


def test_different_terms_for_the_same_project_are_a_conflict() -> None:
    billing = stripe()
    billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    with pytest.raises(Conflict) as caught:
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER, payment_terms_days=60))
    assert caught.value.key == "PRJ-HARB-0001" and caught.value.fields == ("payment_terms_days",)
    assert caught.value.platform_code == "idempotency_error"


def test_cancel_is_final_and_creating_again_makes_a_new_plan() -> None:
    billing = stripe()
    first = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    billing.cancel_billing_plan(first, "provisioning abandoned")
    billing.cancel_billing_plan(first, "provisioning abandoned")
    assert billing.get_billing_plan("PRJ-HARB-0001") is None
    second = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert second != first
    plans = {p["native_id"]: p["cancelled"] for p in billing.snapshot()["records"]["billing_plans"]}
    assert plans == {first: True, second: False}
    with pytest.raises(NotFound, match="no subscription"):
        billing.cancel_billing_plan("sub_missing", "cleanup")


def test_a_plan_needs_its_customer_terms_and_one_currency() -> None:
    billing = SandboxBilling(connection("zuora", "billing"))
    with pytest.raises(PermanentConnectorError, match="upsert the customer first"):
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    billing.upsert_customer(client())
    with pytest.raises(PermanentConnectorError, match="retainer_per_month"):
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER, retainer_per_month=None))
    native_id = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert re.fullmatch(r"A-S\d{8}", native_id)
    gbp = contract(BillingModel.USAGE, currency="GBP", rate_card=rate_card("GBP"))
    with pytest.raises(PermanentConnectorError, match="already bills in USD"):
        billing.create_billing_plan(project("PRJ-HARB-0002"), gbp)

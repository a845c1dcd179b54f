"""The Stripe billing connector against the Stripe fake, over HTTP on 127.0.0.1.

Expectations come from Stripe's API reference (amounts in the currency's smallest unit,
``Idempotency-Key`` replay, 429 ``rate_limit`` / ``lock_timeout``, 401 bodies, Search)
and from pshub's billing rules (one customer per client, one live plan per project
code, a customer bills in one currency, a cancelled plan stays cancelled).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime

import pytest

from pshub.canonical.model import BillingModel, TaxProfile
from pshub.connections import ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    NotFound,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.connectors.results import BillingPlanKind
from pshub.platforms import platform
from pshub.platforms.stripe.outbound import STRIPE_VERSION, connect
from pshub_local.platforms.stripe.fake import credentials_for_local
from tests.unit.connectors.builders import client, contract, project, rate_card, usd
from tests.unit.platforms.stripe.support import CONNECTION_ID, NOW, Harness, Hosts, stripe_connection

CODE = "PRJ-HARB-0001"
RATE_LIMIT = {
    "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
    }
}
LOCK_TIMEOUT = {
    "error": {
        "type": "invalid_request_error",
        "code": "lock_timeout",
        "message": "This object cannot be accessed right now because another API request or Stripe process is "
        "currently accessing it. If you see this error intermittently, retry the request.",
    }
}
KEY_IN_USE = {
    "error": {
        "type": "invalid_request_error",
        "code": "idempotency_key_in_use",
        "message": "There is currently another in-progress request using this Stripe-Idempotency-Key.",
    }
}
API_ERROR = {"error": {"type": "api_error", "message": "An unknown error occurred."}}
SHOULD_RETRY = {"Stripe-Should-Retry": "true"}


def ready(harness: Harness) -> tuple[object, str]:
    billing = harness.connector()
    return billing, billing.upsert_customer(client()).native_id


# -- customers ---------------------------------------------------------------------------------


def test_upsert_customer_creates_one_customer_and_then_updates_it(harness: Harness) -> None:
    billing = harness.connector()
    first = billing.upsert_customer(client())
    again = billing.upsert_customer(client(name="Harbourline Logistics (renamed)"))
    assert first.created and not again.created and again.native_id == first.native_id
    assert re.fullmatch(r"cus_[0-9A-Za-z]{14}", first.native_id)
    assert harness.fake.records()["customers"] == [
        {"native_id": first.native_id, "client_id": "client_1", "name": "Harbourline Logistics (renamed)"}
    ]
    customer = harness.fake.customers[first.native_id]
    assert customer["metadata"]["pshub_client_id"] == "client_1" and customer["tax_exempt"] == "none"


def test_the_same_details_again_send_no_update(harness: Harness) -> None:
    billing = harness.connector()
    billing.upsert_customer(client())
    billing.upsert_customer(client())
    assert harness.operations() == [
        "search_customers",
        "create_customer",
        "update_customer",
        "search_customers",
    ]


def test_a_customer_is_found_again_by_its_tax_id_under_another_client_id(harness: Harness) -> None:
    billing = harness.connector()
    first = billing.upsert_customer(client())
    other = harness.connector().upsert_customer(
        client(
            "client_9", name="Harbourline", tax_profile=TaxProfile(tax_id="98 7654321", jurisdiction="US-NY")
        )
    )
    assert other.native_id == first.native_id and not other.created
    assert len(harness.fake.records()["customers"]) == 1
    sent = " ".join(e.request.url + e.request.body.decode() for e in harness.fake.exchanges)
    assert "7654321" not in sent  # Search matches a digest: the tax number never reaches a URL or log


def test_a_known_native_id_is_read_first_and_a_deleted_customer_is_replaced(harness: Harness) -> None:
    billing = harness.connector()
    first = billing.upsert_customer(client())
    assert (
        billing.upsert_customer(client(external_ids={CONNECTION_ID: first.native_id})).native_id
        == first.native_id
    )
    assert harness.operations()[-1] == "retrieve_customer"  # no search needed
    harness.fake.delete_customer(first.native_id)
    second = harness.connector().upsert_customer(client(external_ids={CONNECTION_ID: first.native_id}))
    assert second.created and second.native_id != first.native_id
    assert [c["native_id"] for c in harness.fake.records()["customers"]] == [second.native_id]


def test_long_and_non_ascii_names_are_cut_to_stripes_256_characters(harness: Harness) -> None:
    name = "Société Générale d'Ingénierie Ærøskøbing — Zürich " * 8
    native_id = harness.connector().upsert_customer(client(name=name)).native_id
    stored = harness.fake.customers[native_id]["name"]
    assert stored == name[:256].rstrip() and stored.startswith("Société Générale")


# -- plans ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kind", "id_format"),
    [
        (BillingModel.RETAINER, BillingPlanKind.SUBSCRIPTION, r"sub_1[0-9A-Za-z]{23}"),
        (BillingModel.USAGE, BillingPlanKind.SUBSCRIPTION, r"sub_1[0-9A-Za-z]{23}"),
        (BillingModel.TIME_AND_MATERIALS, BillingPlanKind.INVOICE_SCHEDULE, r"sub_sched_1[0-9A-Za-z]{23}"),
        (BillingModel.FIXED_FEE_MILESTONE, BillingPlanKind.INVOICE_SCHEDULE, r"sub_sched_1[0-9A-Za-z]{23}"),
    ],
)
def test_each_billing_model_gets_one_plan_that_reads_back_as_its_contract(
    harness: Harness, model: BillingModel, kind: BillingPlanKind, id_format: str
) -> None:
    billing, customer = ready(harness)
    native_id = billing.create_billing_plan(project(), contract(model))
    assert billing.create_billing_plan(project(), contract(model)) == native_id
    plan = billing.get_billing_plan(CODE)
    assert plan is not None and plan.native_id == native_id and plan.kind is kind
    assert re.fullmatch(id_format, native_id) and plan.customer_native_id == customer
    assert plan.contract == contract(model) and not plan.cancelled
    assert [p["native_id"] for p in harness.plans()] == [native_id]


def test_a_retainer_is_a_monthly_subscription_invoiced_with_the_payment_terms(harness: Harness) -> None:
    billing, customer = ready(harness)
    subscription = harness.fake.subscriptions[
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    ]
    (item,) = subscription["items"]["data"]
    # 5,000.00 USD in cents
    assert item["price"]["unit_amount"] == 500_000 and item["price"]["currency"] == "usd"
    assert item["price"]["recurring"]["interval"] == "month" and item["quantity"] == 1
    assert subscription["collection_method"] == "send_invoice" and subscription["days_until_due"] == 30
    assert subscription["customer"] == customer and subscription["metadata"]["pshub_project_code"] == CODE


def test_a_retainer_starting_later_is_anchored_on_its_start_date(harness: Harness) -> None:
    billing, _ = ready(harness)
    later = contract(BillingModel.RETAINER, start_date=date(2027, 2, 1))
    subscription = harness.fake.subscriptions[billing.create_billing_plan(project(), later)]
    assert subscription["billing_cycle_anchor"] == int(datetime(2027, 2, 1, tzinfo=UTC).timestamp())


def test_usage_is_one_metered_price_per_role(harness: Harness) -> None:
    billing, _ = ready(harness)
    subscription = harness.fake.subscriptions[
        billing.create_billing_plan(project(), contract(BillingModel.USAGE))
    ]
    prices = {i["price"]["metadata"]["pshub_role"]: i["price"] for i in subscription["items"]["data"]}
    assert {role: p["unit_amount"] for role, p in prices.items()} == {"Consultant": 18_500, "Analyst": 12_500}
    assert all(p["recurring"]["usage_type"] == "metered" for p in prices.values())


def test_milestones_are_schedule_phases_starting_on_their_due_dates(harness: Harness) -> None:
    billing, _ = ready(harness)
    schedule = harness.fake.schedules[
        billing.create_billing_plan(project(), contract(BillingModel.FIXED_FEE_MILESTONE))
    ]
    phases = schedule["phases"]
    due = [
        int(datetime(2027, 1, 15, tzinfo=UTC).timestamp()),
        int(datetime(2027, 3, 1, tzinfo=UTC).timestamp()),
    ]
    assert [p["start_date"] for p in phases][1:] == due and phases[0]["end_date"] == due[0]
    billed = [
        [harness.fake.prices[i["price"]]["unit_amount"] for i in p["add_invoice_items"]] for p in phases
    ]
    assert billed == [[], [500_000], [750_000]]
    assert [p["billing_cycle_anchor"] for p in phases[1:]] == ["phase_start", "phase_start"]
    assert schedule["end_behavior"] == "cancel" and schedule["status"] == "active"


def test_time_and_materials_is_a_schedule_of_metered_role_prices(harness: Harness) -> None:
    billing, _ = ready(harness)
    schedule = harness.fake.schedules[
        billing.create_billing_plan(project(), contract(BillingModel.TIME_AND_MATERIALS))
    ]
    (phase,) = schedule["phases"]
    rates = sorted(harness.fake.prices[i["price"]]["unit_amount"] for i in phase["items"])
    assert rates == [12_500, 18_500] and schedule["end_behavior"] == "release"
    assert schedule["default_settings"]["invoice_settings"] == {"days_until_due": 30}


def test_other_terms_for_the_same_project_are_a_conflict_naming_the_fields(harness: Harness) -> None:
    billing, _ = ready(harness)
    billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    with pytest.raises(Conflict) as caught:
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER, payment_terms_days=60))
    assert caught.value.key == CODE and caught.value.fields == ("payment_terms_days",)
    with pytest.raises(Conflict) as other:
        billing.create_billing_plan(
            project(), contract(BillingModel.RETAINER, retainer_per_month=usd("5500"))
        )
    assert other.value.fields == ("retainer_per_month",) and CODE in str(other.value)
    assert len(harness.plans()) == 1


def test_inside_the_search_window_stripe_replays_the_plan_and_refuses_other_terms(harness: Harness) -> None:
    harness.fake.set_search_lag(60)  # Stripe: searchable within about a minute
    billing, _ = ready(harness)
    first = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert billing.create_billing_plan(project(), contract(BillingModel.RETAINER)) == first
    with pytest.raises(Conflict) as caught:
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER, payment_terms_days=60))
    assert caught.value.platform_code == "idempotency_error" and caught.value.key == CODE
    assert len(harness.plans()) == 1
    harness.clock.now += 61  # indexed now: the differing fields can be named
    with pytest.raises(Conflict) as named:
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER, payment_terms_days=60))
    assert named.value.fields == ("payment_terms_days",)


@pytest.mark.parametrize("model", [BillingModel.RETAINER, BillingModel.FIXED_FEE_MILESTONE])
def test_cancel_is_final_a_repeat_is_a_no_op_and_planning_again_makes_a_new_plan(
    harness: Harness, model: BillingModel
) -> None:
    billing, _ = ready(harness)
    first = billing.create_billing_plan(project(), contract(model))
    billing.cancel_billing_plan(first, "provisioning abandoned")
    billing.cancel_billing_plan(first, "provisioning abandoned")
    cancels = [
        op for op in harness.operations() if op in {"cancel_subscription", "cancel_subscription_schedule"}
    ]
    assert len(cancels) == 1
    assert billing.get_billing_plan(CODE) is None
    second = billing.create_billing_plan(project(), contract(model))
    assert second != first
    assert {p["native_id"]: p["cancelled"] for p in harness.plans()} == {first: True, second: False}


def test_planning_again_right_after_a_cancel_moves_past_the_spent_key(harness: Harness) -> None:
    harness.fake.set_search_lag(60)  # the cancelled plan is not searchable yet: its key replays it
    billing, _ = ready(harness)
    first = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    billing.cancel_billing_plan(first, "provisioning abandoned")
    second = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert second != first and harness.fake.subscriptions[second]["status"] == "active"


def test_cancelling_a_plan_stripe_does_not_have_is_not_found(harness: Harness) -> None:
    billing = harness.connector()
    with pytest.raises(NotFound, match="no subscription 'sub_missing'") as caught:
        billing.cancel_billing_plan("sub_missing", "cleanup")
    assert caught.value.platform_code == "resource_missing" and caught.value.http_status == 404
    with pytest.raises(NotFound, match="no subscription schedule 'sub_sched_missing'"):
        billing.cancel_billing_plan("sub_sched_missing", "cleanup")
    calls = len(harness.fake.calls())
    with pytest.raises(NotFound, match="not a subscription or schedule id"):
        billing.cancel_billing_plan("in_1Nv0X", "cleanup")
    assert len(harness.fake.calls()) == calls


def test_a_plan_needs_its_customer_and_its_terms(harness: Harness) -> None:
    billing = harness.connector()
    with pytest.raises(PermanentConnectorError, match="upsert the customer first"):
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    billing.upsert_customer(client())
    sent = len(harness.fake.calls())
    with pytest.raises(PermanentConnectorError, match="retainer_per_month"):
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER, retainer_per_month=None))
    with pytest.raises(PermanentConnectorError, match="rate_card"):
        billing.create_billing_plan(project(), contract(BillingModel.USAGE, rate_card=None))
    assert len(harness.fake.calls()) == sent  # refused before anything was sent


def test_a_customer_bills_in_one_currency(harness: Harness) -> None:
    billing, _ = ready(harness)
    billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    gbp = contract(BillingModel.USAGE, currency="GBP", rate_card=rate_card("GBP"))
    with pytest.raises(PermanentConnectorError, match="already bills in USD"):
        billing.create_billing_plan(project("PRJ-HARB-0002"), gbp)


def test_stripe_refuses_a_second_currency_the_connector_had_not_seen(harness: Harness) -> None:
    first, second = harness.connector(), harness.connector()
    first.upsert_customer(client())
    second.upsert_customer(client())  # remembers the customer before it bills in any currency
    first.create_billing_plan(project(), contract(BillingModel.RETAINER))
    gbp = contract(BillingModel.USAGE, currency="GBP", rate_card=rate_card("GBP"))
    with pytest.raises(PermanentConnectorError) as caught:
        second.create_billing_plan(project("PRJ-HARB-0002"), gbp)
    assert caught.value.http_status == 400 and "PRJ-HARB-0002" in caught.value.message
    assert "cannot combine currencies" in (caught.value.platform_message or "")


def test_a_customer_deleted_in_the_dashboard_is_stripes_resource_missing(harness: Harness) -> None:
    billing, customer = ready(harness)
    harness.fake.delete_customer(customer)
    with pytest.raises(PermanentConnectorError) as caught:
        billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert caught.value.platform_code == "resource_missing" and f"No such customer: '{customer}'" in str(
        caught.value.platform_message
    )
    assert "subscription for project PRJ-HARB-0001" in caught.value.message


# -- lost answers, throttles, outages ---------------------------------------------------------------


def test_a_lost_answer_to_a_plan_create_is_resolved_by_stripes_replay(harness: Harness) -> None:
    billing, _ = ready(harness)
    harness.fake.drop_answer("create_subscription")
    native_id = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert [p["native_id"] for p in harness.plans()] == [native_id]
    assert [c.status for c in harness.fake.calls("create_subscription")] == [None, 200]
    replay = [e for e in harness.fake.exchanges if e.operation == "create_subscription"][-1]
    assert replay.response is not None and replay.response.headers["Idempotent-Replayed"] == "true"
    assert len(harness.clock.waits) == 1  # one backoff, then the same key again


def test_a_lost_answer_to_a_customer_create_makes_one_customer(harness: Harness) -> None:
    billing = harness.connector()
    harness.fake.drop_answer("create_customer")
    result = billing.upsert_customer(client())
    assert result.created and [c["native_id"] for c in harness.fake.records()["customers"]] == [
        result.native_id
    ]


def test_a_gateway_error_after_the_write_is_resolved_by_the_replay(harness: Harness) -> None:
    billing, _ = ready(harness)
    harness.fake.inject("create_subscription_schedule", 502, API_ERROR, when="after")
    native_id = billing.create_billing_plan(project(), contract(BillingModel.FIXED_FEE_MILESTONE))
    assert [p["native_id"] for p in harness.plans()] == [native_id]


def test_a_429_with_retry_after_waits_that_long(harness: Harness) -> None:
    harness.fake.inject("search_customers", 429, RATE_LIMIT, {"Retry-After": "3", **SHOULD_RETRY})
    harness.connector().upsert_customer(client())
    assert harness.clock.vendor_waits() == [3.0]


def test_a_429_without_retry_after_waits_as_stripes_clients_do(harness: Harness) -> None:
    harness.fake.inject("create_customer", 429, RATE_LIMIT, SHOULD_RETRY)
    harness.connector().upsert_customer(client())
    assert harness.clock.vendor_waits() == [0.5]
    assert len(harness.fake.records()["customers"]) == 1


def test_lock_timeout_and_a_key_in_use_are_waits_too(harness: Harness) -> None:
    billing, _ = ready(harness)
    harness.fake.inject("create_subscription", 429, LOCK_TIMEOUT, SHOULD_RETRY)
    harness.fake.inject("create_product", 409, KEY_IN_USE, SHOULD_RETRY)
    billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert harness.clock.vendor_waits() == [0.5, 0.5] and len(harness.plans()) == 1


def test_a_throttle_that_lasts_is_handed_back_as_rate_limited(harness: Harness) -> None:
    billing = harness.connector()
    harness.fake.set_rate(0.001, burst=1)  # one request, then Stripe's 429 for the rest of the test
    with pytest.raises(RateLimited) as caught:
        billing.upsert_customer(client())
    assert caught.value.platform_code == "rate_limit" and caught.value.retry_after_s == 0.5
    assert "customer for client client_1" in caught.value.message
    assert harness.clock.vendor_waits() == [0.5, 0.5, 0.5]  # four attempts (the kit's default)


def test_a_503_is_retried_then_succeeds(harness: Harness) -> None:
    billing, _ = ready(harness)
    harness.fake.inject("create_product", 503, API_ERROR, SHOULD_RETRY)
    billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert len(harness.clock.waits) == 1 and 0 <= harness.clock.waits[0] <= 4
    assert len(harness.plans()) == 1


def test_an_outage_that_lasts_is_transient(harness: Harness) -> None:
    billing = harness.connector()
    harness.fake.set_outage(True)
    with pytest.raises(TransientConnectorError) as caught:
        billing.get_billing_plan(CODE)
    assert caught.value.http_status == 503 and caught.value.platform_code == "api_error"
    assert "plan of project PRJ-HARB-0001" in caught.value.message


# -- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_missing",
                    "message": "Missing required param: name.",
                    "param": "name",
                }
            },
            PermanentConnectorError,
            "parameter_missing",
        ),
        (
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": "No such customer",
                }
            },
            NotFound,
            "resource_missing",
        ),
        (
            403,
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": "The provided key 'rk_test_********************abcd' does not have the required "
                    "permissions for this endpoint on account 'acct_1'.",
                }
            },
            PermanentConnectorError,
            "invalid_request_error",
        ),
    ],
)
def test_stripes_refusals_map_to_pshubs_errors(
    harness: Harness, status: int, body: dict[str, object], error: type[Exception], code: str
) -> None:
    harness.fake.inject("search_customers", status, body)
    with pytest.raises(error) as caught:
        harness.connector().upsert_customer(client())
    raised = caught.value
    assert isinstance(raised, PermanentConnectorError)
    assert raised.platform_code == code and raised.http_status == status
    assert "customer for client client_1" in raised.message and raised.platform_message


def test_a_wrong_key_is_stripes_401_and_is_not_retried(harness: Harness) -> None:
    billing = harness.connector(credentials={"secret_key": "sk_test_notthekey0000000000wxyz"})
    with pytest.raises(PermanentConnectorError) as caught:
        billing.upsert_customer(client())
    assert caught.value.http_status == 401 and "refused the API key" in caught.value.message
    assert caught.value.platform_message is not None and "notthekey" not in caught.value.platform_message
    assert len(harness.fake.calls()) == 1  # Stripe keys do not refresh: nothing to retry with


def test_an_expired_key_is_stripes_api_key_expired(harness: Harness) -> None:
    billing = harness.connector()
    harness.fake.expire_key(credentials_for_local(stripe_connection())["secret_key"])
    with pytest.raises(PermanentConnectorError) as caught:
        billing.get_billing_plan(CODE)
    assert caught.value.platform_code == "api_key_expired" and caught.value.http_status == 401


def test_connect_needs_a_secret_or_restricted_key(harness: Harness) -> None:
    connection = stripe_connection(base_url=harness.fake.base_url)
    with pytest.raises(ConnectionConfigError, match="'secret_key'"):
        connect(connection, ConnectorContext(credentials={}, state=MemoryState()))
    publishable = "pk_test_51Hq0000000000000000000000"
    with pytest.raises(ConnectionConfigError, match="publishable") as caught:
        connect(connection, ConnectorContext(credentials={"secret_key": publishable}, state=MemoryState()))
    assert publishable not in str(caught.value)
    assert platform("stripe").outbound["billing"] == "pshub.platforms.stripe.outbound:connect"


# -- the wire ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "requests"),
    [
        (BillingModel.RETAINER, 7),  # customer: search, create, update; plan: 2 reads, product, subscription
        (BillingModel.USAGE, 9),  # + one price per rate-card role (2)
        (BillingModel.TIME_AND_MATERIALS, 9),  # + one price per role (2), a schedule
        (BillingModel.FIXED_FEE_MILESTONE, 9),  # + one price per milestone (2), a schedule
    ],
)
def test_requests_per_project_provisioned(harness: Harness, model: BillingModel, requests: int) -> None:
    billing = harness.connector()
    billing.upsert_customer(client())
    billing.create_billing_plan(project(), contract(model))
    assert len(harness.fake.calls()) == requests


def test_provisioning_one_project_takes_seven_requests(harness: Harness) -> None:
    billing = harness.connector()
    billing.upsert_customer(client())
    billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    assert harness.operations() == [
        "search_customers",
        "create_customer",
        "update_customer",
        "search_subscriptions",
        "list_subscription_schedules",
        "create_product",
        "create_subscription",
    ]


def test_every_request_pins_the_version_and_every_post_carries_a_key_from_pshubs_ids(
    harness: Harness,
) -> None:
    billing = harness.connector(stripe_account="acct_1Hq2ExAmPlE")
    billing.upsert_customer(client())
    billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    for exchange in harness.fake.exchanges:
        assert exchange.request.header("stripe-version") == STRIPE_VERSION == "2020-08-27"
        assert exchange.request.header("stripe-account") == "acct_1Hq2ExAmPlE"
    keys = [e.request.header("idempotency-key") for e in harness.fake.exchanges if e.request.method == "POST"]
    assert all(key and key.startswith(f"pshub:{CONNECTION_ID}:") for key in keys)
    assert f"pshub:{CONNECTION_ID}:create_customer:client_1" in keys
    assert f"pshub:{CONNECTION_ID}:create_billing_plan:{CODE}:g1" in keys
    assert len(set(keys)) == len(keys)


def test_requests_go_only_to_the_configured_host(harness: Harness) -> None:
    hosts = Hosts()
    billing = harness.connector(transport=hosts)
    billing.upsert_customer(client())
    billing.create_billing_plan(project(), contract(BillingModel.FIXED_FEE_MILESTONE))
    billing.get_billing_plan(CODE)
    port = harness.fake.base_url.rsplit(":", 1)[1]
    assert hosts.seen and set(hosts.seen) == {f"127.0.0.1:{port}"}


def test_no_key_rate_or_tax_number_reaches_the_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # On "pshub" itself: another test may have left that logger's own level at INFO (Powertools).
    caplog.set_level(logging.DEBUG, logger="pshub")
    caplog.set_level(logging.DEBUG)
    billing = harness.connector()
    billing.upsert_customer(client())
    billing.create_billing_plan(project(), contract(BillingModel.USAGE))
    billing.get_billing_plan(CODE)
    harness.fake.inject(
        "search_subscriptions", 400, {"error": {"type": "invalid_request_error", "message": "x"}}
    )
    with pytest.raises(PermanentConnectorError):
        billing.get_billing_plan(CODE)
    bodies = [r for r in caplog.records if r.name == "pshub.connectors.http" and hasattr(r, "response_body")]
    assert bodies  # the kit logged every exchange, bodies included: there was something to leak
    # Every record's message and content; the logging module's own clock and process fields are
    # left out (a timestamp such as 1796524305.6125002 holds "12500" by chance, not a rate).
    bookkeeping = {"created", "msecs", "relativeCreated", "thread", "threadName", "process", "processName"}
    logged = "\n".join(
        record.getMessage()
        + json.dumps({k: v for k, v in record.__dict__.items() if k not in bookkeeping}, default=str)
        for record in caplog.records
    )
    key = credentials_for_local(stripe_connection())["secret_key"]
    assert key not in logged and key[-12:] not in logged
    assert "18500" not in logged and "12500" not in logged  # the hourly rates in cents
    assert "7654321" not in logged


def test_changed_since_pages_through_stripes_events(harness: Harness) -> None:
    billing = harness.connector()
    ids = {billing.upsert_customer(client(f"client_{n}", tax_profile=None)).native_id for n in range(51)}
    since = datetime.fromtimestamp(NOW - 1, UTC)
    first, token = billing.changed_since("customer", since)
    assert len(first) == 100 and token is not None  # created + updated per customer, 100 a page
    rest, end = billing.changed_since("customer", since, token)
    assert len(rest) == 2 and end is None
    assert {r["native_id"] for r in first + rest} == ids
    assert {r["event_type"] for r in first + rest} == {"customer.created", "customer.updated"}
    later, _ = billing.changed_since("customer", datetime.fromtimestamp(NOW + 10, UTC))
    assert later == []
    with pytest.raises(ValueError, match="unknown object type"):
        billing.changed_since("opportunity", since)


def test_changed_since_sees_a_cancelled_plan(harness: Harness) -> None:
    billing, _ = ready(harness)
    native_id = billing.create_billing_plan(project(), contract(BillingModel.RETAINER))
    billing.cancel_billing_plan(native_id, "provisioning abandoned")
    records, _ = billing.changed_since("subscription", datetime.fromtimestamp(NOW, UTC))
    assert [(r["event_type"], r["native_id"], r["deleted"]) for r in records] == [
        ("customer.subscription.deleted", native_id, True),
        ("customer.subscription.created", native_id, False),
    ]

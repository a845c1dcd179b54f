"""The contract helper accepts what the vendors' documents allow and names what they forbid."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_spec

from tests.contract.openapi_contract import (
    SPECS,
    FormDecodeError,
    decode_brackets,
    known_vendors,
    operation_for,
    spec_document,
    validate_request,
    validate_response,
)

STRIPE_AUTH = {"Authorization": "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"}
FORM = {**STRIPE_AUTH, "Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json; charset=utf-8"}
KANTATA = {"Authorization": "Bearer abc123", "Content-Type": "application/json"}
FAKE = "http://127.0.0.1:49152"  # fakes listen on loopback, any port


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


# ------------------------------------------------------------------ the documents


def test_vendors_with_a_document() -> None:
    assert known_vendors() == ("kantata", "stripe")
    with pytest.raises(AssertionError, match="no OpenAPI document for vendor 'hubspot'"):
        operation_for("hubspot", "GET", "/crm/v3/objects/deals/1")


@pytest.mark.parametrize("vendor", ["stripe", "kantata"])
def test_vendored_documents_are_valid_openapi(vendor: str) -> None:
    # the files as stored (the helper adjusts only its in-memory copy)
    validate_spec(json.loads((SPECS / vendor / "openapi.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize("vendor", ["stripe", "kantata"])
def test_every_reference_resolves_and_every_listed_operation_is_there(vendor: str) -> None:
    document = spec_document(vendor)
    text = json.dumps(document)
    for kind, name in set(re.findall(r'"#/components/(\w+)/([^"]+)"', text)):
        assert name in document["components"][kind], f"{kind}/{name}"
    listed = [
        line.split(" ", 1)
        for line in (SPECS / vendor / "operations.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    kept = {(method.lower(), path) for path, item in document["paths"].items() for method in item}
    assert {(method.lower(), path) for method, path in listed} == kept


@pytest.mark.parametrize("vendor", ["stripe", "kantata"])
def test_trimming_a_trimmed_document_again_changes_nothing(vendor: str, tmp_path: Path) -> None:
    # the trimmer is deterministic and keeps exactly the closure it needs
    out = tmp_path / "again.json"
    subprocess.run(
        [
            sys.executable,
            str(SPECS / "trim_openapi.py"),
            str(SPECS / vendor / "openapi.json"),
            str(out),
            "--ops-file",
            str(SPECS / vendor / "operations.txt"),
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == (SPECS / vendor / "openapi.json").read_bytes()


# ------------------------------------------------------------------ finding operations


@pytest.mark.parametrize(
    ("vendor", "method", "url", "operation_id"),
    [
        ("stripe", "POST", f"{FAKE}/v1/customers", "PostCustomers"),
        ("stripe", "GET", "https://api.stripe.com/v1/customers/cus_123", "GetCustomersCustomer"),
        ("stripe", "POST", "/v1/customers/cus_123", "PostCustomersCustomer"),
        ("stripe", "GET", "/v1/customers/search?query=email:'a@b.c'", "GetCustomersSearch"),
        ("stripe", "DELETE", "/v1/subscriptions/sub_1", "DeleteSubscriptionsSubscriptionExposedId"),
        (
            "stripe",
            "POST",
            "/v1/subscription_schedules/sub_sched_1/cancel",
            "PostSubscriptionSchedulesScheduleCancel",
        ),
        ("stripe", "GET", "/v1/events?limit=3", "GetEvents"),
        ("kantata", "POST", f"{FAKE}/api/v1/workspaces.json", "CreateWorkspace"),
        ("kantata", "GET", "/workspaces.json?only=5", "GetWorkspaces"),
        ("kantata", "PUT", "/api/v1/workspaces/5.json", "UpdateWorkspace"),
        ("kantata", "GET", "/api/v1/workspaces/5", "GetWorkspace"),
        (
            "kantata",
            "POST",
            "/api/v1/external_references/create_or_update",
            "CreateOrUpdateExternalReference",
        ),
        ("kantata", "PUT", "/api/v1/rate_card_roles/9.json", "UpdateRateCardRole"),
        ("kantata", "DELETE", "/api/v1/rate_card_roles/9.json", "DeleteRateCardRole"),
        ("kantata", "GET", "/api/v1/roles.json?matching=Senior", "GetRoles"),
        ("kantata", "GET", "/api/v1/project_templates.json", "GetProjectTemplates"),
        (
            "kantata",
            "POST",
            "/api/v1/external_references/create_or_update.json",
            "CreateOrUpdateExternalReference",
        ),
    ],
)
def test_operations_are_found_by_path_whatever_the_host(
    vendor: str, method: str, url: str, operation_id: str
) -> None:
    assert operation_for(vendor, method, url) == operation_id


def test_a_call_outside_the_trimmed_operations_fails() -> None:
    with pytest.raises(AssertionError, match=r"no such path"):
        operation_for("stripe", "GET", "/v1/charges")
    with pytest.raises(AssertionError, match=r"has this path but not this method"):
        operation_for("kantata", "DELETE", "/api/v1/workspaces/5.json")


# ------------------------------------------------------------------ Stripe requests


def test_stripe_customer_create_as_the_docs_show_it_passes() -> None:
    body = b"name=Acme%20Consulting&email=billing%40acme.example&metadata[pshub_client_id]=client_1"
    validate_request("stripe", "POST", f"{FAKE}/v1/customers", FORM, body)


def test_stripe_nested_and_indexed_parameters_pass() -> None:
    body = (
        b"customer=cus_123&items[0][price]=price_123&items[0][quantity]=2"
        b"&metadata[pshub_contract_id]=ctr_1&collection_method=send_invoice&days_until_due=30"
        b"&expand[0]=latest_invoice&proration_behavior=none"
    )
    validate_request("stripe", "POST", "/v1/subscriptions", FORM, body)


def test_stripe_empty_strings_unset_fields() -> None:
    # Stripe's "" means "clear this field"; the schemas say so with an anyOf branch
    validate_request("stripe", "POST", "/v1/customers/cus_123", FORM, b"address=&metadata[old]=&phone=")


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        # the request schemas say additionalProperties: false, as the API does
        (
            b"name=Acme&nickname=acme",
            r"body: Additional properties are not allowed \('nickname' was unexpected\)",
        ),
        (b"name=Acme&balance=lots", r"body\.balance: 'lots' is not of type 'integer'"),
        (
            b"name=Acme&tax_exempt=sometimes",
            r"body\.tax_exempt: 'sometimes' is not one of \['', 'exempt', 'none', 'reverse'\]",
        ),
        (b"metadata[pshub][client_id]=c1", r"body\.metadata: matches no alternative of anyOf"),
    ],
)
def test_stripe_customer_create_outside_the_schema_fails(body: bytes, rule: str) -> None:
    with pytest.raises(AssertionError) as failure:
        validate_request("stripe", "POST", "/v1/customers", FORM, body)
    message = str(failure.value)
    assert message.startswith("stripe PostCustomers (POST /v1/customers): request breaks the spec:")
    assert re.search(rule, message), message


def test_stripe_subscription_item_quantity_must_be_a_number() -> None:
    with pytest.raises(AssertionError, match=r"body\.items\[0\]\.quantity: 'two' is not of type 'integer'"):
        validate_request(
            "stripe",
            "POST",
            "/v1/subscriptions",
            FORM,
            b"customer=cus_1&items[0][price]=price_1&items[0][quantity]=two",
        )


def test_stripe_required_body_fields_are_required() -> None:
    # POST /v1/prices needs a currency
    with pytest.raises(AssertionError, match=r"body: 'currency' is a required property"):
        validate_request("stripe", "POST", "/v1/prices", FORM, b"unit_amount=15000&product=prod_1")


def test_stripe_query_strings_are_decoded_and_checked() -> None:
    validate_request(
        "stripe",
        "GET",
        "/v1/events?created[gte]=1767225600&limit=100&types[0]=customer.subscription.updated&expand[0]=data.object",
        STRIPE_AUTH,
        b"",
    )
    validate_request(
        "stripe",
        "GET",
        "/v1/customers/search?query=metadata%5B%27pshub_client_id%27%5D%3A%27c1%27",
        STRIPE_AUTH,
        b"",
    )
    with pytest.raises(AssertionError) as failure:
        validate_request("stripe", "GET", "/v1/events?limit=many&colour=blue", STRIPE_AUTH, b"")
    assert "query limit: 'many' is not of type 'integer'" in str(failure.value)
    assert "query parameter colour: not a parameter of this operation" in str(failure.value)
    with pytest.raises(AssertionError, match="query parameter query: required but missing"):
        validate_request("stripe", "GET", "/v1/prices/search", STRIPE_AUTH, b"")


def test_stripe_requests_need_credentials() -> None:
    with pytest.raises(AssertionError, match="SecurityValidationError: Security not found"):
        validate_request("stripe", "GET", "/v1/customers/cus_123", {}, b"")


def test_stripe_requests_need_a_form_body() -> None:
    with pytest.raises(AssertionError, match=r"body: content type 'application/json' not one of"):
        validate_request("stripe", "POST", "/v1/customers", {**STRIPE_AUTH, **JSON}, b'{"name": "Acme"}')


def test_bracket_decoding() -> None:
    pairs = [("a[b][0]", "x"), ("a[b][1]", "y"), ("c[]", "1"), ("c[]", "2"), ("d", "")]
    assert decode_brackets(pairs) == {"a": {"b": {"0": "x", "1": "y"}}, "c": ["1", "2"], "d": ""}
    for bad in ([("a", "1"), ("a", "2")], [("a", "1"), ("a[b]", "2")], [("a]", "1")], [("a[][b]", "1")]):
        with pytest.raises(FormDecodeError):
            decode_brackets(bad)


# ------------------------------------------------------------------ Stripe responses

# the customer object as Stripe's API reference shows it (API version 2020-08-27 fields)
CUSTOMER: dict[str, Any] = {
    "id": "cus_NffrFeUfNV2Hib",
    "object": "customer",
    "address": None,
    "balance": 0,
    "created": 1680893993,
    "currency": None,
    "default_source": None,
    "delinquent": False,
    "description": None,
    "discount": None,
    "email": "jennyrosen@example.com",
    "invoice_prefix": "0759376C",
    "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
    "livemode": False,
    "metadata": {"pshub_client_id": "client_1"},
    "name": "Jenny Rosen",
    "next_invoice_sequence": 1,
    "phone": None,
    "preferred_locales": [],
    "shipping": None,
    "tax_exempt": "none",
    "test_clock": None,
}


def test_stripe_customer_response_as_the_docs_show_it_passes() -> None:
    validate_response(
        "stripe", "POST", f"{FAKE}/v1/customers", 200, JSON, _json(CUSTOMER), request_headers=FORM
    )


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"livemode": None}, r"body: 'livemode' is a required property"),
        ({"id": None}, r"body: 'id' is a required property"),
        ({"created": "2026-01-01"}, r"body\.created: '2026-01-01' is not of type 'integer'"),
        ({"object": "client"}, r"body\.object: 'client' is not one of \['customer'\]"),
        ({"metadata": {"pshub_client_id": 7}}, r"body\.metadata\.pshub_client_id: 7 is not of type 'string'"),
    ],
)
def test_stripe_customer_response_outside_the_schema_fails(change: dict[str, Any], rule: str) -> None:
    customer = {k: v for k, v in {**CUSTOMER, **change}.items() if not (k in change and change[k] is None)}
    with pytest.raises(AssertionError) as failure:
        validate_response("stripe", "POST", "/v1/customers", 200, JSON, _json(customer))
    message = str(failure.value)
    assert message.startswith("stripe PostCustomers (POST /v1/customers): response 200 breaks the spec:")
    assert re.search(rule, message), message


def test_stripe_error_responses_follow_the_error_schema() -> None:
    error = {
        "error": {"type": "invalid_request_error", "message": "No such customer: 'cus_x'", "param": "id"}
    }
    validate_response("stripe", "GET", "/v1/customers/cus_x", 404, JSON, _json(error))
    with pytest.raises(AssertionError, match=r"body: 'error' is a required property"):
        validate_response("stripe", "GET", "/v1/customers/cus_x", 404, JSON, _json({"message": "not found"}))


def test_stripe_responses_must_be_json() -> None:
    with pytest.raises(
        AssertionError, match=r"body: Content for the following mimetype not found: text/html"
    ):
        validate_response(
            "stripe", "GET", "/v1/customers/cus_1", 200, {"Content-Type": "text/html"}, b"<html/>"
        )


# ------------------------------------------------------------------ Kantata


WORKSPACE_CREATE = {
    "workspace": {
        "title": "Acme Inc - Website Redesign",
        "budgeted": True,
        "currency": "USD",
        "price": 120000,
        "start_date": "2026-01-05",
        "due_date": "2026-06-30",
        "rate_card_id": 31,
        "external_reference": {
            "service_name": "pshub",
            "service_model": "project",
            "service_model_ref": "PRJ-0042",
        },
    }
}

# a create response as Kantata's Response Format section describes it
WORKSPACE_RESPONSE: dict[str, Any] = {
    "count": 1,
    "results": [{"key": "workspaces", "id": "2249167"}],
    "workspaces": {
        "2249167": {
            "id": "2249167",
            "title": "Acme Inc - Website Redesign",
            "budgeted": True,
            "currency": "USD",
            "price": "1,200.00",
            "price_in_cents": 120000,
            "start_date": "2026-01-05",
            "due_date": "2026-06-30",
            "archived": False,
            "rate_card_id": 31,
            "created_at": "2026-01-02T10:00:00-08:00",
            "updated_at": "2026-01-02T10:00:00-08:00",
            "percentage_complete": 0,
            "primary_counterpart_id": None,
            "external_reference_ids": ["88"],
        }
    },
    "external_references": {
        "88": {
            "service_name": "pshub",
            "service_model": "project",
            "service_model_ref": "PRJ-0042",
            "subject_id": 2249167,
            "subject_type": "Workspace",
            "status": "successful",
        }
    },
    "meta": {"count": 1, "page_count": 1, "page_number": 1, "page_size": 20},
}


def test_kantata_workspace_create_passes() -> None:
    validate_request(
        "kantata",
        "POST",
        f"{FAKE}/api/v1/workspaces.json?include=external_references",
        KANTATA,
        _json(WORKSPACE_CREATE),
    )


@pytest.mark.parametrize(
    ("workspace", "rule"),
    [
        ({"budgeted": True}, r"body\.workspace: 'title' is a required property"),
        ({"title": "X", "budgeted": "yes"}, r"body\.workspace\.budgeted: 'yes' is not of type 'boolean'"),
        (
            {"title": "X", "access_level": "everyone"},
            r"body\.workspace\.access_level: 'everyone' is not one of",
        ),
        (
            {"title": "X", "start_date": "05/01/2026"},
            r"body\.workspace\.start_date: '05/01/2026' is not a 'date'",
        ),
        (
            {"title": "X", "external_reference": {"service_name": "pshub"}},
            r"'service_model_ref' is a required property",
        ),
    ],
)
def test_kantata_workspace_create_outside_the_schema_fails(workspace: dict[str, Any], rule: str) -> None:
    with pytest.raises(AssertionError) as failure:
        validate_request(
            "kantata", "POST", "/api/v1/workspaces.json", KANTATA, _json({"workspace": workspace})
        )
    message = str(failure.value)
    assert message.startswith("kantata CreateWorkspace (POST /workspaces): request breaks the spec:")
    assert re.search(rule, message), message


def test_kantata_filters_are_typed() -> None:
    url = "/api/v1/workspaces.json?include_archived=true&external_reference_service_name=pshub&per_page=200"
    validate_request("kantata", "GET", url, KANTATA, b"")
    with pytest.raises(AssertionError) as failure:
        validate_request(
            "kantata", "GET", "/api/v1/workspaces.json?per_page=500&budgeted=maybe", KANTATA, b""
        )
    assert "query parameter per_page: 500 is greater than the maximum of 200" in str(failure.value)
    assert "query parameter budgeted" in str(failure.value)
    with pytest.raises(AssertionError, match="query parameter subject_type"):
        validate_request(
            "kantata", "GET", "/api/v1/external_references.json?service_name=pshub", KANTATA, b""
        )


def test_kantata_external_reference_and_time_entry_bodies() -> None:
    reference = {
        "external_reference": {
            "subject_type": "Workspace",
            "subject_id": 2249167,
            "service_name": "pshub",
            "service_model": "project",
            "service_model_ref": "PRJ-0042",
        }
    }
    validate_request(
        "kantata", "POST", "/api/v1/external_references/create_or_update", KANTATA, _json(reference)
    )
    entry = {"time_entry": {"workspace_id": 2249167, "date_performed": "2026-02-03", "time_in_minutes": 90}}
    validate_request("kantata", "POST", "/api/v1/time_entries.json", KANTATA, _json(entry))
    with pytest.raises(AssertionError, match=r"body\.time_entry: 'time_in_minutes' is a required property"):
        validate_request(
            "kantata",
            "POST",
            "/api/v1/time_entries.json",
            KANTATA,
            _json({"time_entry": {"workspace_id": 1, "date_performed": "2026-02-03"}}),
        )


def test_kantata_workspace_response_passes() -> None:
    validate_response(
        "kantata",
        "POST",
        "/api/v1/workspaces.json",
        200,
        JSON,
        _json(WORKSPACE_RESPONSE),
        request_headers=KANTATA,
    )


def test_kantata_workspace_response_outside_the_schema_fails() -> None:
    wrong_type = json.loads(json.dumps(WORKSPACE_RESPONSE))
    wrong_type["workspaces"]["2249167"]["title"] = 42
    wrong_type["results"] = {"key": "workspaces", "id": "2249167"}
    with pytest.raises(AssertionError) as failure:
        validate_response("kantata", "POST", "/api/v1/workspaces.json", 200, JSON, _json(wrong_type))
    message = str(failure.value)
    assert message.startswith("kantata CreateWorkspace (POST /workspaces): response 200 breaks the spec:")
    assert "body.workspaces.2249167.title: 42 is not of type 'string', 'null'" in message
    assert "body.results: {'key': 'workspaces', 'id': '2249167'} is not of type 'array'" in message


def test_kantata_errors_and_undeclared_statuses() -> None:
    errors = {
        "errors": [{"type": "validation", "message": "Please give your project a title", "field": "title"}]
    }
    validate_response("kantata", "POST", "/api/v1/workspaces.json", 422, JSON, _json(errors))
    with pytest.raises(AssertionError, match="Unknown response http status: 500"):
        validate_response("kantata", "POST", "/api/v1/workspaces.json", 500, JSON, b"{}")

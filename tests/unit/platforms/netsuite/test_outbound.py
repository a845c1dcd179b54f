"""pshub's NetSuite ERP connector against the NetSuite fake, over real HTTP on 127.0.0.1.

The expectations are NetSuite's documented behaviour (204 + ``Location`` on create, upsert by
``eid:``, the ``o:errorDetails`` error body, SuiteQL paging) and pshub's ERP contract
(``pshub.connectors.erp``): one record per key, same content returns it, other content is a
``Conflict`` naming the fields, refusals per time entry are results.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest

from pshub.canonical.model import Address, ApprovalStatus, BillingModel, TaxProfile
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
from pshub.connectors.results import PostingStatus
from pshub.platforms import platform
from pshub.platforms.netsuite import outbound
from pshub.platforms.netsuite.outbound import connect
from pshub_local.platforms.netsuite.fake import NetSuiteFake, problem
from tests.unit.connectors.builders import client, contract, project, time_entry
from tests.unit.platforms.netsuite.support import M2M, PATTERN, TBA, Rig, connection, rig


@pytest.fixture
def r() -> Rig:
    with rig() as running:
        yield running


@pytest.fixture
def with_project(r: Rig) -> Rig:
    r.erp.upsert_client(client())
    r.erp.create_project(project())
    return r


# -- wiring ------------------------------------------------------------------------------------------
def test_the_manifest_names_this_connector() -> None:
    assert platform("netsuite").outbound == {"erp": "pshub.platforms.netsuite.outbound:connect"}


def test_the_default_host_is_the_accounts_suitetalk_domain() -> None:
    # NetSuite: https://<accountID>.suitetalk.api.netsuite.com, a sandbox account 1234567_SB1 as 1234567-sb1
    conn = connection()
    erp = connect(conn, ConnectorContext(credentials=M2M, state=MemoryState()))
    assert erp.base_url == "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"


def test_credentials_choose_the_scheme_and_missing_ones_are_a_configuration_error() -> None:
    with pytest.raises(ConnectionConfigError, match=r"neither OAuth 2\.0 M2M"):
        connect(connection(), ConnectorContext(credentials={}, state=MemoryState()))
    with pytest.raises(ConnectionConfigError, match="certificate_id"):
        connect(
            connection(auth="m2m"),
            ConnectorContext(credentials={"client_id": "x", "private_key": "y"}, state=MemoryState()),
        )
    with pytest.raises(ConnectionConfigError, match="subsidiaries"):
        connect(connection(subsidiaries="ACME-US"), ConnectorContext(credentials=M2M, state=MemoryState()))


# -- customers ---------------------------------------------------------------------------------------
def test_upsert_client_creates_the_customer_then_matches_the_same_company_by_tax_id(r: Rig) -> None:
    first = r.erp.upsert_client(client())
    # the same company under another client id, its tax id written differently
    again = r.erp.upsert_client(
        client(
            "client_other",
            name="HARBOURLINE LOGISTICS",
            tax_profile=TaxProfile(tax_id="987654321", jurisdiction="US-NY"),
        )
    )
    assert first.created and not again.created
    assert again.native_id == first.native_id and first.native_id.isdigit()
    [customer] = r.fake.records()["customers"]
    assert customer == {
        "native_id": first.native_id,
        "client_id": "client_1",
        "name": "HARBOURLINE LOGISTICS",
        "legal_entity": "ACME-US",
        "tax_jurisdiction": "US-NY",
    }
    # created by external-id upsert, updated in place
    assert [c.operation for c in r.fake.calls() if c.operation != "suiteql"][1:] == [
        "upsert_customer",
        "update_customer",
    ]
    for client_id in ("client_1", "client_other"):
        found = r.erp.find_client(client_id=client_id)
        assert found is not None and found.native_id == first.native_id


def test_upsert_client_matches_by_normalised_name_but_not_across_different_tax_ids(r: Rig) -> None:
    first = r.erp.upsert_client(client(tax_profile=TaxProfile(jurisdiction="US-NY")))
    same = r.erp.upsert_client(
        client("client_2", name="Harbourline Logistics, Inc.", tax_profile=TaxProfile(jurisdiction="US-NY"))
    )
    assert same.native_id == first.native_id and not same.created
    r.erp.upsert_client(client("client_3", tax_profile=TaxProfile(tax_id="04-2103594", jurisdiction="US-NY")))
    r.erp.upsert_client(client("client_4", tax_profile=TaxProfile(tax_id="91-1144442", jurisdiction="US-NY")))
    assert len(r.fake.records()["customers"]) == 2


def test_upsert_client_requires_legal_entity_and_tax_jurisdiction(r: Rig) -> None:
    with pytest.raises(PermanentConnectorError) as caught:
        r.erp.upsert_client(client(legal_entity=None, tax_profile=None))
    assert "legal_entity" in caught.value.message and "tax_profile.jurisdiction" in caught.value.message
    assert "Harbourline" in caught.value.message
    assert r.fake.calls() == []  # refused before anything was sent


def test_an_undeclared_legal_entity_names_the_option_to_set(r: Rig) -> None:
    with pytest.raises(PermanentConnectorError, match="option subsidiaries"):
        r.erp.upsert_client(client(legal_entity="ACME-DE"))


def test_a_subsidiary_the_account_does_not_have_is_refused_in_netsuite_words() -> None:
    with (
        rig(fake_kwargs={"subsidiaries": ["9"]}) as running,
        pytest.raises(PermanentConnectorError) as caught,
    ):
        running.erp.upsert_client(client())
    error = caught.value
    assert error.platform_code == "INVALID_CONTENT" and error.http_status == 400
    assert "Invalid Field Value 1 for the following field: subsidiary" in (error.platform_message or "")
    assert "Harbourline" in error.message and "client_1" in error.message


def test_find_client_reads_the_customer_back_with_its_address(r: Rig) -> None:
    address = Address(line1="Kärntner Straße 12", city="Wien", postal_code="1010", country="AT")
    native_id = r.erp.upsert_client(
        client(billing_address=address, legal_name="Harbourline Logistics GmbH")
    ).native_id
    found = r.erp.find_client(name="harbourline logistics")
    assert found is not None and found.native_id == native_id
    assert found.client.billing_address == address
    assert found.client.legal_name == "Harbourline Logistics GmbH"
    assert found.client.legal_entity == "ACME-US"
    assert found.client.external_ids == {"netsuite-acme": native_id}
    assert r.erp.find_client(tax_id="00-0000000") is None
    assert r.erp.find_client() is None


# -- projects ----------------------------------------------------------------------------------------
def test_create_project_twice_with_the_same_content_returns_the_existing_job(r: Rig) -> None:
    r.erp.upsert_client(client())
    first = r.erp.create_project(project())
    second = r.erp.create_project(project(external_ids={"kantata-acme": "27410001"}, source_version="2"))
    assert first == second and first.isdigit()
    assert [p["code"] for p in r.fake.records()["projects"]] == ["PRJ-HARB-0001"]
    assert len(r.fake.calls("create_job")) == 1
    job = r.fake.record("job", first)
    assert job is not None
    assert job["entityId"] == "PRJ-HARB-0001" and job["externalId"] == "PRJ-HARB-0001"
    assert (
        job["subsidiary"] == {"id": "1"} and job["class"] == {"id": "4"} and job["department"] == {"id": "7"}
    )


def test_provisioning_one_project_takes_eight_requests_and_one_token(r: Rig) -> None:
    r.erp.upsert_client(client())
    project_id = r.erp.create_project(project())
    r.erp.create_billing_schedule(project_id, contract(BillingModel.FIXED_FEE_MILESTONE))
    assert r.operations() == [
        "token",
        "suiteql", "upsert_customer",  # match the client, then upsert by external id
        "get_job", "suiteql", "create_job",  # read back by external id, find the customer, create
        "get_job", "get_billing_schedule", "create_billing_schedule",  # the project, read back, create
    ]  # fmt: skip


def test_same_code_with_different_content_is_a_conflict_naming_the_fields(r: Rig) -> None:
    r.erp.upsert_client(client())
    native_id = r.erp.create_project(project())
    with pytest.raises(Conflict) as caught:
        r.erp.create_project(project(name="Another engagement", budget=None))
    error = caught.value
    assert error.key == "PRJ-HARB-0001" and error.fields == ("budget", "name")
    assert "PRJ-HARB-0001" in str(error) and native_id in str(error)
    assert len(r.fake.records()["projects"]) == 1


def test_a_lost_create_answer_is_resolved_by_reading_back(r: Rig) -> None:
    r.erp.upsert_client(client())
    r.fake.drop_answer("create_job")  # NetSuite creates the job; the answer never arrives
    native_id = r.erp.create_project(project())
    assert len(r.fake.calls("create_job")) == 1  # never sent again
    assert [c.status for c in r.fake.calls("get_job")] == [404, 200]  # before, and the read-back
    assert [p["native_id"] for p in r.fake.records()["projects"]] == [native_id]


def test_a_lost_create_that_never_applied_is_sent_once_more(r: Rig) -> None:
    r.erp.upsert_client(client())
    r.fake.inject("create_job", 502)  # a gateway error: the job may or may not exist
    native_id = r.erp.create_project(project())
    assert [c.status for c in r.fake.calls("create_job")] == [502, 204]
    assert [p["native_id"] for p in r.fake.records()["projects"]] == [native_id]


def test_a_lost_upsert_answer_is_resent_and_applies_once(r: Rig) -> None:
    r.fake.drop_answer("upsert_customer")
    result = r.erp.upsert_client(client())
    assert [c.status for c in r.fake.calls("upsert_customer")] == [None, 204]
    assert len(r.clock.slept) == 1  # one backoff, through the context's sleep
    assert [c["native_id"] for c in r.fake.records()["customers"]] == [result.native_id]


def test_a_create_answered_without_location_is_read_back_by_external_id(r: Rig) -> None:
    r.fake.inject("upsert_customer", 204, when="after")  # applied; the answer lacks Location
    result = r.erp.upsert_client(client())
    assert result.native_id == r.fake.records()["customers"][0]["native_id"]
    assert r.operations()[-1] == "get_customer"


def test_a_job_with_the_same_code_made_in_netsuite_is_found_through_dup_entity(r: Rig) -> None:
    customer = r.erp.upsert_client(client()).native_id
    made_by_hand = r.fake.seed(
        "job",
        {
            "entityId": "PRJ-HARB-0001",
            "companyName": "Data Platform Assessment",
            "parent": {"id": customer},
            "subsidiary": {"id": "1"},
            "class": {"id": "4"},
        },
    )
    with pytest.raises(Conflict) as caught:
        r.erp.create_project(project())
    error = caught.value
    assert error.platform_code == "DUP_ENTITY" and error.platform_message == "This entity already exists."
    assert made_by_hand in error.message and "budget" in error.fields and "name" not in error.fields
    assert len(r.fake.records()["projects"]) == 1


def test_a_project_code_in_the_wrong_format_is_refused_in_netsuite_words(r: Rig) -> None:
    r.erp.upsert_client(client())
    with pytest.raises(PermanentConnectorError) as caught:
        r.erp.create_project(project("harb-1"))
    error = caught.value
    assert error.platform_code == "INVALID_CONTENT" and error.http_status == 400
    assert "Invalid Field Value harb-1 for the following field: entityId" in (error.platform_message or "")
    assert error.message.startswith("project harb-1:")
    assert r.erp.get_project("harb-1") is None
    assert PATTERN  # the account's rule lives in the fake, not in the connector


def test_a_project_needs_its_customer_and_its_dimensions(r: Rig) -> None:
    with pytest.raises(PermanentConnectorError, match="upsert the client first"):
        r.erp.create_project(project())
    r.erp.upsert_client(client())
    no_line = project().dimensions.model_copy(update={"service_line": " "})
    with pytest.raises(PermanentConnectorError, match=r"dimensions\.service_line"):
        r.erp.create_project(project(dimensions=no_line))
    assert r.fake.calls("create_job") == []


def test_deactivation_compensates_and_a_resumed_create_reactivates_the_job(r: Rig) -> None:
    r.erp.upsert_client(client())
    native_id = r.erp.create_project(project())
    r.erp.deactivate_project(native_id, "provisioning abandoned")
    r.erp.deactivate_project(native_id, "retried compensation")  # a no-op: the first reason stays
    record = r.erp.get_project("PRJ-HARB-0001")
    assert record is not None and not record.active and record.inactive_reason == "provisioning abandoned"
    assert len(r.fake.calls("update_job")) == 1
    [result] = r.erp.post_time_entries([time_entry("te_1")])
    assert result.status is PostingStatus.REJECTED and "inactive" in (result.reason or "")
    assert r.erp.create_project(project()) == native_id
    record = r.erp.get_project("PRJ-HARB-0001")
    assert record is not None and record.active and record.inactive_reason is None
    assert record.customer_native_id == r.fake.records()["customers"][0]["native_id"]
    assert record.project.code == "PRJ-HARB-0001" and record.project.budget == project().budget


def test_deactivating_an_unknown_project_is_not_found(r: Rig) -> None:
    with pytest.raises(NotFound) as caught:
        r.erp.deactivate_project("999999", "cleanup")
    error = caught.value
    assert error.platform_code == "NONEXISTENT_ID" and error.http_status == 404
    assert "999999" in error.message
    with pytest.raises(NotFound):
        r.erp.deactivate_project("../customer/1", "cleanup")  # not an internal id: nothing sent


# -- billing schedule --------------------------------------------------------------------------------
def test_billing_schedule_is_created_once_per_project(with_project: Rig) -> None:
    r = with_project
    project_id = r.fake.records()["projects"][0]["native_id"]
    first = r.erp.create_billing_schedule(project_id, contract(BillingModel.FIXED_FEE_MILESTONE))
    assert r.erp.create_billing_schedule(project_id, contract(BillingModel.FIXED_FEE_MILESTONE)) == first
    with pytest.raises(Conflict) as caught:
        r.erp.create_billing_schedule(project_id, contract(BillingModel.TIME_AND_MATERIALS))
    assert caught.value.key == "PRJ-HARB-0001" and "billing_model" in caught.value.fields
    assert len(r.fake.records()["billing_schedules"]) == 1
    schedule = r.fake.record("billingSchedule", first)
    assert schedule is not None and schedule["scheduleType"] == {"id": "FBM"}
    # milestones of 5,000 and 7,500: 40 % and 60 % of the fixed bid
    shares = [
        (m["milestoneDate"], m["milestoneAmount"], m["comments"]) for m in schedule["milestone"]["items"]
    ]
    assert shares == [("2027-01-15", 40.0, "Discovery"), ("2027-03-01", 60.0, "Roadmap")]


def test_billing_schedule_needs_the_terms_its_model_bills_from(with_project: Rig) -> None:
    r = with_project
    project_id = r.fake.records()["projects"][0]["native_id"]
    with pytest.raises(PermanentConnectorError, match="rate_card"):
        r.erp.create_billing_schedule(project_id, contract(rate_card=None))
    with pytest.raises(NotFound):
        r.erp.create_billing_schedule("424242", contract())
    r.erp.deactivate_project(project_id, "abandoned")
    with pytest.raises(PermanentConnectorError, match="inactive"):
        r.erp.create_billing_schedule(project_id, contract())
    assert r.fake.calls("create_billing_schedule") == []


def test_a_lost_billing_schedule_answer_is_resolved_by_reading_back(with_project: Rig) -> None:
    r = with_project
    project_id = r.fake.records()["projects"][0]["native_id"]
    r.fake.drop_answer("create_billing_schedule")
    native_id = r.erp.create_billing_schedule(project_id, contract(BillingModel.RETAINER))
    assert [s["native_id"] for s in r.fake.records()["billing_schedules"]] == [native_id]
    assert len(r.fake.calls("create_billing_schedule")) == 1


# -- time --------------------------------------------------------------------------------------------
def test_time_entries_are_posted_once_and_rejections_say_why(with_project: Rig) -> None:
    r = with_project
    entries = [
        time_entry("te_ok"),
        time_entry("te_closed", work_date=date(2026, 9, 30)),  # the period is closed through 2026-09-30
        time_entry("te_unknown", project_ref="PRJ-NOPE-0001"),
        time_entry("te_draft", status=ApprovalStatus.SUBMITTED),
        time_entry("te_ok"),  # the same entry twice in one call
        time_entry("te_by_id", project_ref="project_PRJ-HARB-0001"),  # named by pshub's project id
        time_entry("te_nobody", worker_id="worker_404"),
    ]
    results = r.erp.post_time_entries(entries)
    replay = r.erp.post_time_entries(entries[:2])
    by_id = {res.entry_id: res for res in results}
    assert [res.status for res in results] == [
        PostingStatus.POSTED, PostingStatus.REJECTED, PostingStatus.REJECTED, PostingStatus.REJECTED,
        PostingStatus.ALREADY_POSTED, PostingStatus.POSTED, PostingStatus.REJECTED,
    ]  # fmt: skip
    closed = by_id["te_closed"]
    assert (
        closed.reason == "accounting period for 2026-09-30 is closed" and closed.platform_code == "USER_ERROR"
    )
    assert by_id["te_unknown"].reason == "unknown project code PRJ-NOPE-0001"
    assert by_id["te_draft"].reason == "entry is submitted, not approved"
    assert "worker_404" in (by_id["te_nobody"].reason or "")
    assert results[4].native_id == results[0].native_id
    assert replay[0].status is PostingStatus.ALREADY_POSTED and replay[0].native_id == results[0].native_id
    assert replay[1].status is PostingStatus.REJECTED  # still refused, not posted
    time_entries = r.fake.records()["time_entries"]
    assert sorted(t["entry_id"] for t in time_entries) == ["te_by_id", "te_ok"]
    assert {t["hours"] for t in time_entries} == {"7.5"}


def test_an_oversized_batch_is_refused_whole() -> None:
    with rig(max_batch="2") as r, pytest.raises(PermanentConnectorError, match="at most 2"):
        r.erp.post_time_entries([time_entry(f"te_{i}") for i in range(3)])


def test_posting_time_needs_the_service_item_option() -> None:
    with rig(time_item_id="") as r:
        r.erp.upsert_client(client())
        r.erp.create_project(project())
        with pytest.raises(PermanentConnectorError, match="time_item_id"):
            r.erp.post_time_entries([time_entry("te_1")])


# -- throttling, outages, tokens ----------------------------------------------------------------------
def test_a_429_with_retry_after_waits_the_vendors_time(r: Rig) -> None:
    body = problem(429, "Concurrent request limit exceeded. Request blocked.", "CONCURRENCY_LIMIT_EXCEEDED")
    r.fake.inject("suiteql", 429, body, {"Retry-After": "7"})
    assert r.erp.find_client(client_id="client_1") is None
    assert r.clock.slept == [7.0]
    assert [c.status for c in r.fake.calls("suiteql")] == [429, 200]


def test_a_429_without_retry_after_waits_the_default(r: Rig) -> None:
    r.fake.inject("suiteql", 429, problem(429, "Too many requests.", "CONCURRENCY_LIMIT_EXCEEDED"))
    r.erp.find_client(client_id="client_1")
    assert r.clock.slept == [1.0]


def test_the_restlet_style_concurrency_refusal_is_throttling_too(r: Rig) -> None:
    body = problem(400, "Request limit exceeded.", "SSS_REQUEST_LIMIT_EXCEEDED")
    r.fake.inject("suiteql", 400, body)
    r.erp.find_client(client_id="client_1")
    assert r.clock.slept == [1.0]


def test_a_wait_longer_than_a_lambda_should_sleep_is_handed_back(r: Rig) -> None:
    r.fake.inject(
        "suiteql",
        429,
        problem(429, "Too many requests.", "CONCURRENCY_LIMIT_EXCEEDED"),
        {"Retry-After": "90"},
    )
    with pytest.raises(RateLimited) as caught:
        r.erp.find_client(client_id="client_1")
    assert caught.value.retry_after_s == 90 and caught.value.platform_code == "CONCURRENCY_LIMIT_EXCEEDED"
    assert r.clock.slept == []


def test_a_503_is_retried_then_succeeds(r: Rig) -> None:
    r.fake.inject(
        "upsert_customer", 503, problem(503, "Service unavailable.", "SERVICE_UNAVAILABLE"), times=2
    )
    result = r.erp.upsert_client(client())
    assert [c.status for c in r.fake.calls("upsert_customer")] == [503, 503, 204]
    assert len(r.clock.slept) == 2 and len(r.fake.records()["customers"]) == 1 and result.created


def test_an_outage_is_transient_after_the_configured_attempts(r: Rig) -> None:
    r.erp.find_client(client_id="client_1")  # a token in hand
    r.fake.set_outage(True)
    with pytest.raises(TransientConnectorError) as caught:
        r.erp.get_project("PRJ-HARB-0001")
    assert caught.value.http_status == 503 and caught.value.platform_code == "SERVICE_UNAVAILABLE"
    assert [c.status for c in r.fake.calls()][2:] == [503] * 4  # max_attempts
    assert len(r.clock.slept) == 3


def test_an_expired_token_is_refreshed_once(r: Rig) -> None:
    r.erp.upsert_client(client())
    r.fake.expire_tokens()
    assert r.erp.find_client(client_id="client_1") is not None
    assert r.operations()[3:] == ["suiteql", "token", "suiteql", "get_customer"]
    assert [c.status for c in r.fake.calls("suiteql")][1:] == [401, 200]


def test_a_token_nearing_its_hour_is_fetched_before_netsuite_refuses_it(r: Rig) -> None:
    r.erp.find_client(client_id="client_1")
    r.clock.now += 3600 - 30  # within the refresh margin
    r.erp.find_client(client_id="client_1")
    assert r.operations() == ["token", "suiteql", "token", "suiteql"]


def test_refused_m2m_credentials_are_permanent_in_the_token_endpoints_words() -> None:
    other = {**M2M, "certificate_id": "localdemo-cert-unknown"}
    with rig(other) as r, pytest.raises(PermanentConnectorError) as caught:
        r.erp.find_client(client_id="client_1")
    assert caught.value.platform_code == "invalid_client" and caught.value.http_status == 401
    assert "token endpoint refused" in caught.value.message
    assert r.operations() == ["token"]


def test_tba_signs_every_request_and_a_wrong_secret_is_netsuites_invalid_login() -> None:
    with rig(TBA) as r:
        assert r.erp.upsert_client(client()).created
        assert "token" not in r.operations()
    wrong = {**TBA, "token_secret": "localdemo-not-the-secret"}
    with rig(wrong) as r, pytest.raises(PermanentConnectorError) as caught:
        r.erp.find_client(client_id="client_1")
    assert caught.value.platform_code == "INVALID_LOGIN" and caught.value.http_status == 401
    assert "Invalid login attempt." in (caught.value.platform_message or "")
    assert len(r.fake.calls()) == 1  # TBA tokens do not expire: nothing to refresh


def test_requests_go_only_to_the_configured_host(with_project: Rig) -> None:
    r = with_project
    r.erp.post_time_entries([time_entry("te_1")])
    host = r.fake.base_url.removeprefix("http://")
    assert {e.request.headers["host"] for e in r.fake.exchanges} == {host}
    with pytest.raises(PermanentConnectorError, match="not under the configured base URL"):
        r.erp._api.request("probe", "GET", "https://attacker.example/services/rest/record/v1/customer/1")


def test_no_credential_or_tax_id_reaches_the_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pshub.connectors.http")  # whatever an earlier test set
    secrets = [
        max(M2M["private_key"].splitlines(), key=len),
        TBA["consumer_secret"],
        TBA["token_secret"],
        "98-7654321",
    ]
    for credentials in (M2M, TBA):
        with rig(credentials) as r:
            r.erp.upsert_client(client())
            r.erp.find_client(client_id="client_1")
            secrets += list(r.fake._access_tokens)
    logged = "\n".join(f"{rec.getMessage()} {rec.__dict__}" for rec in caplog.records)
    assert "find_client GET" in logged  # the requests were logged ...
    assert not [s for s in secrets if s in logged]  # ... without a secret or the tax id


# -- change feed -------------------------------------------------------------------------------------
def test_changed_since_pages_suiteql_by_offset(r: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound, "PAGE_SIZE", 2)
    for i in range(3):
        r.erp.upsert_client(
            client(f"client_{i}", name=f"Customer {i}", tax_profile=TaxProfile(jurisdiction="US-NY"))
        )
        r.clock.now += 60
    since = datetime.fromtimestamp(r.clock.now - 150, UTC)  # the last two
    first, token = r.erp.changed_since("client", since)
    assert [row["companyname"] for row in first] == ["Customer 1", "Customer 2"] and token is None
    everything, token = r.erp.changed_since("customer", datetime(2026, 1, 1, tzinfo=UTC))
    assert len(everything) == 2 and token == "2"
    rest, token = r.erp.changed_since("customer", datetime(2026, 1, 1, tzinfo=UTC), token)
    assert [row["companyname"] for row in rest] == ["Customer 2"] and token is None
    assert set(rest[0]) == {"id", "entityid", "companyname", "externalid", "isinactive", "lastmodified"}
    with pytest.raises(ValueError, match="no change feed"):
        r.erp.changed_since("invoice", since)


# -- the fake's own refusals -------------------------------------------------------------------------
def test_the_fake_refuses_a_token_assertion_for_another_audience() -> None:
    import jwt

    from tests.unit.platforms.netsuite.support import Clock

    clock = Clock()
    fake = NetSuiteFake(connection(), M2M, clock=clock)
    with fake:
        import httpx

        now = int(clock())
        claims = {
            "iss": M2M["client_id"],
            "scope": ["rest_webservices"],
            "aud": "https://elsewhere.example/token",
            "iat": now,
            "exp": now + 600,
        }
        assertion = jwt.encode(
            claims, M2M["private_key"], algorithm="PS256", headers={"kid": M2M["certificate_id"]}
        )
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
        answer = httpx.post(fake.token_url, data=form)
        assert answer.status_code == 401 and answer.json() == {"error": "invalid_client"}
        good = jwt.encode(
            {**claims, "aud": fake.token_url},
            M2M["private_key"],
            algorithm="PS256",
            headers={"kid": M2M["certificate_id"]},
        )
        answer = httpx.post(fake.token_url, data={**form, "client_assertion": good})
        assert answer.status_code == 200 and answer.json()["expires_in"] == "3600"
        too_long = jwt.encode(
            {**claims, "aud": fake.token_url, "exp": now + 3601},
            M2M["private_key"],
            algorithm="PS256",
            headers={"kid": M2M["certificate_id"]},
        )
        assert httpx.post(fake.token_url, data={**form, "client_assertion": too_long}).status_code == 401
        assert httpx.post(fake.token_url, data={"grant_type": "password"}).json() == {
            "error": "invalid_request"
        }
        unauthorized = httpx.get(f"{fake.base_url}/services/rest/record/v1/customer/1")
        assert unauthorized.status_code == 401
        assert unauthorized.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
        assert 'error="token_rejected"' in unauthorized.headers["WWW-Authenticate"]

"""The Salesforce CRM connector against the Salesforce fake, over real HTTP on 127.0.0.1.

Expectations come from the CRM role's contract (``pshub.connectors.crm``), the seeded
seeded deal (``pshub_local.platforms.seed``), and Salesforce's REST API as
documented: the OAuth 2.0 JWT bearer and client-credentials flows (no ``expires_in``; a
401 ``INVALID_SESSION_ID`` means a new token), SOQL with ``nextRecordsUrl`` paging, 204 on
a record update, error bodies as a list of ``{"message", "errorCode", "fields"}`` and a
spent allocation as 403 ``REQUEST_LIMIT_EXCEEDED``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pshub.canonical.model import ContractStatus
from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    NotFound,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms import platform
from pshub.platforms.salesforce import outbound
from pshub.platforms.salesforce.outbound import SalesforceCrm
from pshub_local.platforms import seed
from pshub_local.platforms.salesforce.fake import SalesforceFake, credentials_for_local

CONNECTION_ID = "salesforce-acme"
OPPORTUNITY = seed.SALESFORCE_OPPORTUNITY_ID
IDS = {"netsuite-acme": "5211", "kantata-acme": "27410001"}


@dataclass
class Clock:
    """The connector's and the fake's clock; ``sleep`` records the wait and moves time on."""

    now: float = field(default_factory=lambda: datetime.now(UTC).timestamp())
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Recorder(httpx.HTTPTransport):
    """A real transport that notes every URL it sends to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return super().handle_request(request)


@dataclass
class Harness:
    fake: SalesforceFake
    clock: Clock
    credentials: dict[str, str]
    transport: Recorder = field(default_factory=Recorder)

    def connection(self, **options: str) -> Connection:
        return Connection(
            id=CONNECTION_ID,
            platform="salesforce",
            role="crm",
            options={"organization_id": "00D5e000000ABCDEA4", **self.fake.local_options(), **options},
            implementation="http",
        )

    def connector(self, credentials: dict[str, str] | None = None, **options: str) -> SalesforceCrm:
        context = ConnectorContext(
            credentials=self.credentials if credentials is None else credentials,
            state=MemoryState(),
            transport=self.transport,
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        return outbound.connect(self.connection(**options), context)

    def operations(self) -> list[str]:
        return [c.operation for c in self.fake.calls()]

    def statuses(self, operation: str) -> list[int | None]:
        return [c.status for c in self.fake.calls(operation)]


@pytest.fixture(scope="module")
def credentials() -> dict[str, str]:
    return credentials_for_local(Connection(id=CONNECTION_ID, platform="salesforce", role="crm"))


def _start(fake: SalesforceFake) -> Iterator[SalesforceFake]:
    fake.start()
    try:
        yield fake
    finally:
        # stop() waits out serve_forever's 0.5 s poll: let it finish in the background.
        threading.Thread(target=fake.stop, daemon=True).start()


@pytest.fixture
def harness(credentials: dict[str, str]) -> Iterator[Harness]:
    clock = Clock()
    base = Connection(id=CONNECTION_ID, platform="salesforce", role="crm")
    for fake in _start(SalesforceFake(base, credentials, clock=clock)):
        yield Harness(fake, clock, credentials)


def _refusal(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return [entry]


# -- configuration ----------------------------------------------------------------------------------
def test_the_manifest_names_the_outbound_factory() -> None:
    assert platform("salesforce").outbound == {"crm": "pshub.platforms.salesforce.outbound:connect"}


def test_bad_configuration_is_refused_before_any_request(harness: Harness) -> None:
    with pytest.raises(ConnectionConfigError, match="without a path"):
        harness.connector(base_url=f"{harness.fake.base_url}/services/data/v66.0")
    with pytest.raises(ConnectionConfigError, match="api_version"):
        harness.connector(api_version="v66")
    with pytest.raises(ConnectionConfigError, match="neither consumer_key"):
        harness.connector(credentials={})
    with pytest.raises(ConnectionConfigError, match="'username'"):
        harness.connector(credentials={"consumer_key": "k", "private_key": "p"})
    with pytest.raises(ConnectionConfigError, match="must be https"):
        harness.connector(base_url="http://acme.my.salesforce.com")
    assert harness.fake.calls() == []


# -- get_opportunity ----------------------------------------------------------------------------------
def test_the_seeded_deal_reads_as_seeded_field_by_field(harness: Harness) -> None:
    # Given the org seeded with the sample deal, When the connector reads it
    details = harness.connector().get_opportunity(OPPORTUNITY)
    # Then every field equals the seeded canonical deal (the ids are the same too)
    [expected] = seed.salesforce_opportunities(CONNECTION_ID)
    for name in ("opportunity", "client", "contract"):
        got, want = getattr(details, name), getattr(expected, name)
        assert got is not None and want is not None
        for attribute in type(want).model_fields:
            assert getattr(got, attribute) == getattr(want, attribute), f"{name}.{attribute}"
    assert details == expected
    # ... in one token request and two SOQL queries (the opportunity with its account and
    # contract, then the primary quote with its lines)
    assert harness.operations() == ["token", "query", "query"]


def test_a_15_character_id_is_the_same_record(harness: Harness) -> None:
    crm = harness.connector()
    assert crm.get_opportunity(OPPORTUNITY[:15]) == crm.get_opportunity(OPPORTUNITY)


def test_an_unknown_or_malformed_id_is_not_found(harness: Harness) -> None:
    crm = harness.connector()
    with pytest.raises(NotFound) as caught:
        crm.get_opportunity("0065e00000ZzZzZAAV")
    assert caught.value.message == "no opportunity '0065e00000ZzZzZAAV' in Salesforce"
    assert caught.value.operation == "get_opportunity" and caught.value.connection_id == CONNECTION_ID
    # Not a Salesforce id (an injection attempt among them): refused before any request
    before = len(harness.fake.calls())
    # (the last: its checksum does not match its first fifteen characters)
    for bad in ("1", "0065e00000KxYzA' OR Name != '", "0065e00000KxYzAAAA"):
        with pytest.raises(NotFound, match="not a Salesforce id"):
            crm.get_opportunity(bad)
    assert len(harness.fake.calls()) == before


def test_an_opportunity_without_a_contract_has_no_terms_and_no_quote_is_read(harness: Harness) -> None:
    fake = harness.fake
    account = fake.add_record(
        "Account",
        {
            "Name": "Société Générale d'Études — Zürich",
            "Website": "WWW.Etudes.Example/contact",
            "BillingStreet": "Bahnhofstrasse 1\nPostfach 12",
            "BillingCity": "Zürich",
            "BillingCountry": "Switzerland",
            "CurrencyIsoCode": "CHF",
        },
    )
    opportunity = fake.add_record(
        "Opportunity",
        {
            "Name": "Études - Discovery",
            "StageName": "Prospecting",
            "AccountId": account,
            "CurrencyIsoCode": "CHF",
        },
    )
    details = harness.connector().get_opportunity(opportunity)
    assert details.contract is None and details.opportunity.contract_id is None
    assert details.opportunity.amount is None and details.opportunity.close_date is None
    client = details.client
    assert client.name == "Société Générale d'Études — Zürich" and client.web_domain == "etudes.example"
    assert client.billing_address is not None
    assert (
        client.billing_address.line1 == "Bahnhofstrasse 1" and client.billing_address.line2 == "Postfach 12"
    )
    assert client.billing_address.country is None  # no BillingCountryCode: the picklist value is the truth
    assert client.tax_profile is None and client.legal_entity is None and client.currency == "CHF"
    assert harness.operations() == ["token", "query"]


def test_a_contract_without_a_billing_model_is_refused_naming_the_opportunity(harness: Harness) -> None:
    fake = harness.fake
    contract = fake.add_record(
        "Contract", {"AccountId": seed.SALESFORCE_ACCOUNT_ID, "StatusCode": "Activated"}
    )
    opportunity = fake.add_record(
        "Opportunity",
        {
            "Name": "No model",
            "StageName": "Closed Won",
            "AccountId": seed.SALESFORCE_ACCOUNT_ID,
            "ContractId": contract,
            "CurrencyIsoCode": "USD",
        },
    )
    with pytest.raises(PermanentConnectorError) as caught:
        harness.connector().get_opportunity(opportunity)
    assert f"opportunity {opportunity}" in str(caught.value) and "pshub_Billing_Model__c" in str(caught.value)


def test_an_activated_contract_without_a_primary_quote_is_active_without_a_rate_card(
    harness: Harness,
) -> None:
    fake = harness.fake
    contract = fake.add_record(
        "Contract",
        {
            "AccountId": seed.SALESFORCE_ACCOUNT_ID,
            "Status": "Activated",
            "StatusCode": "Activated",
            "StartDate": "2027-01-01",
            "pshub_Billing_Model__c": "Retainer",
        },
    )
    opportunity = fake.add_record(
        "Opportunity",
        {
            "Name": "Retainer",
            "StageName": "Closed Won",
            "AccountId": seed.SALESFORCE_ACCOUNT_ID,
            "ContractId": contract,
            "CurrencyIsoCode": "USD",
        },
    )
    terms = harness.connector().get_opportunity(opportunity).contract
    assert terms is not None and terms.status is ContractStatus.ACTIVE and terms.rate_card is None
    assert terms.billing_model == "retainer" and terms.payment_terms_days == 30  # the canonical default


def test_an_org_without_cpq_is_a_permanent_error_in_salesforces_words(credentials: dict[str, str]) -> None:
    clock = Clock()
    base = Connection(id=CONNECTION_ID, platform="salesforce", role="crm")
    for fake in _start(SalesforceFake(base, credentials, clock=clock, without={"SBQQ__Quote__c"})):
        with pytest.raises(PermanentConnectorError) as caught:
            Harness(fake, clock, credentials).connector().get_opportunity(OPPORTUNITY)
        assert caught.value.platform_code == "INVALID_TYPE" and caught.value.http_status == 400
        assert "SBQQ__Quote__c" in (caught.value.platform_message or "")
        assert str(caught.value).startswith(
            f"{CONNECTION_ID} (salesforce) get_opportunity: opportunity {OPPORTUNITY}"
        )


# -- link_project -------------------------------------------------------------------------------------
def test_link_project_writes_the_two_fields_once_and_a_repeat_writes_nothing(harness: Harness) -> None:
    crm = harness.connector()
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    record = harness.fake.record("Opportunity", OPPORTUNITY)
    assert record is not None
    assert record["pshub_Project_Code__c"] == "PRJ-ACME-0001"
    assert record["pshub_Project_Ids__c"] == '{"kantata-acme":"27410001","netsuite-acme":"5211"}'
    # read, update (204), then only a read for the repeat
    assert harness.operations() == ["token", "get_record", "update_record", "get_record"]
    assert harness.statuses("update_record") == [204]
    [summary] = harness.fake.records()["opportunities"]
    assert summary["linked_project"] == "PRJ-ACME-0001" and summary["linked_ids"] == IDS


def test_ids_gathered_over_a_resumed_run_accumulate(harness: Harness) -> None:
    crm = harness.connector()
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", {"netsuite-acme": "5211"})
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", {"kantata-acme": "27410001"})
    [summary] = harness.fake.records()["opportunities"]
    assert summary["linked_ids"] == IDS


def test_a_second_project_on_a_linked_opportunity_is_a_conflict_and_nothing_is_written(
    harness: Harness,
) -> None:
    crm = harness.connector()
    crm.link_project(OPPORTUNITY[:15], "PRJ-ACME-0001", IDS)
    with pytest.raises(Conflict) as caught:
        crm.link_project(OPPORTUNITY, "PRJ-ACME-0002", IDS)
    assert caught.value.fields == ("project_code",) and caught.value.key == OPPORTUNITY
    assert "is already linked to project PRJ-ACME-0001" in str(caught.value)
    assert harness.statuses("update_record") == [204]


def test_the_orgs_validation_rule_refusing_a_new_code_is_a_conflict(harness: Harness) -> None:
    # Another provisioning linked PRJ-ACME-0009 between the connector's read (which saw no
    # project yet) and its write: the org's validation rule refuses the change of code.
    fake = harness.fake
    fake.add_record(
        "Opportunity",
        {
            "Id": OPPORTUNITY,
            "Name": "Won",
            "StageName": "Closed Won",
            "pshub_Project_Code__c": "PRJ-ACME-0009",
        },
    )
    unlinked = {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v66.0/sobjects/Opportunity/{OPPORTUNITY}",
        },
        "Id": OPPORTUNITY,
        "pshub_Project_Code__c": None,
        "pshub_Project_Ids__c": None,
    }
    fake.inject("get_record", 200, unlinked)
    with pytest.raises(Conflict) as caught:
        harness.connector().link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    assert (
        caught.value.platform_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and caught.value.http_status == 400
    )
    assert caught.value.fields == ("project_code",) and f"opportunity {OPPORTUNITY}" in str(caught.value)
    assert "was linked to project PRJ-ACME-0009 meanwhile" in str(caught.value)
    assert harness.operations() == ["token", "get_record", "update_record", "get_record"]
    assert harness.statuses("update_record") == [400]
    record = fake.record("Opportunity", OPPORTUNITY)
    assert record is not None and record["pshub_Project_Code__c"] == "PRJ-ACME-0009"


def test_another_validation_rule_of_the_org_stays_a_permanent_refusal(harness: Harness) -> None:
    harness.fake.inject(
        "update_record",
        400,
        _refusal("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Closed opportunities are locked for editing.", []),
    )
    with pytest.raises(PermanentConnectorError) as caught:
        harness.connector().link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    assert not isinstance(caught.value, Conflict)
    assert caught.value.platform_message == "Closed opportunities are locked for editing."
    assert f"opportunity {OPPORTUNITY}: an org validation rule refused the update" in str(caught.value)


def test_a_lost_answer_is_resolved_by_reading_back_and_the_update_is_not_sent_again(harness: Harness) -> None:
    harness.fake.drop_answer("update_record")
    harness.connector().link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    assert harness.operations() == ["token", "get_record", "update_record", "get_record"]
    assert harness.statuses("update_record") == [None]  # applied, answer lost
    [summary] = harness.fake.records()["opportunities"]
    assert summary["linked_project"] == "PRJ-ACME-0001" and summary["linked_ids"] == IDS


def test_an_update_that_did_not_apply_is_sent_once_more_after_the_read_back(harness: Harness) -> None:
    # A gateway error after sending: the outcome is unknown; here Salesforce had not applied it.
    harness.fake.inject("update_record", 502, _refusal("UNKNOWN_EXCEPTION", "An unexpected error occurred"))
    harness.connector().link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    assert harness.operations() == ["token", "get_record", "update_record", "get_record", "update_record"]
    assert harness.statuses("update_record") == [502, 204]


def test_a_code_longer_than_the_field_is_refused_before_sending(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match="holds 80"):
        harness.connector().link_project(OPPORTUNITY, "P" * 81, IDS)
    assert "update_record" not in harness.operations()


def test_salesforces_string_too_long_keeps_its_words_and_names_the_opportunity(harness: Harness) -> None:
    harness.fake.inject(
        "update_record",
        400,
        _refusal(
            "STRING_TOO_LONG",
            "pshub Project Ids: data value too large: {...} (max length=32768)",
            ["pshub_Project_Ids__c"],
        ),
    )
    with pytest.raises(PermanentConnectorError) as caught:
        harness.connector().link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    assert caught.value.platform_code == "STRING_TOO_LONG" and "max length=32768" in (
        caught.value.platform_message or ""
    )
    assert f"opportunity {OPPORTUNITY}: a project field is longer" in str(caught.value)


def test_an_org_without_the_pshub_fields_is_refused_in_its_words(credentials: dict[str, str]) -> None:
    clock = Clock()
    base = Connection(id=CONNECTION_ID, platform="salesforce", role="crm")
    without = {"Opportunity.pshub_Project_Code__c"}
    for fake in _start(SalesforceFake(base, credentials, clock=clock, without=without)):
        with pytest.raises(PermanentConnectorError) as caught:
            Harness(fake, clock, credentials).connector().link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
        assert caught.value.platform_code == "INVALID_FIELD" and caught.value.http_status == 400
        assert "pshub_Project_Code__c" in (caught.value.platform_message or "")
        assert f"opportunity {OPPORTUNITY}" in str(caught.value)


def test_linking_an_unknown_opportunity_is_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound) as caught:
        harness.connector().link_project("0065e00000ZzZzZAAV", "PRJ-ACME-0001", IDS)
    assert caught.value.platform_code == "NOT_FOUND" and caught.value.http_status == 404
    assert "no opportunity 0065e00000ZzZzZAAV in Salesforce" in str(caught.value)


# -- tokens -------------------------------------------------------------------------------------------
def test_an_expired_session_fetches_one_new_token_then_succeeds(harness: Harness) -> None:
    crm = harness.connector()
    crm.get_opportunity(OPPORTUNITY)
    harness.fake.expire_tokens()
    crm.get_opportunity(OPPORTUNITY)
    assert harness.operations() == ["token", "query", "query", "query", "token", "query", "query"]
    assert harness.statuses("query")[2] == 401
    assert harness.fake.tokens_issued() == 2


def test_a_token_refused_twice_is_a_permanent_error(harness: Harness) -> None:
    refused = _refusal("INVALID_SESSION_ID", "Session expired or invalid")
    harness.fake.inject("query", 401, refused, times=2)
    with pytest.raises(PermanentConnectorError) as caught:
        harness.connector().get_opportunity(OPPORTUNITY)
    assert caught.value.platform_code == "INVALID_SESSION_ID" and caught.value.http_status == 401
    assert harness.operations() == ["token", "query", "token", "query"]


def test_the_token_endpoints_refusals_are_permanent_in_its_words(harness: Harness) -> None:
    wrong_app = {**harness.credentials, "consumer_key": "localdemo-3MVG9other"}
    with pytest.raises(PermanentConnectorError) as app:
        harness.connector(credentials=wrong_app).get_opportunity(OPPORTUNITY)
    assert app.value.platform_code == "invalid_client_id" and app.value.http_status == 400
    wrong_user = {**harness.credentials, "username": "someone@else.example"}
    with pytest.raises(PermanentConnectorError) as user:
        harness.connector(credentials=wrong_user).get_opportunity(OPPORTUNITY)
    assert user.value.platform_message == "user hasn't approved this consumer"
    with pytest.raises(PermanentConnectorError) as audience:
        harness.connector(jwt_audience="https://login.example").get_opportunity(OPPORTUNITY)
    assert audience.value.platform_message == "audience is invalid"
    assert set(harness.operations()) == {"token"}  # nothing reached the API


def test_client_credentials_are_the_other_flow(credentials: dict[str, str]) -> None:
    clock = Clock()
    base = Connection(id=CONNECTION_ID, platform="salesforce", role="crm")
    app = {"client_id": "localdemo-3MVG9client", "client_secret": "localdemo-secret"}
    for fake in _start(SalesforceFake(base, app, clock=clock)):
        harness = Harness(fake, clock, app)
        assert harness.connector().get_opportunity(OPPORTUNITY).opportunity.stage == "Closed Won"
        [token] = [e for e in fake.exchanges if e.operation == "token"]
        assert token.request.form()["grant_type"] == "client_credentials"
        with pytest.raises(PermanentConnectorError) as caught:
            harness.connector(credentials={**app, "client_secret": "wrong"}).get_opportunity(OPPORTUNITY)
        assert caught.value.platform_code == "invalid_client"


def test_a_token_for_another_instance_is_never_used(harness: Harness) -> None:
    # The token endpoint names another org's host: a configuration error, and no API request at all.
    harness.fake.instance_url = "https://other-org.my.salesforce.com"
    with pytest.raises(ConnectionConfigError, match="not the configured base_url"):
        harness.connector().get_opportunity(OPPORTUNITY)
    assert harness.operations() == ["token"]


# -- limits and failures ------------------------------------------------------------------------------
def test_too_many_long_requests_waits_salesforces_time_then_succeeds(harness: Harness) -> None:
    harness.fake.inject(
        "query", 403, _refusal("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
    )
    harness.connector().get_opportunity(OPPORTUNITY)
    assert harness.clock.slept == [outbound.CONCURRENCY_WAIT_S]
    assert harness.statuses("query") == [403, 200, 200]


def test_the_fakes_own_throttle_ends_in_rate_limited_after_the_retries(harness: Harness) -> None:
    harness.fake.set_rate(1e-6, burst=1)  # the token request takes the only slot
    with pytest.raises(RateLimited) as caught:
        harness.connector().get_opportunity(OPPORTUNITY)
    assert caught.value.platform_code == "REQUEST_LIMIT_EXCEEDED" and caught.value.http_status == 403
    assert caught.value.retry_after_s == outbound.CONCURRENCY_WAIT_S
    assert harness.clock.slept == [outbound.CONCURRENCY_WAIT_S] * 3  # four attempts


def test_a_spent_daily_allocation_is_handed_back_to_the_workflow(harness: Harness) -> None:
    harness.fake.set_api_usage(harness.fake.api_max)
    with pytest.raises(RateLimited) as caught:
        harness.connector().get_opportunity(OPPORTUNITY)
    assert caught.value.retry_after_s == outbound.DAILY_LIMIT_WAIT_S
    assert caught.value.platform_message == "TotalRequests Limit exceeded."
    assert harness.clock.slept == []  # an hour is not slept in a Lambda


@pytest.mark.parametrize(
    ("headers", "wait"), [({"Retry-After": "7"}, 7.0), ({}, outbound.CONCURRENCY_WAIT_S)]
)
def test_a_429_waits_its_retry_after_or_the_default(
    harness: Harness, headers: dict[str, str], wait: float
) -> None:
    harness.fake.inject("query", 429, _refusal("REQUEST_LIMIT_EXCEEDED", "Too many requests"), headers)
    harness.connector().get_opportunity(OPPORTUNITY)
    assert harness.clock.slept == [wait]


def test_a_503_is_retried_then_succeeds_and_an_outage_is_transient(harness: Harness) -> None:
    harness.fake.inject("query", 503, _refusal("SERVER_UNAVAILABLE", "Server temporarily unavailable"))
    crm = harness.connector()
    crm.get_opportunity(OPPORTUNITY)
    assert len(harness.clock.slept) == 1 and 0 < harness.clock.slept[0] <= 4
    harness.fake.set_outage(True)
    with pytest.raises(TransientConnectorError) as caught:
        crm.get_opportunity(OPPORTUNITY)
    assert caught.value.platform_code == "SERVER_UNAVAILABLE" and caught.value.http_status == 503


def test_the_latest_limit_info_is_kept(harness: Harness) -> None:
    crm = harness.connector()
    crm.get_opportunity(OPPORTUNITY)
    assert crm.api_usage == (2, harness.fake.api_max)


# -- changes and hosts --------------------------------------------------------------------------------
def test_changes_come_oldest_first_page_by_page_through_next_records_url(harness: Harness) -> None:
    fake = harness.fake
    fake.page_size = 2
    made = []
    for number in range(3):
        harness.clock.now += 60
        made.append(
            fake.add_record(
                "Opportunity",
                {
                    "Name": f"Deal {number}",
                    "StageName": "Prospecting",
                    "AccountId": seed.SALESFORCE_ACCOUNT_ID,
                },
            )
        )
    crm = harness.connector()
    since = datetime(2026, 11, 21, tzinfo=UTC)  # after the seeded deal's last change
    first, token = crm.changed_since("Opportunity", since)
    assert [r["Id"] for r in first] == made[:2] and token is not None
    assert token.startswith("/services/data/v66.0/queryAll/01g")
    second, end = crm.changed_since("Opportunity", since, token)
    assert [r["Id"] for r in second] == made[2:] and end is None
    assert "attributes" not in first[0] and first[0]["IsDeleted"] is False
    everything, _ = crm.changed_since("Client", since - timedelta(days=400))
    assert [r["Id"] for r in everything] == [seed.SALESFORCE_ACCOUNT_ID]


def test_requests_go_only_to_the_configured_host(harness: Harness) -> None:
    crm = harness.connector()
    crm.get_opportunity(OPPORTUNITY)
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    with pytest.raises(PermanentConnectorError, match="not under the configured base URL"):
        crm.changed_since(
            "Opportunity",
            datetime(2026, 1, 1, tzinfo=UTC),
            "https://evil.example/services/data/v66.0/query/01g-2",
        )
    with pytest.raises(PermanentConnectorError, match="not a nextRecordsUrl"):
        crm.changed_since("Opportunity", datetime(2026, 1, 1, tzinfo=UTC), "/services/apexrest/steal")
    hosts = {(url.host, url.port) for url in harness.transport.urls}
    assert hosts == {("127.0.0.1", int(harness.fake.base_url.rsplit(":", 1)[1]))}


def test_no_credential_rate_or_personal_data_reaches_the_debug_log(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pshub.connectors.http")
    crm = harness.connector()
    crm.get_opportunity(OPPORTUNITY)
    crm.link_project(OPPORTUNITY, "PRJ-ACME-0001", IDS)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "get_opportunity" in logged and "link_project" in logged  # the requests were logged
    tokens = [
        e.response.body["access_token"]
        for e in harness.fake.exchanges
        if e.operation == "token" and e.response
    ]
    secret_values = [*tokens, harness.credentials["consumer_key"], "PRIVATE KEY"]
    private = ["410.0", "12500", "GB999999973", "1 Example Street", "EC1A 1AA"]
    for value in [*secret_values, *private]:
        assert value not in logged, value


def test_a_spent_allocation_in_sforce_limit_info_stops_the_next_request_before_it_is_refused(
    harness: Harness,
) -> None:
    # Given one request left of the org's rolling 24-hour allocation
    harness.fake.set_api_usage(harness.fake.api_max - 1)
    # When the opportunity is read (its query, then its primary quote's)
    with pytest.raises(RateLimited) as caught:
        harness.connector().get_opportunity(OPPORTUNITY)
    # Then the first answer's api-usage=max/max held the connection: nothing more was sent
    assert harness.statuses("query") == [200]
    assert caught.value.retry_after_s == outbound.DAILY_LIMIT_WAIT_S
    assert harness.clock.slept == []

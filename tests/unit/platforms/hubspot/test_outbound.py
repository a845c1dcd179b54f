"""The HubSpot CRM connector against the HubSpot fake, over real HTTP on 127.0.0.1.

Expectations come from the CRM role's contract (``pshub.connectors.crm``), the seeded
seeded deal (``pshub_local.platforms.seed``), and HubSpot's CRM v3 API as
documented: objects read with ``properties`` and ``associations``, a PATCH of deal
properties, ``batch/read`` of at most 100, the search API paged by ``after`` up to 10,000
results, private-app bearer tokens and OAuth tokens that live ``expires_in`` seconds
(a 401 is not the refresh signal), error bodies ``{"status": "error", "message",
"correlationId", "category"}`` and 429s carrying ``policyName``.
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
from pshub.platforms.hubspot import outbound
from pshub.platforms.hubspot.outbound import HubSpotCrm
from pshub_local.platforms import seed
from pshub_local.platforms.hubspot.fake import HubSpotFake, credentials_for_local

CONNECTION_ID = "hubspot-acme"
DEAL = seed.HUBSPOT_DEAL_ID
IDS = {"netsuite-acme": "5211", "kantata-acme": "27410001"}
BASE = Connection(id=CONNECTION_ID, platform="hubspot", role="crm", options={"portal_id": "24681357"})


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
    fake: HubSpotFake
    clock: Clock
    credentials: dict[str, str]
    transport: Recorder = field(default_factory=Recorder)

    def connector(self, credentials: dict[str, str] | None = None, **options: str) -> HubSpotCrm:
        connection = Connection(
            id=CONNECTION_ID,
            platform="hubspot",
            role="crm",
            options={**BASE.options, **self.fake.local_options(), **options},
            implementation="http",
        )
        context = ConnectorContext(
            credentials=self.credentials if credentials is None else credentials,
            state=MemoryState(),
            transport=self.transport,
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        return outbound.connect(connection, context)

    def operations(self) -> list[str]:
        return [c.operation for c in self.fake.calls()]

    def statuses(self, operation: str) -> list[int | None]:
        return [c.status for c in self.fake.calls(operation)]


def _started(credentials: dict[str, str], **kwargs: Any) -> Iterator[Harness]:
    clock = Clock()
    fake = HubSpotFake(BASE, credentials, clock=clock, **kwargs)
    fake.start()
    try:
        yield Harness(fake, clock, credentials)
    finally:
        # stop() waits out serve_forever's 0.5 s poll: let it finish in the background.
        threading.Thread(target=fake.stop, daemon=True).start()


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield from _started(credentials_for_local(BASE))


@pytest.fixture
def oauth() -> Iterator[Harness]:
    yield from _started(credentials_for_local(BASE, oauth=True))


def _error(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
        "category": category,
        **extra,
    }


def _rate_limited(policy: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
        "policyName": policy,
    }


# -- configuration ----------------------------------------------------------------------------------
def test_the_manifest_names_the_outbound_factory() -> None:
    assert platform("hubspot").outbound == {"crm": "pshub.platforms.hubspot.outbound:connect"}


def test_bad_configuration_is_refused_before_any_request(harness: Harness) -> None:
    with pytest.raises(ConnectionConfigError, match="neither access_token"):
        harness.connector(credentials={})
    with pytest.raises(ConnectionConfigError, match="'client_id'"):
        harness.connector(credentials={"refresh_token": "r", "client_secret": "s"})
    with pytest.raises(ConnectionConfigError, match="time_zone"):
        harness.connector(time_zone="Mars/Olympus_Mons")
    with pytest.raises(ConnectionConfigError, match="must be https"):
        harness.connector(base_url="http://api.hubapi.com")
    assert harness.fake.calls() == []


def test_the_documented_base_url_is_the_default() -> None:
    connection = Connection(id=CONNECTION_ID, platform="hubspot", role="crm", implementation="http")
    crm = outbound.connect(
        connection, ConnectorContext(credentials={"access_token": "pat-na1-x"}, state=MemoryState())
    )
    assert crm._client.settings.base_url == "https://api.hubapi.com"
    assert crm._client.settings.rate_per_s == 10.0 and crm._client.settings.burst == 100


# -- get_opportunity ----------------------------------------------------------------------------------
def test_the_seeded_deal_reads_as_seeded_field_by_field(harness: Harness) -> None:
    # Given the portal seeded with the sample deal, When the connector reads it
    details = harness.connector().get_opportunity(DEAL)
    # Then every field equals the seeded canonical deal (the ids are the same too)
    [expected] = seed.hubspot_deals(CONNECTION_ID)
    for name in ("opportunity", "client", "contract"):
        got, want = getattr(details, name), getattr(expected, name)
        assert got is not None and want is not None
        for attribute in type(want).model_fields:
            assert getattr(got, attribute) == getattr(want, attribute), f"{name}.{attribute}"
    assert details == expected
    # ... in four requests: the deal with its associations, its company, its quote with its
    # line item associations, then the line items in one batch
    assert harness.operations() == ["get_deal", "get_company", "get_quote", "batch_read_line_items"]


def test_an_unknown_deal_or_a_non_numeric_id_is_not_found(harness: Harness) -> None:
    crm = harness.connector()
    with pytest.raises(NotFound) as caught:
        crm.get_opportunity("1")
    assert caught.value.platform_code == "OBJECT_NOT_FOUND" and caught.value.http_status == 404
    assert caught.value.message == "no deal 1 in HubSpot" and caught.value.operation == "get_opportunity"
    for bad in ("27182818284/../companies/9876543210", "abc", ""):
        with pytest.raises(NotFound, match="deal ids are numeric"):
            crm.get_opportunity(bad)
    assert harness.operations() == ["get_deal"]


def test_a_deal_without_a_quote_has_no_terms(harness: Harness) -> None:
    fake = harness.fake
    deal = fake.add_object(
        "deals",
        {
            "dealname": "Øresund \u2013 Discovery",
            "dealstage": "appointmentscheduled",
            "deal_currency_code": "DKK",
        },
        associations=[("companies", seed.HUBSPOT_COMPANY_ID, "deal_to_company")],
    )
    details = harness.connector().get_opportunity(deal)
    assert details.contract is None and details.opportunity.amount is None
    assert details.opportunity.name == "Øresund \u2013 Discovery" and details.client.currency == "DKK"
    assert harness.operations() == ["get_deal", "get_company"]


def test_of_several_quotes_the_approved_one_is_the_contract(harness: Harness) -> None:
    fake = harness.fake
    draft = fake.add_object(
        "quotes",
        {"hs_title": "Second thoughts", "hs_status": "DRAFT", "hs_currency": "USD"},
        associations=[("deals", DEAL, "quote_to_deal")],
    )
    details = harness.connector().get_opportunity(DEAL)
    assert details.contract is not None and details.contract.external_ids == {
        CONNECTION_ID: seed.HUBSPOT_QUOTE_ID
    }
    assert details.contract.status is ContractStatus.APPROVED and draft != seed.HUBSPOT_QUOTE_ID
    assert harness.operations() == [
        "get_deal",
        "get_company",
        "batch_read_quotes",
        "get_quote",
        "batch_read_line_items",
    ]


def test_a_deal_without_a_company_is_refused_naming_it(harness: Harness) -> None:
    deal = harness.fake.add_object("deals", {"dealname": "Orphan", "dealstage": "closedwon"})
    with pytest.raises(PermanentConnectorError, match=f"deal {deal} has no associated company"):
        harness.connector().get_opportunity(deal)


def test_a_deal_without_a_billing_model_is_refused_naming_the_quote(harness: Harness) -> None:
    fake = harness.fake
    deal = fake.add_object(
        "deals",
        {
            "dealname": "No model",
            "dealstage": "closedwon",
            "deal_currency_code": "USD",
            "pshub_contract_start_date": "2027-01-01",
        },
        associations=[("companies", seed.HUBSPOT_COMPANY_ID, "deal_to_company")],
    )
    quote = fake.add_object(
        "quotes",
        {"hs_status": "APPROVED", "hs_currency": "USD"},
        associations=[("deals", deal, "quote_to_deal")],
    )
    with pytest.raises(PermanentConnectorError) as caught:
        harness.connector().get_opportunity(deal)
    assert f"deal {deal} cannot be read as a deal: quote {quote}" in str(caught.value)
    assert "pshub_billing_model" in str(caught.value)


def test_a_line_item_gone_since_its_association_is_transient(harness: Harness) -> None:
    fake = harness.fake
    fake.add_object(
        "line_items",
        {"name": "Ghost", "price": "1.00"},
        associations=[("quotes", seed.HUBSPOT_QUOTE_ID, "line_item_to_quote")],
    )
    # ... and the association now names an id the batch read cannot find
    ghost = [i for t, i, _ in fake._links[("quotes", seed.HUBSPOT_QUOTE_ID)] if t == "line_items"][-1]
    fake._objects["line_items"][ghost]["archived"] = True
    with pytest.raises(TransientConnectorError) as caught:
        harness.connector().get_opportunity(DEAL)
    assert caught.value.platform_code == "OBJECT_NOT_FOUND" and "could not all be read" in str(caught.value)
    assert harness.statuses("batch_read_line_items") == [207]


# -- link_project -------------------------------------------------------------------------------------
def test_link_project_sets_the_two_properties_once_and_a_repeat_writes_nothing(harness: Harness) -> None:
    crm = harness.connector()
    crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
    crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
    properties = harness.fake.properties("deals", DEAL)
    assert properties is not None and properties["pshub_project_code"] == "PRJ-HARB-1234"
    assert properties["pshub_project_ids"] == '{"kantata-acme":"27410001","netsuite-acme":"5211"}'
    assert harness.operations() == ["get_deal", "update_deal", "get_deal"]
    assert harness.statuses("update_deal") == [200]
    [summary] = harness.fake.records()["opportunities"]
    assert summary["linked_project"] == "PRJ-HARB-1234" and summary["linked_ids"] == IDS


def test_ids_gathered_over_a_resumed_run_accumulate(harness: Harness) -> None:
    crm = harness.connector()
    crm.link_project(DEAL, "PRJ-HARB-1234", {"netsuite-acme": "5211"})
    crm.link_project(DEAL, "PRJ-HARB-1234", {"kantata-acme": "27410001"})
    assert harness.fake.records()["opportunities"][0]["linked_ids"] == IDS


def test_a_second_project_on_a_linked_deal_is_a_conflict_and_nothing_is_written(harness: Harness) -> None:
    crm = harness.connector()
    crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
    with pytest.raises(Conflict) as caught:
        crm.link_project(DEAL, "PRJ-HARB-9999", IDS)
    assert caught.value.fields == ("project_code",) and caught.value.key == DEAL
    assert "already linked to project PRJ-HARB-1234" in str(caught.value)
    assert harness.statuses("update_deal") == [200]


def test_a_lost_answer_is_resolved_by_reading_back_and_the_update_is_not_sent_again(harness: Harness) -> None:
    harness.fake.drop_answer("update_deal")
    harness.connector().link_project(DEAL, "PRJ-HARB-1234", IDS)
    assert harness.operations() == ["get_deal", "update_deal", "get_deal"]
    assert harness.statuses("update_deal") == [None]
    assert harness.fake.records()["opportunities"][0]["linked_project"] == "PRJ-HARB-1234"


def test_an_update_that_did_not_apply_is_sent_once_more_after_the_read_back(harness: Harness) -> None:
    harness.fake.inject("update_deal", 504, _error("GATEWAY_TIMEOUT", "Gateway timeout"))
    harness.connector().link_project(DEAL, "PRJ-HARB-1234", IDS)
    assert harness.operations() == ["get_deal", "update_deal", "get_deal", "update_deal"]
    assert harness.statuses("update_deal") == [504, 200]


def test_values_beyond_hubspots_limit_are_refused_before_sending(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match="65537 characters; HubSpot holds 65536"):
        harness.connector().link_project(DEAL, "P" * 65_537, IDS)
    assert "update_deal" not in harness.operations()


def test_a_portal_without_pshubs_properties_refuses_in_its_words() -> None:
    for harness in _started(credentials_for_local(BASE), without={"deals.pshub_project_ids"}):
        with pytest.raises(PermanentConnectorError) as caught:
            harness.connector().link_project(DEAL, "PRJ-HARB-1234", IDS)
        assert caught.value.platform_code == "VALIDATION_ERROR" and caught.value.http_status == 400
        assert "PROPERTY_DOESNT_EXIST" in (caught.value.platform_message or "")
        assert f"deal {DEAL}" in str(caught.value)


def test_a_token_without_the_write_scope_is_refused_in_hubspots_words() -> None:
    scopes = {"crm.objects.deals.read"}
    for harness in _started(credentials_for_local(BASE), scopes=scopes):
        with pytest.raises(PermanentConnectorError) as caught:
            harness.connector().link_project(DEAL, "PRJ-HARB-1234", IDS)
        assert caught.value.platform_code == "MISSING_SCOPES" and caught.value.http_status == 403


def test_linking_an_unknown_deal_is_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound) as caught:
        harness.connector().link_project("42", "PRJ-HARB-1234", IDS)
    assert caught.value.platform_code == "OBJECT_NOT_FOUND" and "no deal 42 in HubSpot" in str(caught.value)


# -- tokens -------------------------------------------------------------------------------------------
def test_a_revoked_private_app_token_is_permanent_and_not_retried(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError) as caught:
        harness.connector(credentials={"access_token": "pat-na1-revoked"}).get_opportunity(DEAL)
    assert caught.value.platform_code == "INVALID_AUTHENTICATION" and caught.value.http_status == 401
    assert harness.operations() == ["get_deal"]


def test_oauth_tokens_are_refreshed_on_their_expiry_without_a_401(oauth: Harness) -> None:
    crm = oauth.connector()
    crm.get_opportunity(DEAL)
    oauth.clock.now += 1800 - 300 + 1  # inside the refresh margin before expires_in
    crm.get_opportunity(DEAL)
    assert oauth.fake.tokens_issued() == 2
    assert 401 not in [c.status for c in oauth.fake.calls()]
    [first, _] = [e for e in oauth.fake.exchanges if e.operation == "token"]
    assert first.request.form()["grant_type"] == "refresh_token"
    assert first.request.form()["refresh_token"] == oauth.credentials["refresh_token"]


def test_an_expired_oauth_token_is_refreshed_once_then_succeeds(oauth: Harness) -> None:
    crm = oauth.connector()
    crm.get_opportunity(DEAL)
    oauth.fake.expire_tokens()
    crm.get_opportunity(DEAL)
    assert oauth.statuses("get_deal") == [200, 401, 200] and oauth.fake.tokens_issued() == 2


def test_an_oauth_401_twice_is_a_permanent_error(oauth: Harness) -> None:
    oauth.fake.inject(
        "get_deal",
        401,
        _error("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired"),
        times=2,
    )
    with pytest.raises(PermanentConnectorError) as caught:
        oauth.connector().get_opportunity(DEAL)
    assert caught.value.platform_code == "EXPIRED_AUTHENTICATION"
    assert oauth.operations() == ["token", "get_deal", "token", "get_deal"]


def test_a_refused_refresh_token_is_permanent(oauth: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match="token endpoint refused") as caught:
        oauth.connector(credentials={**oauth.credentials, "refresh_token": "revoked"}).get_opportunity(DEAL)
    assert caught.value.http_status == 400
    assert oauth.operations() == ["token"]


# -- limits and failures ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "headers", "wait"),
    [
        ("TEN_SECONDLY_ROLLING", {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 10.0),
        ("TEN_SECONDLY_ROLLING", {}, outbound.TEN_SECONDLY_WAIT_S),
        ("SECONDLY", {}, outbound.SECONDLY_WAIT_S),
        ("TEN_SECONDLY_ROLLING", {"Retry-After": "3"}, 3.0),
    ],
)
def test_a_429_waits_the_policys_window_then_succeeds(
    harness: Harness, policy: str, headers: dict[str, str], wait: float
) -> None:
    harness.fake.inject("get_company", 429, _rate_limited(policy), headers)
    harness.connector().get_opportunity(DEAL)
    # The wait HubSpot asked for; after it the declared budget (10/s) may pace the next requests.
    first, *paced = harness.clock.slept
    assert first == wait and sum(paced) < 1.0
    assert harness.statuses("get_company") == [429, 200]


def test_the_fakes_own_throttle_carries_hubspots_headers_and_ends_in_rate_limited(harness: Harness) -> None:
    harness.fake.set_rate(1e-6, burst=1)
    with pytest.raises(RateLimited) as caught:
        harness.connector().get_opportunity(DEAL)
    assert (
        caught.value.platform_code == "RATE_LIMIT:TEN_SECONDLY_ROLLING" and caught.value.retry_after_s == 10.0
    )
    assert harness.clock.slept == [10.0] * 3
    throttled = next(e for e in harness.fake.exchanges if e.response is not None and e.response.status == 429)
    assert (
        throttled.response is not None and throttled.response.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    )


def test_a_spent_daily_allowance_is_handed_back_to_the_workflow(harness: Harness) -> None:
    harness.fake.set_daily_usage(harness.fake.daily_limit)
    with pytest.raises(RateLimited) as caught:
        harness.connector().get_opportunity(DEAL)
    assert (
        caught.value.retry_after_s == outbound.DAILY_WAIT_S
        and caught.value.platform_code == "RATE_LIMIT:DAILY"
    )
    assert harness.clock.slept == []


def test_a_503_is_retried_then_succeeds(harness: Harness) -> None:
    harness.fake.inject(
        "get_deal", 503, _error("SERVICE_UNAVAILABLE", "The service is temporarily unavailable.")
    )
    harness.connector().get_opportunity(DEAL)
    assert len(harness.clock.slept) == 1 and 0 < harness.clock.slept[0] <= 4
    assert harness.statuses("get_deal") == [503, 200]


def test_every_crm_answer_carries_the_rate_limit_headers(harness: Harness, oauth: Harness) -> None:
    harness.connector().get_opportunity(DEAL)
    oauth.connector().get_opportunity(DEAL)
    private = [e.response.headers for e in harness.fake.exchanges if e.response is not None]
    assert all("X-HubSpot-RateLimit-Daily-Remaining" in h and "X-HubSpot-RateLimit-Max" in h for h in private)
    public = [
        e.response.headers for e in oauth.fake.exchanges if e.response is not None and e.operation != "token"
    ]
    assert all("X-HubSpot-RateLimit-Daily" not in h and "X-HubSpot-RateLimit-Remaining" in h for h in public)


# -- changes and hosts --------------------------------------------------------------------------------
def _deals(harness: Harness, count: int) -> list[str]:
    made = []
    for number in range(count):
        harness.clock.now += 60
        made.append(
            harness.fake.add_object("deals", {"dealname": f"Deal {number}", "dealstage": "qualifiedtobuy"})
        )
    return made


def test_changes_come_oldest_first_paged_by_after(harness: Harness) -> None:
    made = _deals(harness, 3)
    crm = harness.connector()
    crm.search_page = 2
    since = datetime(2026, 11, 21, tzinfo=UTC)  # after the seeded deal's last change
    first, token = crm.changed_since("Opportunity", since)
    assert [r["id"] for r in first] == made[:2] and token is not None
    second, end = crm.changed_since("Opportunity", since, token)
    assert [r["id"] for r in second] == made[2:] and end is None
    [search] = [e for e in harness.fake.exchanges if e.operation == "search_deals"][:1]
    assert search.request.json()["filterGroups"][0]["filters"][0] == {
        "propertyName": "hs_lastmodifieddate",
        "operator": "GT",
        "value": str(round(since.timestamp() * 1000)),
    }
    companies, _ = crm.changed_since("Client", since - timedelta(days=400))
    assert [r["id"] for r in companies] == [seed.HUBSPOT_COMPANY_ID]


def test_the_search_cap_restarts_the_window_at_the_last_change_seen(harness: Harness) -> None:
    made = _deals(harness, 6)
    harness.fake.search_cap = 4
    crm = harness.connector()
    crm.search_page, crm.search_result_cap = 2, 4
    seen: list[str] = []
    token: str | None = None
    since = datetime(2026, 11, 21, tzinfo=UTC)
    for _ in range(10):
        page, token = crm.changed_since("deals", since, token)
        seen += [r["id"] for r in page]
        if token is None:
            break
    # the fourth deal comes twice (the new window starts at its millisecond), nothing is missed
    assert seen == [*made[:4], made[3], *made[4:]]
    assert all(c.status == 200 for c in harness.fake.calls("search_deals"))


def test_a_page_token_not_made_by_the_connector_is_refused(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match="page token"):
        harness.connector().changed_since(
            "deals", datetime(2026, 1, 1, tzinfo=UTC), "https://evil.example/?after=2"
        )
    assert harness.fake.calls() == []


def test_requests_go_only_to_the_configured_host(oauth: Harness) -> None:
    crm = oauth.connector()
    crm.get_opportunity(DEAL)
    crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
    crm.changed_since("deals", datetime(2026, 1, 1, tzinfo=UTC))
    hosts = {(url.host, url.port) for url in oauth.transport.urls}
    assert hosts == {("127.0.0.1", int(oauth.fake.base_url.rsplit(":", 1)[1]))}
    assert {url.path for url in oauth.transport.urls} >= {"/oauth/v1/token", f"/crm/v3/objects/deals/{DEAL}"}


def test_no_credential_rate_or_personal_data_reaches_the_debug_log(
    oauth: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pshub.connectors.http")
    crm = oauth.connector()
    crm.get_opportunity(DEAL)
    crm.link_project(DEAL, "PRJ-HARB-1234", IDS)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "get_opportunity" in logged and "link_project" in logged
    tokens = [
        e.response.body["access_token"] for e in oauth.fake.exchanges if e.operation == "token" and e.response
    ]
    secrets = [*tokens, oauth.credentials["refresh_token"], oauth.credentials["client_secret"]]
    private = ["425.00", "12500", "98-7654321", "100 Example Avenue", "'10001'"]
    for value in [*secrets, *private]:
        assert value not in logged, value


def test_a_spent_budget_in_hubspots_headers_stops_the_next_request_before_it_is_a_429(
    harness: Harness,
) -> None:
    # Given one request left of the account's daily allowance
    harness.fake.set_daily_usage(harness.fake.daily_limit - 1)
    # When the deal is read (a deal, then its company)
    with pytest.raises(RateLimited) as caught:
        harness.connector().get_opportunity(DEAL)
    # Then the first answer's X-HubSpot-RateLimit-Daily-Remaining: 0 held the connection: the
    # company read was never sent, and the wait went back to the workflow, not into a sleep
    assert harness.statuses("get_deal") == [200]
    assert harness.statuses("get_company") == []
    assert caught.value.retry_after_s == outbound.DAILY_WAIT_S
    assert harness.clock.slept == []

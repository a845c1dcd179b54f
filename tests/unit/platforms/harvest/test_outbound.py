"""The Harvest change feed against the Harvest fake, over real HTTP on 127.0.0.1.

Expected behaviour comes from the feed protocol (``pshub.connectors.feed``: inclusive
``since``, every page read for ``present_ids``) and Harvest's documentation (the three
required headers, ``updated_since``/``from``/``to``, ``links.next`` paging, 429 with
``Retry-After``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from pshub.connections import ConnectionConfigError
from pshub.connectors.errors import PermanentConnectorError, RateLimited
from pshub.connectors.feed import ChangeFeed, FeedRecord
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms import platform
from pshub.platforms.harvest import outbound
from pshub_local.platforms.harvest.fake import credentials_for_local
from tests.helpers import sample
from tests.unit.platforms.harvest.support import NOW, USER_AGENT, Harness, harvest_connection

LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def ids(records: Iterable[FeedRecord]) -> list[str]:
    return [r.native_id for r in records]


# -- configuration ---------------------------------------------------------------------------------
def test_the_manifest_declares_a_polled_time_platform_whose_factory_builds_a_change_feed(
    harness: Harness,
) -> None:
    manifest = platform("harvest")
    assert manifest.inbound == "poll" and manifest.roles == frozenset({"time"})
    assert manifest.outbound == {"time": "pshub.platforms.harvest.outbound:connect"}
    assert manifest.adapter == "pshub.platforms.harvest.inbound:HarvestAdapter"
    feed = harness.connector()
    assert isinstance(feed, ChangeFeed)
    assert feed.feed_objects() == ("time_entries",) and feed.platform == "harvest"
    assert harness.fake.calls() == []  # configuration, not an API call


def test_missing_credentials_and_bad_options_are_configuration_errors(harness: Harness) -> None:
    secret = credentials_for_local(harness.connection)
    with pytest.raises(ConnectionConfigError, match="'access_token'"):
        harness.connector(credentials={"account_id": secret["account_id"]})
    with pytest.raises(ConnectionConfigError, match="account_id"):
        harness.connector(credentials={"access_token": secret["access_token"]})
    with pytest.raises(ConnectionConfigError, match="per_page"):
        harness.connector(per_page="2001")
    with pytest.raises(ConnectionConfigError, match="user_agent"):
        harness.connector(user_agent="pshub")
    with pytest.raises(ConnectionConfigError, match="must be https"):
        harness.connector(base_url="http://api.harvestapp.com/v2")
    # The account id is no secret: an option will do.
    only_token = {"access_token": secret["access_token"]}
    assert harness.connector(credentials=only_token, account_id=secret["account_id"]).feed_objects()


def test_defaults_are_harvests_api_and_a_budget_within_100_requests_per_15_seconds() -> None:
    assert outbound.BASE_URL == "https://api.harvestapp.com/v2"
    assert outbound.DEFAULT_BURST + 15 * outbound.DEFAULT_RATE_PER_S <= 100
    assert outbound.MAX_PER_PAGE == 2000


# -- what is sent ------------------------------------------------------------------------------------
def test_every_request_carries_the_bearer_token_the_account_and_the_user_agent(harness: Harness) -> None:
    harness.fake.add_time_entry()
    harness.connector().changed_since("time_entries", LONG_AGO)
    [exchange] = harness.fake.exchanges
    secret = credentials_for_local(harness.connection)
    assert exchange.request.header("Authorization") == f"Bearer {secret['access_token']}"
    assert exchange.request.header("Harvest-Account-Id") == secret["account_id"]
    assert exchange.request.header("User-Agent") == USER_AGENT
    assert exchange.request.path == "/v2/time_entries"
    # One second early (whole seconds, and the bound's inclusiveness is Harvest's to say), UTC, Z.
    assert exchange.request.param("updated_since") == "2025-12-31T23:59:59Z"
    assert exchange.request.param("per_page") == "2000"


def test_a_refused_token_is_a_permanent_error_naming_harvests_code(harness: Harness) -> None:
    secret = credentials_for_local(harness.connection)
    feed = harness.connector(credentials={**secret, "access_token": "revoked"})
    with pytest.raises(PermanentConnectorError) as refused:
        feed.changed_since("time_entries", LONG_AGO)
    assert refused.value.http_status == 401 and refused.value.platform_code == "invalid_token"
    assert harness.statuses() == [401]  # never refreshed: pshub holds no refresh token


# -- changed_since ---------------------------------------------------------------------------------------
def test_since_is_inclusive_to_the_second_and_older_entries_are_left_out(harness: Harness) -> None:
    fake = harness.fake
    older = fake.add_time_entry()  # stamped 10:00:00
    fake.advance(60)
    at_since = fake.add_time_entry()  # 10:01:00
    fake.advance(1)
    after = fake.add_time_entry()  # 10:01:01
    page = harness.connector().changed_since("time_entries", NOW + timedelta(seconds=60))
    assert sorted(ids(page.records)) == sorted([str(at_since["id"]), str(after["id"])])
    assert str(older["id"]) not in ids(page.records)
    assert page.next_token is None
    record = next(r for r in page.records if r.native_id == str(at_since["id"]))
    assert record.modified_at == datetime(2026, 11, 30, 10, 1, 0, tzinfo=UTC)
    assert record.modified_at.tzinfo is not None
    assert record.data["hours"] == 1.0 and record.data["project"]["code"] == "MW"


def test_pages_follow_harvests_next_link_until_there_is_none(harness: Harness) -> None:
    fake = harness.fake
    made = [fake.add_time_entry(spent_date=f"2026-11-{day:02d}") for day in range(1, 6)]
    feed = harness.connector(per_page="2")
    first = feed.changed_since("time_entries", LONG_AGO)
    # Harvest's order: spent_date, newest first.
    assert ids(first.records) == [str(made[4]["id"]), str(made[3]["id"])]
    assert first.next_token is not None and "cursor=" in first.next_token
    second = feed.changed_since("time_entries", LONG_AGO, first.next_token)
    assert ids(second.records) == [str(made[2]["id"]), str(made[1]["id"])]
    third = feed.changed_since("time_entries", LONG_AGO, second.next_token)
    assert ids(third.records) == [str(made[0]["id"])] and third.next_token is None
    assert harness.statuses() == [200, 200, 200]


def test_a_page_token_for_another_place_is_refused_before_anything_is_sent(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match="page token"):
        harness.connector().changed_since(
            "time_entries", LONG_AGO, "https://evil.example.com/v2/time_entries?x=1"
        )
    assert harness.fake.calls() == []


def test_the_feed_serves_time_entries_only(harness: Harness) -> None:
    with pytest.raises(ValueError, match="time_entries"):
        harness.connector().changed_since("expenses", LONG_AGO)


# -- throttles and outages ---------------------------------------------------------------------------------
def test_harvests_window_answers_429_with_retry_after_and_a_long_wait_is_handed_back(
    harness: Harness,
) -> None:
    fake = harness.fake
    fake.set_rate_window(2, 15.0)  # the window, shrunk: 2 requests per 15 s on the fake's (frozen) clock
    feed = harness.connector(max_wait_s="5")
    feed.changed_since("time_entries", LONG_AGO)
    feed.changed_since("time_entries", LONG_AGO)
    with pytest.raises(RateLimited) as throttled:
        feed.changed_since("time_entries", LONG_AGO)
    assert throttled.value.retry_after_s == 15.0 and throttled.value.http_status == 429
    assert harness.statuses() == [200, 200, 429]
    [_, _, refused] = fake.exchanges
    assert refused.response is not None and refused.response.headers["Retry-After"] == "15"


def test_a_short_retry_after_is_waited_out_and_the_page_read(harness: Harness) -> None:
    harness.fake.add_time_entry()
    harness.fake.inject("list_time_entries", 429, {"error": "too_many_requests"}, {"Retry-After": "3"})
    page = harness.connector().changed_since("time_entries", LONG_AGO)
    assert len(page.records) == 1
    assert harness.statuses() == [429, 200]
    assert any(abs(wait - 3.0) < 0.5 for wait in harness.sleeps.waits)


def test_server_errors_are_retried_as_transient(harness: Harness) -> None:
    harness.fake.add_time_entry()
    harness.fake.inject("list_time_entries", 503, times=1)
    harness.fake.inject("list_time_entries", 500, times=1)
    assert len(harness.connector().changed_since("time_entries", LONG_AGO).records) == 1
    assert harness.statuses() == [503, 500, 200]


# -- present_ids -------------------------------------------------------------------------------------------
def test_present_ids_reads_every_page_of_the_window_and_forgets_deleted_entries(harness: Harness) -> None:
    fake = harness.fake
    inside = [fake.add_time_entry(spent_date=f"2026-11-{day:02d}") for day in (10, 11, 12, 12, 13)]
    fake.add_time_entry(spent_date="2026-11-09")
    fake.add_time_entry(spent_date="2026-11-14")
    feed = harness.connector(per_page="2")
    window = (date(2026, 11, 10), date(2026, 11, 13))
    assert feed.present_ids("time_entries", *window) == {str(e["id"]) for e in inside}
    assert harness.statuses() == [200, 200, 200]  # 5 entries, 2 a page
    fake.delete_time_entry(inside[2]["id"])
    assert feed.present_ids("time_entries", *window) == {str(e["id"]) for e in inside} - {
        str(inside[2]["id"])
    }
    first = fake.exchanges[0].request
    assert (first.param("from"), first.param("to")) == ("2026-11-10", "2026-11-13")


def test_a_reversed_window_is_refused(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match="before it starts"):
        harness.connector().present_ids("time_entries", date(2026, 11, 2), date(2026, 11, 1))


def test_an_answer_without_links_pages_on_by_next_page_with_the_same_query() -> None:
    # Older answers carry only the page numbers: the next page is the same query, page + 1.
    sent: list[httpx.URL] = []

    def harvest(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        page = int(request.url.params.get("page", "1"))
        entry = json.loads(sample("harvest/time_entry.json")) | {"id": 636709354 + page}
        body = {
            "time_entries": [entry],
            "page": page,
            "total_pages": 2,
            "next_page": 2 if page == 1 else None,
        }
        return httpx.Response(200, json=body)

    secret = {"access_token": "token-for-the-mock", "account_id": "1234567"}
    context = ConnectorContext(
        credentials=secret, state=MemoryState(), transport=httpx.MockTransport(harvest)
    )
    feed = outbound.connect(harvest_connection(per_page="1"), context)
    first = feed.changed_since("time_entries", datetime(2017, 6, 1, tzinfo=UTC))
    assert first.next_token is not None
    second = feed.changed_since("time_entries", datetime(2017, 6, 1, tzinfo=UTC), first.next_token)
    assert [r.native_id for r in first.records + second.records] == ["636709355", "636709356"]
    assert second.next_token is None
    assert sent[1].params["updated_since"] == "2017-05-31T23:59:59Z" and sent[1].params["page"] == "2"
    assert str(sent[0]).startswith("https://api.harvestapp.com/v2/time_entries?")

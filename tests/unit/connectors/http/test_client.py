"""The HTTP kit's client: where requests may go, how answers are classified, what is retried."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from pshub.connections import ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from pshub.connectors.http import ApiResponse, ApiSettings, VendorError, retry_after
from tests.unit.connectors.http.support import Clock, Script, client, json_response


# -- where requests may go ----------------------------------------------------------------
def test_a_path_goes_under_the_base_url_with_the_credential() -> None:
    script = Script([json_response(200, {"id": "1"})])
    answer = client(script).request("read_thing", "GET", "/things/1", params={"expand": "all"})
    assert answer.json() == {"id": "1"}
    [sent] = script.requests
    assert str(sent.url) == "https://api.vendor.example/v1/things/1?expand=all"
    assert sent.headers["authorization"] == "Bearer sk_test_secret"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/things",
        "https://api.vendor.example.evil.example/v1/things",
        "http://api.vendor.example/v1/things",  # same host, plain http
        "https://api.vendor.example:8443/v1/things",  # another port
        "https://user:pw@api.vendor.example/v1/things",
    ],
)
def test_no_request_leaves_for_a_host_the_configuration_did_not_name(url: str) -> None:
    script = Script()
    with pytest.raises(PermanentConnectorError, match="not under the configured base URL"):
        client(script).request("follow_link", "GET", url)
    assert script.requests == []


def test_a_next_page_link_on_the_configured_host_is_followed() -> None:
    script = Script([json_response(200, {"page": 2})])
    client(script).request("list", "GET", "https://api.vendor.example/v1/things?page=2")
    assert str(script.requests[0].url) == "https://api.vendor.example/v1/things?page=2"


def test_a_redirect_is_not_followed() -> None:
    script = Script([httpx.Response(302, headers={"Location": "https://evil.example/steal"})])
    with pytest.raises(PermanentConnectorError, match="HTTP 302"):
        client(script).request("read", "GET", "/things/1")
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base_url": ""}, "base_url is required"),
        ({"base_url": "ftp://vendor.example"}, "not an absolute http"),
        ({"base_url": "http://vendor.example/api"}, "must be https"),
        ({"base_url": "https://vendor.example/api?key=1"}, "no credentials, query"),
        ({"base_url": "https://vendor.example", "rate_per_s": "-1"}, "positive number"),
        ({"base_url": "https://vendor.example", "rate_per_s": "nan"}, "positive number"),
        ({"base_url": "https://vendor.example", "daily_quota": "1.5"}, "whole number"),
    ],
)
def test_settings_refuse_what_would_be_unsafe_or_meaningless(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectionConfigError, match=message):
        ApiSettings.of("acme-api", options)


def test_plain_http_is_allowed_to_the_loopback_only() -> None:
    settings = ApiSettings.of("acme-api", {"base_url": "http://127.0.0.1:9001/api/"})
    assert (settings.base_url, settings.host) == ("http://127.0.0.1:9001/api", "127.0.0.1:9001")


# -- classification --------------------------------------------------------------------------
def test_429_waits_exactly_the_retry_after_then_succeeds() -> None:
    clock = Clock()
    script = Script([json_response(429, {}, {"Retry-After": "7"}), json_response(200, {"ok": True})])
    assert client(script, clock).request("read", "GET", "/x").json() == {"ok": True}
    assert clock.slept == [7.0]
    assert len(script.requests) == 2


def test_429_with_an_http_date_waits_until_then() -> None:
    clock = Clock(now=datetime.now(UTC).timestamp())
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    assert 3.5 <= (retry_after(when) or 0) <= 5.0
    script = Script([json_response(429, {}, {"Retry-After": when}), json_response(200, {})])
    client(script, clock).request("read", "GET", "/x")
    assert 3.5 <= clock.slept[0] <= 5.0


def test_429_without_retry_after_backs_off_the_platforms_default() -> None:
    clock = Clock()
    script = Script([json_response(429, {}), json_response(200, {})])
    client(script, clock).request("read", "GET", "/x")
    assert clock.slept == [1.0]


def test_a_retry_after_longer_than_a_lambda_should_sleep_goes_back_to_the_workflow() -> None:
    clock = Clock()
    script = Script([json_response(429, {}, {"Retry-After": "120"})])
    with pytest.raises(RateLimited) as raised:
        client(script, clock).request("create_customer", "POST", "/customers", json={})
    assert raised.value.retry_after_s == 120
    assert raised.value.http_status == 429
    assert clock.slept == []
    assert len(script.requests) == 1


def _throttle_in_body(response: ApiResponse) -> VendorError:
    document = response.json_or_none()
    code = document[0]["errorCode"] if isinstance(document, list) and document else None
    return VendorError(code=code, message="limit", throttled=code == "REQUEST_LIMIT_EXCEEDED")


def test_a_vendor_throttle_signal_in_a_4xx_body_is_rate_limiting_not_a_refusal() -> None:
    clock = Clock()
    spent = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    script = Script([json_response(403, spent), json_response(200, {})])
    client(script, clock, describe=_throttle_in_body).request("read", "GET", "/x")
    assert clock.slept == [1.0]


def test_503_is_retried_with_backoff_until_it_passes() -> None:
    clock = Clock()
    script = Script([json_response(503, {}), json_response(503, {}), json_response(201, {"id": "9"})])
    assert client(script, clock).request("create", "POST", "/things", json={}).status == 201
    assert len(script.requests) == 3
    assert len(clock.slept) == 2 and all(0 <= s <= 4 for s in clock.slept)


def test_an_outage_holds_the_connection_twice_as_long_each_time_and_an_answer_resets_it() -> None:
    # Given a platform that answers 503 (no Retry-After) three times, then 200, then once more 503
    clock = Clock()
    sent: list[float] = []
    answers = iter([503, 503, 503, 200, 503, 200])

    def platform(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return json_response(next(answers), {})

    api = client(Script(default=platform), clock, max_attempts="5")
    start = clock.now
    api.request("read", "GET", "/x")
    api.request("read", "GET", "/x")
    # Then the requests went at 0, 0.5, 0.5 + 1, 0.5 + 1 + 2 s (the hold doubling while it lasts);
    # after the answer the next 503 is held 0.5 s again, not 4 s
    assert [t - start for t in sent] == pytest.approx([0.0, 0.5, 1.5, 3.5, 3.5, 4.0])


def test_the_requests_of_one_round_share_an_outage_hold_and_it_never_grows_past_8_s() -> None:
    # Given five requests out at once when the platform goes down (one process, five threads):
    # each is answered at the same instant, before the first one's hold has passed
    clock = Clock()
    clock.sleep = lambda seconds: None  # type: ignore[method-assign]
    api = client(Script(default=json_response(503, {})), clock, max_attempts="1")
    holds = []
    for _ in range(5):  # answered while the first one's hold is on: the same round
        with pytest.raises(TransientConnectorError) as raised:
            api.request("read", "GET", "/x")
        holds.append(raised.value.retry_after_s)
    # Then they share one 0.5 s hold instead of doubling it five times
    assert holds == pytest.approx([0.5] * 5, abs=0.01)
    # And probe rounds refused one after another hold 1, 2, 4, 8, 8 s
    later = []
    for _ in range(5):
        clock.now += 10  # the hold passed: the next request is a probe
        with pytest.raises(TransientConnectorError) as raised:
            api.request("read", "GET", "/x")
        later.append(raised.value.retry_after_s)
    assert later == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_503_with_retry_after_holds_exactly_that_and_beyond_max_wait_is_handed_back() -> None:
    clock = Clock()
    script = Script([json_response(503, {}, {"Retry-After": "7"}), json_response(200, {})])
    client(script, clock).request("read", "GET", "/x")
    assert clock.slept == [7.0]
    long = Script(default=json_response(503, {}, {"Retry-After": "120"}))
    with pytest.raises(TransientConnectorError) as raised:
        client(long, clock, max_wait_s="20").request("read", "GET", "/x")
    assert len(long.requests) == 1 and raised.value.retry_after_s == 120  # not slept in the Lambda


def test_a_refused_request_does_not_spend_the_declared_rate() -> None:
    # Given 1 request/s, burst 1: a request refused with Retry-After 0 (the vendor served nothing)
    clock = Clock()
    sent: list[float] = []
    answers = iter([429, 200, 200])

    def platform(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return json_response(next(answers), {}, {"Retry-After": "0"})

    api = client(Script(default=platform), clock, rate_per_s="1", pace="1")
    start = clock.now
    api.request("read", "GET", "/x")
    api.request("read", "GET", "/x")
    # Then its retry goes at once, on the slot it gave back, and the next a second later
    assert [t - start for t in sent] == pytest.approx([0.0, 0.0, 1.0], abs=0.002)


def test_503_that_never_passes_gives_up_after_max_attempts() -> None:
    script = Script(default=json_response(503, {"error": {"code": "down", "message": "maintenance"}}))
    with pytest.raises(TransientConnectorError) as raised:
        client(script, max_attempts="3").request("read", "GET", "/x")
    assert len(script.requests) == 3
    assert (raised.value.platform_code, raised.value.platform_message) == ("down", "maintenance")


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_ambiguous_5xx_after_a_write_is_an_unknown_outcome_never_resent(status: int) -> None:
    script = Script(default=json_response(status, {}))
    with pytest.raises(OutcomeUnknown, match="outcome unknown"):
        client(script).request("create", "POST", "/things", json={"name": "x"})
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_ambiguous_5xx_of_a_repeatable_call_is_retried(status: int) -> None:
    script = Script([json_response(status, {}), json_response(200, {})])
    client(script).request("upsert", "PUT", "/things/eid:P-1", json={})
    assert len(script.requests) == 2


def test_a_lost_answer_to_a_write_is_an_unknown_outcome_never_resent() -> None:
    script = Script(default=httpx.ReadTimeout("timed out"))
    with pytest.raises(OutcomeUnknown):
        client(script).request("create", "POST", "/things", json={})
    assert len(script.requests) == 1


def test_a_lost_answer_to_a_keyed_write_is_retried() -> None:
    script = Script([httpx.RemoteProtocolError("closed"), json_response(200, {"id": "1"})])
    client(script).request("create", "POST", "/things", json={}, repeatable=True)
    assert len(script.requests) == 2


def test_a_connection_that_was_never_made_is_retried_even_for_a_write() -> None:
    script = Script([httpx.ConnectError("refused"), json_response(201, {"id": "1"})])
    client(script).request("create", "POST", "/things", json={})
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, NotFound), (409, Conflict), (400, PermanentConnectorError), (422, PermanentConnectorError)],
)
def test_refusals_are_permanent_with_the_platforms_words(status: int, error: type[Exception]) -> None:
    body = {"error": {"code": "field_invalid", "message": "entityId is too long"}}
    script = Script(default=json_response(status, body))
    with pytest.raises(error) as raised:
        client(script).request("create_project", "POST", "/job", json={})
    assert len(script.requests) == 1
    assert isinstance(raised.value, PermanentConnectorError)
    assert raised.value.platform_code == "field_invalid"
    assert raised.value.platform_message == "entityId is too long"
    assert raised.value.http_status == status
    assert raised.value.operation == "create_project"
    assert raised.value.connection_id == "acme-api"


def test_a_static_credential_refused_is_permanent_after_one_request() -> None:
    script = Script(default=json_response(401, {"message": "invalid api key"}))
    with pytest.raises(PermanentConnectorError, match="refused this connection's API credentials"):
        client(script).request("read", "GET", "/x")
    assert len(script.requests) == 1


# -- masking --------------------------------------------------------------------------------
def test_debug_logs_never_show_the_credential_or_token_fields(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(
        [
            json_response(
                200,
                {"access_token": "tok_LEAK", "owner": {"email": "pat@example.com"}, "id": "1"},
                {"Set-Cookie": "session=LEAKCOOKIE"},
            )
        ]
    )
    caplog.set_level(logging.DEBUG, logger="pshub.connectors.http")
    client(script).request("read", "GET", "/x?api_key=LEAKKEY&page=2")
    [record] = [r for r in caplog.records if r.name == "pshub.connectors.http"]
    text = repr(record.__dict__)
    for secret in ("sk_test_secret", "tok_LEAK", "LEAKCOOKIE", "LEAKKEY"):
        assert secret not in text
    assert record.__dict__["response_body"]["id"] == "1"
    assert "page=2" in record.getMessage()


def _remaining(response: ApiResponse) -> float | None:
    return 4.0 if response.header("X-Remaining") == "0" else None


def test_a_spent_budget_in_a_successful_answer_makes_the_next_request_wait_first() -> None:
    clock = Clock()
    script = Script([json_response(200, {}, {"X-Remaining": "0"}), json_response(200, {})])
    api = client(script, clock, budget=_remaining)
    api.request("read", "GET", "/x")
    assert clock.slept == []
    api.request("read", "GET", "/x")
    assert clock.slept == [4.0]  # waited before sending: no 429 was needed
    assert len(script.requests) == 2


def test_a_spent_budget_longer_than_a_lambda_should_sleep_goes_back_unsent() -> None:
    clock = Clock()
    script = Script([json_response(200, {}, {"X-Remaining": "0"})])
    api = client(script, clock, budget=lambda response: 3600.0, max_wait_s="20")
    api.request("read", "GET", "/x")
    with pytest.raises(RateLimited) as raised:
        api.request("read", "GET", "/x")
    assert raised.value.retry_after_s == pytest.approx(3600)
    assert len(script.requests) == 1 and clock.slept == []

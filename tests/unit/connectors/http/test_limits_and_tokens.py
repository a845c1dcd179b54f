"""Shared state: the rate cell, the daily quota and tokens, on process memory and on DynamoDB alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto import mock_aws

from pshub.connectors.errors import RateLimited
from pshub.connectors.http.auth import OAuth2
from pshub.connectors.http.limits import RateLimiter
from pshub.connectors.http.state import DynamoDbState, MemoryState, SharedState
from pshub.connectors.http.tokens import SharedTokens, Token
from tests.unit.connectors.http.support import Clock, Script, client, json_response


@pytest.fixture(params=["memory", "dynamodb"])
def state(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[SharedState]:
    if request.param == "memory":
        yield MemoryState()
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="connector-state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDbState("connector-state", dynamodb)


# -- the rate cell -----------------------------------------------------------------------------
def _send_times(limiter: RateLimiter, clock: Clock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        assert limiter.acquire() is None
        times.append(clock.now)
    return times


def test_a_burst_goes_at_once_and_the_rest_at_the_declared_rate(state: SharedState) -> None:
    clock = Clock()
    start = clock.now
    limiter = RateLimiter(state, "c1", rate_per_s=10, burst=5, clock=clock, sleep=clock.sleep)
    times = _send_times(limiter, clock, 25)
    assert times[:5] == [start] * 5
    # After the burst, one request per 100 ms: 20 more take 2 s.
    assert times[-1] == pytest.approx(start + 2.0, abs=0.002)
    for window_start in times:  # in any one-second window: at most burst + rate
        assert sum(window_start <= t < window_start + 1 for t in times) <= 5 + 10


def test_two_invocations_share_one_budget(state: SharedState) -> None:
    clock = Clock()
    a = RateLimiter(state, "c1", rate_per_s=2, burst=1, clock=clock, sleep=clock.sleep)
    b = RateLimiter(state, "c1", rate_per_s=2, burst=1, clock=clock, sleep=clock.sleep)
    start = clock.now
    times = [clock.now for limiter in (a, b, a, b) if limiter.acquire() is None]
    assert times == pytest.approx([start, start + 0.5, start + 1.0, start + 1.5])


def test_a_wait_beyond_the_limit_reserves_nothing_and_says_how_long(state: SharedState) -> None:
    clock = Clock()
    limiter = RateLimiter(state, "c1", rate_per_s=1, burst=1, max_wait_s=2, clock=clock, sleep=lambda s: None)
    results = [limiter.acquire() for _ in range(5)]  # nobody sleeps: the cell fills up
    assert results[:3] == [None, None, None]
    assert results[3] is not None and results[3].retry_after_s == 2
    assert results[4] is not None


def test_a_vendors_retry_after_holds_every_invocation(state: SharedState) -> None:
    clock = Clock()
    a = RateLimiter(state, "c1", rate_per_s=100, burst=10, clock=clock, sleep=clock.sleep)
    b = RateLimiter(state, "c1", rate_per_s=100, burst=10, clock=clock, sleep=clock.sleep)
    start = clock.now
    a.hold(5.0)
    assert b.acquire() is None
    assert clock.now == pytest.approx(start + 5.0, abs=0.011)


def test_when_a_hold_ends_the_declared_burst_goes_at_once_then_the_rate_never_the_time_held(
    state: SharedState,
) -> None:
    # Given a connection declared at 5 requests/s with a burst of 5, busy when the vendor says wait 1 s
    clock = Clock()
    a = RateLimiter(state, "c1", rate_per_s=5, burst=5, clock=clock, sleep=clock.sleep)
    b = RateLimiter(state, "c1", rate_per_s=5, burst=5, clock=clock, sleep=clock.sleep)  # another invocation
    _send_times(a, clock, 7)
    held_at = clock.now
    a.hold(1.0)
    # When the other invocation sends ten more
    times = _send_times(b, clock, 10)
    # Then nothing went during the hold; at its end five went at once (the vendor's bucket refilled
    # while nobody sent), then one per 200 ms: not the five the second held would have carried
    assert min(times) >= held_at + 1.0 - 1e-6
    assert times[:5] == pytest.approx([held_at + 1.0] * 5, abs=0.002)
    assert times[5:] == pytest.approx([held_at + 1.0 + 0.2 * k for k in range(1, 6)], abs=0.002)


def test_a_slot_being_waited_for_when_the_vendor_says_wait_is_sent_only_once_the_wait_is_over() -> None:
    # Given a limiter at 10 requests/s, burst 1, whose second request waits 100 ms for its slot
    clock = Clock()
    held: list[float] = []

    def sleep(seconds: float) -> None:
        if not held:  # while it waits, another thread of the process is answered 429, Retry-After: 2
            held.append(clock.now)
            limiter.hold(2.0)
        clock.sleep(seconds)

    limiter = RateLimiter(MemoryState(), "c1", rate_per_s=10, burst=1, clock=clock, sleep=sleep)
    assert limiter.acquire() is None
    # When the second request acquires
    assert limiter.acquire() is None
    # Then it goes only once the two seconds have passed, not at its 100 ms slot
    assert clock.now >= held[0] + 2.0 - 1e-6


def test_a_refused_requests_slot_goes_back_only_from_what_is_booked_past_the_hold(state: SharedState) -> None:
    # Given a connection at 10 requests/s, burst 1, with 2 s of slots booked ahead (20 reservations)
    clock = Clock()
    start = clock.now
    booking = RateLimiter(
        state, "c1", rate_per_s=10, burst=1, max_wait_s=5, clock=clock, sleep=lambda s: None
    )
    assert [booking.acquire() for _ in range(20)] == [None] * 20
    # When a request is refused (429, Retry-After 0.5 s): the vendor served nothing for it
    booking.hold(0.5, refused=True)
    # Then the next reservation starts 100 ms earlier than it would have: at 1.9 s, not 2.0 s
    sender = RateLimiter(state, "c1", rate_per_s=10, burst=1, max_wait_s=5, clock=clock, sleep=clock.sleep)
    assert sender.acquire() is None
    assert clock.now == pytest.approx(start + 1.9, abs=0.002)
    # And on an idle cell a refusal gives nothing back before the hold's end: 3 s held is 3 s
    idle = RateLimiter(state, "c2", rate_per_s=10, burst=1, max_wait_s=5, clock=clock, sleep=clock.sleep)
    held_at = clock.now
    idle.hold(3.0, refused=True)
    assert idle.acquire() is None
    assert clock.now == pytest.approx(held_at + 3.0, abs=0.002)


def test_the_daily_quota_stops_at_its_count_until_midnight_utc(state: SharedState) -> None:
    clock = Clock(now=86_400 * 20_000 + 86_000)  # 400 s before midnight UTC
    limiter = RateLimiter(state, "c1", rate_per_s=None, daily_quota=3, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(3)] == [None, None, None]
    refused = limiter.acquire()
    assert refused is not None and refused.reason == "daily quota"
    assert refused.retry_after_s == pytest.approx(400)
    clock.now += 401
    assert limiter.acquire() is None


def test_under_a_sustained_429_storm_nothing_is_sent_above_the_declared_rate() -> None:
    clock = Clock()
    start = clock.now
    sent: list[float] = []

    def storm(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return json_response(429, {}, {"Retry-After": "1"}) if len(sent) % 3 else json_response(200, {})

    script = Script(default=storm)
    api = client(script, clock, rate_per_s="5", burst="2", max_attempts="10")
    for _ in range(30):
        api.request("read", "GET", "/x")
    duration = clock.now - start
    assert len(sent) == 90  # two 429s before each success
    # Never more than burst + rate * t requests by time t, and every 429's second honoured.
    for i, t in enumerate(sent):
        assert i + 1 <= 2 + 5 * (t - start) + 1e-6
    for i in range(len(sent) - 1):
        if (i + 1) % 3:  # request i was answered 429
            assert sent[i + 1] - sent[i] >= 1.0 - 1e-6
    assert duration >= 60  # 60 Retry-After seconds, nothing sent during any of them


# -- tokens --------------------------------------------------------------------------------------
def _counting_fetch(lifetime_s: float, clock: Clock, delay_s: float = 0.0) -> tuple[list[int], object]:
    issued: list[int] = []
    lock = threading.Lock()

    def fetch(previous: Token | None) -> Token:
        time.sleep(delay_s)
        with lock:
            issued.append(len(issued) + 1)
            n = len(issued)
        return Token(value=f"tok-{n}", expires_at=clock.now + lifetime_s)

    return issued, fetch


def test_a_token_is_fetched_once_and_reused_until_near_its_expiry(state: SharedState) -> None:
    clock = Clock()
    issued, fetch = _counting_fetch(3600, clock)
    tokens = SharedTokens(state, "c1", fetch, refresh_margin_s=60, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    values = []
    for _ in range(1000):
        values.append(tokens.get().value)
        clock.now += 3.0  # 1,000 calls over 50 minutes: one token lifetime
    assert issued == [1]
    assert set(values) == {"tok-1"}
    clock.now += 600  # within 60 s of expiry
    assert tokens.get().value == "tok-2"


def test_many_invocations_needing_a_token_at_once_fetch_one(state: SharedState) -> None:
    clock = Clock()
    issued, fetch = _counting_fetch(3600, clock, delay_s=0.05)
    workers = [
        SharedTokens(state, "c1", fetch, clock=clock, sleep=time.sleep)  # type: ignore[arg-type]
        for _ in range(8)
    ]
    got: list[str] = []
    threads = [threading.Thread(target=lambda w=w: got.append(w.get().value)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert issued == [1]
    assert got == ["tok-1"] * 8


def test_a_401_refreshes_once_for_everyone_holding_that_token(state: SharedState) -> None:
    clock = Clock()
    issued, fetch = _counting_fetch(3600, clock)
    a = SharedTokens(state, "c1", fetch, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    b = SharedTokens(state, "c1", fetch, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert a.get().value == b.get().value == "tok-1"
    a.refused("tok-1")
    b.refused("tok-1")
    assert a.get().value == "tok-2"
    assert b.get().value == "tok-2"
    assert issued == [1, 2]


def test_a_rotated_refresh_token_is_stored_with_its_access_token(state: SharedState) -> None:
    clock = Clock()
    presented: list[str | None] = []

    def rotate(previous: Token | None) -> Token:
        presented.append(previous.refresh_token if previous else None)
        n = len(presented)
        return Token(value=f"access-{n}", expires_at=clock.now + 1800, refresh_token=f"refresh-{n}")

    first = SharedTokens(state, "xero", rotate, clock=clock, sleep=clock.sleep)
    assert first.get().value == "access-1"
    clock.now += 1800
    later = SharedTokens(state, "xero", rotate, clock=clock, sleep=clock.sleep)  # another invocation
    assert later.get().value == "access-2"
    assert presented == [None, "refresh-1"]  # the rotated token was found and used, never the old one


def test_a_failed_fetch_releases_the_lease_for_the_next_try(state: SharedState) -> None:
    clock = Clock()
    attempts: list[int] = []

    def flaky(previous: Token | None) -> Token:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("token endpoint down")
        return Token(value="tok", expires_at=clock.now + 60)

    tokens = SharedTokens(state, "c1", flaky, refresh_margin_s=0, clock=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError):
        tokens.get()
    assert (
        SharedTokens(state, "c1", flaky, refresh_margin_s=0, clock=clock, sleep=clock.sleep).get().value
        == "tok"
    )


def test_a_401_on_an_api_call_refreshes_the_token_and_repeats_the_call_once() -> None:
    clock = Clock()
    issued, fetch = _counting_fetch(3600, clock)
    auth = OAuth2(SharedTokens(MemoryState(), "c1", fetch, clock=clock, sleep=clock.sleep))  # type: ignore[arg-type]

    def api(request: httpx.Request) -> httpx.Response:
        ok = request.headers["authorization"] == "Bearer tok-2"
        return json_response(200, {"ok": True}) if ok else json_response(401, {"message": "expired"})

    script = Script(default=api)
    assert client(script, clock, auth=auth).request("read", "GET", "/x").json() == {"ok": True}
    assert issued == [1, 2]
    assert [r.headers["authorization"] for r in script.requests] == ["Bearer tok-1", "Bearer tok-2"]


def test_a_second_401_after_a_refresh_is_permanent() -> None:
    clock = Clock()
    issued, fetch = _counting_fetch(3600, clock)
    auth = OAuth2(SharedTokens(MemoryState(), "c1", fetch, clock=clock, sleep=clock.sleep))  # type: ignore[arg-type]
    script = Script(default=json_response(401, {"message": "user deactivated"}))
    with pytest.raises(Exception, match="refused this connection's API credentials"):
        client(script, clock, auth=auth).request("read", "GET", "/x")
    assert issued == [1, 2]
    assert len(script.requests) == 2


def test_a_throttled_call_hands_its_wait_to_the_workflow_when_the_budget_is_spent() -> None:
    clock = Clock()
    script = Script(default=json_response(200, {}))
    api = client(script, clock, daily_quota="2")
    api.request("read", "GET", "/x")
    api.request("read", "GET", "/x")
    with pytest.raises(RateLimited, match="daily quota budget spent"):
        api.request("read", "GET", "/x")
    assert len(script.requests) == 2


def test_slots_reserved_in_blocks_never_let_two_invocations_exceed_the_rate(state: SharedState) -> None:
    clock = Clock()
    start = clock.now
    a = RateLimiter(state, "c1", rate_per_s=200, burst=20, clock=clock, sleep=clock.sleep)
    b = RateLimiter(state, "c1", rate_per_s=200, burst=20, clock=clock, sleep=clock.sleep)
    times = []
    for i in range(400):
        limiter = a if (i // 7) % 2 else b  # uneven turns: blocks are left part-used
        assert limiter.acquire() is None
        times.append(clock.now - start)
        if i == 200:
            clock.now += 3.0  # both idle: their unused reserved slots are stale now
    later = [t - 3.0 for t in times[201:]]
    for series in (times[:201], later):
        for i, t in enumerate(series):
            assert i + 1 <= 20 + 200 * (t - series[0] + 1e-5)  # 10 us: the clock is read in whole us
    assert a.reservations + b.reservations < 400 / 5  # blocks of 10: far fewer shared writes than calls

"""Connector benchmark: the HTTP kit against a bare ``httpx`` call to the same fake, in one run.

Prints:
- overhead per call: ``ApiClient.request`` (limiter off, static bearer) against a bare
  pooled ``httpx.Client.get`` of the same URL on the same 127.0.0.1 fake, interleaved,
  median and p99, as ours / floor (goal at most 1.10x); and the same with a declared
  rate on the shared DynamoDB cell (moto in-process, so the cell's cost is an upper bound);
- token requests per 1,000 API calls over one token lifetime (goal: 1);
- a sustained 429 storm: requests sent, and requests sent above the declared rate (goal 0);
- HTTP requests per provisioned project, per system (from the end-to-end run through the fakes).

Usage: python tests/benchmarks/bench_connectors.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers/common"), str(REPO / "infra"), str(REPO)]

import httpx  # noqa: E402

from pshub.connections import Connection  # noqa: E402
from pshub.connectors.http import ApiSettings, ConnectorContext, api_client  # noqa: E402
from pshub.connectors.http.auth import HeaderAuth, OAuth2, client_credentials, token_fetcher  # noqa: E402
from pshub.connectors.http.state import DynamoDbState, MemoryState  # noqa: E402
from pshub.connectors.http.tokens import SharedTokens  # noqa: E402
from pshub_local.fakes import FakeApi, FakeRequest, FakeResponse, route  # noqa: E402


class EchoFake(FakeApi):
    """The smallest vendor: one record read, one token endpoint, an optional 429 storm."""

    platform = "bench"

    def __init__(self) -> None:
        super().__init__()
        self.storm_every = 0  # answer every n-th request 429 (0: never)
        self.tokens_issued = 0
        self.sent_at: list[float] = []

    @route("GET", r"/v1/things/(?P<id>\w+)", "read_thing")
    def read(self, request: FakeRequest, match: Any) -> FakeResponse:
        self.sent_at.append(time.monotonic())
        if self.storm_every and len(self.sent_at) % self.storm_every:
            return FakeResponse(429, {"error": "slow down"}, {"Retry-After": "0.05"})
        return FakeResponse(200, {"id": match["id"], "object": "thing"})

    @route("POST", r"/oauth/token", "token")
    def token(self, request: FakeRequest, match: Any) -> FakeResponse:
        self.tokens_issued += 1
        return FakeResponse(200, {"access_token": f"at-{self.tokens_issued}", "expires_in": 3600})


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def connection(base_url: str, **options: str) -> Connection:
    return Connection(
        id="bench",
        platform="stripe",
        role="billing",
        options={"base_url": base_url, **options},
        implementation="http",
    )


def overhead(fake: EchoFake, calls: int, state: Any = None, **options: str) -> dict[str, float]:
    conn = connection(fake.base_url, **options)
    context = ConnectorContext(credentials={}, state=state or MemoryState())
    ours = api_client(conn, context, HeaderAuth("sk_test_bench"))
    bare = httpx.Client(timeout=httpx.Timeout(30, connect=3.05))
    url = f"{fake.base_url}/v1/things/abc"
    headers = {"Authorization": "Bearer sk_test_bench", "Accept": "application/json"}
    for _ in range(200):  # warm both pools
        ours.request("read_thing", "GET", "/v1/things/abc")
        bare.get(url, headers=headers).json()
    mine: list[float] = []
    floor: list[float] = []
    for i in range(calls):
        pair = [
            ("ours", lambda: ours.request("read_thing", "GET", "/v1/things/abc").json()),
            ("floor", lambda: bare.get(url, headers=headers).json()),
        ]
        for name, call in pair if i % 2 else reversed(pair):
            started = time.perf_counter()
            call()
            (mine if name == "ours" else floor).append(time.perf_counter() - started)
    return {
        "reservations_per_call": ours.limiter.reservations / (calls + 200),
        "ours_median_ms": statistics.median(mine) * 1000,
        "floor_median_ms": statistics.median(floor) * 1000,
        "ratio_median": statistics.median(mine) / statistics.median(floor),
        "ratio_p99": percentile(mine, 0.99) / percentile(floor, 0.99),
    }


def tokens_per_thousand(fake: EchoFake) -> int:
    conn = connection(fake.base_url)
    settings = ApiSettings.of(conn.id, conn.options)
    state = MemoryState()
    grant = client_credentials(f"{fake.base_url}/oauth/token", "bench-client", "bench-secret")
    fake.tokens_issued = 0
    for invocation in range(10):  # ten execution environments, 100 calls each, one token lifetime
        http = httpx.Client()
        auth = OAuth2(SharedTokens(state, conn.id, token_fetcher(grant, http)))
        api = api_client(conn, ConnectorContext(credentials={}, state=state), auth, settings=settings)
        for _ in range(100):
            api.request("read_thing", "GET", f"/v1/things/{invocation}")
    return fake.tokens_issued


def storm(fake: EchoFake, seconds: float = 3.0, rate: float = 20.0, burst: int = 2) -> dict[str, float]:
    conn = connection(fake.base_url, rate_per_s=str(rate), burst=str(burst), max_attempts="50")
    state = MemoryState()
    fake.sent_at.clear()
    fake.storm_every = 2  # every other request answered 429 with Retry-After
    api = api_client(conn, ConnectorContext(credentials={}, state=state), HeaderAuth("sk_test_bench"))
    start = time.monotonic()
    answered = 0
    while time.monotonic() - start < seconds:
        api.request("read_thing", "GET", "/v1/things/storm")
        answered += 1
    fake.storm_every = 0
    sent = [t - start for t in fake.sent_at]
    # A request is above the declared rate if, by its send time t, more than burst + rate * t were sent.
    above = sum(1 for i, t in enumerate(sent) if i + 1 > burst + rate * t + 1)
    return {"sent": len(sent), "succeeded": answered, "above_rate": above, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    with EchoFake() as fake:
        plain = overhead(fake, args.calls)
        print(
            f"overhead per call (no declared rate): ours {plain['ours_median_ms']:.3f} ms, bare httpx "
            f"{plain['floor_median_ms']:.3f} ms -> {plain['ratio_median']:.2f}x median, "
            f"{plain['ratio_p99']:.2f}x p99 (goal <= 1.10x)"
        )
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        import boto3
        from moto import mock_aws

        with mock_aws():
            dynamodb = boto3.client("dynamodb")
            dynamodb.create_table(
                TableName="bench-state",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            cell = overhead(
                fake,
                max(200, args.calls // 5),
                DynamoDbState("bench-state", dynamodb),
                rate_per_s="1000",
                burst="100",
            )
        print(
            f"overhead per call (declared 1,000/s burst 100, shared cell on moto): {cell['ratio_median']:.2f}x "
            f"median, {cell['ratio_p99']:.2f}x p99, {cell['reservations_per_call']:.3f} cell writes per call"
        )
        print(
            f"token requests per 1,000 API calls (10 invocations, one lifetime): {tokens_per_thousand(fake)} (goal 1)"
        )
        result = storm(fake)
        print(
            f"429 storm for {result['seconds']:.0f} s at a declared 20/s burst 2: {result['sent']} sent, "
            f"{result['succeeded']} succeeded, {result['above_rate']} above the declared rate (goal 0)"
        )


if __name__ == "__main__":
    main()

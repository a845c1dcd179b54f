"""Helpers for the Stripe connector's tests: one clock for the fake and the connector, and a
connector pointed at the fake on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from pshub.connections import Connection
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.settings import DEFAULT_PACE
from pshub.connectors.http.state import MemoryState
from pshub.platforms.stripe.outbound import StripeBilling, connect
from pshub_local.platforms.stripe.fake import StripeFake, credentials_for_local

# 1 December 2026, 09:00 UTC: the builders' contracts start today, their milestones fall due in 2027.
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
CONNECTION_ID = "stripe-acme"
RATE_PER_S = 1000  # the connector's declared budget in these tests


@dataclass
class Clock:
    """Shared by the fake (timestamps) and the connector; ``sleep`` records the wait and moves on."""

    now: float = NOW
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def vendor_waits(self) -> list[float]:
        """The waits longer than one slot of the declared budget: after a ``Retry-After`` the kit's
        limiter also paces the next requests one slot apart (at its pace, 95 % of the declared
        rate: a slot is 1 / (0.95 x rate)), which this leaves out."""
        return [w for w in self.waits if w > 1 / (DEFAULT_PACE * RATE_PER_S) + 1e-5]  # us rounding


def stripe_connection(**options: str) -> Connection:
    return Connection(
        id=CONNECTION_ID, platform="stripe", role="billing", options=dict(options), implementation="http"
    )


class Hosts(httpx.BaseTransport):
    """A real HTTP transport that notes the host of every request it sends."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.url.host}:{request.url.port}")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@dataclass
class Harness:
    fake: StripeFake
    clock: Clock

    def connector(
        self,
        credentials: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: str,
    ) -> StripeBilling:
        # A generous declared budget: the client's own limiter never waits in these tests.
        budget = str(RATE_PER_S)
        settings = {"base_url": self.fake.base_url, "rate_per_s": budget, "burst": budget, **options}
        connection = stripe_connection(**settings)
        context = ConnectorContext(
            credentials=dict(credentials) if credentials is not None else credentials_for_local(connection),
            state=MemoryState(),
            transport=transport,
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        return connect(connection, context)

    def operations(self) -> list[str]:
        return [call.operation for call in self.fake.calls()]

    def plans(self) -> list[dict[str, object]]:
        return list(self.fake.records()["billing_plans"])

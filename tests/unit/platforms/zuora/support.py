"""Helpers for the Zuora connector's tests: one clock for the fake and the connector, a connector
pointed at the fake on 127.0.0.1, and invoice requests as the billing workflow sends them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from pshub.canonical.model import Money
from pshub.connections import Connection
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.settings import DEFAULT_PACE
from pshub.connectors.http.state import MemoryState
from pshub.connectors.results import InvoiceLine, InvoiceRequest
from pshub.platforms.zuora.outbound import ZuoraBilling, connect
from pshub.store.billing import idempotency_key
from pshub_local.platforms.zuora.fake import ZuoraFake, credentials_for_local

# 1 December 2026, 09:00 UTC: November 2026 is the period billed.
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
CONNECTION_ID = "zuora-acme"
RATE_PER_S = 1000  # the connector's declared budget in these tests
INVOICE_KEY = "ctr_1#2026-11#period"
CODE = "PRJ-HARB-0001"


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


@dataclass
class Clock:
    """Shared by the fake (dates, token expiry, key retention) and the connector; ``sleep`` records
    the wait and moves time on."""

    now: float = NOW
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def vendor_waits(self) -> list[float]:
        """The waits longer than one slot of the declared budget (the limiter's pacing left out)."""
        return [w for w in self.waits if w > 1 / (DEFAULT_PACE * RATE_PER_S) + 1e-5]


def zuora_connection(**options: str) -> Connection:
    return Connection(
        id=CONNECTION_ID, platform="zuora", role="billing", options=dict(options), implementation="http"
    )


def line(description: str, quantity: str, unit_price: str, amount: str, *sources: str) -> InvoiceLine:
    return InvoiceLine(
        description=description,
        quantity=Decimal(quantity),
        unit_price=usd(unit_price),
        amount=usd(amount),
        sources=sources or ("te_1@1",),
    )


THREE_THIRDS = (
    line("Consultant, 1-10 Nov", "0.335", "1.00", "0.34", "te_1@1"),
    line("Consultant, 11-20 Nov", "0.335", "1.00", "0.34", "te_2@1"),
    line("Consultant, 21-30 Nov", "0.335", "1.00", "0.34", "te_3@1"),
)


def invoice_request(
    lines: tuple[InvoiceLine, ...] = THREE_THIRDS,
    *,
    key: str = INVOICE_KEY,
    client_id: str = "client_1",
    tax: Money | None = None,
    purchase_order: str | None = None,
    currency: str = "USD",
) -> InvoiceRequest:
    return InvoiceRequest(
        invoice_key=key,
        idempotency_key=idempotency_key(key),
        client_id=client_id,
        project_code=CODE,
        period="2026-11",
        currency=currency,
        lines=lines,
        tax=tax,
        purchase_order=purchase_order,
    )


@dataclass
class Harness:
    fake: ZuoraFake
    clock: Clock

    def connector(
        self,
        credentials: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: str,
    ) -> ZuoraBilling:
        # A generous declared budget: the client's own limiter never waits in these tests.
        budget = str(RATE_PER_S)
        settings = {"base_url": self.fake.base_url, "rate_per_s": budget, "burst": budget, **options}
        connection = zuora_connection(**settings)
        context = ConnectorContext(
            credentials=dict(credentials) if credentials is not None else credentials_for_local(connection),
            state=MemoryState(),
            transport=transport,
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        return connect(connection, context)

    def account(self, number: str = "client_1", currency: str = "USD", status: str = "Active") -> str:
        return self.fake.seed_account(number, currency=currency, status=status)

    def operations(self) -> list[str]:
        return [call.operation for call in self.fake.calls()]

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The JSON bodies of ``operation``'s requests, numbers as Decimals (as sent, exactly)."""
        return [
            json.loads(e.request.body, parse_float=Decimal)
            for e in self.fake.exchanges
            if e.operation == operation
        ]

    def keys(self, operation: str) -> list[str | None]:
        return [e.request.header("idempotency-key") for e in self.fake.exchanges if e.operation == operation]

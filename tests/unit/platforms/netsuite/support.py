"""A NetSuite fake on 127.0.0.1 and pshub's connector pointed at it, for the tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from pshub.connections import Connection
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms.netsuite.outbound import NetSuiteErp, connect
from pshub_local.platforms.netsuite.fake import NetSuiteFake

CONNECTION_ID = "netsuite-acme"
PATTERN = r"^PRJ-[A-Z0-9]{2,8}-[0-9]{4}$"
OPTIONS = {
    "account_id": "1234567_SB1",
    "project_code_pattern": PATTERN,  # the fake's (the account's) rule
    "closed_periods_through": "2026-09-30",  # the fake's (the account's) rule
    "subsidiaries": "ACME-US=1,ACME-UK=3",
    "classes": "CON=4,MSP=5",
    "departments": "D-100=7",
    "time_item_id": "20",
}
# One key pair for the whole run (RSA generation is the slow part); LOCAL-ONLY test values.
M2M = NetSuiteFake.credentials_for_local(Connection(id=CONNECTION_ID, platform="netsuite", role="erp"))
TBA = NetSuiteFake.credentials_for_local(Connection(id=CONNECTION_ID, platform="netsuite", role="erp"), "tba")


@dataclass
class Clock:
    now: float = 1_796_000_000.0  # 2026-11-30
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Rig:
    fake: NetSuiteFake
    erp: NetSuiteErp
    clock: Clock
    connection: Connection

    def operations(self) -> list[str]:
        return [c.operation for c in self.fake.calls()]


def connection(base_url: str | None = None, **options: str) -> Connection:
    merged = {**OPTIONS, **options}
    if base_url:
        merged["base_url"] = base_url
    return Connection(
        id=CONNECTION_ID, platform="netsuite", role="erp", options=merged, implementation="http"
    )


@contextmanager
def rig(
    credentials: Mapping[str, str] | None = None,
    *,
    fake_credentials: Mapping[str, str] | None = None,
    employees: tuple[str, ...] = ("worker_1",),
    fake_kwargs: Mapping[str, Any] | None = None,
    **options: str,
) -> Iterator[Rig]:
    clock = Clock()
    creds = dict(credentials if credentials is not None else M2M)
    fake = NetSuiteFake(
        connection(**options),
        fake_credentials if fake_credentials is not None else {**M2M, **TBA},
        clock=clock,
        employees=employees,
        **dict(fake_kwargs or {}),
    )
    # A transport of the test's own (real HTTP, not the process-wide pool): closing it ends the
    # keep-alive connections, so no later test on a reused port reaches this fake.
    transport = httpx.HTTPTransport()
    with fake, transport:
        conn = connection(f"{fake.base_url}/services/rest/record/v1", **options)
        context = ConnectorContext(
            credentials=creds, state=MemoryState(), transport=transport, clock=clock, sleep=clock.sleep
        )
        yield Rig(fake, connect(conn, context), clock, conn)

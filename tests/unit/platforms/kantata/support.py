"""Helpers for the Kantata connector's tests: the fake on 127.0.0.1 and a connector pointed at it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pshub.connections import Connection
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms.kantata.outbound import KantataPsa
from pshub_local.platforms.kantata.fake import KantataFake, credentials_for_local

TEMPLATES = "consulting=TPL-CONSULT,managed_services=TPL-MSP"
CODE_PATTERN = "^PRJ-[A-Z0-9]{2,8}-[0-9]{4}$"


@dataclass
class Sleeps:
    """The connector's ``sleep``: records waits instead of sleeping, and its ``clock`` moves on by them."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    def clock(self) -> float:
        return time.time() + sum(self.waits)


def kantata_connection(conn_id: str = "kantata-acme", **options: str) -> Connection:
    return Connection(
        id=conn_id,
        platform="kantata",
        role="psa",
        options={"templates": TEMPLATES, "project_code_pattern": CODE_PATTERN, **options},
        implementation="http",
    )


@dataclass
class Harness:
    fake: KantataFake
    connection: Connection
    sleeps: Sleeps

    @property
    def base_url(self) -> str:
        return f"{self.fake.base_url}/api/v1"

    def connector(self, credentials: dict[str, str] | None = None, **options: str) -> KantataPsa:
        connection = Connection(
            id=self.connection.id,
            platform="kantata",
            role="psa",
            options={**self.connection.options, "base_url": self.base_url, **options},
            implementation="http",
        )
        context = ConnectorContext(
            credentials=credentials if credentials is not None else credentials_for_local(self.connection),
            state=MemoryState(),
            sleep=self.sleeps,
            clock=self.sleeps.clock,
        )
        return KantataPsa(connection, context)

    def operations(self) -> list[str]:
        return [call.operation for call in self.fake.calls()]

"""Helpers for the Harvest feed's tests: the fake on 127.0.0.1 and a connector pointed at it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pshub.connections import Connection
from pshub.connectors.http import ConnectorContext
from pshub.connectors.http.state import MemoryState
from pshub.platforms.harvest.outbound import HarvestFeed
from pshub_local.platforms.harvest.fake import HarvestFake, credentials_for_local

USER_AGENT = "Acme Consulting pshub (integrations@acme.example.com)"
# The fake's clock stands here unless a test moves it: records are stamped by it.
NOW = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)


@dataclass
class Sleeps:
    """The connector's ``sleep``: records waits instead of sleeping, and its ``clock`` moves on by them."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    def clock(self) -> float:
        return time.time() + sum(self.waits)


def harvest_connection(conn_id: str = "harvest-acme", **options: str) -> Connection:
    return Connection(
        id=conn_id, platform="harvest", role="time", options={"user_agent": USER_AGENT, **options}
    )


@dataclass
class Harness:
    fake: HarvestFake
    connection: Connection
    sleeps: Sleeps

    @property
    def base_url(self) -> str:
        return f"{self.fake.base_url}/v2"

    def connector(self, credentials: dict[str, str] | None = None, **options: str) -> HarvestFeed:
        connection = Connection(
            id=self.connection.id,
            platform="harvest",
            role="time",
            options={**self.connection.options, "base_url": self.base_url, **options},
        )
        context = ConnectorContext(
            credentials=credentials if credentials is not None else credentials_for_local(self.connection),
            state=MemoryState(),
            sleep=self.sleeps,
            clock=self.sleeps.clock,
        )
        return HarvestFeed(connection, context)

    def statuses(self, operation: str = "list_time_entries") -> list[int | None]:
        return [call.status for call in self.fake.calls(operation)]

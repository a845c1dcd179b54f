"""The local HTTP API and runtime as one thing to send webhooks to (see conftest.local)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pshub.connectors.registry import connector_for
from pshub_local import vendors
from pshub_local.client import Response, send
from pshub_local.fakes import FakeApi
from pshub_local.runtime import LocalRuntime
from pshub_local.server import WebhookServer
from tests.helpers import sample


@dataclass
class LocalStack:
    runtime: LocalRuntime
    server: WebhookServer

    def signed(self, connection_id: str, body: bytes) -> vendors.SignedRequest:
        connection = self.runtime.connections[connection_id]
        return vendors.sign(connection, body, self.server.url, self.runtime.signing_secret(connection_id))

    def deliver(self, connection_id: str, sample_path: str) -> Response:
        """Send a sample from events/ as its platform would, signed now."""
        return send(self.signed(connection_id, sample(sample_path)))

    def events_of_type(self, event_type: str) -> list[dict]:
        return [e for e in self.runtime.canonical_events() if e["detail-type"] == event_type]

    def queue_depths(self) -> dict[str, int]:
        return {q.key: self.runtime.queue_depth(q.key) for q in self.runtime.topology.queues}

    def fake(self, connection_id: str) -> Any:
        """The platform's local fake behind a connection: its records and its controls."""
        fake: FakeApi = self.runtime.fake(connection_id)
        return fake

    def connector(self, connection_id: str) -> Any:
        """The connection's real connector, pointed at its fake (reads as the workflow would)."""
        connection = self.runtime.connections[connection_id]
        return connector_for(connection, connection.role)

    def records(self, connection_id: str, kind: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.fake(connection_id).records()[kind]
        return records

    def requests(self, connection_id: str, operation: str) -> int:
        """How many HTTP requests of ``operation`` the platform received."""
        return len(self.fake(connection_id).calls(operation))

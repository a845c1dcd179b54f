"""Shared test helpers: sample events from events/ and inbound requests."""

from __future__ import annotations

import json
from pathlib import Path

from pshub.connections import Connection, parse_registry
from pshub.pipeline.http import InboundRequest

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"


def sample(relative: str) -> bytes:
    """A sample payload from events/, byte for byte."""
    return (EVENTS / relative).read_bytes()


def connections() -> dict[str, Connection]:
    return parse_registry(json.loads((REPO / "infra/config/connections.json").read_text()))


def inbound(
    body: bytes,
    headers: dict[str, str] | None = None,
    url: str = "https://hooks.example.com/webhooks/test",
    now: float = 1_800_000_000.0,
    method: str = "POST",
) -> InboundRequest:
    path, _, query = url.split("://", 1)[1].partition("/")[2].partition("?")
    return InboundRequest(
        method=method,
        url=url,
        path="/" + path,
        raw_query=query,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        body=body,
        source_ip="192.0.2.10",
        request_id="req-1",
        received_at_epoch=now,
    )

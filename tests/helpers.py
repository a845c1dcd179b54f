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


def emitted_metrics(output: str, name: str) -> list[tuple[float, dict[str, str]]]:
    """Every value of the CloudWatch metric ``name`` in captured EMF output (one JSON document
    per line, as Lambda's log would hold it), with the dimensions it was filed under."""
    import json

    found: list[tuple[float, dict[str, str]]] = []
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if any(metric["Name"] == name for metric in directive["Metrics"]):
                [dimension_names] = directive["Dimensions"]
                dimensions = {key: document[key] for key in dimension_names}
                values = document[name] if isinstance(document[name], list) else [document[name]]
                found += [(float(value), dimensions) for value in values]
    return found

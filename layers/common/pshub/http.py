"""The HTTP request and response as the ingress sees them, independent of API Gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs


@dataclass(frozen=True)
class InboundRequest:
    method: str
    url: str  # scheme://host/path?query exactly as the platform called it
    path: str
    raw_query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    source_ip: str
    request_id: str
    received_at_epoch: float  # seconds

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_param(self, name: str) -> str | None:
        values = parse_qs(self.raw_query, keep_blank_values=True).get(name)
        return values[0] if values else None


@dataclass
class HttpResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})

    @classmethod
    def json(cls, status: int, document: object) -> HttpResponse:
        return cls(status=status, body=json.dumps(document, separators=(",", ":")))

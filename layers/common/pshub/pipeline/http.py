"""The HTTP request and response as the ingress sees them, independent of API Gateway."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import parse_qs, unquote

# Query parameters that carry a credential (Salesforce's endpoint token), matched on the
# name as the query parser decodes it: "%74oken" is "token" to parse_qs, so it is here too.
_SECRET_NAMES = re.compile(
    r"token|secret|key|password|passwd|signature|sig|auth|credential|api[_-]?key", re.I
)
REDACTED = "REDACTED"


def redact_query(raw_query: str) -> str:
    """The query string with every credential-like parameter's value replaced, all else as received.

    Names are decoded exactly as ``parse_qs`` decodes them (``+`` as space, then percent
    escapes), so no spelling that verification would read as ``token`` survives here.
    """
    parts = []
    for part in raw_query.split("&"):
        name, equals, _value = part.partition("=")
        decoded = unquote(name.replace("+", " ")).strip()
        parts.append(f"{name}{equals}{REDACTED}" if equals and _SECRET_NAMES.fullmatch(decoded) else part)
    return "&".join(parts)


_QUERY_IN_TEXT = re.compile(r"\?([^\s'\"]*)")


def redact_text(text: str) -> str:
    """Free text (a log message) with the query string of any URL or request line in it redacted."""
    return _QUERY_IN_TEXT.sub(lambda match: "?" + redact_query(match.group(1)), text)


class InboundRequest(NamedTuple):
    """Built once per webhook on the ack path: a named tuple, a fifth of a frozen dataclass's cost."""

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

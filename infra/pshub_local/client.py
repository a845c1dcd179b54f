"""Send a signed request to the local server over real HTTP (urllib, no proxies)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from pshub_local.vendors import SignedRequest

# Proxy variables must not route 127.0.0.1 traffic elsewhere.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    elapsed_ms: float

    @property
    def request_id(self) -> str:
        """API Gateway's request id: the ingress uses it as the correlation id."""
        return self.headers.get("apigw-requestid", "")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error_message(self) -> str:
        """The message of a JSON error body (pshub's or API Gateway's), else ''."""
        document = self.json()
        if not isinstance(document, dict):
            return ""
        error = document.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))
        return str(document.get("message", ""))

    def error_code(self) -> str:
        document = self.json()
        error = document.get("error") if isinstance(document, dict) else None
        return str(error.get("code", "")) if isinstance(error, dict) else ""


def send(request: SignedRequest, timeout_s: float = 30.0) -> Response:
    target = urlsplit(request.url)
    if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"the local client only talks to http://127.0.0.1, not {request.url!r}")
    http_request = urllib.request.Request(  # noqa: S310 - checked above: plain http to loopback
        request.url, data=request.body, headers=dict(request.headers), method=request.method
    )
    started = time.perf_counter()
    try:
        with _OPENER.open(http_request, timeout=timeout_s) as reply:
            status, headers, body = reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Response(status, _lower(headers), body, elapsed_ms)


def _lower(headers: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}

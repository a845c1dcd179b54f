"""What API Gateway (HTTP API, payload format 2.0) does between the socket and the Lambda.

Route matching, the event it builds, and how it turns the function's result into
an HTTP response. Kept free of sockets so the tests can check the event shape.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from pshub_infra.topology import HttpRouteSpec

ACCOUNT_ID = "123456789012"
API_ID = "pshublocal"
# API Gateway's payload limit; the function may enforce a smaller one itself.
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024

_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/soap+xml", "application/javascript"}
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: tuple[str, ...] = ()


def error_result(status: int, message: str) -> HttpResult:
    """API Gateway's own error responses: ``{"message": "..."}``."""
    body = json.dumps({"message": message}).encode()
    return HttpResult(status, {"content-type": "application/json"}, body)


def match_route(
    routes: Iterable[HttpRouteSpec], method: str, raw_path: str
) -> tuple[HttpRouteSpec, dict[str, str]] | None:
    """The route for ``method raw_path`` and its decoded path parameters, or None (404)."""
    for route in routes:
        if route.method != method.upper():
            continue
        match = _route_regex(route.path).match(raw_path)
        if match:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return None


def _route_regex(template: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("+}"):
            pattern += f"(?P<{part[1:-2]}>.+)"  # greedy {proxy+}
        elif part.startswith("{"):
            pattern += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}$")


def is_textual(content_type: str | None) -> bool:
    """Whether API Gateway passes the body as text (else base64)."""
    if not content_type:
        return False
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset":
            charset = value.strip().strip('"').lower()
    if charset and charset not in ("utf-8", "utf8", "us-ascii"):
        return False
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def build_event(
    *,
    route: HttpRouteSpec,
    path_parameters: dict[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    server_port: int,
    protocol: str = "HTTP/1.1",
    now: float | None = None,
) -> dict[str, Any]:
    """The payload-format-2.0 event API Gateway would hand the route's function."""
    now = time.time() if now is None else now
    merged = _merge_headers(headers)
    cookie_header = merged.pop("cookie", None)
    # API Gateway appends the caller to x-forwarded-for and sets the forwarded
    # scheme/port of its listener (https/443 there, plain http here).
    forwarded_for = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    merged["x-forwarded-proto"] = "http"
    merged["x-forwarded-port"] = str(server_port)
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}")

    host = merged.get("host", f"127.0.0.1:{server_port}")
    route_key = f"{route.method} {route.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.split(";") if c.strip()]
    if raw_query:
        event["queryStringParameters"] = _query_parameters(raw_query)
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": method.upper(),
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": "$default",
        "time": _clf_time(now),
        "timeEpoch": int(now * 1000),
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        if is_textual(merged.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                pass
        if "body" not in event:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def to_http_result(result: Any, request_id: str) -> HttpResult:
    """Turn the function's return value into the response, as format 2.0 does."""
    headers = {"apigw-requestid": request_id}
    if isinstance(result, dict) and "statusCode" in result:
        raw = result.get("body")
        text = raw if isinstance(raw, str) else ("" if raw is None else json.dumps(raw))
        body = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode()
        headers.update({str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()})
        cookies = tuple(str(c) for c in result.get("cookies") or ())
        return HttpResult(int(result["statusCode"]), headers, body, cookies)
    # Without a statusCode the whole result is the JSON body of a 200.
    headers["content-type"] = "application/json"
    return HttpResult(200, headers, json.dumps(result).encode())


def _merge_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    return merged


def _query_parameters(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def _clf_time(now: float) -> str:
    # "12/Mar/2020:19:03:58 +0000", independent of the locale.
    t = time.gmtime(now)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{time.strftime('%H:%M:%S', t)} +0000"

"""One HTTP client for every connector: pooled, bounded, classified, retried, masked.

``ApiClient.request`` is what a connector calls. On the way out: the path is joined to
the configured base URL and anything else is refused (no request leaves for a host the
configuration did not name; redirects are not followed), the rate limiter takes its
slot, the auth provider signs. On the way back the answer is classified:

- 2xx: returned. 401: the credential is refreshed once (if the scheme can) and the
  call repeated; a second 401 is a permanent error.
- 429 and the platform's own throttle signals in a 4xx body: ``RateLimited`` with the
  wait from ``Retry-After`` (seconds or HTTP date), else the platform's default; the
  wait also holds the shared limiter, so no invocation sends before it passes.
- 503: ``TransientConnectorError`` carrying ``retry_after_s``: the vendor's ``Retry-After``,
  else a hold that doubles while the outage lasts (0.5 s to 8 s); the shared limiter is
  held for it like a throttle. Neither a 429 nor a 503 spends a slot of the declared
  rate: the vendor served nothing.
- 500/502/504 and a lost answer, for a call that is safe to repeat:
  ``TransientConnectorError``. For a write that is not safe to repeat, a lost answer
  or an ambiguous 5xx is ``OutcomeUnknown``: the connector reads back.
- 404 ``NotFound``, 409 ``Conflict``, other 4xx ``PermanentConnectorError``, each
  with the platform's code and message as the platform's ``describe`` reads them.

Transient failures are retried here (``tenacity``: ``max_attempts``, exponential
backoff with jitter, or exactly the throttled wait); a wait longer than
``max_wait_s`` is handed back as ``RateLimited`` for the workflow to sleep on.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from pshub.connectors.http.auth import Auth, TokenEndpointRefused, TokenEndpointUnavailable
from pshub.connectors.http.limits import RateLimiter
from pshub.connectors.http.masking import mask_body, mask_headers, mask_url
from pshub.connectors.http.settings import ApiSettings
from pshub.connectors.http.tokens import TokenUnavailable
from pshub.kpis import PLATFORM_THROTTLED

log = logging.getLogger("pshub.connectors.http")
_SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_AMBIGUOUS = frozenset({500, 502, 504})  # a gateway or server error after the write may have applied
# A 503 without Retry-After holds the connection 0.5 s, then 1, 2, 4, 8 s while the outage lasts:
# every invocation waits it out and one round of requests probes it; recovery is seen within
# the last hold (at most 8 s late), and a long outage costs a round of probes every 8 s, not
# a storm of retries.
OUTAGE_HOLD_FIRST_S = 0.5
OUTAGE_HOLD_MAX_S = 8.0


@dataclass(frozen=True)
class VendorError:
    """What a platform's error body says: its code and message, and whether it is a throttle."""

    code: str | None = None
    message: str | None = None
    throttled: bool = False
    retry_after_s: float | None = None


Describe = Callable[["ApiResponse"], VendorError]
# A successful answer's remaining-budget headers -> seconds to hold every request (None: budget left).
Budget = Callable[["ApiResponse"], float | None]


def describe_generic(response: ApiResponse) -> VendorError:
    """``{"error": {"code", "message"}}``, ``{"errors": [...]}``, ``{"message"}`` and the like."""
    document = response.json_or_none()
    candidates: list[Any] = []
    if isinstance(document, dict):
        candidates = [document.get("error"), (document.get("errors") or [None])[0], document]
    elif isinstance(document, list) and document:
        candidates = [document[0]]
    for candidate in candidates:
        if isinstance(candidate, dict):
            code = candidate.get("errorCode") or candidate.get("code") or candidate.get("type")
            message = candidate.get("message") or candidate.get("detail") or candidate.get("title")
            if code or message:
                return VendorError(code=_text(code), message=_text(message))
        elif isinstance(candidate, str):
            return VendorError(message=candidate)
    return VendorError()


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: httpx.Headers
    content: bytes = field(repr=False)
    url: str
    elapsed_s: float = 0.0

    def json(self) -> Any:
        return jsonlib.loads(self.content) if self.content else None

    def json_or_none(self) -> Any:
        try:
            return self.json()
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        value: str | None = self.headers.get(name)
        return value


_pools: dict[tuple[str, float, float], httpx.Client] = {}
_pools_lock = threading.Lock()


def pooled_client(settings: ApiSettings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """One ``httpx.Client`` per origin and timeouts, kept for the execution environment's life:
    TLS sessions and keep-alive connections are reused across invocations."""
    if transport is not None:
        return _new_client(settings, transport)
    key = (f"{settings.scheme}://{settings.host}", settings.connect_timeout_s, settings.read_timeout_s)
    with _pools_lock:
        client = _pools.get(key)
        if client is None or client.is_closed:
            client = _pools[key] = _new_client(settings, None)
        return client


def _new_client(settings: ApiSettings, transport: httpx.BaseTransport | None) -> httpx.Client:
    timeout = httpx.Timeout(
        settings.read_timeout_s, connect=settings.connect_timeout_s, pool=settings.connect_timeout_s
    )
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=55)
    return httpx.Client(timeout=timeout, limits=limits, follow_redirects=False, transport=transport)


class ApiClient:
    def __init__(
        self,
        *,
        platform: str,
        connection_id: str,
        settings: ApiSettings,
        auth: Auth,
        limiter: RateLimiter,
        describe: Describe = describe_generic,
        default_retry_after_s: float = 1.0,
        refresh_on_401: bool = True,
        mask_fields: tuple[str, ...] = (),
        budget: Budget | None = None,
        user_agent: str = "pshub",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.platform = platform
        self.connection_id = connection_id
        self.settings = settings
        self.auth = auth
        self.limiter = limiter
        self._describe = describe
        self._default_retry_after_s = default_retry_after_s
        self._refresh_on_401 = refresh_on_401
        self._mask_fields = mask_fields
        self._budget = budget
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._http = pooled_client(settings, transport)
        self._sleep = sleep
        self.sent = 0  # HTTP requests this client sent (benchmarks, tests)
        self._unavailable = 0  # refused probe rounds in a row (503 without Retry-After)
        self._outage_until = 0.0  # epoch s: the current outage hold's end
        self._outage_lock = threading.Lock()

    # -- what connectors call --------------------------------------------------------------
    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        repeatable: bool | None = None,
    ) -> ApiResponse:
        """Send one call (retried while transient); ``repeatable``: safe to send twice (an
        idempotency key or an upsert), default by method."""
        method = method.upper()
        url = self.url(path, operation)
        safe = method in _SAFE_METHODS if repeatable is None else repeatable
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            sleep=self._backoff,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._once(operation, method, url, params, json, form, headers, safe)
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True always raises or returns

    def url(self, path: str, operation: str = "request") -> str:
        """``path`` under the base URL; an absolute URL only on the configured origin."""
        if path.startswith(("http://", "https://")):
            if _origin(path) != (self.settings.scheme, self.settings.host):
                raise self._error(
                    PermanentConnectorError,
                    operation,
                    f"refused to send to {mask_url(path)}: not under the configured base URL "
                    f"{self.settings.base_url}",
                )
            return path
        return self.settings.base_url + (path if path.startswith("/") else "/" + path)

    # -- one attempt -------------------------------------------------------------------------
    def _once(
        self,
        operation: str,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        form: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        safe: bool,
    ) -> ApiResponse:
        refreshed = False
        while True:
            throttled = self.limiter.acquire()
            if throttled is not None:  # waiting here would outlast a Lambda: the workflow waits instead
                unsent = self._rate_limited(
                    operation, throttled.retry_after_s, f"{throttled.reason} budget spent (not sent)"
                )
                unsent.sent = False
                raise unsent
            request = self._http.build_request(
                method, url, params=params, json=json, data=form, headers={**self._headers, **(headers or {})}
            )
            self._authorize(operation, request)
            response = self._send(operation, request, safe)
            if (
                response.status == 401
                and self._refresh_on_401
                and not refreshed
                and self.auth.refused(request)
            ):
                refreshed = True
                continue
            self._raise_for(operation, response, safe)
            return response

    def _authorize(self, operation: str, request: httpx.Request) -> None:
        try:
            self.auth.authorize(request)
        except TokenEndpointRefused as refused:
            raise self._error(
                PermanentConnectorError,
                operation,
                "the token endpoint refused this connection's API credentials (update its api secret)",
                code=refused.error,
                text=refused.description,
                status=refused.status,
            ) from None
        except (TokenEndpointUnavailable, TokenUnavailable) as unavailable:
            raise self._error(TransientConnectorError, operation, str(unavailable)) from None

    def _send(self, operation: str, request: httpx.Request, safe: bool) -> ApiResponse:
        started = time.perf_counter()
        try:
            self.sent += 1
            response = self._http.send(request)
            content = response.read()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise self._error(  # nothing reached the platform
                TransientConnectorError, operation, f"could not connect ({type(error).__name__})"
            ) from None
        except httpx.TransportError as error:
            cls = TransientConnectorError if safe else OutcomeUnknown
            raise self._error(
                cls, operation, f"sent, and the answer was lost ({type(error).__name__}); outcome unknown"
            ) from None
        answer = ApiResponse(
            response.status_code, response.headers, content, str(request.url), time.perf_counter() - started
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %s -> %s",
                operation,
                request.method,
                mask_url(str(request.url)),
                answer.status,
                extra={
                    "request_headers": mask_headers(request.headers.multi_items()),
                    "response_headers": mask_headers(response.headers.multi_items()),
                    "response_body": mask_body(answer.json_or_none(), self._mask_fields),
                },
            )
        return answer

    def _raise_for(self, operation: str, response: ApiResponse, safe: bool) -> None:
        status = response.status
        if status < 500:
            self._unavailable = 0  # the platform answers again: the next outage starts short
        if status < 300 or status == 304:
            hold = self._budget(response) if self._budget is not None else None
            if hold:  # the vendor says the budget is spent: wait before the next request, not after a 429
                self.limiter.hold(hold)
            return
        vendor = self._describe(response)
        if status == 429 or vendor.throttled:
            wait = vendor.retry_after_s or retry_after(response.header("Retry-After"))
            wait = self._default_retry_after_s if wait is None else wait
            self.limiter.hold(wait, refused=True)
            PLATFORM_THROTTLED.emit(1, connection=self.connection_id)
            raise self._rate_limited(
                operation, wait, f"throttled by the platform (HTTP {status})", vendor, status
            )
        if status == 503:  # unavailable: hold the connection, growing while it lasts, then probe
            wait = vendor.retry_after_s or retry_after(response.header("Retry-After"))
            if wait is None:
                wait = self._outage_hold()
            self.limiter.hold(wait, refused=True)
            raise self._error(
                TransientConnectorError,
                operation,
                f"platform unavailable (HTTP 503); retry after {wait:.2f} s",
                vendor=vendor,
                status=status,
                retry_after_s=round(wait, 3),
            )
        if status in _AMBIGUOUS and safe:
            raise self._error(
                TransientConnectorError,
                operation,
                f"platform error HTTP {status}",
                vendor=vendor,
                status=status,
            )
        if status >= 500:
            raise self._error(
                OutcomeUnknown,
                operation,
                f"platform error HTTP {status} after the write was sent; outcome unknown",
                vendor=vendor,
                status=status,
            )
        if status == 401:
            raise self._error(
                PermanentConnectorError,
                operation,
                "the platform refused this connection's API credentials (HTTP 401)",
                vendor=vendor,
                status=status,
            )
        if status == 404:
            raise self._error(NotFound, operation, "not found (HTTP 404)", vendor=vendor, status=status)
        if status == 409:
            raise self._error(
                Conflict, operation, "conflict (HTTP 409)", vendor=vendor, status=status, key="", fields=()
            )
        raise self._error(
            PermanentConnectorError, operation, f"refused (HTTP {status})", vendor=vendor, status=status
        )

    # -- errors and waits -----------------------------------------------------------------------
    def _error(
        self,
        cls: type[Any],
        operation: str,
        message: str,
        *,
        vendor: VendorError | None = None,
        code: str | None = None,
        text: str | None = None,
        status: int | None = None,
        **own: Any,
    ) -> Any:
        return cls(
            message,
            platform=self.platform,
            connection_id=self.connection_id,
            operation=operation,
            platform_code=vendor.code if vendor else code,
            platform_message=vendor.message if vendor else text,
            http_status=status,
            **own,
        )

    def _rate_limited(
        self,
        operation: str,
        wait_s: float,
        message: str,
        vendor: VendorError | None = None,
        status: int | None = None,
    ) -> RateLimited:
        error: RateLimited = self._error(
            RateLimited,
            operation,
            f"{message}; retry after {wait_s:.2f} s",
            vendor=vendor,
            status=status,
            retry_after_s=round(wait_s, 3),
        )
        return error

    def _outage_hold(self) -> float:
        """The hold for a 503 without Retry-After. Requests of one round (sent before the hold,
        answered during it) share the hold; the round that probes after it ends and is refused
        again doubles it."""
        with self._outage_lock:  # the threads of one process share the client
            now = self.limiter.now()
            if now < self._outage_until:
                return self._outage_until - now
            wait = min(OUTAGE_HOLD_MAX_S, OUTAGE_HOLD_FIRST_S * float(2**self._unavailable))
            self._unavailable += 1
            self._outage_until = now + wait
            return wait

    def _backoff(self, seconds: float) -> None:
        if seconds > 0:  # a throttled wait is slept by the limiter on the next attempt
            self._sleep(seconds)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RateLimited):
            if error.retry_after_s > self.settings.max_wait_s:
                raise error  # too long to sleep in a Lambda: the workflow waits instead
            return 0.0  # the limiter holds until then: the next attempt waits there, once
        if isinstance(error, TransientConnectorError) and error.retry_after_s is not None:
            if error.retry_after_s > self.settings.max_wait_s:
                raise error  # an outage longer than a Lambda should sleep: the workflow waits
            return 0.0  # held: the next attempt waits for the hold's end in the limiter
        return float(wait_random_exponential(multiplier=0.25, max=4)(state))


def _origin(url: str) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` of an absolute URL without user info; None otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None or not host:
        return None
    return parts.scheme, f"{host}:{port}" if port else host


def _retryable(error: BaseException) -> bool:
    if isinstance(error, OutcomeUnknown) or (isinstance(error, RateLimited) and not error.sent):
        return False
    return isinstance(error, TransientConnectorError)


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, 86_400.0)) if math.isfinite(seconds) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else (str(value) if isinstance(value, int) else None)


__all__ = [
    "ApiClient",
    "ApiResponse",
    "ConnectorError",
    "Describe",
    "VendorError",
    "describe_generic",
    "retry_after",
]

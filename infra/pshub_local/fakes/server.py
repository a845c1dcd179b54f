"""``FakeApi``: the HTTP side every vendor fake shares (threaded server, routing, faults, logs).

A subclass declares its routes with ``@route("POST", r"/v1/customers", "create_customer")``
on methods ``(self, request, match) -> FakeResponse`` and raises ``VendorFault`` for
the vendor's error answers. It implements ``authenticate`` (return a ``FakeResponse``
to refuse) and ``throttled`` (the vendor's 429). Every handler runs under one lock:
unique keys are enforced atomically, as the vendors do.

Controls for tests and demos:
``inject(operation, status, body, headers, times, when)``, ``drop_answer(operation)``
(work done, connection closed before the answer), ``set_outage``, ``calls(operation)``,
``exchanges`` (every request and response, for contract validation), ``snapshot()``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

Handler = Callable[[Any, "FakeRequest", re.Match[str]], "FakeResponse"]


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    url: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def param(self, name: str, default: str | None = None) -> str | None:
        return next((value for key, value in self.query if key == name), default)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class FakeResponse:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":"), default=str).encode()


class VendorFault(Exception):
    """The vendor's error answer: raised by a handler, sent as it is."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = FakeResponse(status, body, dict(headers or {}))


@dataclass(frozen=True)
class CallRecord:
    """One request as the platform saw it (the operation its route names)."""

    sequence: int
    operation: str
    method: str
    path: str
    status: int | None  # None: the answer was dropped on purpose (after the work)


@dataclass(frozen=True)
class Exchange:
    """A request and the response the fake sent, for contract tests."""

    operation: str
    request: FakeRequest
    response: FakeResponse | None


@dataclass
class _Fault:
    response: FakeResponse | None  # None: do the work, then drop the connection
    remaining: int
    when: Literal["before", "after"]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler


def route(method: str, path: str, operation: str) -> Callable[[Handler], Handler]:
    """Declare a handler for ``method`` on the full-match regex ``path``."""

    def mark(handler: Handler) -> Handler:
        handler.__dict__.setdefault("_routes", []).append((method.upper(), path, operation))
        return handler

    return mark


class _Dropped(Exception):
    pass


class FakeApi:
    platform: ClassVar[str]
    content_type: ClassVar[str] = "application/json"
    _routes: ClassVar[list[_Route]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes: list[_Route] = []
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                for method, path, operation in getattr(value, "_routes", ()):
                    routes.append(_Route(method, re.compile(path), operation, value))
        cls._routes = routes

    def __init__(self, *, rate_per_s: float | None = None, burst: int = 50) -> None:
        self.lock = threading.RLock()
        self._faults: dict[str, deque[_Fault]] = {}
        self._outage = False
        self._calls: list[CallRecord] = []
        self.exchanges: list[Exchange] = []
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._refilled = time.monotonic()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- vendor specifics (override) -------------------------------------------------------
    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        """None to let the request through; the vendor's 401 otherwise."""
        return None

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        return FakeResponse(
            429, {"error": "rate limited"}, {"Retry-After": str(max(1, round(retry_after_s)))}
        )

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(503, {"error": "service unavailable"})

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"error": f"no route {request.method} {request.path}"})

    def local_options(self) -> dict[str, str]:
        """The connection options that point its connector here (the local runtime writes them
        over the configured ones): the base URL, and token endpoints where the platform has them."""
        return {"base_url": self.base_url}

    def records(self) -> dict[str, Any]:
        """Every record, JSON-able and without rates or personal data, for the demo's printout."""
        return {}

    def seed_demo(self) -> None:
        """What the platform holds before the local runtime's demo starts (its own records)."""

    # -- controls ----------------------------------------------------------------------------
    def inject(
        self,
        operation: str,
        status: int = 503,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        times: int = 1,
        when: Literal["before", "after"] = "before",
    ) -> None:
        """The next ``times`` requests of ``operation`` are answered ``status`` (``before``: instead
        of doing the work; ``after``: the work is done and this answer replaces the real one)."""
        self._queue(operation, _Fault(FakeResponse(status, body, dict(headers or {})), times, when))

    def drop_answer(self, operation: str, times: int = 1) -> None:
        """The next ``times`` requests of ``operation`` are applied and their connection closed
        unanswered: the client cannot know the outcome."""
        self._queue(operation, _Fault(None, times, "after"))

    def clear_faults(self, operation: str | None = None) -> None:
        """Forget the faults still queued (for ``operation``, or all): the cause was fixed."""
        with self.lock:
            if operation is None:
                self._faults.clear()
            else:
                self._faults.pop(operation, None)

    def set_outage(self, down: bool) -> None:
        with self.lock:
            self._outage = down

    def set_rate(self, rate_per_s: float | None, burst: int = 1) -> None:
        with self.lock:
            self._rate, self._burst, self._tokens = rate_per_s, float(burst), float(burst)
            self._refilled = time.monotonic()

    def calls(self, operation: str | None = None) -> list[CallRecord]:
        with self.lock:
            return [c for c in self._calls if operation is None or c.operation == operation]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "platform": self.platform,
                "implementation": "http fake",
                "base_url": self.base_url if self._server else None,
                "records": self.records(),
                "calls": len(self._calls),
            }

    # -- serving -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "the fake is not started"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> str:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() waits at most this long
                name=f"fake-{self.platform}",
                daemon=True,
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request -------------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> FakeResponse:
        """Answer ``request``; raises ``_Dropped`` to close the connection unanswered."""
        found = self._match(request)
        operation = found[0].operation if found else "unrouted"
        with self.lock:
            try:
                response = self._answer(request, found)
            except _Dropped:
                self._log(operation, request, None)
                raise
            self._log(operation, request, response)
            return response

    def _answer(  # noqa: PLR0911 - one return per gate, in the order a request meets them
        self, request: FakeRequest, found: tuple[_Route, re.Match[str]] | None
    ) -> FakeResponse:
        if self._outage:
            return self.unavailable(request)
        refused = self.authenticate(request)
        if refused is not None:
            return refused
        if found is None:
            return self.not_routed(request)
        spec, match = found
        fault = self._take(spec.operation, "before")
        if fault is not None and fault.response is not None:
            return fault.response
        wait = self._throttle()
        if wait is not None:
            return self.throttled(request, wait)
        try:
            response = spec.handler(self, request, match)
        except VendorFault as vendor:
            return vendor.response
        after = self._take(spec.operation, "after")
        if after is not None:
            if after.response is None:
                raise _Dropped
            return after.response
        return response

    def _match(self, request: FakeRequest) -> tuple[_Route, re.Match[str]] | None:
        for spec in self._routes:
            if spec.method == request.method:
                match = spec.pattern.fullmatch(request.path)
                if match:
                    return spec, match
        return None

    def _throttle(self) -> float | None:
        if not self._rate:
            return None
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self._rate

    def _queue(self, operation: str, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        if operation not in {r.operation for r in self._routes}:
            raise ValueError(f"{self.platform} fake has no operation {operation!r}")
        with self.lock:
            self._faults.setdefault(operation, deque()).append(fault)

    def _take(self, operation: str, when: str) -> _Fault | None:
        queue = self._faults.get(operation)
        if not queue or queue[0].when != when:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def _log(self, operation: str, request: FakeRequest, response: FakeResponse | None) -> None:
        status = response.status if response is not None else None
        self._calls.append(CallRecord(len(self._calls) + 1, operation, request.method, request.path, status))
        self.exchanges.append(Exchange(operation, request, response))

    def operations(self) -> Iterator[str]:
        return iter(sorted({r.operation for r in self._routes}))


def _handler_for(fake: FakeApi) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go as they are written: no 40 ms stalls

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are in fake.calls(); nothing on stderr

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = FakeRequest(
                method=self.command,
                path=parts.path,
                query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                url=f"{fake.base_url}{self.path}",
            )
            try:
                response = fake.handle(request)
            except _Dropped:
                self.close_connection = True
                return
            payload = response.encoded()
            self.send_response(response.status)
            headers = {"Content-Type": fake.content_type, **response.headers} if payload else response.headers
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return _Handler

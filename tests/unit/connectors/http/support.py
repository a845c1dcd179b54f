"""A scripted platform behind ``httpx.MockTransport``: answers in order, records every request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from pshub.connections import Connection
from pshub.connectors.http import ApiClient, ConnectorContext, api_client
from pshub.connectors.http.auth import Auth, HeaderAuth
from pshub.connectors.http.client import Budget, Describe, describe_generic
from pshub.connectors.http.state import MemoryState, SharedState

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Script:
    answers: list[Answer] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    default: Answer | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else self.default
        if answer is None:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


@dataclass
class Clock:
    now: float = 1_800_000_000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def connection(**options: str) -> Connection:
    return Connection(
        id="acme-api",
        platform="netsuite",
        role="erp",
        options={"base_url": "https://api.vendor.example/v1", **options},
        implementation="http",
    )


def client(
    script: Script,
    clock: Clock | None = None,
    *,
    auth: Auth | None = None,
    state: SharedState | None = None,
    describe: Describe = describe_generic,
    budget: Budget | None = None,
    **options: str,
) -> ApiClient:
    clock = clock or Clock()
    context = ConnectorContext(
        credentials={},
        state=state or MemoryState(),
        transport=httpx.MockTransport(script),
        clock=clock,
        sleep=clock.sleep,
    )
    return api_client(
        connection(**options), context, auth or HeaderAuth("sk_test_secret"), describe=describe, budget=budget
    )


def json_response(status: int, document: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=document, headers=headers)

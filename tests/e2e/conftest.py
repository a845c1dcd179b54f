"""End-to-end: real HTTP on 127.0.0.1 to the local HTTP API, pshub's real handlers behind it."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from pshub_local.runtime import LocalRuntime
from pshub_local.server import WebhookServer
from tests.e2e.stack import LocalStack


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """The local runtime and its HTTP server, each platform's fake started fresh with it."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    # The workflow's Retry waits in real time in moto; the tests need not.
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda _seconds: None))
    with LocalRuntime() as runtime, WebhookServer(runtime) as server:
        yield LocalStack(runtime, server)

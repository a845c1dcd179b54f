"""End-to-end: real HTTP on 127.0.0.1 to the local HTTP API, pshub's real handlers behind it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pshub_local.runtime import LocalRuntime
from pshub_local.server import WebhookServer
from tests.e2e.stack import LocalStack


@pytest.fixture
def local() -> Iterator[LocalStack]:
    with LocalRuntime() as runtime, WebhookServer(runtime) as server:
        yield LocalStack(runtime, server)

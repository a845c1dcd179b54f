"""The Kantata connector's tests talk HTTP to the fake on 127.0.0.1, and nowhere else."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pshub_local.platforms.kantata.fake import KantataFake
from tests.unit.platforms.kantata.support import Harness, Sleeps, kantata_connection

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Replaces the unit suite's guard: loopback (the fake) only; any other address fails the test."""
    connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in _LOOPBACK:
            raise RuntimeError(f"unit tests may only reach the loopback fakes, not {host!r}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    yield


@pytest.fixture
def harness() -> Iterator[Harness]:
    connection = kantata_connection()
    fake = KantataFake(connection)
    fake.start()
    try:
        yield Harness(fake, connection, Sleeps())
    finally:
        # FakeApi.stop() waits out serve_forever's 0.5 s poll: let it finish in the background.
        threading.Thread(target=fake.stop, daemon=True).start()

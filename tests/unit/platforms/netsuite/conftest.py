"""These tests talk HTTP to the NetSuite fake on 127.0.0.1; every other address stays refused."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        try:
            allowed = ipaddress.ip_address(str(host)).is_loopback
        except ValueError:
            allowed = False
        if not allowed:
            raise RuntimeError(f"unit tests may only connect to the loopback, not {host!r}")
        connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    yield

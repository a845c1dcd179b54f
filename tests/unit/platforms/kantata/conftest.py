"""The Kantata connector's tests talk HTTP to the fake on 127.0.0.1, and nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pshub_local.platforms.kantata.fake import KantataFake
from tests.unit.platforms.kantata.support import Harness, Sleeps, kantata_connection


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

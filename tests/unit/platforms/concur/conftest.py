"""The Concur connector's tests talk HTTP to the fake on 127.0.0.1, and nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pshub_local.platforms.concur.fake import ConcurFake
from tests.unit.platforms.concur.support import Harness, Sleeps, concur_connection


@pytest.fixture
def harness() -> Iterator[Harness]:
    connection = concur_connection()
    fake = ConcurFake(connection)
    fake.start()
    try:
        yield Harness(fake, connection, Sleeps())
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()

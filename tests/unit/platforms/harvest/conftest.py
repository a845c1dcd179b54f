"""The Harvest feed's tests talk HTTP to the fake on 127.0.0.1, and nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pshub_local.platforms.harvest.fake import HarvestFake
from tests.unit.platforms.harvest.support import NOW, Harness, Sleeps, harvest_connection


@pytest.fixture
def harness() -> Iterator[Harness]:
    connection = harvest_connection()
    fake = HarvestFake(connection)
    fake.freeze(NOW)
    fake.start()
    try:
        yield Harness(fake, connection, Sleeps())
    finally:
        # stop() waits out serve_forever's poll: let it finish in the background.
        threading.Thread(target=fake.stop, daemon=True).start()

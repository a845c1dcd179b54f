"""The Zuora connector's tests talk HTTP to the fake on 127.0.0.1, and nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pshub_local.platforms.zuora.fake import ZuoraFake
from tests.unit.platforms.zuora.support import Clock, Harness, zuora_connection


@pytest.fixture
def harness() -> Iterator[Harness]:
    clock = Clock()
    # The fake's own throttle counts real time; these tests send faster than a tenant allows.
    fake = ZuoraFake(zuora_connection(rate_limit_per_s="100000", rate_limit_burst="100000"), clock=clock)
    fake.start()
    try:
        yield Harness(fake, clock)
    finally:
        # FakeApi.stop() waits out serve_forever's poll: let it finish in the background.
        threading.Thread(target=fake.stop, daemon=True).start()

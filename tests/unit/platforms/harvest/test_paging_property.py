"""Paging, as a property: whatever the entries and the page size, a query reads each entry
modified at or after ``since`` exactly once, and none before it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pshub_local.platforms.harvest.fake import HarvestFake
from tests.unit.platforms.harvest.support import NOW, Harness, Sleeps, harvest_connection

# An entry: the day its work was done (a small range, so that days repeat) and when it was
# last changed, in seconds after NOW (so that stamps repeat too).
ENTRIES = st.lists(st.tuples(st.integers(1, 5), st.integers(0, 40)), max_size=25)


@pytest.fixture(scope="module")
def shared() -> Iterator[Harness]:
    connection = harvest_connection()
    fake = HarvestFake(connection)
    fake.start()
    try:
        yield Harness(fake, connection, Sleeps())
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=ENTRIES, per_page=st.integers(1, 7), since_s=st.integers(0, 41))
def test_every_entry_changed_since_is_read_exactly_once_across_pages(
    shared: Harness, entries: list[tuple[int, int]], per_page: int, since_s: int
) -> None:
    fake = shared.fake
    fake.clear()
    expected: set[str] = set()
    for day, changed_s in entries:
        fake.freeze(NOW + timedelta(seconds=changed_s))
        made = fake.add_time_entry(spent_date=f"2026-11-{day:02d}")
        if changed_s >= since_s:
            expected.add(str(made["id"]))
    fake.freeze(NOW + timedelta(seconds=60))

    feed = shared.connector(per_page=str(per_page))
    since = NOW + timedelta(seconds=since_s)
    seen: Counter[str] = Counter()
    token = None
    for _ in range(len(entries) + 2):
        page = feed.changed_since("time_entries", since, token)
        assert len(page.records) <= per_page
        seen.update(r.native_id for r in page.records)
        assert all(r.modified_at >= since for r in page.records)
        token = page.next_token
        if token is None:
            break
    assert token is None, "the pages never ended"
    assert set(seen) == expected
    assert all(count == 1 for count in seen.values())

"""The poller over Harvest (its fake, HTTP on 127.0.0.1) and the watermark table (moto).

What must hold: every change reaches the raw queue, a crash between a page and its watermark
re-reads that page (the same platform events, so the normaliser's claims absorb them) and
never skips one; a change written during a poll, stamped before the watermark, is read by the
next poll (the overlap); a deleted entry is detected and sent as a delete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from pshub.connectors.errors import TransientConnectorError
from pshub.pipeline.poller import Poller, PollStates
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms.harvest.inbound import HarvestAdapter
from pshub.platforms.harvest.outbound import HarvestFeed
from pshub_local.platforms.harvest.fake import HarvestFake
from tests.integration.aws import REGION, aws_stores
from tests.unit.platforms.harvest.support import Harness, Sleeps, harvest_connection

pytestmark = pytest.mark.xdist_group("moto")

START = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
ADAPTER = HarvestAdapter()


@dataclass
class Rig:
    fake: HarvestFake
    feed: HarvestFeed
    states: PollStates
    now: list[float]
    delivered: list[tuple[RawDelivery, bytes]] = field(default_factory=list)

    def poller(self, **kwargs: Any) -> Poller:
        return Poller(states=self.states, enqueue=self._enqueue, clock=lambda: self.now[0], **kwargs)

    def _enqueue(self, delivery: RawDelivery, body: bytes) -> str:
        self.delivered.append((delivery, body))
        return str(len(self.delivered))

    def poll(self, poller: Poller | None = None) -> Any:
        return (poller or self.poller()).poll(harvest_connection(), self.feed, "time_entries", lambda: 60_000)

    def events(self) -> list[str]:
        """The platform event ids of everything delivered, in order (what the normaliser claims)."""
        return [e.event_id for _, body in self.delivered for e in ADAPTER.split(body, "harvest-acme")]

    def at(self, moment: datetime) -> None:
        self.now[0] = moment.timestamp()
        self.fake.freeze(moment)


@pytest.fixture
def rig() -> Iterator[Rig]:
    with aws_stores() as stores:
        fake = HarvestFake(harvest_connection())
        with fake:
            harness = Harness(fake, harvest_connection(), Sleeps())
            feed = harness.connector(per_page="2")
            states = PollStates(
                boto3.client("dynamodb", region_name=REGION), stores.resources.get("table", "poll_state").name
            )
            rig = Rig(fake, feed, states, [START.timestamp()])
            rig.at(START)
            yield rig


def entry(rig: Rig, day: str, hours: str, **changes: Any) -> int:
    return int(
        rig.fake.add_time_entry(spent_date=day, hours=hours, approval_status="approved", **changes)["id"]
    )


def test_every_change_is_fed_once_and_the_watermark_moves_after_the_last_page(rig: Rig) -> None:
    ids = [entry(rig, f"2026-12-0{d}", "2.5") for d in range(1, 6)]  # 5 entries, pages of 2
    outcome = rig.poll()
    assert (outcome.pages, outcome.records, outcome.completed) == (3, 5, True)
    assert sorted(rig.events()) == sorted(f"{i}@2026-12-07T18:00:00Z" for i in ids)
    # The watermark is the newest change seen, less the 10-minute overlap.
    assert outcome.watermark == START - timedelta(minutes=10)
    # Nothing changed: the next poll re-reads the overlap only, the same events (absorbed).
    rig.at(START + timedelta(minutes=5))
    rig.delivered.clear()
    rig.poll()
    assert sorted(rig.events()) == sorted(f"{i}@2026-12-07T18:00:00Z" for i in ids)


def test_a_crash_between_a_page_and_its_watermark_rereads_never_skips(rig: Rig) -> None:
    ids = [entry(rig, f"2026-12-0{d}", "1") for d in range(1, 6)]
    poller = rig.poller()
    real_save = rig.states.save
    saves = []

    def crash_after_first_page(state: Any) -> None:
        saves.append(state.next_token)
        if len(saves) == 2:  # the second page is on the queue; the process dies before recording it
            raise SystemExit("killed")
        real_save(state)

    rig.states.save = crash_after_first_page  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        rig.poll(poller)
    rig.states.save = real_save  # type: ignore[method-assign]
    fed_before_crash = rig.events()
    assert len(fed_before_crash) == 4  # pages 1 and 2 reached the queue
    rig.poll(poller)  # the restart resumes after page 1: page 2 again, then page 3
    fed = rig.events()
    assert set(fed) == {f"{i}@2026-12-07T18:00:00Z" for i in ids}  # never skipped
    repeats = len(fed) - len(set(fed))
    assert repeats == 2  # page 2's two events, fed twice with the same ids: the claims absorb them


def test_a_change_stamped_before_the_watermark_is_read_by_the_overlap(rig: Rig) -> None:
    entry(rig, "2026-12-01", "1")
    rig.poll()
    # A change committed during that poll but stamped 3 minutes before its newest record.
    rig.at(START - timedelta(minutes=3))
    late = entry(rig, "2026-12-02", "4")
    rig.at(START + timedelta(minutes=5))
    rig.delivered.clear()
    rig.poll()
    assert f"{late}@2026-12-07T17:57:00Z" in rig.events()


def test_a_deleted_entry_is_detected_and_fed_as_a_delete(rig: Rig) -> None:
    keep, gone = entry(rig, "2026-12-01", "1"), entry(rig, "2026-12-02", "2")
    rig.poll()
    rig.fake.delete_time_entry(gone)
    rig.at(START + timedelta(hours=2))  # the delete scan runs at most hourly
    rig.delivered.clear()
    outcome = rig.poll()
    assert outcome.deleted == 1
    [deletes] = [json.loads(body)["deleted"] for _, body in rig.delivered if json.loads(body)["deleted"]]
    assert [d["native_id"] for d in deletes] == [str(gone)]
    deleted_events = [
        e for _, b in rig.delivered for e in ADAPTER.split(b, "harvest-acme") if "deleted" in e.event_id
    ]
    assert [e.native_id for e in deleted_events] == [str(gone)]
    # Once reported, not again; the entry kept is never reported.
    rig.at(START + timedelta(hours=4))
    rig.delivered.clear()
    assert rig.poll().deleted == 0
    assert str(keep) not in {d["native_id"] for _, b in rig.delivered for d in json.loads(b)["deleted"]}


def test_two_pollers_racing_on_one_watermark_cannot_both_move_it(rig: Rig) -> None:
    entry(rig, "2026-12-01", "1")
    first, second = rig.poller(), rig.poller()
    state = rig.states.load("harvest-acme#time_entries")
    rig.poll(first)
    from pshub.pipeline.poller import PollStateChanged

    with pytest.raises(PollStateChanged):
        rig.states.save(state)  # a stale copy, as a second, slower invocation would hold
    assert rig.poll(second).completed


def test_coverage_is_the_start_of_the_last_complete_query_and_ages_while_polls_fail(rig: Rig) -> None:
    poller = rig.poller()
    # Never polled: no coverage to report
    assert poller.coverage_age_s("harvest-acme", ["time_entries"]) is None
    entry(rig, "2026-12-01", "1")
    rig.poll(poller)  # complete: every change before 18:00 is read
    rig.at(START + timedelta(minutes=5))
    assert poller.coverage_age_s("harvest-acme", ["time_entries"]) == 300
    # Harvest starts refusing the feed: polls fail, and the coverage keeps its 18:00 mark
    rig.fake.inject("list_time_entries", 500, {"error": "internal"}, times=100)
    for minutes in (10, 15, 60):
        rig.at(START + timedelta(minutes=minutes))
        with pytest.raises(TransientConnectorError):
            rig.poll(poller)
    assert poller.coverage_age_s("harvest-acme", ["time_entries"]) == 3600
    # It recovers: the query that began at 19:05 completes, and the coverage moves there
    rig.fake.clear_faults()
    rig.at(START + timedelta(minutes=65))
    rig.poll(poller)
    rig.at(START + timedelta(minutes=66))
    assert poller.coverage_age_s("harvest-acme", ["time_entries"]) == 60

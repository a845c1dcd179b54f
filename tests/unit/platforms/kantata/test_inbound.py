"""Kantata's polled milestone pages, as the poller puts them on the raw queue, to canonical events.

Expectations come from Kantata's story model (a milestone story's ``state`` becomes
``completed``) and pshub's rule that only the contract's milestones (the ones pshub put on the
plan, carrying its reference) bill; the sample is ``events/kantata/milestones.poll_page.json``.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import adapter_for
from pshub.platforms.kantata.inbound import KantataAdapter
from tests.helpers import connections, inbound, sample

adapter = KantataAdapter()
SAMPLE = "kantata/milestones.poll_page.json"


def delivery(body: bytes, **options: str) -> RawDelivery:
    return RawDelivery(
        delivery_id="d-1", correlation_id="corr-k", connection="kantata-acme", platform="kantata",
        received_at="2026-12-18T23:15:00.000+00:00", method="POLL", url="poll://kantata-acme/milestones",
        headers={}, source_ip="127.0.0.1", body_text=body.decode(), options=options,
    )  # fmt: skip


def mapped(body: bytes, **options: str) -> list[dict[str, object]]:
    return [
        c.model_dump(mode="json")
        for e in adapter.split(body, "kantata-acme")
        for c in adapter.to_canonical(e, delivery(body, **options))
    ]


def test_the_platform_names_this_adapter() -> None:
    assert isinstance(adapter_for("kantata"), KantataAdapter)


def test_only_the_contracts_completed_milestone_is_an_event() -> None:
    [completed] = mapped(sample(SAMPLE))
    assert completed["event_type"] == "MilestoneCompleted"
    assert completed["payload"] == {
        "project_code": "PRJ-HARBLOGI-0001",
        "milestone_id": "ms-harb-migration-wave-5",
        "name": "Migration wave 5 accepted",
        "completed_on": "2026-12-18",
    }


def test_the_completion_day_is_the_connections_day() -> None:
    # 22:41 UTC on the 18th is already the 19th in Sydney (UTC+11 in December).
    [completed] = mapped(sample(SAMPLE), timezone="Australia/Sydney")
    assert completed["payload"]["completed_on"] == date(2026, 12, 19).isoformat()  # type: ignore[index]
    with pytest.raises(Unmappable, match="not an IANA zone"):
        mapped(sample(SAMPLE), timezone="Mars/Olympus")


def test_a_story_read_again_is_the_same_event() -> None:
    page = json.loads(sample(SAMPLE))
    later = json.loads(sample(SAMPLE))
    later["records"][0]["modified_at"] = later["records"][0]["data"]["updated_at"] = "2026-12-20T08:00:00Z"
    first = adapter.split(json.dumps(page).encode(), "kantata-acme")[0]
    again = adapter.split(json.dumps(later).encode(), "kantata-acme")[0]
    assert first.event_id == again.event_id == "91000001@completed"


def test_webhooks_are_refused_and_bad_pages_are_named() -> None:
    connection = connections()["kantata-acme"]
    with pytest.raises(SignatureInvalid, match="sends no webhooks: its milestone stories are polled"):
        adapter.verify(inbound(body=b"{}"), connection, "", 0.0)
    with pytest.raises(UnparseableBody, match="not a pshub poll page"):
        adapter.split(b'{"stories": {}}', "kantata-acme")
    with pytest.raises(Unmappable, match="maps milestones only"):
        adapter.split(b'{"pshub_poll": 1, "object_type": "workspaces", "records": []}', "kantata-acme")
    [broken] = adapter.split(
        b'{"pshub_poll": 1, "object_type": "milestones", "records": [{"data": {"id": "1"}}]}', "kantata-acme"
    )
    with pytest.raises(Unmappable, match="modified_at"):
        adapter.to_canonical(broken, delivery(b"{}"))

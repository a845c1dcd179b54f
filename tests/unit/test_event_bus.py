"""PutEvents within both of EventBridge's limits: 10 entries, 256 KB per call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pshub.canonical.envelope import ClientUpsertedV1, make_event
from pshub.store.event_bus import MAX_REQUEST_BYTES, EventBusPublisher, entry_size


def client_event(n: int, name_bytes: int) -> Any:
    return make_event(
        "ClientUpserted",
        ClientUpsertedV1(client_id=f"c{n}", change="updated", name="é" * (name_bytes // 2)),  # 2 UTF-8 bytes each
        connection="hubspot-acme", source_platform="hubspot", source_native_id=f"c{n}", source_event_id=f"e{n}",
        occurred_at=datetime(2026, 11, 20, tzinfo=UTC), correlation_id="corr", legal_entity=None,
    )  # fmt: skip


class RecordingEvents:
    def __init__(self) -> None:
        self.calls: list[list[dict[str, str]]] = []

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls.append(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(len(Entries))]}


def test_entry_size_is_eventbridges_utf8_byte_count() -> None:
    event = client_event(1, 1000)
    entry = event.to_entry("bus")
    expected = (
        len(entry["Source"].encode()) + len(entry["DetailType"].encode()) + len(entry["Detail"].encode())
    )
    assert entry_size(event) == expected
    assert entry_size(event) > len(entry["Detail"])  # bytes, not characters


def test_batches_are_cut_by_size_before_ten_entries() -> None:
    # Given 10 events of ~60 KB each (600 KB in all: more than two calls' worth)
    events = [client_event(n, 60_000) for n in range(10)]
    bus = RecordingEvents()

    # When they are published
    failed = EventBusPublisher(bus, "bus").publish(events)  # type: ignore[arg-type]

    # Then every call stayed within 256 KB, and every event went once, in order
    assert failed == {}
    assert all(sum(len(e["Source"]) + len(e["DetailType"]) + len(e["Detail"].encode()) for e in call)
               <= MAX_REQUEST_BYTES for call in bus.calls)  # fmt: skip
    assert len(bus.calls) == 3
    sent = [entry["Detail"] for call in bus.calls for entry in call]
    assert sent == [event.to_entry("bus")["Detail"] for event in events]


def test_small_events_still_go_ten_at_a_time() -> None:
    bus = RecordingEvents()
    EventBusPublisher(bus, "bus").publish([client_event(n, 10) for n in range(25)])  # type: ignore[arg-type]
    assert [len(call) for call in bus.calls] == [10, 10, 5]


class RefusingSecondCall(RecordingEvents):
    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
        if self.calls:
            self.calls.append(Entries)
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}] + [{"EventId": "x"}] * (len(Entries) - 1)}  # fmt: skip
        return super().put_events(Entries)


def test_groups_are_reported_sent_call_by_call_and_a_refusal_stops_the_rest() -> None:
    # Given three platform events' groups: 6 events, nothing (every change stale), 6 events
    groups = [[client_event(n, 10) for n in range(6)], [], [client_event(n, 10) for n in range(6, 12)]]
    bus = RefusingSecondCall()
    sent: list[int] = []

    # When the second PutEvents call is throttled
    failed = EventBusPublisher(bus, "bus").publish_groups(groups, sent.append)  # type: ignore[arg-type]

    # Then the empty group is settled at once and the first group when its call returned; the
    # third group (kept whole in the second call) is not settled, with the refused event named
    # (the group is retried whole: its accepted events again, under the same ids)
    assert sent == [1, 0]
    assert [len(call) for call in bus.calls] == [6, 6]
    assert list(failed) == [groups[2][0].event_id]
    assert failed[groups[2][0].event_id].startswith("ThrottlingException")

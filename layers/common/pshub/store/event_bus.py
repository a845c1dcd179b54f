"""Publishing canonical events to EventBridge within both PutEvents limits.

A call takes at most 10 entries, and their total size (EventBridge's own measure:
Source, DetailType and Detail in UTF-8 bytes, 14 for a Time) must stay within
256 KB. Batches are cut by whichever limit comes first; an event too large on its
own is refused before publishing (``entry_size``), so a call never fails for size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pshub.canonical.envelope import CanonicalEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

MAX_ENTRIES_PER_CALL = 10
MAX_REQUEST_BYTES = 256 * 1024


def _size(entry: dict[str, Any]) -> int:
    """EventBridge's size of a PutEvents entry (docs: "Calculating PutEvents event entry size")."""
    size = 14 if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(entry.get(key, "").encode())
    return size + sum(len(resource.encode()) for resource in entry.get("Resources", ()))


def entry_size(event: CanonicalEvent) -> int:
    return _size(event.to_entry(""))


def _batches(entries: list[dict[str, Any]]) -> Iterator[list[int]]:
    """Indexes of ``entries`` per call: at most 10 and at most MAX_REQUEST_BYTES each."""
    batch: list[int] = []
    total = 0
    for index, entry in enumerate(entries):
        size = _size(entry)
        if batch and (len(batch) == MAX_ENTRIES_PER_CALL or total + size > MAX_REQUEST_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(index)
        total += size
    if batch:
        yield batch


class EventBusPublisher:
    def __init__(self, events: EventBridgeClient, bus_name: str) -> None:
        self._events = events
        self._bus_name = bus_name
        self.calls = 0

    def publish(self, events: Sequence[CanonicalEvent]) -> dict[str, str]:
        """Publish; returns {event_id: error} for the entries EventBridge refused (empty when all went)."""
        failed: dict[str, str] = {}
        entries = [event.to_entry(self._bus_name) for event in events]
        for batch in _batches(entries):
            response = self._events.put_events(Entries=[entries[i] for i in batch])  # type: ignore[misc]
            self.calls += 1
            if response.get("FailedEntryCount"):
                for index, entry in zip(batch, response["Entries"], strict=True):
                    if "ErrorCode" in entry:
                        failed[events[index].event_id] = (
                            f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
                        )
        return failed

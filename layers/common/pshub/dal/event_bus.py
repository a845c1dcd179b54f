"""Publishing canonical events to EventBridge, 10 entries per call (the API limit)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pshub.canonical.envelope import CanonicalEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

MAX_ENTRIES_PER_CALL = 10


class EventBusPublisher:
    def __init__(self, events: EventBridgeClient, bus_name: str) -> None:
        self._events = events
        self._bus_name = bus_name
        self.calls = 0

    def publish(self, events: Sequence[CanonicalEvent]) -> dict[str, str]:
        """Publish; returns {event_id: error} for the entries EventBridge refused (empty when all went)."""
        failed: dict[str, str] = {}
        for start in range(0, len(events), MAX_ENTRIES_PER_CALL):
            chunk = events[start : start + MAX_ENTRIES_PER_CALL]
            response = self._events.put_events(Entries=[event.to_entry(self._bus_name) for event in chunk])  # type: ignore[misc]
            self.calls += 1
            if response.get("FailedEntryCount"):
                for event, entry in zip(chunk, response["Entries"], strict=True):
                    if "ErrorCode" in entry:
                        failed[event.event_id] = f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
        return failed

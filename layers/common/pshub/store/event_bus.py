"""Publishing canonical events to EventBridge within both PutEvents limits.

A call takes at most 10 entries, and their total size (EventBridge's own measure:
Source, DetailType and Detail in UTF-8 bytes, 14 for a Time) must stay within
256 KB. Batches are cut by whichever limit comes first; an event too large on its
own is refused before publishing (``entry_size``), so a call never fails for size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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


def _batches(entries: list[dict[str, Any]], group_of: Sequence[int]) -> Iterator[list[int]]:
    """Indexes of ``entries`` per call: at most 10 and at most MAX_REQUEST_BYTES each.

    A call is cut before a group (``group_of[i]`` is entry i's group) that no longer fits
    whole, so a group goes in one call whenever it fits in one; only a group larger than a
    call spans consecutive calls.
    """
    batch: list[int] = []
    total = 0
    index = 0
    while index < len(entries):
        group = group_of[index]
        end = index
        while end < len(entries) and group_of[end] == group:
            end += 1
        sizes = [_size(entries[i]) for i in range(index, end)]
        fits_alone = end - index <= MAX_ENTRIES_PER_CALL and sum(sizes) <= MAX_REQUEST_BYTES
        fits_here = (
            len(batch) + end - index <= MAX_ENTRIES_PER_CALL and total + sum(sizes) <= MAX_REQUEST_BYTES
        )
        if batch and fits_alone and not fits_here:
            yield batch
            batch, total = [], 0
        for offset, size in enumerate(sizes):
            if batch and (len(batch) == MAX_ENTRIES_PER_CALL or total + size > MAX_REQUEST_BYTES):
                yield batch
                batch, total = [], 0
            batch.append(index + offset)
            total += size
        index = end
    if batch:
        yield batch


class EventBusPublisher:
    def __init__(self, events: EventBridgeClient, bus_name: str) -> None:
        self._events = events
        self._bus_name = bus_name
        self.calls = 0

    def publish(self, events: Sequence[CanonicalEvent]) -> dict[str, str]:
        """Publish; returns {event_id: error} for the entries EventBridge refused (empty when all went)."""
        return self.publish_groups([[event] for event in events], lambda _group: None)

    def publish_groups(
        self, groups: Sequence[Sequence[CanonicalEvent]], on_sent: Callable[[int], None]
    ) -> dict[str, str]:
        """Publish groups of events in order; ``on_sent(i)`` as soon as group i is all on the bus.

        The caller marks each group done the moment its call returns, so that when a later
        call is throttled or fails, a retry re-sends only what was not sent. After a call
        with a refused entry (or an exception), nothing further is sent: the unsent groups'
        events are in the returned {event_id: error}, as are the refused ones. An exception
        from a call propagates, after the groups already sent were reported.
        """
        for number, group in enumerate(groups):
            if not group:  # nothing to send (every change was stale, an echo or a conflict)
                on_sent(number)
        events = [event for group in groups for event in group]
        group_of = [number for number, group in enumerate(groups) for _event in group]
        remaining = [len(group) for group in groups]
        entries = [event.to_entry(self._bus_name) for event in events]
        failed: dict[str, str] = {}
        batches = list(_batches(entries, group_of))
        for position, batch in enumerate(batches):
            response = self._events.put_events(Entries=[entries[i] for i in batch])  # type: ignore[misc]
            self.calls += 1
            refused_groups: set[int] = set()
            if response.get("FailedEntryCount"):
                for index, entry in zip(batch, response["Entries"], strict=True):
                    if "ErrorCode" in entry:
                        failed[events[index].event_id] = (
                            f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
                        )
                        refused_groups.add(group_of[index])
            for index in batch:
                remaining[group_of[index]] -= 1
                if remaining[group_of[index]] == 0 and group_of[index] not in refused_groups:
                    on_sent(group_of[index])
            if failed:
                for later in batches[position + 1 :]:
                    for index in later:
                        failed[events[index].event_id] = "not sent: an earlier PutEvents call was refused"
                break
        return failed

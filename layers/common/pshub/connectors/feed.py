"""A platform's change feed, for the platforms that cannot push: what a poller reads.

A poller (``pshub.pipeline.poller``) keeps one watermark per connection and object type and
asks the connector for the records changed since it, page by page. The connector returns
the platform's records as it holds them (JSON objects, unmapped: the platform's inbound
adapter maps them in the normaliser, exactly as it maps a pushed delivery) plus, per
record, the platform's own modification time, which is what the watermark advances to.

Platforms without a delete feed (Harvest) are asked, for a window of recent work, which ids
still exist (``present_ids``): a record pshub saw before and the platform no longer lists
is a delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class FeedRecord:
    native_id: str
    modified_at: datetime  # aware: the platform's own last-modified time of the record
    data: dict[str, Any]  # the record as the platform's API returned it
    day: date | None = None  # the day the record is about (worked, incurred): delete detection


@dataclass(frozen=True)
class FeedPage:
    records: list[FeedRecord] = field(default_factory=list)
    next_token: str | None = None  # None: this was the last page of the query


@runtime_checkable
class ChangeFeed(Protocol):
    @property
    def connection_id(self) -> str: ...

    @property
    def platform(self) -> str: ...

    def feed_objects(self) -> tuple[str, ...]:
        """The object types this feed serves (``time_entries``...), in polling order."""
        ...

    def changed_since(self, object_type: str, since: datetime, page_token: str | None = None) -> FeedPage:
        """Records of ``object_type`` modified at or after ``since`` (inclusive: the poller
        overlaps), oldest first where the platform allows, one page per call."""
        ...

    def present_ids(self, object_type: str, start: date, end: date) -> set[str]:
        """The ids of every record of ``object_type`` dated ``start``..``end`` (inclusive) that
        exists now, for delete detection; every page read."""
        ...

"""Polling the platforms that cannot push: change feed -> raw queue, never skipping, never doubling.

For each connection whose platform's manifest says ``inbound = "poll"``, and each object type
its connector's change feed serves (``pshub.connectors.feed.ChangeFeed``), one watermark
record in the ``poll_state`` table (``pk`` = ``<connection>#<object type>``):

- ``watermark``: where the next query starts. It is the newest modification time the last
  completed query saw, minus the overlap window (default 10 minutes), so a change written
  while a poll ran, or committed with an earlier stamp than one already read, is read again
  by the next one. What is read twice is the same platform event (same id and version): the
  normaliser's idempotency absorbs it.
- a query in progress: its ``since``, the ``next_token`` of the page to read next and the
  ``high`` mark so far. Each page goes on the raw queue as one raw delivery (the body the
  platform's inbound adapter maps, ``docs/time-and-expense.md``) *before* the record moves
  past it, with a conditional write: a crash between the two reads the page again (a
  repeat, absorbed), never skips it. The watermark moves only once the query's last page is
  on the queue: feeds that sort by something other than the modification time (Harvest
  sorts by the day worked) cannot move it page by page.

Deletes, for feeds without a delete feed: every record read is remembered with its day
(``SEEN#`` items); after a completed query, at most every ``delete_scan_every``, the feed is
asked which ids of the last ``delete_window_days`` still exist, and each remembered one it no
longer lists goes on the queue as a delete (a tombstone at its detection time; a record that
comes back later is newer and re-creates it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pshub.connections import Connection
from pshub.connectors.feed import ChangeFeed, FeedRecord
from pshub.observability import logger
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms.base import POLL_FORMAT

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

POLL_BODY_VERSION = POLL_FORMAT  # what the polled platforms' adapters read
DEFAULT_OVERLAP = timedelta(minutes=10)
DEFAULT_FIRST_LOOKBACK = timedelta(days=35)
DEFAULT_DELETE_WINDOW_DAYS = 35
DEFAULT_DELETE_SCAN_EVERY = timedelta(hours=1)
MAX_RECORDS_PER_DELIVERY = 500  # a page larger than this goes as several deliveries


class PollStateChanged(Exception):
    """Another poll of the same connection and object moved the state: this one stops."""


@dataclass
class PollState:
    key: str
    watermark: datetime | None = None
    query_since: datetime | None = None
    next_token: str | None = None
    high: datetime | None = None
    last_delete_scan: datetime | None = None
    # When the query in progress began, and when the last complete one did: every change made
    # before ``covered_at`` has been read (the ``PollCoverageAgeSeconds`` gauge).
    query_started: datetime | None = None
    covered_at: datetime | None = None
    rev: int = 0

    def to_doc(self) -> dict[str, Any]:
        return {
            name: (value.isoformat() if isinstance(value, datetime) else value)
            for name, value in (
                ("watermark", self.watermark),
                ("query_since", self.query_since),
                ("next_token", self.next_token),
                ("high", self.high),
                ("last_delete_scan", self.last_delete_scan),
                ("query_started", self.query_started),
                ("covered_at", self.covered_at),
            )
        }


@dataclass
class PollOutcome:
    connection: str
    object_type: str
    pages: int = 0
    records: int = 0
    deliveries: int = 0
    deleted: int = 0
    completed: bool = False  # the query reached its last page
    watermark: datetime | None = None
    problems: list[str] = field(default_factory=list)


class PollStates:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def load(self, key: str) -> PollState:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": key}, "sk": {"S": "STATE"}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return PollState(key)
        doc = json.loads(item["doc"]["S"])

        def moment(name: str) -> datetime | None:
            return datetime.fromisoformat(doc[name]) if doc.get(name) else None

        return PollState(
            key=key,
            watermark=moment("watermark"),
            query_since=moment("query_since"),
            next_token=doc.get("next_token"),
            high=moment("high"),
            last_delete_scan=moment("last_delete_scan"),
            query_started=moment("query_started"),
            covered_at=moment("covered_at"),
            rev=int(item["rev"]["N"]),
        )

    def save(self, state: PollState) -> None:
        condition = "attribute_not_exists(pk)" if state.rev == 0 else "rev = :rev"
        extra: dict[str, Any] = (
            {"ExpressionAttributeValues": {":rev": {"N": str(state.rev)}}} if state.rev else {}
        )
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": state.key},
                    "sk": {"S": "STATE"},
                    "doc": {"S": json.dumps(state.to_doc(), separators=(",", ":"))},
                    "rev": {"N": str(state.rev + 1)},
                },
                ConditionExpression=condition,
                **extra,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise PollStateChanged(f"{state.key}: another poll moved it meanwhile") from None
            raise
        state.rev += 1

    # -- what was seen, for delete detection -----------------------------------------------
    def remember(self, key: str, records: Iterable[FeedRecord]) -> None:
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"SEEN#{key}"},
                        "sk": {"S": record.native_id},
                        **({"day": {"S": record.day.isoformat()}} if record.day else {}),
                    }
                }
            }
            for record in records
        ]
        for start in range(0, len(items), 25):
            request: dict[str, Any] = {self._table: items[start : start + 25]}
            while request:
                response = self._db.batch_write_item(RequestItems=request)
                request = dict(response.get("UnprocessedItems") or {})

    def seen(self, key: str, start: date, end: date) -> set[str]:
        """Ids remembered with a day in ``start``..``end``."""
        found: set[str] = set()
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SEEN#{key}"}},
        ):
            for item in page["Items"]:
                day = item.get("day", {}).get("S")
                if day and start.isoformat() <= day <= end.isoformat():
                    found.add(item["sk"]["S"])
        return found

    def forget(self, key: str, native_ids: Iterable[str]) -> None:
        for native_id in native_ids:
            self._db.delete_item(
                TableName=self._table, Key={"pk": {"S": f"SEEN#{key}"}, "sk": {"S": native_id}}
            )


Enqueue = Callable[[RawDelivery, bytes], str]


class Poller:
    def __init__(
        self,
        *,
        states: PollStates,
        enqueue: Enqueue,
        clock: Callable[[], float] | None = None,
        overlap: timedelta = DEFAULT_OVERLAP,
        first_lookback: timedelta = DEFAULT_FIRST_LOOKBACK,
        delete_window_days: int = DEFAULT_DELETE_WINDOW_DAYS,
        delete_scan_every: timedelta = DEFAULT_DELETE_SCAN_EVERY,
    ) -> None:
        self._states = states
        self._enqueue = enqueue
        self._clock = clock or _wall_clock
        self._overlap = overlap
        self._first_lookback = first_lookback
        self._delete_window_days = delete_window_days
        self._delete_scan_every = delete_scan_every

    def poll(
        self, connection: Connection, feed: ChangeFeed, object_type: str, remaining_ms: Callable[[], int]
    ) -> PollOutcome:
        """Read pages until the query is done or the time is nearly up; deletes after a full query."""
        key = f"{connection.id}#{object_type}"
        outcome = PollOutcome(connection.id, object_type)
        state = self._states.load(key)
        now = self._now()
        if state.query_since is None:
            state.query_since = state.watermark or (now - self._first_lookback)
            state.next_token, state.high = None, None
            state.query_started = now
        while remaining_ms() > 5_000:
            page = feed.changed_since(object_type, state.query_since, state.next_token)
            outcome.pages += 1
            if page.records:
                outcome.deliveries += self._put_page(connection, object_type, page.records, [])
                self._states.remember(key, page.records)
                outcome.records += len(page.records)
                newest = max(r.modified_at for r in page.records)
                state.high = newest if state.high is None else max(state.high, newest)
            state.next_token = page.next_token
            if page.next_token is None:
                # The query is complete: the watermark moves, the overlap kept.
                moved_to = (state.high - self._overlap) if state.high is not None else state.query_since
                state.watermark = max(moved_to, state.watermark or moved_to)
                state.covered_at = state.query_started or now
                state.query_since, state.high, state.query_started = None, None, None
                outcome.completed = True
                self._states.save(state)
                break
            self._states.save(state)  # past this page only now that it is on the queue
        outcome.watermark = state.watermark
        if outcome.completed and self._delete_scan_due(state, now) and remaining_ms() > 10_000:
            outcome.deleted = self._detect_deletes(connection, feed, object_type, key, now)
            state.last_delete_scan = now
            self._states.save(state)
        logger.info(
            "polled",
            extra={
                "connection": connection.id,
                "object_type": object_type,
                "pages": outcome.pages,
                "records": outcome.records,
                "deleted": outcome.deleted,
                "completed": outcome.completed,
            },
        )
        return outcome

    def _delete_scan_due(self, state: PollState, now: datetime) -> bool:
        return state.last_delete_scan is None or now - state.last_delete_scan >= self._delete_scan_every

    def _detect_deletes(
        self, connection: Connection, feed: ChangeFeed, object_type: str, key: str, now: datetime
    ) -> int:
        end = now.date()
        start = end - timedelta(days=self._delete_window_days)
        remembered = self._states.seen(key, start, end)
        if not remembered:
            return 0
        present = feed.present_ids(object_type, start, end)
        gone = sorted(remembered - present)
        if gone:
            self._put_page(connection, object_type, [], gone)
            self._states.forget(key, gone)
        return len(gone)

    def _put_page(
        self, connection: Connection, object_type: str, records: list[FeedRecord], deleted: list[str]
    ) -> int:
        detected = self._now().isoformat().replace("+00:00", "Z")
        deliveries = 0
        chunks = [
            records[i : i + MAX_RECORDS_PER_DELIVERY]
            for i in range(0, len(records), MAX_RECORDS_PER_DELIVERY)
        ]
        chunks = chunks or [[]]
        for index, chunk in enumerate(chunks):
            body = {
                "pshub_poll": POLL_BODY_VERSION,
                "object_type": object_type,
                "records": [
                    {
                        "native_id": r.native_id,
                        "modified_at": r.modified_at.isoformat().replace("+00:00", "Z"),
                        "data": r.data,
                    }
                    for r in chunk
                ],
                "deleted": [{"native_id": d, "detected_at": detected} for d in deleted] if index == 0 else [],
            }
            raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
            delivery_id = str(uuid.uuid4())
            self._enqueue(
                RawDelivery(
                    delivery_id=delivery_id,
                    correlation_id=delivery_id,
                    connection=connection.id,
                    platform=connection.platform,
                    received_at=detected,
                    method="POLL",
                    url=f"poll://{connection.id}/{object_type}",
                    headers={"content-type": "application/json"},
                    source_ip="",
                    legal_entity=connection.legal_entity,
                    role=connection.role,
                    options=dict(connection.options),
                ),
                raw,
            )
            deliveries += 1
        return deliveries

    def coverage_age_s(self, connection_id: str, object_types: Iterable[str]) -> float | None:
        """Seconds since the oldest of the object types' last complete queries began (every
        change before that is read); a feed never read to its end counts from its first query's
        start. None when none of them was ever polled."""
        now, ages = self._now(), []
        for object_type in object_types:
            state = self._states.load(f"{connection_id}#{object_type}")
            since = state.covered_at or state.query_started
            if since is not None:
                ages.append(max(0.0, (now - since).total_seconds()))
        return max(ages) if ages else None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _wall_clock() -> float:
    return time.time()  # looked up on each call: a test may move the clock

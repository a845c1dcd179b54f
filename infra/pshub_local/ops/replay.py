"""``pshub replay``: archived raw deliveries through the normaliser again.

The raw archive (S3, newline-delimited, every delivery as it was received) is read for a time
range and filtered by connection; each delivery is mapped again with today's adapter, and
kept if its canonical events match the event type and business key asked for. ``--dry-run``
stops there and compares, per canonical event, what the mapping emits now with what was
emitted before (the payload the trace index kept under the delivery's correlation id): new,
unchanged, changed (field by field, masked) or gone. It writes and sends nothing. Without it,
the selected deliveries go back on the raw queue, where the normaliser's own idempotency and
each entity's version decide what is published: a platform event published within the
idempotency window is not published twice, and a delivery that was parked as unmappable
before the fix is published now.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pshub.pipeline.raw_delivery import RawDelivery
from pshub.store.trace import TraceIndex, trace_keys
from pshub_local.ops.render import MASK, is_sensitive
from pshub_local.ops.target import Target

ARCHIVE_PREFIX = "raw/"


@dataclass(frozen=True)
class ReplaySelection:
    since: datetime
    until: datetime
    connection: str | None = None
    event_type: str | None = None  # canonical, a glob
    key: str | None = None  # a business key any of its events names (project code, deal id ...)


@dataclass
class EventDiff:
    event_id: str
    event_type: str
    status: str  # new | unchanged | changed | gone
    changes: list[dict[str, Any]] = field(default_factory=list)  # {path, before, after}, masked


@dataclass
class DeliveryReplay:
    delivery_id: str
    correlation_id: str
    connection: str
    received_at: str
    problem: str | None = None  # why it cannot be mapped (still), or cannot be mapped in a dry run
    events: list[EventDiff] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.problem is None and any(e.status != "unchanged" for e in self.events)


@dataclass
class ReplayReport:
    dry_run: bool
    scanned: int = 0
    selected: list[DeliveryReplay] = field(default_factory=list)
    sent: int = 0

    def to_doc(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "scanned": self.scanned, "sent": self.sent,
            "deliveries": [asdict(d) for d in self.selected],
            "changed": sum(1 for d in self.selected if d.changed),
        }  # fmt: skip


def archived(target: Target, since: datetime, until: datetime) -> Iterator[RawDelivery]:
    """Every archived delivery received in [since, until), oldest object first."""
    s3 = target.client("s3")
    bucket = target.resource("bucket", "raw_archive")
    # An object is written within minutes of its deliveries: one older than the range's start
    # (less a day of margin) holds none of them.
    floor = since - timedelta(days=1)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=ARCHIVE_PREFIX):
        for item in sorted(page.get("Contents", []), key=lambda o: o["LastModified"]):
            if item["LastModified"] < floor:
                continue
            text = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            for line in text.splitlines():
                try:
                    delivery = RawDelivery.from_message(line)
                except (ValueError, TypeError):
                    continue  # an unreadable message, archived as such: nothing to replay
                received = datetime.fromisoformat(delivery.received_at.replace("Z", "+00:00"))
                if since <= received < until:
                    yield delivery


def map_again(
    target: Target, delivery: RawDelivery
) -> tuple[list[dict[str, Any]] | None, str | None, set[str]]:
    """The canonical events today's mapping makes of ``delivery`` (as JSON), or why it makes none;
    and the platform's event ids in it."""
    from pshub.errors import PshubError
    from pshub.platforms import adapter_for

    try:
        adapter = adapter_for(delivery.platform)
    except PshubError as error:
        return None, error.message, set()
    if getattr(adapter, "reads_records", False):
        return (
            None,
            f"{delivery.platform} deliveries are mapped from a read of the record: not re-read in a dry run",
            set(),
        )
    body = delivery.inline_body() if delivery.has_inline_body else _claim_checked(target, delivery)
    platform_ids: set[str] = set()
    try:
        events = adapter.split(body, delivery.connection)
        platform_ids = {event.event_id for event in events}
        mapped = []
        for event in events:
            if event.problem:
                return None, event.problem, platform_ids
            mapped += [c.model_dump(mode="json") for c in adapter.to_canonical(event, delivery)]
    except Exception as error:  # the mapping's own refusal, as the normaliser would park it
        return (
            None,
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
            platform_ids,
        )
    return mapped, None, platform_ids


def _claim_checked(target: Target, delivery: RawDelivery) -> bytes:
    assert delivery.body_ref is not None
    answer = target.client("s3").get_object(Bucket=delivery.body_ref.bucket, Key=delivery.body_ref.key)
    return bytes(answer["Body"].read())


def replay(
    target: Target,
    selection: ReplaySelection,
    *,
    dry_run: bool,
    advance: Callable[[int], None] = lambda n: None,
) -> ReplayReport:
    report = ReplayReport(dry_run)
    index = TraceIndex(target.client("dynamodb"), target.resource("table", "trace"))
    chosen: list[RawDelivery] = []
    for delivery in archived(target, selection.since, selection.until):
        report.scanned += 1
        advance(1)
        if selection.connection and delivery.connection != selection.connection:
            continue
        mapped, problem, platform_ids = map_again(target, delivery)
        if not _wanted(mapped, selection):
            continue
        entry = DeliveryReplay(
            delivery.delivery_id, delivery.correlation_id, delivery.connection, delivery.received_at, problem
        )
        if mapped is not None:
            # What the normaliser emitted for this delivery (not what workflows published after it)
            earlier = [
                e
                for e in index.entries("correlation", delivery.correlation_id)
                if e.source_event_id in platform_ids
            ]
            before = {e.event_id: e.payload for e in earlier if e.payload is not None}
            entry.events = _diff(mapped, before, {e.event_id: e.event_type for e in earlier})
        report.selected.append(entry)
        chosen.append(delivery)
    if dry_run or not chosen:
        return report
    sqs = target.client("sqs")
    queue = target.resource("queue", "raw_deliveries")
    for start in range(0, len(chosen), 10):
        batch = chosen[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "MessageBody": d.to_message()} for i, d in enumerate(batch)],
        )
        report.sent += len(batch)
    return report


def _wanted(mapped: list[dict[str, Any]] | None, selection: ReplaySelection) -> bool:
    if not selection.event_type and not selection.key:
        return True
    if mapped is None:
        return False  # neither its type nor its keys are known without a mapping
    for event in mapped:
        if selection.event_type and not fnmatch.fnmatchcase(
            event.get("event_type", ""), selection.event_type
        ):
            continue
        if selection.key and not any(selection.key in values for values in trace_keys(event).values()):
            continue
        return True
    return False


def _diff(
    mapped: list[dict[str, Any]], before: dict[str, Any], types_before: dict[str, str]
) -> list[EventDiff]:
    diffs = []
    for event in mapped:
        event_id, payload = event["event_id"], event.get("payload")
        if event_id not in before:
            diffs.append(EventDiff(event_id, event["event_type"], "new"))
            continue
        changes = list(_changes("payload", before[event_id], payload))
        diffs.append(EventDiff(event_id, event["event_type"], "changed" if changes else "unchanged", changes))
    now = {e["event_id"] for e in mapped}
    diffs += [EventDiff(i, types_before.get(i, "?"), "gone") for i in before if i not in now]
    return diffs


def _changes(path: str, old: Any, new: Any) -> Iterator[dict[str, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            yield from _changes(f"{path}.{name}", old.get(name), new.get(name))
        return
    if old != new:
        hidden = any(is_sensitive(part) for part in path.split("."))
        yield {
            "path": path,
            "before": MASK if hidden else _short(old),
            "after": MASK if hidden else _short(new),
        }


def _short(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= 200 else text[:200] + "..."


def audit_replay(target: Target, selection: ReplaySelection, report: ReplayReport, note: str) -> None:
    from pshub.store.audit import AuditLog

    AuditLog(target.client("dynamodb"), target.resource("table", "audit")).record(
        "replay#raw_deliveries",
        "replay",
        target.actor(),
        note=note or None,
        before={k: str(v) for k, v in asdict(selection).items() if v},
        after={"sent": report.sent, "delivery_ids": [d.delivery_id for d in report.selected][:100]},
    )

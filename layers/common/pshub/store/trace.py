"""The trace index: business key -> the canonical events about it, in order.

Every canonical event the bus carries is written once under each business key it names:
its correlation id (the API Gateway request id of the webhook it came from, or the workflow
that published it), the opportunity, the project code, the invoice (key and document), the
time entry or expense, and the worker's week. ``pshub trace`` reads a key's entries (one query),
follows their correlation ids and references (executions, postings, invoices, exceptions,
audit entries) and prints the timeline; nothing scans a log.

The worker's week is stored under a hash of the worker and the ISO week: a worker is named
by e-mail, and no e-mail address is a key here. An item is keyed by (key, published time,
event id), so writing the same event twice writes the same item.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

KINDS = ("correlation", "opportunity", "project", "invoice", "entry", "worker_week")
KEEP_S = 400 * 86400  # a little over a year: a year's invoices can be traced back to their deals
_BATCH = 25  # BatchWriteItem's limit


def worker_week_key(worker: str, week: str) -> str:
    """The stored key of a worker's ISO week (``2026-W49``): a hash, never the e-mail itself."""
    digest = hashlib.sha256(f"{worker.strip().lower()}|{week}".encode()).hexdigest()[:32]
    return digest


def iso_week(day: str) -> str | None:
    try:
        year, week, _ = date.fromisoformat(day[:10]).isocalendar()
    except ValueError:
        return None
    return f"{year}-W{week:02d}"


def trace_keys(event: Mapping[str, Any]) -> dict[str, list[str]]:
    """Kind -> the values a canonical event (the bus event's ``detail``) is filed under."""
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    assert isinstance(payload, dict)
    keys: dict[str, list[str]] = {kind: [] for kind in KINDS}

    def add(kind: str, value: Any) -> None:
        if isinstance(value, str | int) and str(value) and str(value) not in keys[kind]:
            keys[kind].append(str(value))

    event_type = str(event.get("event_type", ""))
    add("correlation", event.get("correlation_id"))
    add("opportunity", payload.get("opportunity_id"))
    add("opportunity", payload.get("opportunity_native_id"))
    if event_type.startswith("Opportunity"):
        add("opportunity", event.get("source_native_id"))
    add("project", payload.get("project_code"))
    for name in (
        ("invoice_key", "invoice_number", "document_id")
        if "Invoice" in event_type or "Billing" in event_type
        else ("invoice_key",)
    ):
        add("invoice", payload.get(name))
    add("entry", payload.get("entry_id"))
    line = payload.get("line") if isinstance(payload.get("line"), dict) else None
    worker = payload.get("worker")
    if isinstance(worker, str) and worker and line and isinstance(line.get("work_date"), str):
        week = iso_week(line["work_date"])
        if week:
            add("worker_week", worker_week_key(worker, week))
    return {kind: values for kind, values in keys.items() if values}


@dataclass(frozen=True)
class TraceEntry:
    kind: str
    key: str
    published_at: str  # when the bus carried it (ISO, UTC)
    event_id: str
    event_type: str
    correlation_id: str
    connection: str
    occurred_at: str
    refs: dict[str, str] = field(default_factory=dict)
    payload: Any = None  # under the correlation id only
    source_event_id: str = ""  # the platform's event id (a normalised event) or the event it followed

    def to_doc(self) -> dict[str, Any]:
        return {
            "published_at": self.published_at, "event_type": self.event_type, "event_id": self.event_id,
            "correlation_id": self.correlation_id, "connection": self.connection,
            "occurred_at": self.occurred_at, "refs": self.refs,
        }  # fmt: skip


def _refs(event: Mapping[str, Any]) -> dict[str, str]:
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    assert isinstance(payload, dict)
    wanted = ("project_code", "opportunity_id", "invoice_key", "document_id", "entry_id", "exception_id",
              "change_order_id", "period", "version", "total")  # fmt: skip
    refs = {name: str(payload[name]) for name in wanted if isinstance(payload.get(name), str | int)}
    if isinstance(event.get("source_native_id"), str) and event["source_native_id"]:
        refs["native_id"] = event["source_native_id"]  # the record's id in its platform
    total = payload.get("total")
    if isinstance(total, dict) and "amount" in total:
        refs["total"] = f"{total['amount']} {total.get('currency', '')}".strip()
    return refs


class TraceIndex:
    def __init__(self, dynamodb: Any, table: str, clock: Any = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def index(self, events: Iterable[tuple[Mapping[str, Any], str]]) -> int:
        """Write each (canonical event, published at) under its keys; the items written."""
        expires = str(int(self._clock() + KEEP_S))
        items: dict[tuple[str, str], dict[str, Any]] = {}
        for event, published_at in events:
            doc = {
                "event_id": str(event.get("event_id", "")), "event_type": str(event.get("event_type", "")),
                "correlation_id": str(event.get("correlation_id", "")), "connection": str(event.get("connection", "")),
                "occurred_at": str(event.get("occurred_at", "")), "published_at": published_at, "refs": _refs(event),
                "source_event_id": str(event.get("source_event_id", "")),
            }  # fmt: skip
            text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
            # The payload once, under the correlation id: what a replay's dry run compares with.
            with_payload = json.dumps(
                {**doc, "payload": event.get("payload")}, separators=(",", ":"), ensure_ascii=False
            )
            for kind, values in trace_keys(event).items():
                for value in values:
                    pk, sk = f"{kind}#{value}", f"{published_at}#{doc['event_id']}"
                    body = with_payload if kind == "correlation" else text
                    items[(pk, sk)] = {
                        "pk": {"S": pk},
                        "sk": {"S": sk},
                        "doc": {"S": body},
                        "expires_at": {"N": expires},
                    }
        pending = [{"PutRequest": {"Item": item}} for item in items.values()]
        for start in range(0, len(pending), _BATCH):
            request = {self._table: pending[start : start + _BATCH]}
            for attempt in range(8):
                answer = self._db.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if request:
                raise RuntimeError(f"{len(request[self._table])} trace items unprocessed after retries")
        return len(pending)

    def entries(self, kind: str, value: str, limit: int = 1000) -> list[TraceEntry]:
        """A key's entries, oldest first."""
        if kind not in KINDS:
            raise ValueError(f"no trace key kind {kind!r}; one of {', '.join(KINDS)}")
        found: list[TraceEntry] = []
        pages = self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{kind}#{value}"}},
        )
        for page in pages:
            for item in page["Items"]:
                doc = json.loads(item["doc"]["S"])
                found.append(
                    TraceEntry(
                        kind,
                        value,
                        doc["published_at"],
                        doc["event_id"],
                        doc["event_type"],
                        doc["correlation_id"],
                        doc["connection"],
                        doc["occurred_at"],
                        dict(doc.get("refs", {})),
                        doc.get("payload"),
                        doc.get("source_event_id", ""),
                    )
                )
                if len(found) >= limit:
                    return found
        return found

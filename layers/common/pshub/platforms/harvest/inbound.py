"""Harvest's inbound adapter: the pages pshub's poller read, as canonical time entry events.

Harvest never pushes (it has no webhooks): the poller reads ``GET /v2/time_entries``
through the connector (``outbound.HarvestFeed``) and puts one page per raw delivery on the
raw queue directly, in the body pshub defines for a polled page (docs/time-and-expense.md):

    {"pshub_poll": 1, "object_type": "time_entries",
     "records": [{"native_id", "modified_at", "data": <the Harvest time entry>}],
     "deleted": [{"native_id", "detected_at"}]}

so ``verify`` refuses every request that reaches ``POST /webhooks/{connection}`` for a Harvest
connection: whatever sent it, it was not Harvest.

Events and versions:

| record | event id | canonical event | occurred_at | version (``harvest.updated_at``) |
|---|---|---|---|---|
| a time entry | ``<id>@<updated_at>`` | ``TimeEntryChanged``, change ``snapshot`` | ``updated_at`` | major ``updated_at`` in ms, tiebreak the id |
| a delete | ``<id>@deleted@<detected_at>`` | ``TimeEntryDeleted`` | ``detected_at`` | major ``detected_at`` in ms, tiebreak the id |

Harvest stamps ``updated_at`` in whole seconds, so two changes to one entry within a second
share a version: the later poll's snapshot is then not news to entity sync. A delete is
detected (the id is gone from ``present_ids``) after the entry's last change, so its
version is after every snapshot of it. Hours are read exactly (the JSON number's digits,
never a binary float); see ``mapping`` for each attribute.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pshub.connections import ConnectionConfigError
from pshub.errors import Unmappable
from pshub.pipeline import fastjson
from pshub.platforms import fields
from pshub.platforms.base import PlatformEvent, PolledAdapter, canonical_from
from pshub.platforms.harvest import mapping

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

RECORD_EVENT = "time_entry"
DELETE_EVENT = "time_entry.deleted"


class HarvestAdapter(PolledAdapter):
    platform = "harvest"
    title = "Harvest"
    polled = "its time entries are polled"

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        page: dict[str, Any] = self.page(body, _loads_exact_decimals)
        if page["object_type"] != mapping.OBJECT_TYPE:
            raise Unmappable(
                f"Harvest poll page of {fields.kind_of(page['object_type'])} object type: "
                f"pshub polls Harvest for {mapping.OBJECT_TYPE} only"
            )
        events = [_record_event(index, item) for index, item in enumerate(page["records"])]
        events += [_delete_event(index, item) for index, item in enumerate(page.get("deleted") or [])]
        return events

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical.envelope import EntityChangedV1, EntityDeletedV1

        if event.problem:
            raise Unmappable(event.problem)
        if event.event_type == DELETE_EVENT:
            payload: EntityChangedV1 | EntityDeletedV1 = EntityDeletedV1(native_id=event.native_id)
            event_type = "TimeEntryDeleted"
        elif event.event_type == RECORD_EVENT:
            snapshot = mapping.snapshot(event.data, _users(delivery))
            if snapshot.attributes is None:
                return []  # a running timer, or no hours yet: read again once it is stopped
            payload = EntityChangedV1(
                native_id=event.native_id, change="snapshot", attributes=snapshot.attributes
            )
            event_type = "TimeEntryChanged"
        else:
            raise Unmappable(f"no mapping for Harvest poll event type {event.event_type!r}")
        assert event.occurred_at is not None  # split sets it on every event it does not mark malformed
        return canonical_from(
            self.platform, event_type, payload, event, delivery, version(event.native_id, event.occurred_at)
        )


def version(native_id: str, moment: datetime) -> SourceVersion:
    from pshub.canonical.envelope import SourceVersion

    return SourceVersion(
        scheme=mapping.VERSION_SCHEME, major=mapping.version_major(moment), tiebreak=native_id
    )


def _loads_exact_decimals(body: bytes) -> Any:
    """``fastjson.loads_exact``'s refusals, with numbers that have a fraction read as Decimal."""
    fastjson.loads_exact(body)  # duplicate keys, NaN, nesting: refused exactly as elsewhere
    return json.loads(body, parse_float=Decimal)


def _record_event(index: int, item: object) -> PlatformEvent:
    where = f"Harvest poll page records[{index}]"
    event_id = where
    try:
        record = fields.mapping(item, where)
        native_id = fields.identifier(record.get("native_id"), f"{where}.native_id")
        data = fields.mapping(record.get("data"), f"{where}.data")
        stamp = data.get("updated_at")
        event_id = f"{native_id}@{stamp}" if isinstance(stamp, str) and stamp else f"{native_id}@{where}"
        modified = fields.iso_datetime(record.get("modified_at"), f"{where}.modified_at")
        if mapping.native_id(data) != native_id:
            raise fields.FieldProblem(f"{where}: data.id is not the record's native_id")
        updated = mapping.updated_at(data)
        if updated != modified:
            raise fields.FieldProblem(f"{where}: modified_at is not the time entry's updated_at")
    except fields.FieldProblem as problem:
        return PlatformEvent.malformed(event_id, str(problem), item)
    return PlatformEvent(
        event_id=event_id, event_type=RECORD_EVENT, native_id=native_id, occurred_at=updated, data=data
    )


def _delete_event(index: int, item: object) -> PlatformEvent:
    where = f"Harvest poll page deleted[{index}]"
    event_id = where
    try:
        record = fields.mapping(item, where)
        native_id = fields.identifier(record.get("native_id"), f"{where}.native_id")
        stamp = record.get("detected_at")
        event_id = (
            f"{native_id}@deleted@{stamp}" if isinstance(stamp, str) else f"{native_id}@deleted@{where}"
        )
        detected = fields.iso_datetime(stamp, f"{where}.detected_at")
    except fields.FieldProblem as problem:
        return PlatformEvent.malformed(event_id, str(problem), item)
    return PlatformEvent(
        event_id=event_id, event_type=DELETE_EVENT, native_id=native_id, occurred_at=detected, data=record
    )


def _users(delivery: RawDelivery) -> Mapping[str, str]:
    options = delivery.options or {}
    try:
        return mapping.users_option(options.get("users"), f"connection {delivery.connection!r}")
    except ConnectionConfigError as error:
        raise Unmappable(str(error)) from None

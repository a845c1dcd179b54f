"""Kantata's inbound adapter: the milestone pages pshub's poller read, as ``MilestoneCompleted``.

Kantata pushes nothing pshub can verify (its Subscribed Events are a feed to read, kept 9
days), so the poller reads ``GET /stories.json?story_type=milestone`` through the PSA connector
(``KantataPsa.changed_since``) and puts one page per raw delivery on the raw queue, in the body
pshub defines for a polled page (``pshub.pipeline.poller``):

    {"pshub_poll": 1, "object_type": "milestones",
     "records": [{"native_id", "modified_at", "data": <the Kantata story, plus pshub_milestone_id
                  and pshub_project_code>}], "deleted": []}

``verify`` refuses every request that reaches ``POST /webhooks/{connection}`` for a Kantata
connection: whatever sent it, it was not Kantata.

| record | event id | canonical event |
|---|---|---|
| a milestone story whose ``state`` is ``completed``, carrying pshub's milestone id and its project's code | ``<story id>@completed`` | ``MilestoneCompleted``: ``completed_on`` the day of its ``updated_at`` in the connection's ``timezone`` (default UTC) |
| any other milestone story (not completed; or made in Kantata, so not one of the contract's) | - | nothing |

The event id is the story's and its completion, not the poll's: a story read again (the poll
overlaps, its title is edited after completion) is the same event, absorbed by the
normaliser's idempotency, and the billing run it starts is keyed by the milestone besides. A
milestone reopened and completed again is not billed again (its milestone is billed once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pshub.errors import Unmappable
from pshub.pipeline import fastjson
from pshub.platforms import fields
from pshub.platforms.base import PlatformEvent, PolledAdapter, canonical_from
from pshub.platforms.kantata.mapping import COMPLETED, MILESTONES_FEED

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent
    from pshub.pipeline.raw_delivery import RawDelivery

MILESTONE_EVENT = "milestone"


class KantataAdapter(PolledAdapter):
    platform = "kantata"
    title = "Kantata"
    polled = "its milestone stories are polled"

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        page: dict[str, Any] = self.page(body, fastjson.loads_exact)
        if page["object_type"] != MILESTONES_FEED:
            raise Unmappable(
                f"Kantata poll page of {page['object_type'][:40]!r}: pshub maps {MILESTONES_FEED} only"
            )
        return [_record_event(index, item) for index, item in enumerate(page["records"])]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical.envelope import MilestoneCompletedV1

        if event.problem:
            raise Unmappable(event.problem)
        story: dict[str, Any] = event.data
        milestone_id, code = story.get("pshub_milestone_id"), story.get("pshub_project_code")
        if story.get("state") != COMPLETED or not isinstance(milestone_id, str) or not isinstance(code, str):
            return []  # not delivered yet, or a plan milestone made in Kantata: nothing to bill
        assert event.occurred_at is not None  # split sets it on every event it does not mark malformed
        completed_on = event.occurred_at.astimezone(_zone(delivery)).date()
        payload = MilestoneCompletedV1(
            project_code=code,
            milestone_id=milestone_id,
            name=story.get("title") if isinstance(story.get("title"), str) else None,
            completed_on=completed_on,
        )
        return canonical_from(self.platform, "MilestoneCompleted", payload, event, delivery)


def _zone(delivery: RawDelivery) -> ZoneInfo:
    name = (delivery.options or {}).get("timezone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unmappable(
            f"connection {delivery.connection!r}: timezone {name!r} is not an IANA zone"
        ) from None


def _record_event(index: int, item: object) -> PlatformEvent:
    where = f"Kantata poll page records[{index}]"
    try:
        record = fields.mapping(item, where)
        story = fields.mapping(record.get("data"), f"{where}.data")
        story_id = fields.identifier(story.get("id"), f"{where}.data.id")
        modified = fields.iso_datetime(record.get("modified_at"), f"{where}.modified_at")
    except fields.FieldProblem as problem:
        return PlatformEvent.malformed(where, str(problem), item)
    completed = story.get("state") == COMPLETED
    return PlatformEvent(
        event_id=f"{story_id}@{COMPLETED}" if completed else f"{story_id}@{modified.isoformat()}",
        event_type=MILESTONE_EVENT,
        native_id=story_id,
        occurred_at=modified,
        data=story,
    )

"""``pshub trace KEY``: one business key's timeline across the pipeline, in order.

KEY is a correlation id, an opportunity id, a project code, an invoice key or document id, a
time entry or expense id, or ``worker:<e-mail or id>:<ISO week>`` (``2026-W49``); a prefix
(``project:``, ``opportunity:``, ``invoice:``, ``entry:``, ``correlation:``) says which when a
value could be several. The trace index (``pshub.store.trace``) gives the canonical events filed
under the key; their correlation ids give the events of the same deliveries and workflows;
their references give the workflow executions and every step (Step Functions' own history),
the postings (the posting ledger), the exceptions raised and the audit entries about them. Each
item links to the AWS console where the stack is deployed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pshub.store.audit import AuditLog, exception_subject
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.postings import PostingLedger
from pshub.store.trace import KINDS, TraceEntry, TraceIndex, worker_week_key
from pshub.workflows.provisioning.starter import execution_name
from pshub_local.ops.render import mask
from pshub_local.ops.target import Target

SEARCHED = ("project", "opportunity", "invoice", "entry", "correlation")
MAX_CORRELATIONS = 50
STEP_EVENTS = {
    "TaskStateEntered": "entered", "TaskStateExited": "done", "ChoiceStateEntered": "entered",
    "WaitStateEntered": "waiting", "PassStateEntered": "entered", "MapStateEntered": "entered",
    "ParallelStateEntered": "entered", "TaskFailed": "failed", "TaskSucceeded": None,
}  # fmt: skip


@dataclass
class Item:
    at: str  # ISO, UTC
    stage: str  # bus | workflow | step | posting | exception | audit
    what: str
    detail: str = ""
    ref: str = ""
    link: str | None = None


@dataclass
class Timeline:
    key: str
    kinds: list[str]
    correlation_ids: list[str]
    items: list[Item] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


def parse_key(key: str) -> list[tuple[str, str]]:
    """(kind, stored value) pairs to look up for what the operator typed."""
    head, colon, rest = key.partition(":")
    if colon and head == "worker":
        worker, _, week = rest.rpartition(":")
        if not worker or not week:
            raise ValueError(
                "a worker's week is worker:<e-mail or id>:<ISO week>, e.g. worker:ana@firm.example:2026-W49"
            )
        return [("worker_week", worker_week_key(worker, week))]
    if colon and head in KINDS:
        return [(head, rest)]
    return [(kind, key) for kind in SEARCHED]


def trace(target: Target, key: str) -> Timeline:
    index = TraceIndex(target.client("dynamodb"), target.resource("table", "trace"))
    found: dict[tuple[str, str], TraceEntry] = {}
    kinds = []
    for kind, value in parse_key(key):
        entries = index.entries(kind, value)
        if entries:
            kinds.append(kind)
        for entry in entries:
            found.setdefault((entry.event_id, entry.published_at), entry)
    correlations = list(dict.fromkeys(e.correlation_id for e in found.values() if e.correlation_id))
    for correlation in correlations[:MAX_CORRELATIONS]:
        for entry in index.entries("correlation", correlation):
            found.setdefault((entry.event_id, entry.published_at), entry)
    entries = sorted(found.values(), key=lambda e: (e.published_at, e.occurred_at, e.event_id))
    timeline = Timeline(key, kinds, correlations)
    for entry in entries:
        refs = ", ".join(f"{k}={v}" for k, v in entry.refs.items())
        timeline.items.append(
            Item(
                _event_time(entry),
                "bus",
                entry.event_type,
                f"{entry.connection}; {refs}".strip("; "),
                entry.event_id,
            )
        )
    _executions(target, entries, timeline)
    _postings(target, entries, timeline)
    _exceptions(target, key, entries, correlations, timeline)
    timeline.items.sort(key=lambda item: item.at)
    return timeline


def _executions(target: Target, entries: list[TraceEntry], timeline: Timeline) -> None:
    sfn = target.client("stepfunctions")
    wanted: list[tuple[str, str]] = []
    for entry in entries:
        if entry.event_type == "OpportunityClosedWon" and entry.refs.get("native_id"):
            # The provisioning execution is named by the deal as its CRM knows it.
            wanted.append(("provision_project", execution_name(entry.connection, entry.refs["native_id"])))
        if entry.event_type == "ChangeOrderApproved" and entry.refs.get("change_order_id"):
            wanted.append(("amend_contract", execution_name(entry.connection, entry.refs["change_order_id"])))
    seen = set()
    for machine, name in wanted:
        arn = target.resource("state_machine", machine).replace(":stateMachine:", ":execution:") + f":{name}"
        if arn in seen:
            continue
        seen.add(arn)
        try:
            described = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            continue
        link = target.console_url("execution", arn)
        timeline.items.append(
            Item(_iso(described["startDate"]), "workflow", f"{machine} started", name, arn, link)
        )
        if described.get("stopDate"):
            timeline.items.append(
                Item(
                    _iso(described["stopDate"]),
                    "workflow",
                    f"{machine} {described['status'].lower()}",
                    name,
                    arn,
                    link,
                )
            )
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            for event in page["events"]:
                state = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
                kind = event["type"]
                if (
                    kind.endswith("StateEntered")
                    or kind.endswith("StateExited")
                    or kind in ("TaskFailed", "ExecutionFailed")
                ):
                    label = state.get("name") or kind
                    verb = (
                        "done"
                        if kind.endswith("StateExited")
                        else "failed"
                        if "Failed" in kind
                        else "entered"
                    )
                    timeline.items.append(
                        Item(_iso(event["timestamp"]), "step", f"{label} {verb}", name, arn, link)
                    )


def _postings(target: Target, entries: list[TraceEntry], timeline: Timeline) -> None:
    entry_ids = list(dict.fromkeys(e.refs["entry_id"] for e in entries if e.refs.get("entry_id")))
    if not entry_ids:
        return
    ledger = PostingLedger(target.client("dynamodb"), target.resource("table", "postings"))
    for entry_id, record in ledger.postings(entry_ids).items():
        for note in record.history:
            at = datetime.fromtimestamp(int(note.get("at", 0)), UTC).isoformat(timespec="seconds")
            what = str(note.get("state") or note.get("action") or record.state)
            detail = (
                f"{record.erp_connection or ''} document {record.document_id or '-'}, {record.hours or '-'} h"
            )
            timeline.items.append(Item(at, "posting", f"posting {what}", detail.strip(), entry_id))


def _exceptions(
    target: Target, key: str, entries: list[TraceEntry], correlations: list[str], timeline: Timeline
) -> None:
    values = {key, *correlations}
    for entry in entries:
        values.update(entry.refs.values())
    store = ExceptionStore(target.client("dynamodb"), target.resource("table", "business_exceptions"))
    audit = AuditLog(target.client("dynamodb"), target.resource("table", "audit"))
    for exception in store.list(None):
        named = {*exception.business_keys.values(), exception.correlation_id or "", exception.id}
        if not named & values:
            continue
        at = exception.raised_at.astimezone(UTC).isoformat(timespec="seconds")
        detail = f"{exception.owner_team.value}: {exception.title}"
        timeline.items.append(
            Item(
                at,
                "exception",
                f"{exception.category.value} ({exception.status.value})",
                str(mask(detail)),
                exception.id,
            )
        )
        for audited in audit.entries(exception_subject(exception.id)):
            timeline.items.append(
                Item(
                    _iso(audited.at),
                    "audit",
                    audited.action,
                    f"{audited.actor}: {audited.note or ''}".strip(": "),
                    exception.id,
                )
            )


def _event_time(entry: TraceEntry) -> str:
    """When the bus carried the event. EventBridge gives the second; an event pshub itself
    published (``ProjectActivated``) says the millisecond it happened, within that second."""
    published = _iso(entry.published_at)
    occurred = _iso(entry.occurred_at)
    try:
        start = datetime.fromisoformat(published)
        moment = datetime.fromisoformat(occurred)
    except ValueError:
        return published
    return occurred if start <= moment < start + timedelta(seconds=1) else published


def _iso(moment: Any) -> str:
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="milliseconds")
    text = str(moment)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return _iso(parsed)

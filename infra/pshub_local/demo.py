"""``pshub demo``: every sample webhook through real HTTP, plus the ways it can go wrong.

Phase 1 plays each sample under ``events/<platform>/`` as its platform would sign
it and drains the pipeline. Phase 2 redelivers one accepted webhook per platform
and sends the bad requests (tampered, stale, unknown connection, unparseable,
oversize), drains again, and checks that phase 2 changed nothing it should not.
Phase 3 bills every month the posted time falls in, per legal entity, through the billing
workflow, then once more, and checks that the second run drafted nothing.
The report says what happened to every request and whether it is what pshub
promises; ``ok`` is False otherwise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pshub.connections import Connection
from pshub_infra.topology import MAX_WEBHOOK_BODY_BYTES, REPO_ROOT
from pshub_local import vendors
from pshub_local.client import Response, send
from pshub_local.runtime import LocalRuntime, QueueMessage
from pshub_local.server import WebhookServer

log = logging.getLogger(__name__)

DEFAULT_EVENTS_DIR = REPO_ROOT / "events"
SAMPLE_SUFFIXES = (".json", ".xml")
UNKNOWN_CONNECTION = "no-such-connection"


@dataclass
class Case:
    kind: str  # sample, redelivery, tampered, too_old, unknown_connection, unparseable, oversize
    label: str
    request: vendors.SignedRequest
    expected_status: int
    original: Case | None = None  # for a redelivery, the delivery it repeats
    response: Response | None = None

    @property
    def correlation_id(self) -> str:
        return self.response.request_id if self.response else ""

    @property
    def as_expected(self) -> bool:
        return self.response is not None and self.response.status == self.expected_status

    def as_dict(self) -> dict[str, Any]:
        response = self.response
        return {
            "kind": self.kind,
            "label": self.label,
            "connection": self.request.connection,
            "status": response.status if response else None,
            "expected_status": self.expected_status,
            "as_expected": self.as_expected,
            "outcome": _outcome(response),
            "error_code": response.error_code() if response else "",
            "message": response.error_message() if response else "",
            "correlation_id": self.correlation_id,
            "elapsed_ms": round(response.elapsed_ms, 1) if response else None,
        }


@dataclass(frozen=True)
class Outcome:
    """What the pipeline holds at one moment."""

    events: list[dict[str, Any]]
    unmappable: list[QueueMessage]
    dead_letters: list[QueueMessage]
    exceptions: list[dict[str, Any]]
    executions: list[dict[str, Any]]
    # connection id -> what its system (the platform's local fake) now holds
    systems: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, runtime: LocalRuntime) -> Outcome:
        return cls(
            events=runtime.canonical_events(),
            unmappable=runtime.unmappable(),
            dead_letters=runtime.dead_letters(),
            exceptions=runtime.business_exceptions(),
            executions=[_execution_row(runtime, e) for e in runtime.executions()],
            systems=runtime.systems_snapshot(),
        )

    def correlation_ids(self) -> dict[str, set[str]]:
        """Where each correlation id ended up: bus, parked, exception."""
        return {
            "bus": {_correlation(e) for e in self.events},
            "parked": {m.attributes.get("correlation_id", "") for m in self.unmappable},
            "exception": {str(x.get("correlation_id") or "") for x in self.exceptions},
        }


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class DemoReport:
    base_url: str
    cases: list[Case] = field(default_factory=list)
    after_samples: Outcome | None = None
    final: Outcome | None = None
    checks: list[Check] = field(default_factory=list)
    runtime_start_s: float = 0.0
    wall_s: float = 0.0
    billing: list[dict[str, Any]] = field(default_factory=list)  # per run: name, status, results

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def duplicates_suppressed(self) -> list[dict[str, Any]]:
        """Per redelivery: the canonical events its original produced, which it did not produce again."""
        events = self.final.events if self.final else []
        return [
            {
                "label": case.label,
                "events_not_republished": sum(
                    _correlation(e) == case.original.correlation_id for e in events
                ),
            }
            for case in self.cases
            if case.kind == "redelivery" and case.original is not None
        ]

    def as_dict(self) -> dict[str, Any]:
        final = self.final or Outcome([], [], [], [], [])
        return {
            "ok": self.ok,
            "base_url": self.base_url,
            "timings": {"runtime_start_s": round(self.runtime_start_s, 3), "wall_s": round(self.wall_s, 3)},
            "requests": [case.as_dict() for case in self.cases],
            "canonical_events": [_event_row(e) for e in final.events],
            "duplicates_suppressed": self.duplicates_suppressed(),
            "business_exceptions": [_exception_row(x) for x in final.exceptions],
            "workflow_executions": final.executions,
            "systems": final.systems,
            "unmappable": [_message_row(m) for m in final.unmappable],
            "dead_letters": [_message_row(m) for m in final.dead_letters],
            "billing_runs": self.billing,
            "checks": [asdict(check) for check in self.checks],
        }


def run_demo(events_dir: Path = DEFAULT_EVENTS_DIR, drain_timeout_s: float = 120.0) -> DemoReport:
    started = time.perf_counter()
    runtime = LocalRuntime()
    found = _samples(runtime.connections, events_dir)
    if not found:
        return DemoReport(
            base_url="", checks=[Check("samples found", False, f"no sample webhooks under {events_dir}")]
        )
    with runtime, WebhookServer(runtime) as server:
        report = DemoReport(base_url=server.url, runtime_start_s=runtime.started_in_s or 0.0)
        log.info("webhooks at %s", server.url)
        samples = [
            Case("sample", label, _signed(runtime, connection, path.read_bytes(), server.url), 200)
            for label, connection, path in found
        ]
        log.info("phase 1: %d sample webhooks", len(samples))
        _play(samples)
        runtime.drain(drain_timeout_s)
        report.after_samples = Outcome.of(runtime)

        later = _redeliveries(runtime, samples, report.after_samples, server.url)
        later += _bad_requests(runtime, samples, server.url)
        log.info("phase 2: %d redeliveries and bad requests", len(later))
        _play(later)
        runtime.drain(drain_timeout_s)
        report.final = Outcome.of(runtime)
        report.cases = samples + later
        report.checks = _checks(report.cases, report.after_samples, report.final)
        log.info("phase 3: billing runs")
        report.billing, billed_once = _bill(runtime, drain_timeout_s)
        report.checks.append(billed_once)
        report.final = Outcome.of(runtime)  # what the systems hold now, invoices included
    report.wall_s = time.perf_counter() - started
    return report


# --- building the requests ------------------------------------------------------------------


def _samples(connections: Mapping[str, Connection], events_dir: Path) -> list[tuple[str, Connection, Path]]:
    """(label, connection, file) per sample under ``events_dir/<platform>/``, on that platform's connection."""
    found = []
    for folder in sorted(p for p in events_dir.iterdir() if p.is_dir()):
        connection = next((c for c in connections.values() if c.platform == folder.name), None)
        if connection is None or not connection.receives_webhooks:
            log.debug("%s: no webhook connection for platform %r, skipped", folder, folder.name)
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in SAMPLE_SUFFIXES and path.is_file():
                found.append((f"{folder.name}/{path.name}", connection, path))
    return found


def _signed(
    runtime: LocalRuntime, connection: Connection, body: bytes, base_url: str
) -> vendors.SignedRequest:
    return vendors.sign(connection, body, base_url, runtime.signing_secret(connection.id))


def _redeliveries(runtime: LocalRuntime, samples: list[Case], outcome: Outcome, base_url: str) -> list[Case]:
    """The platform sends an accepted webhook again (freshly signed, same body).

    Per platform, the first sample that put events on the bus: its repeat must not.
    """
    on_bus = outcome.correlation_ids()["bus"]
    chosen: dict[str, Case] = {}
    for sample in samples:
        if sample.as_expected and sample.correlation_id in on_bus:
            chosen.setdefault(sample.request.platform, sample)
    cases = []
    for sample in chosen.values():
        connection = runtime.connections[sample.request.connection]
        request = _signed(runtime, connection, sample.request.body, base_url)
        cases.append(Case("redelivery", f"redelivery of {sample.label}", request, 200, original=sample))
    return cases


def _bad_requests(runtime: LocalRuntime, samples: list[Case], base_url: str) -> list[Case]:
    firsts: dict[str, Case] = {}
    for sample in samples:
        firsts.setdefault(sample.request.platform, sample)
    cases = []
    for sample in firsts.values():
        bad = vendors.tampered(sample.request)
        cases.append(Case("tampered", f"{bad.note}: {sample.label}", bad, 401))
    for sample in firsts.values():
        if vendors.signs_timestamp(sample.request.platform):
            connection = runtime.connections[sample.request.connection]
            secret = runtime.signing_secret(connection.id)
            stale = vendors.too_old(connection, sample.request.body, base_url, secret)
            cases.append(Case("too_old", f"stale timestamp: {sample.label}", stale, 401))

    # The rest once, on the first sample's connection.
    template = next(iter(firsts.values()))
    connection = runtime.connections[template.request.connection]
    stranger = Connection(UNKNOWN_CONNECTION, connection.platform, connection.role)
    unknown = vendors.sign(stranger, template.request.body, base_url, runtime.signing_secret(connection.id))
    # The sample cut off half-way: correctly signed, but not the platform's format.
    garbage = _signed(runtime, connection, template.request.body[: len(template.request.body) // 2], base_url)
    padding = b" " * (MAX_WEBHOOK_BODY_BYTES + 1 - len(template.request.body))
    oversize = _signed(runtime, connection, template.request.body + padding, base_url)
    return [
        *cases,
        Case("unknown_connection", f"unknown connection {UNKNOWN_CONNECTION!r}", unknown, 404),
        Case("unparseable", f"signed but unparseable body ({connection.id})", garbage, 400),
        Case("oversize", f"{len(oversize.body)}-byte body ({connection.id})", oversize, 413),
    ]


def _play(cases: list[Case]) -> None:
    for case in cases:
        case.response = send(case.request)
        verdict = "as expected" if case.as_expected else f"EXPECTED {case.expected_status}"
        log.info("  %s %-18s %-45s %s (%s)", case.response.status, case.request.connection, case.label[:45],
                 _outcome(case.response), verdict)  # fmt: skip


# --- judging the outcome --------------------------------------------------------------------


def _checks(cases: list[Case], after_samples: Outcome, final: Outcome) -> list[Check]:
    """What pshub promises, checked against what came out of the pipeline."""
    where = final.correlation_ids()
    parked_reason = {
        m.attributes.get("correlation_id", ""): m.attributes.get("reason", "?") for m in final.unmappable
    }
    samples = [c for c in cases if c.kind == "sample"]
    unparseable = {c.correlation_id for c in cases if c.kind == "unparseable"}
    rejected = [c for c in cases if c.expected_status in (401, 404, 413)]
    keys = [
        (_detail(e).get("connection"), _detail(e).get("source_event_id"), e["detail-type"])
        for e in final.events
    ]
    parked_before = {m.message_id for m in after_samples.unmappable}
    new_events = len(final.events) - len(after_samples.events)
    new_exceptions = len(final.exceptions) - len(after_samples.exceptions)

    def check(name: str, failures: list[str]) -> Check:
        return Check(name, not failures, "; ".join(failures))

    def stored(case: Case) -> bool:
        return any(case.correlation_id in ids for ids in where.values())

    return [
        check(
            "every request answered as expected",
            [
                f"{c.label}: got {c.response.status if c.response else '-'}"
                for c in cases
                if not c.as_expected
            ],
        ),
        check(
            "every accepted sample accounted for (on the bus, a business exception, or parked)",
            [c.label for c in samples if not stored(c)],
        ),
        check(
            "no sample parked as unmappable",
            [
                f"{c.label}: {parked_reason[c.correlation_id]}"
                for c in samples
                if c.correlation_id in parked_reason
            ],
        ),
        check(
            "redeliveries and bad requests published nothing new",
            ([f"{new_events} new canonical event(s)"] if new_events else [])
            + ([f"{new_exceptions} new business exception(s)"] if new_exceptions else []),
        ),
        check(
            "no platform event published twice",
            [f"{len(keys) - len(set(keys))} duplicate(s)"] if len(keys) != len(set(keys)) else [],
        ),
        check("rejected requests stored nothing", [c.label for c in rejected if stored(c)]),
        check(
            "an authentic but unparseable body is parked for a person",
            [f"request {cid} not parked" for cid in unparseable if cid not in where["parked"]],
        ),
        check(
            "phase 2 parked nothing else",
            [
                m.attributes.get("reason", m.message_id)
                for m in final.unmappable
                if m.message_id not in parked_before and m.attributes.get("correlation_id") not in unparseable
            ],
        ),
        check(
            "dead-letter queues empty", [m.attributes.get("reason", m.message_id) for m in final.dead_letters]
        ),
    ]


# --- billing -------------------------------------------------------------------------------


def _bill(runtime: LocalRuntime, drain_timeout_s: float) -> tuple[list[dict[str, Any]], Check]:
    """Each legal entity's run for every month with posted time, as ``pshub billing run
    --legal-entity`` starts it, then the same runs again: the second must draft nothing."""
    import boto3

    from pshub.store.postings import PostingLedger
    from pshub.workflows.billing.config import load_billing_config

    dynamodb = boto3.client("dynamodb", region_name=runtime.region)
    postings = PostingLedger(dynamodb, runtime.resource_name("table", "postings"))
    periods = sorted(
        {str(r.line["work_date"])[:7] for r in postings.scan_postings() if r.state == "posted" and r.line}
    )
    config = load_billing_config((REPO_ROOT / "infra/config/billing.json").read_text())
    sfn = boto3.client("stepfunctions", region_name=runtime.region)
    runs: list[dict[str, Any]] = []
    for attempt in ("first", "again"):
        for entity in sorted(config.legal_entities):
            for period in periods:
                name = f"demo-bill-{entity}-{period}-{attempt}"
                arn = sfn.start_execution(
                    stateMachineArn=runtime.state_machine_arn("bill_projects"),
                    name=name,
                    input=json.dumps({"legal_entity": entity, "period": period}),
                )["executionArn"]
                runtime.drain(drain_timeout_s)
                described = sfn.describe_execution(executionArn=arn)
                output = json.loads(described.get("output") or "{}")
                runs.append(
                    {
                        "name": name,
                        "attempt": attempt,
                        "status": described["status"],
                        "results": output.get("results", []),
                    }
                )
    failures = [f"{r['name']}: {r['status']}" for r in runs if r["status"] != "SUCCEEDED"]
    failures += [
        f"{r['name']}: {p.get('project_code')} drafted again"
        for r in runs
        if r["attempt"] == "again"
        for p in r["results"]
        if p.get("status") == "drafted"
    ]
    failures += (
        [] if any(p.get("status") == "drafted" for r in runs for p in r["results"]) else ["nothing drafted"]
    )
    return runs, Check(
        "each billing period drafted once, however often it runs", not failures, "; ".join(failures)
    )


# --- presenting -----------------------------------------------------------------------------


def render_text(report: DemoReport) -> str:
    final = report.final or Outcome([], [], [], [], [])
    lines = [f"pshub local demo against {report.base_url or '(runtime not started)'}", "", "Requests"]
    for case in report.cases:
        row = case.as_dict()
        expected = "" if case.as_expected else f"  [expected {case.expected_status}]"
        lines.append(f"  {'ok  ' if case.as_expected else 'FAIL'} {row['status']!s:>3} {row['connection']:<20} "
                     f"{case.label}{expected}")  # fmt: skip
        lines.append(f"           {row['outcome']}" + (f": {row['message']}" if row["message"] else ""))

    lines += ["", f"Canonical events on the bus ({len(final.events)})"]
    for row in map(_event_row, final.events):
        lines.append(f"  {row['event_type']:<22} {row['connection']:<16} native {row['source_native_id']:<20} "
                     f"correlation {row['correlation_id']}")  # fmt: skip
    suppressed = report.duplicates_suppressed()
    lines += ["", f"Duplicates suppressed ({sum(r['events_not_republished'] for r in suppressed)} events)"]
    lines += [
        f"  {r['label']}: {r['events_not_republished']} event(s) not published again" for r in suppressed
    ]

    lines += ["", f"Business exceptions ({len(final.exceptions)})"]
    for row in map(_exception_row, final.exceptions):
        lines.append(f"  {row['category']:<20} {row['owner_team']:<14} {row['status']:<9} {row['title']}  "
                     f"correlation {row['correlation_id']}")  # fmt: skip
    if final.executions:
        lines += ["", f"Workflow executions ({len(final.executions)})"]
        lines += [f"  {e['state_machine']:<24} {e['name']:<40} {e['status']}" for e in final.executions]
    if report.billing:
        lines += ["", f"Billing runs ({len(report.billing)})"]
        for run in report.billing:
            outcomes = ", ".join(
                f"{p.get('project_code')} {p.get('status')}"
                + (f" {p['total']}" if p.get("total") else "")
                + (f" ({', '.join(p['holds'])})" if p.get("holds") else "")
                for p in run["results"]
            )
            lines.append(f"  {run['name']:<40} {run['status']:<10} {outcomes or 'no projects'}")
    lines += _system_lines(final.systems)
    lines += _queue_lines("Parked on the unmappable queue", final.unmappable)
    lines += _queue_lines("Dead-letter queues", final.dead_letters)

    lines += ["", "Checks"]
    lines += [
        f"  {'ok  ' if c.ok else 'FAIL'} {c.name}" + (f": {c.detail}" if c.detail else "")
        for c in report.checks
    ]
    lines += [
        "",
        f"{'OK' if report.ok else 'FAILED'}: {len(report.cases)} requests, {len(final.events)} canonical "
        f"events; runtime start {report.runtime_start_s:.2f} s, demo {report.wall_s:.2f} s",
    ]
    return "\n".join(lines)


def render_json(report: DemoReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


# Which fields of a system's record say what a person checks first.
_RECORD_FIELDS = (
    "code", "name", "client", "legal_entity", "tax_jurisdiction", "template", "currency", "kind",
    "billing_model", "schedule_type", "project", "linked_project", "active", "archived", "cancelled",
    "entry_id", "project_code", "work_date", "hours", "number", "approval", "lines", "status",
)  # fmt: skip


def _singular(kind: str) -> str:
    return kind[:-3] + "y" if kind.endswith("ies") else kind.removesuffix("s")


def _system_lines(systems: Mapping[str, Any]) -> list[str]:
    lines = ["", "Records in each system (local fakes of the vendors' APIs, reached over HTTP)"]
    for connection_id, system in sorted(systems.items()):
        records = {kind: rows for kind, rows in system.get("records", {}).items() if rows}
        if not records:
            continue
        requests = f", {system['calls']} HTTP requests" if system.get("implementation") == "http fake" else ""
        lines.append(f"  {connection_id} ({system['platform']}, {system['role']}{requests})")
        for kind, rows in records.items():
            for row in rows:
                fields = ", ".join(
                    f"{name}={row[name]}" for name in _RECORD_FIELDS if name in row and row[name] is not None
                )
                lines.append(f"    {_singular(kind)} {row.get('native_id', '?')}: {fields}")
                if row.get("rate_card_roles"):
                    lines.append(f"      rate card roles: {', '.join(row['rate_card_roles'])}")
                if row.get("linked_ids"):
                    ids = ", ".join(f"{k}={v}" for k, v in sorted(row["linked_ids"].items()))
                    lines.append(f"      linked to: {ids}")
    return lines


def _queue_lines(title: str, messages: list[QueueMessage]) -> list[str]:
    lines = ["", f"{title} ({len(messages)})"]
    for message in messages:
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(message.attributes.items()))
        lines.append(f"  {message.message_id}: {attributes}")
    return lines


def _outcome(response: Response | None) -> str:
    if response is None:
        return "not sent"
    return "accepted" if 200 <= response.status < 300 else "rejected"


def _detail(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    return detail if isinstance(detail, dict) else {}


def _correlation(event: dict[str, Any]) -> str:
    return str(_detail(event).get("correlation_id", ""))


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    detail = _detail(event)
    return {
        "event_type": event.get("detail-type"),
        "connection": detail.get("connection"),
        "source_native_id": detail.get("source_native_id"),
        "source_event_id": detail.get("source_event_id"),
        "correlation_id": detail.get("correlation_id"),
        "event_id": detail.get("event_id"),
    }


def _exception_row(exception: dict[str, Any]) -> dict[str, Any]:
    # What and who, not the context: it may carry business values.
    return {
        key: exception.get(key)
        for key in ("id", "category", "owner_team", "status", "title", "correlation_id")
    }


def _execution_row(runtime: LocalRuntime, execution: dict[str, Any]) -> dict[str, Any]:
    status = execution["status"]
    if status == "RUNNING" and runtime.waiting_for_callback(execution["executionArn"]):
        status = "RUNNING (waiting for a person)"
    return {
        "state_machine": execution["stateMachineArn"].rsplit(":", 1)[-1],
        "name": execution["name"],
        "status": status,
    }


def _message_row(message: QueueMessage) -> dict[str, Any]:
    # Attributes say why; the body is the raw delivery, which may hold business data.
    return {
        "queue": message.queue,
        "message_id": message.message_id,
        "attributes": message.attributes,
        "receive_count": message.receive_count,
        "body_bytes": len(message.body.encode()),
    }

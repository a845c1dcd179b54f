"""``pshub status``: the queues, what waits for a person, the workflows and the last day's and
week's figures, in one read of the stack (no scan of logs)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pshub.business_exceptions import Category, Status, totals_by_owner
from pshub.store.exceptions_store import ExceptionStore
from pshub_infra.topology import PIPELINE, Topology
from pshub_local.ops import dlq
from pshub_local.ops.exceptions import totals_doc
from pshub_local.ops.target import Target

WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7)}
PARKING_CATEGORIES = {Category.PROVISIONING_FAILED, Category.AMENDMENT_FAILED}


@dataclass
class WorkflowFigures:
    started: int = 0
    succeeded: int = 0
    failed: int = 0  # failed, timed out or aborted
    running: int = 0
    median_duration_s: float | None = None
    straight_through_rate: float | None = None  # succeeded with no exception raised on the way


@dataclass
class StatusReport:
    stack: str
    queues: list[dlq.QueueRow]
    dead_letters: int
    open_exceptions: int
    by_owner: dict[str, dict[str, Any]]
    parked_workflows: int
    workflows: dict[str, dict[str, WorkflowFigures]] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return (
            self.dead_letters == 0
            and self.open_exceptions == 0
            and not any(f.failed for windows in self.workflows.values() for f in windows.values())
        )

    def to_doc(self) -> dict[str, Any]:
        document = asdict(self)
        document["healthy"] = self.healthy
        return document


def status(target: Target, now: datetime | None = None, topology: Topology = PIPELINE) -> StatusReport:
    now = now or datetime.now(UTC)
    queues = dlq.overview(target, topology)
    store = ExceptionStore(target.client("dynamodb"), target.resource("table", "business_exceptions"))
    every_exception = store.list(None)  # one scan
    open_exceptions = [e for e in every_exception if e.status is Status.OPEN]
    totals = totals_by_owner(open_exceptions)
    by_owner = totals_doc(totals)
    # An execution an exception was raised for (open or resolved) did not go straight through.
    raised_for = {
        str(e.context[key])
        for e in every_exception
        for key in ("execution", "execution_arn")
        if e.context.get(key)
    }
    workflows = {
        spec.key: _figures(target, target.resource("state_machine", spec.key), now, raised_for)
        for spec in topology.state_machines
    }
    return StatusReport(
        stack=target.stack,
        queues=queues,
        dead_letters=sum(row.dead_letters for row in queues),
        open_exceptions=len(open_exceptions),
        by_owner=by_owner,
        parked_workflows=sum(1 for e in open_exceptions if e.category in PARKING_CATEGORIES),
        workflows=workflows,
    )


def _figures(target: Target, arn: str, now: datetime, raised_for: set[str]) -> dict[str, WorkflowFigures]:
    oldest = now - max(WINDOWS.values())
    executions: list[dict[str, Any]] = []
    for page in target.client("stepfunctions").get_paginator("list_executions").paginate(stateMachineArn=arn):
        batch = page["executions"]
        executions += [e for e in batch if _aware(e["startDate"]) >= oldest]
        if batch and _aware(batch[-1]["startDate"]) < oldest:
            break  # newest first: the rest are older than the week
    figures = {}
    for name, span in WINDOWS.items():
        inside = [e for e in executions if _aware(e["startDate"]) >= now - span]
        done = [e for e in inside if e["status"] == "SUCCEEDED"]
        durations = [
            (_aware(e["stopDate"]) - _aware(e["startDate"])).total_seconds()
            for e in done
            if e.get("stopDate")
        ]
        clean = [e for e in done if e["executionArn"] not in raised_for and e["name"] not in raised_for]
        figures[name] = WorkflowFigures(
            started=len(inside),
            succeeded=len(done),
            failed=sum(1 for e in inside if e["status"] in ("FAILED", "TIMED_OUT", "ABORTED")),
            running=sum(1 for e in inside if e["status"] == "RUNNING"),
            median_duration_s=statistics.median(durations) if durations else None,
            straight_through_rate=round(len(clean) / len(inside), 3) if inside else None,
        )
    return figures


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

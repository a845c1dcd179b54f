"""``pshub billing run``: a project's (or a legal entity's) billing run, on demand.

Starts the deployed ``bill_projects`` workflow (the one the daily schedule and a completed
milestone start), waits for it and returns its output: per project the invoice drafted (its
key and total), held (every reason and its owner), already invoiced, nothing to bill, or
refused. A dry run bills nothing and gives the lines it would bill. Running it twice bills
once: the billing ledger decides, not the command.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pshub_local.ops.target import Target

ARN_ENV = "PSHUB_BILLING_STATE_MACHINE_ARN"
FINE = {"drafted", "already_invoiced", "nothing_to_bill", "dry_run", "in_progress"}


class RunFailed(Exception):
    """The run itself did not succeed (not a project held: that is in the output)."""


def start(
    target: Target, project: str | None, legal_entity: str | None, period: str, dry_run: bool
) -> tuple[str, str]:
    """Starts the run; (execution name, ARN)."""
    state: dict[str, Any] = {"period": period, "dry_run": dry_run}
    state.update({"project_code": project} if project else {"legal_entity": legal_entity})
    name = safe_name(
        f"cli-{project or legal_entity}-{period}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    )
    arn = os.environ.get(ARN_ENV) or target.resource("state_machine", "bill_projects")
    started = target.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=name, input=json.dumps(state)
    )
    return name, str(started["executionArn"])


def wait(
    target: Target, arn: str, timeout_s: float, tick: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    """The run's output once it ends; ``RunFailed`` if it failed, ``TimeoutError`` past the timeout."""
    sfn = target.client("stepfunctions")
    deadline, shown = time.monotonic() + timeout_s, time.monotonic()
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] == "SUCCEEDED":
            return dict(json.loads(described["output"]))
        if described["status"] != "RUNNING":
            raise RunFailed(
                f"the run {described['status'].lower()}: {described.get('error', '')} {described.get('cause', '')}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"the billing run is still running after {timeout_s:.0f} s: {arn}")
        if time.monotonic() - shown > 10:
            tick()
            shown = time.monotonic()
        time.sleep(0.5)


def describe(result: dict[str, Any]) -> str:
    code, status = result.get("project_code", "?"), result.get("status", "?")
    lines = [f"{code}  {status}"]
    if status == "drafted":
        lines.append(f"    invoice {result.get('invoice_key')}: {result.get('total')}")
    lines += [f"    held: {reason}" for reason in result.get("holds", [])]
    if result.get("reason"):
        lines.append(f"    {result['reason']}")
    draft = result.get("draft")
    if draft:
        for line in draft["lines"]:
            lines.append(
                f"    {line['amount']:>16}  {line['description']}  ({len(line['sources'])} source(s))"
            )
        lines.append(f"    subtotal {draft['subtotal']}, tax {draft['tax']}, total {draft['total']}")
        lines += [f"    would hold: {h['reason']} ({h['owner']}): {h['message']}" for h in draft["holds"]]
    if status == "failed":
        lines.append(f"    error: {result.get('error')} (an exception is open for finance ops)")
    return "\n".join(lines) + "\n"


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:80]

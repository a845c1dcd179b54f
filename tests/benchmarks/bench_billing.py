"""Billing and change-order figures: state transitions per billed project, and their cost.

Plays the HubSpot sample deal through the local runtime (the ASL CDK deploys, executed by
moto; the platforms are their vendors' local fakes over HTTP), posts approved Toggl time, then:

- a billing run for one project (``pshub billing run --project``), drafted, then again (already
  invoiced); a legal entity's scheduled run over 26 projects (the Map's transitions grow per
  project, the run's own are shared);
- a change order (``amend_contract``): contract checked, ERP and PSA amended, recorded, announced.

Counts billed state transitions (every state entered, Map iterations included, retries
included) from each execution's history, and prices them at the Step Functions Standard
list price. Usage: python tests/benchmarks/bench_billing.py
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers/common"), str(REPO / "infra"), str(REPO)]

PRICE_PER_TRANSITION_USD = 0.025 / 1000  # Step Functions Standard, us-east-1 list price
PERIOD = "2026-12"


def transitions(sfn: Any, arn: str) -> tuple[int, str]:
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
    scheduled = sum(1 for e in history if e["type"] in ("LambdaFunctionScheduled", "TaskScheduled"))
    tasks_entered = sum(1 for e in history if e["type"] == "TaskStateEntered")
    return entered + max(0, scheduled - tasks_entered), sfn.describe_execution(executionArn=arn)["status"]


def run(local: Any, sfn: Any, machine: str, name: str, state: dict[str, Any]) -> tuple[int, str, str]:
    arn = sfn.start_execution(
        stateMachineArn=local.runtime.state_machine_arn(machine), name=name, input=json.dumps(state)
    )["executionArn"]
    local.runtime.drain()
    count, status = transitions(sfn, arn)
    output = json.loads(sfn.describe_execution(executionArn=arn).get("output") or "{}")
    statuses = ",".join(sorted({r.get("status", "?") for r in output.get("results", [])})) or "-"
    return count, status, statuses


def clone_projects(local: Any, code: str, n: int, start: int = 0) -> list[str]:
    """``n`` projects like ``code`` (same contract terms, each its own contract id), each with the
    same posted time: a legal entity's month-end run over ``n`` projects."""
    import boto3

    from pshub.store.postings import PostingLedger
    from pshub.store.projects import ProjectDirectory

    dynamodb = boto3.client("dynamodb", region_name=local.runtime.region)
    directory = ProjectDirectory(dynamodb, local.runtime.resource_name("table", "identity"))
    postings = PostingLedger(dynamodb, local.runtime.resource_name("table", "postings"))
    entry = directory.get(code)
    assert entry is not None and entry.contract is not None
    [posted] = postings.posted_in(code, PERIOD)
    netsuite = local.fake("netsuite-acme")
    job = netsuite.record("job", entry.erp_project_id)
    codes = []
    for i in range(start + 1, start + n + 1):
        clone = f"{code[:-4]}{i + 1000:04d}"
        copy = type(entry)(
            **{**entry.__dict__, "code": clone, "project_id": f"{entry.project_id}-{i}", "rev": 0}
        )
        copy.contract = entry.contract.model_copy(update={"id": f"{entry.contract.id}-{i}"})
        with netsuite.lock:  # the project's job, as provisioning would have created it
            native = str(90000 + i)
            netsuite._records["job"][native] = {**job, "id": native, "entityId": clone, "externalId": clone}
        copy.erp_project_id = native
        directory.register(copy)
        record = type(posted)(
            **{**posted.__dict__, "entry_id": f"{posted.entry_id}-{i}", "project_code": clone, "rev": 0}
        )
        postings.save_posting(record)
        codes.append(clone)
    return codes


def main() -> None:
    import boto3
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    from pshub_local.runtime import LocalRuntime
    from pshub_local.server import WebhookServer
    from tests.e2e.stack import LocalStack
    from tests.e2e.test_change_orders import ORDER, approve
    from tests.e2e.test_time_and_expenses import PROJECT, provision, toggl

    retrier_decl.time = SimpleNamespace(sleep=lambda _s: None)  # type: ignore[attr-defined]
    logging.disable(logging.CRITICAL)
    rows: list[tuple[str, int, int, str, str]] = []
    with (
        contextlib.redirect_stdout(io.StringIO()),
        LocalRuntime() as runtime,
        WebhookServer(runtime) as server,
    ):
        local = LocalStack(runtime, server)
        sfn = boto3.client("stepfunctions", region_name=runtime.region)
        provision(local)
        toggl(local, "time_entry.updated")
        runtime.drain()
        count, status, outcome = run(
            local, sfn, "bill_projects", "one", {"project_code": PROJECT, "period": PERIOD}
        )
        rows.append(("1 project, drafted", 1, count, status, outcome))
        count, status, outcome = run(
            local, sfn, "bill_projects", "again", {"project_code": PROJECT, "period": PERIOD}
        )
        rows.append(("1 project, already invoiced", 1, count, status, outcome))
        clone_projects(local, PROJECT, 25)
        entity = run(local, sfn, "bill_projects", "entity", {"legal_entity": "ACME-US", "period": PERIOD})
        rows.append(("entity run: 25 drafted, 1 already invoiced", 26, *entity))
        approve(local, ORDER)
        [amend] = [e for e in runtime.executions() if e["name"].startswith("co-")]
        count, status = transitions(sfn, amend["executionArn"])
        rows.append(("change order, ERP + PSA amended", 1, count, status, "-"))
    print("billing and change orders: billed state transitions, at $0.025 per 1,000")
    for label, projects, count, status, outcome in rows:
        per_project = count / projects
        print(
            f"  {label:42s} {status:10s} {count:4d} transitions  {per_project:5.1f} per project  "
            f"${per_project * PRICE_PER_TRANSITION_USD * 1000:.3f} per 1,000 projects  [{outcome}]"
        )


if __name__ == "__main__":
    main()

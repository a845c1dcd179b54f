"""Provisioning figures: state transitions per provisioned project and their cost.

Plays a closed-won deal through the local runtime (the ASL CDK deploys, executed by
moto; the platforms are their vendors' local fakes over HTTP) on the happy path, with transient failures absorbed by retries, and parked then
resumed; counts billed state transitions (every state entered, retries included) from
the execution history and prices them at the Step Functions Standard list price.

Usage: python tests/benchmarks/bench_provisioning.py
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers/common"), str(REPO / "infra"), str(REPO)]

PRICE_PER_TRANSITION_USD = 0.025 / 1000  # Step Functions Standard, us-east-1 list price


def transitions(runtime: Any) -> tuple[int, float, str]:
    [execution] = runtime.executions()
    sfn = runtime._sfn
    history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
    # A retried task is scheduled again without re-entering its state; AWS bills each retry.
    scheduled = sum(1 for e in history if e["type"] in ("LambdaFunctionScheduled", "TaskScheduled"))
    tasks_entered = sum(1 for e in history if e["type"] == "TaskStateEntered")
    retries = scheduled - tasks_entered
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    return entered + retries, time.perf_counter(), described["status"]


def scenario(name: str, prepare: Any, resume: bool = False) -> dict[str, Any]:
    import boto3
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    from pshub.store.exceptions_store import ExceptionStore
    from pshub.workflows.provisioning.resolution import resolve_parked
    from pshub_local.runtime import LocalRuntime
    from pshub_local.server import WebhookServer
    from tests.e2e.stack import LocalStack

    retrier_decl.time = SimpleNamespace(sleep=lambda _s: None)  # type: ignore[attr-defined]
    with LocalRuntime() as runtime, WebhookServer(runtime) as server:
        local = LocalStack(runtime, server)
        prepare(runtime)
        started = time.perf_counter()
        local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
        runtime.drain()
        if resume:
            store = ExceptionStore(
                boto3.client("dynamodb", region_name=runtime.region),
                runtime.resource_name("table", "business_exceptions"),
            )
            [parked] = store.list()
            resolve_parked(
                store, boto3.client("stepfunctions", region_name=runtime.region), parked.id, "retry", "fixed"
            )
            runtime.drain()
        count, finished, status = transitions(runtime)
        requests = {cid: len(local_fake.fake.calls()) for cid, local_fake in runtime.fakes.items()}
    return {
        "scenario": name,
        "status": status,
        "transitions": count,
        "seconds": finished - started,
        "requests": requests,
    }


def main() -> None:
    def nothing(runtime: Any) -> None:
        return None

    def flaky_erp(runtime: Any) -> None:
        runtime.fake("netsuite-acme").inject("create_job", 503, times=2)

    def refusing_psa(runtime: Any) -> None:
        archived = {"errors": [{"type": "validation", "message": "Workspace template is archived"}]}
        runtime.fake("kantata-acme").inject("create_workspace", 422, archived)

    logging.disable(logging.CRITICAL)
    rows = []
    with contextlib.redirect_stdout(io.StringIO()):
        rows.append(scenario("happy path", nothing))
        rows.append(scenario("2 transient ERP errors retried", flaky_erp))
        rows.append(scenario("PSA refused, parked, resumed", refusing_psa, resume=True))
    print("opportunity to project: billed state transitions per provisioned project")
    for row in rows:
        cost = row["transitions"] * PRICE_PER_TRANSITION_USD
        print(
            f"  {row['scenario']:32s} {row['status']:10s} {row['transitions']:3d} transitions  "
            f"${cost * 1000:.3f} per 1,000 projects  ({row['seconds']:.2f} s locally)"
        )
    print("HTTP requests per provisioned project, per system (the real connectors against the local fakes)")
    for row in rows:
        systems = ", ".join(f"{cid} {n}" for cid, n in sorted(row["requests"].items()) if n)
        print(f"  {row['scenario']:32s} {sum(row['requests'].values()):3d} in all: {systems}")


if __name__ == "__main__":
    main()

"""``pshub billing run``: a project's (or a legal entity's) billing run, on demand.

Starts the deployed ``bill_projects`` workflow (the one the daily schedule and a completed
milestone start), waits for it and prints each project's outcome: the invoice drafted (its
key and total), held (every reason and its owner), already invoiced, nothing to bill, or
refused. ``--dry-run`` prints the lines it would bill, each with the entries behind it, and
bills nothing. Running it twice bills once: the billing ledger decides, not the command.

The state machine is ``--state-machine-arn``, else ``$PSHUB_BILLING_STATE_MACHINE_ARN``, else
the stack output ``StateMachineBillProjectsArn``. Exit codes: 0 every project billed or had
nothing to bill; 3 a project was held, refused or failed; 1 the run itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import boto3

ARN_ENV = "PSHUB_BILLING_STATE_MACHINE_ARN"
STACK_OUTPUT = "StateMachineBillProjectsArn"
_FINE = {"drafted", "already_invoiced", "nothing_to_bill", "dry_run", "in_progress"}

EXAMPLES = """examples:
  pshub billing run --project PRJ-HARBLOGI-0001 --period 2026-11 --dry-run
  pshub billing run --project PRJ-HARBLOGI-0001 --period 2026-11
  pshub billing run --legal-entity ACME-US --period 2026-11 --json
"""


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "billing", help="run billing for a project or a legal entity (deployed stack)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser(
        "run",
        help="assess a period, then draft its invoice once (or say why it is held)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = run.add_mutually_exclusive_group(required=True)
    which.add_argument("--project", help="the project code")
    which.add_argument("--legal-entity", help="every active project of the legal entity")
    run.add_argument("--period", required=True, help="the billing period, YYYY-MM")
    run.add_argument("--dry-run", action="store_true", help="show what would be billed; bill nothing")
    run.add_argument("--json", action="store_true", help="print the run's output as JSON")
    run.add_argument("--state-machine-arn", help=f"default: ${ARN_ENV}, or the stack output {STACK_OUTPUT}")
    run.add_argument("--stack", default="pshub", help="CloudFormation stack to read the ARN from")
    run.add_argument("--endpoint-url", help="AWS endpoint (e.g. a moto server)")
    run.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")


def run(args: argparse.Namespace, out: TextIO) -> int:
    import boto3

    session = boto3.Session()
    sfn = session.client("stepfunctions", endpoint_url=args.endpoint_url)
    state: dict[str, Any] = {"period": args.period, "dry_run": args.dry_run}
    state.update({"project_code": args.project} if args.project else {"legal_entity": args.legal_entity})
    who = args.project or args.legal_entity
    name = f"cli-{who}-{args.period}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    arn = sfn.start_execution(
        stateMachineArn=_state_machine(args, session), name=_safe(name), input=json.dumps(state)
    )["executionArn"]
    out.write(
        f"billing run {_safe(name)} started for {who}, {args.period}{' (dry run)' if args.dry_run else ''}\n"
    )
    described = _wait(sfn, arn, args.timeout, out)
    if described["status"] != "SUCCEEDED":
        out.write(
            f"the run {described['status'].lower()}: {described.get('error', '')} {described.get('cause', '')}\n"
        )
        return 1
    output = json.loads(described["output"])
    results: list[dict[str, Any]] = output.get("results", [])
    if args.json:
        out.write(json.dumps(output, indent=2) + "\n")
    else:
        for result in results:
            out.write(_describe(result))
        out.write(f"{len(results)} project(s), period {output.get('due', {}).get('period', args.period)}\n")
    return 0 if all(r.get("status") in _FINE for r in results) else 3


def _describe(result: dict[str, Any]) -> str:
    code, status = result.get("project_code", "?"), result.get("status", "?")
    lines = [f"{code}  {status}"]
    if status == "drafted":
        lines.append(f"    invoice {result.get('invoice_key')}: {result.get('total')}")
    for reason in result.get("holds", []):
        lines.append(f"    held: {reason}")
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


def _wait(sfn: Any, arn: str, timeout_s: float, out: TextIO) -> dict[str, Any]:
    deadline, shown = time.monotonic() + timeout_s, time.monotonic()
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise SystemExit(f"the billing run is still running after {timeout_s:.0f} s: {arn}")
        if time.monotonic() - shown > 10:
            out.write("  ... still running\n")
            shown = time.monotonic()
        time.sleep(0.5)


def _state_machine(args: argparse.Namespace, session: boto3.Session) -> str:
    if args.state_machine_arn or os.environ.get(ARN_ENV):
        return str(args.state_machine_arn or os.environ[ARN_ENV])
    from pshub_local.operations import stack_output

    return stack_output(args, session, STACK_OUTPUT, "pass --state-machine-arn")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:80]

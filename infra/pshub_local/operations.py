"""Operator commands against a deployed stack (or any endpoint): business exceptions.

``pshub exceptions list`` shows what waits for a person; ``pshub exceptions resolve ID
--retry|--abandon`` resumes a parked provisioning at its failed step, or compensates
what it created. Uses the default AWS credentials; ``--endpoint-url`` for other targets.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import boto3

TABLE_ENV = "PSHUB_EXCEPTIONS_TABLE"
STACK_OUTPUT = "BusinessExceptionsTable"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("exceptions", help="list or resolve business exceptions (deployed stack)")
    parser.add_argument(
        "--table", help=f"table name (default: ${TABLE_ENV}, or the stack output {STACK_OUTPUT})"
    )
    parser.add_argument("--stack", default="pshub", help="CloudFormation stack to read the table name from")
    parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. a moto server)")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="exceptions waiting for a person (all with --all)")
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--json", action="store_true")
    resolve = actions.add_parser("resolve", help="resume a parked workflow, or abandon it")
    resolve.add_argument("id")
    choice = resolve.add_mutually_exclusive_group(required=True)
    choice.add_argument(
        "--retry", action="store_true", help="re-run the failed step (after fixing the cause)"
    )
    choice.add_argument("--abandon", action="store_true", help="compensate what was created and stop")
    resolve.add_argument("--note", required=True, help="what was done, for the audit trail")


def run(args: argparse.Namespace, out: TextIO) -> int:
    import boto3

    from pshub.business_exceptions import Status
    from pshub.store.exceptions_store import ExceptionStore
    from pshub.workflows.provisioning.resolution import NotResumable, resolve_parked

    session = boto3.Session()
    store = ExceptionStore(session.client("dynamodb", endpoint_url=args.endpoint_url), _table(args, session))
    if args.action == "list":
        found = store.list(None if args.all else Status.OPEN)
        if args.json:
            out.write(json.dumps([e.model_dump(mode="json") for e in found], indent=2) + "\n")
            return 0
        for exception in found:
            keys = ", ".join(f"{k}={v}" for k, v in exception.business_keys.items())
            out.write(
                f"{exception.id}  {exception.status.value:<8} {exception.owner_team.value:<20} {exception.title}\n"
                f"    {exception.detail}\n    {keys}\n"
            )
        out.write(f"{len(found)} exception(s)\n")
        return 0
    sfn = session.client("stepfunctions", endpoint_url=args.endpoint_url)
    try:
        resolved = resolve_parked(store, sfn, args.id, "retry" if args.retry else "abandon", args.note)
    except NotResumable as error:
        out.write(f"cannot resolve: {error}\n")
        return 2
    out.write(f"{resolved.id}: {resolved.resolution}\n")
    return 0


def _table(args: argparse.Namespace, session: boto3.Session) -> str:
    if args.table or os.environ.get(TABLE_ENV):
        return str(args.table or os.environ[TABLE_ENV])
    cloudformation = session.client("cloudformation", endpoint_url=args.endpoint_url)
    outputs = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == STACK_OUTPUT:
            return str(output["OutputValue"])
    raise SystemExit(f"stack {args.stack} has no output {STACK_OUTPUT}; pass --table")

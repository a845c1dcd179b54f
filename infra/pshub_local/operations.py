"""Operator commands against a deployed stack (or any endpoint): business exceptions.

``pshub exceptions list`` shows what waits for a person, most at risk first; ``show ID`` one
with its audit entries; ``pshub exceptions resolve ID --retry|--abandon`` (or ``retry ID`` /
``abandon ID``) resumes a parked provisioning at its failed step, or compensates
what it created; for time or an expense the ERP refused (or pshub could not place), it
posts it again once fixed (exactly once: the posting ledger decides), or leaves it unposted. Uses the default AWS credentials; ``--endpoint-url`` for other targets.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, TextIO

from pshub.business_exceptions import by_impact, matches, totals_by_owner
from pshub.store.audit import AuditLog, caller_identity, exception_subject

if TYPE_CHECKING:
    import boto3

    from pshub.store.exceptions_store import ExceptionStore

TABLE_ENV = "PSHUB_EXCEPTIONS_TABLE"
STACK_OUTPUT = "BusinessExceptionsTable"
AUDIT_TABLE_ENV = "PSHUB_AUDIT_TABLE"
AUDIT_STACK_OUTPUT = "AuditTable"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("exceptions", help="list or resolve business exceptions (deployed stack)")
    parser.add_argument(
        "--table", help=f"table name (default: ${TABLE_ENV}, or the stack output {STACK_OUTPUT})"
    )
    parser.add_argument(
        "--audit-table",
        help=f"audit table (default: ${AUDIT_TABLE_ENV}, or the stack output {AUDIT_STACK_OUTPUT})",
    )
    parser.add_argument("--stack", default="pshub", help="CloudFormation stack to read the table name from")
    parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. a moto server)")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list",
        help="exceptions waiting for a person, most at risk first, with the totals per owner team",
        description=(
            "Open exceptions (all with --all), sorted by business impact: money at risk, then hours, then "
            "blocked project starts, then age. Example: pshub exceptions list --owner finance_ops --older-than 2d"
        ),
    )
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    listing.add_argument(
        "--owner", help="owner team (sales_ops, finance_ops, pmo, integration_support, data_steward)"
    )
    listing.add_argument("--category", help="e.g. posting_rejected, billing_held, amendment_failed")
    listing.add_argument("--connection", help="the connection it concerns")
    listing.add_argument("--project", help="project code")
    listing.add_argument("--older-than", type=_age, help="raised at least this long ago: 30m, 12h, 2d")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one exception with its audit entries")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    resolve = actions.add_parser("resolve", help="resume a parked workflow, or abandon it (audited)")
    resolve.add_argument("id")
    choice = resolve.add_mutually_exclusive_group(required=True)
    choice.add_argument(
        "--retry",
        action="store_true",
        help="re-run the failed step, or post the time or expense again (after fixing the cause)",
    )
    choice.add_argument("--abandon", action="store_true", help="compensate what was created and stop")
    resolve.add_argument("--note", required=True, help="what was done, for the audit trail")
    for name, text in (
        ("retry", "the same as resolve ID --retry: re-run the failed step, or post again, once fixed"),
        ("abandon", "the same as resolve ID --abandon: compensate what was created and stop"),
    ):
        short = actions.add_parser(name, help=text)
        short.add_argument("id")
        short.add_argument("--note", required=True, help="what was done, for the audit trail")


def run(args: argparse.Namespace, out: TextIO) -> int:
    import boto3

    from pshub.business_exceptions import Category, Status
    from pshub.store.exceptions_store import ExceptionStore
    from pshub.workflows.provisioning.resolution import NotResumable, resolve_parked
    from pshub.workflows.time_expense.resolution import NotRetryable, resolve_posting
    from pshub_infra.topology import posting_key

    session = boto3.Session()
    store = ExceptionStore(session.client("dynamodb", endpoint_url=args.endpoint_url), _table(args, session))
    if args.action == "list":
        filters = {
            "owner": args.owner, "category": args.category, "connection": args.connection,
            "project": args.project, "older_than": args.older_than,
        }  # fmt: skip
        found = by_impact(e for e in store.list(None if args.all else Status.OPEN) if matches(e, **filters))
        totals = totals_by_owner(found)
        if args.json:
            document = {
                "exceptions": [e.model_dump(mode="json") for e in found],
                "totals_by_owner": {
                    owner.value: {
                        "count": t.count,
                        "amount_at_risk": {c: str(a) for c, a in sorted(t.amounts.items())},
                        "hours_at_risk": str(t.hours),
                        "blocked_starts": t.blocked_starts,
                    }
                    for owner, t in sorted(totals.items())
                },
            }
            out.write(json.dumps(document, indent=2) + "\n")
            return 0
        for exception in found:
            keys = ", ".join(f"{k}={v}" for k, v in exception.business_keys.items())
            at_risk = ", ".join(
                f"{what} {value}"
                for what, value in (("hours", exception.hours_at_risk), ("amount", exception.amount_at_risk))
                if value
            )
            out.write(
                f"{exception.id}  {exception.status.value:<8} {exception.owner_team.value:<20} {exception.title}\n"
                f"    {exception.detail}\n    {keys}\n" + (f"    at risk: {at_risk}\n" if at_risk else "")
            )
        for owner, total in sorted(totals.items()):
            money = ", ".join(f"{amount} {currency}" for currency, amount in sorted(total.amounts.items()))
            out.write(
                f"{owner.value}: {total.count}, at risk {money or 'no amount'}, {total.hours} h"
                + (f", {total.blocked_starts} project start(s) blocked" if total.blocked_starts else "")
                + "\n"
            )
        out.write(f"{len(found)} exception(s)\n")
        return 0
    if args.action == "show":
        return _show(args, session, store, out)
    if args.action in ("retry", "abandon"):
        args.retry = args.action == "retry"
    action: Literal["retry", "abandon"] = "retry" if args.retry else "abandon"
    audit = _audit(args, session)  # found before anything is done: every resolution is audited
    held = store.get(args.id)
    if held is not None and held.category is Category.POSTING_REJECTED:
        # Time or expense: back on the queue it came from, where the ledger posts it once.
        sqs = session.client("sqs", endpoint_url=args.endpoint_url)
        try:
            resolved = resolve_posting(
                store,
                sqs,
                args.id,
                action,
                args.note,
                queue_url=lambda key: _queue_url(args, session, key),
                posting_queue_of=posting_key,
            )
        except NotRetryable as error:
            out.write(f"cannot resolve: {error}\n")
            return 2
    else:
        sfn = session.client("stepfunctions", endpoint_url=args.endpoint_url)
        try:
            resolved = resolve_parked(store, sfn, args.id, action, args.note)
        except NotResumable as error:
            out.write(f"cannot resolve: {error}\n")
            return 2
    assert held is not None  # resolving an unknown id raises above
    audit.record(
        exception_subject(resolved.id),
        f"exception.{action}",
        caller_identity(session.client("sts", endpoint_url=args.endpoint_url)),
        note=args.note,
        before={"status": held.status.value, "resolution": held.resolution},
        after={"status": resolved.status.value, "resolution": resolved.resolution},
    )
    out.write(f"{resolved.id}: {resolved.resolution}\n")
    return 0


def _show(args: argparse.Namespace, session: boto3.Session, store: ExceptionStore, out: TextIO) -> int:
    found = store.get(args.id)
    if found is None:
        out.write(f"no exception {args.id}\n")
        return 2
    entries = _audit(args, session).entries(exception_subject(found.id))
    if args.json:
        document = {**found.model_dump(mode="json"), "audit": [e.to_doc() for e in entries]}
        out.write(json.dumps(document, indent=2) + "\n")
        return 0
    keys = ", ".join(f"{k}={v}" for k, v in found.business_keys.items())
    out.write(
        f"{found.id}  {found.status.value}  {found.owner_team.value}  {found.category.value}\n"
        f"  {found.title}\n  {found.detail}\n  {keys}\n  raised {found.raised_at.isoformat()}\n"
    )
    for name, value in (("hours at risk", found.hours_at_risk), ("amount at risk", found.amount_at_risk)):
        if value:
            out.write(f"  {name}: {value}\n")
    if found.resolution:
        out.write(f"  resolution: {found.resolution}\n")
    out.write(f"audit ({len(entries)})\n")
    for entry in entries:
        before = (entry.before or {}).get("status")
        after = (entry.after or {}).get("status")
        out.write(f"  {entry.at}  {entry.actor}  {entry.action}  {before} -> {after}  {entry.note or ''}\n")
    return 0


def _audit(args: argparse.Namespace, session: boto3.Session) -> AuditLog:
    name = args.audit_table or os.environ.get(AUDIT_TABLE_ENV)
    if not name:
        name = stack_output(args, session, AUDIT_STACK_OUTPUT, "pass --audit-table")
    return AuditLog(session.client("dynamodb", endpoint_url=args.endpoint_url), name)


def _age(text: str) -> timedelta:
    """``30m``, ``12h``, ``2d`` as a timedelta (argparse reports a bad one with this message)."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 30m, 12h or 2d")
    return timedelta(**{units[unit]: int(number)})


def _queue_url(args: argparse.Namespace, session: boto3.Session, key: str) -> str:
    """A topology queue's URL: ``$PSHUB_QUEUE_<KEY>``, else the stack output ``Queue<Key>Url``."""
    variable = f"PSHUB_QUEUE_{key.upper()}"
    if os.environ.get(variable):
        return os.environ[variable]
    from pshub_infra.constructs.naming import pascal_id

    return stack_output(args, session, f"Queue{pascal_id(key)}Url", f"set {variable}")


def _table(args: argparse.Namespace, session: boto3.Session) -> str:
    if args.table or os.environ.get(TABLE_ENV):
        return str(args.table or os.environ[TABLE_ENV])
    return stack_output(args, session, STACK_OUTPUT, "pass --table")


def stack_output(args: argparse.Namespace, session: boto3.Session, key: str, otherwise: str) -> str:
    """The deployed stack's (``--stack``) output ``key``; exits saying ``otherwise`` if it has none."""
    cloudformation = session.client("cloudformation", endpoint_url=args.endpoint_url)
    outputs = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise SystemExit(f"stack {args.stack} has no output {key}; {otherwise}")

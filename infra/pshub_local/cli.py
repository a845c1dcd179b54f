"""``pshub``: pshub's one command, for the local runtime and for operators of a deployed stack.

    pshub demo                       play every sample webhook and the failure cases (the default)
    pshub serve [--port 8080]        keep the local runtime up (webhooks, and AWS on --aws-port)
    pshub sign CONNECTION FILE       print a curl command signed as the platform would
    pshub status                     queues, dead letters, exceptions by owner, workflows, KPIs
    pshub exceptions list|show|resolve|retry|abandon
    pshub dlq list|show|redrive      dead-letter queues: what is stuck, why, and back again
    pshub connections list|check     each connection, and whether its credentials work
    pshub billing run                a project's or a legal entity's billing run, on demand

The operator commands work against a deployed stack (default AWS credentials; ``--stack``,
``--region``, ``--profile``) or, with ``--local``, against a running ``pshub serve``: the same
code, only the endpoint differs. Human output by default, ``--json`` for scripts. Exit codes:
0 done (nothing needs attention), 1 failed, 2 bad usage or not found, 3 done, and something
needs a person (a held invoice, a failed check, dead letters). stdout carries only the result;
progress and the functions' own logs go to stderr.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from pshub_infra.topology import CONNECTIONS_FILE
from pshub_local.ops.target import DEFAULT_LOCAL_ENDPOINT, DEFAULT_STACK, Target, TargetError

if TYPE_CHECKING:
    from pshub.connections import Connection

log = logging.getLogger("pshub_local")

NEEDS_ATTENTION = 3


@dataclass
class State:
    out: TextIO
    target: Target
    verbose: bool = False


def _help(text: str, examples: Sequence[str] = ()) -> str:
    # "\b" keeps click from re-wrapping the examples into one paragraph.
    return text + ("\n\nExamples:\n\n\b\n" + "\n".join(f"  {e}" for e in examples) if examples else "")


app = typer.Typer(
    name="pshub",
    help="pshub: the embedded local runtime (demo, serve, sign) and the operator commands, against a "
    "deployed stack or, with --local, a running `pshub serve`. Exit codes: 0 done, 1 failed, 2 bad usage "
    "or not found, 3 done and something needs a person.",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=False,
)
exceptions_app = typer.Typer(help="Business exceptions: what waits for a person, most at risk first.")
dlq_app = typer.Typer(help="Dead-letter queues: depth, decoded messages with their error, redrive.")
connections_app = typer.Typer(help="Connections: platform, role, implementation; check their credentials.")
billing_app = typer.Typer(help="Billing runs on demand (the deployed bill_projects workflow).")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(dlq_app, name="dlq")
app.add_typer(connections_app, name="connections")
app.add_typer(billing_app, name="billing")
config_app = typer.Typer(
    help="Configuration as the functions read it (SSM Parameter Store); audited changes."
)
app.add_typer(config_app, name="config")


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one exit code per outcome
    args = list(sys.argv[1:] if argv is None else argv)
    out = sys.stdout
    verbose = any(a in ("-v", "--verbose") for a in args)
    command = "serve" if "serve" in args else next((a for a in args if not a.startswith("-")), "demo")
    # The functions log (Powertools) and print metrics to stdout, as in Lambda;
    # here stdout is the result, so their output goes to stderr.
    functions_out = _FunctionOutput(sys.stderr, show_metrics=verbose)
    state = State(out=out, target=Target())
    with _console(verbose, command), contextlib.redirect_stdout(functions_out):
        try:
            result = typer.main.get_command(app).main(
                args=args, prog_name="pshub", standalone_mode=False, obj=state
            )
        except typer.Abort:
            return 130
        except KeyboardInterrupt:
            return 130
        except typer.Exit as done:
            return int(done.exit_code)
        except Exception as error:
            # typer's own usage errors (its vendored click's ClickException): shown as click shows them
            exit_code = getattr(error, "exit_code", None)
            if hasattr(error, "show") and isinstance(exit_code, int):
                error.show(file=sys.stderr)
                return exit_code
            if isinstance(error, TargetError):
                log.error("%s", error)
                return 2
            log.exception("pshub %s failed", command)
            return 1
    return result if isinstance(result, int) else 0


def _done(code: int = 0) -> None:
    raise typer.Exit(code)


def _state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


# -- the root: where the operator commands work ------------------------------------------------


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="show the functions' logs and metrics")
    ] = False,
    stack: Annotated[
        str, typer.Option(envvar="PSHUB_STACK", help="the deployed stack (pshub, pshub-dev ...)")
    ] = DEFAULT_STACK,
    region: Annotated[
        str | None, typer.Option(help="its AWS region (default: your AWS configuration)")
    ] = None,
    profile: Annotated[str | None, typer.Option(help="the AWS profile to use")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="another AWS endpoint (a moto server)")] = None,
    local: Annotated[bool, typer.Option("--local", help="work against a running `pshub serve`")] = False,
    local_endpoint: Annotated[
        str, typer.Option(envvar="PSHUB_LOCAL_ENDPOINT", help="the AWS endpoint `pshub serve` opened")
    ] = DEFAULT_LOCAL_ENDPOINT,
) -> None:
    """pshub: the local runtime (demo, serve, sign) and the operator commands."""
    state = _state(ctx)
    state.verbose = verbose
    if local:
        state.target = Target.for_local(local_endpoint, stack=stack)
    else:
        state.target = Target(stack=stack, region=region, profile=profile, endpoint_url=endpoint_url)
    if ctx.invoked_subcommand is None:
        _done(_demo(state, None, json_output=False))


# -- the local runtime ---------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    events_dir: Annotated[Path | None, typer.Option(help="folder of <platform>/<sample> files")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", hidden=True)] = False,
) -> None:
    """Play every sample webhook and the failure cases on the embedded runtime (the default)."""
    _done(_demo(_state(ctx), events_dir, json_output))


def _demo(state: State, events_dir: Path | None, json_output: bool) -> int:
    from pshub_local import demo as demo_module

    folder = events_dir or demo_module.DEFAULT_EVENTS_DIR
    if not folder.is_dir():
        log.error("no such folder: %s", folder)
        return 2
    report = demo_module.run_demo(folder)
    print(demo_module.render_json(report) if json_output else demo_module.render_text(report), file=state.out)
    return 0 if report.ok else 1


@app.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="webhook port on 127.0.0.1 (0: any free port)")] = 8080,
    aws_port: Annotated[
        int, typer.Option(help="AWS endpoint port on 127.0.0.1 for `pshub --local ...` (0: any free port)")
    ] = 4566,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", hidden=True)] = False,
) -> None:
    """Keep the local runtime up until Ctrl-C: POST /webhooks/{connection}, and an AWS endpoint
    the operator commands reach with --local."""
    from moto.server import ThreadedMotoServer

    from pshub_local import vendors
    from pshub_local.runtime import LocalRuntime
    from pshub_local.server import WebhookServer

    out = _state(ctx).out
    with LocalRuntime() as runtime, WebhookServer(runtime, port=port) as server:
        # The same moto state, over HTTP: what a separate `pshub --local` process talks to.
        aws = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
        aws.start()
        try:
            host, bound = aws.get_host_and_port()
            runtime.start_pollers()
            runtime.start_schedules()
            lines = [
                f"pshub local runtime: webhooks at {server.url}/webhooks/{{connection}}",
                "",
                "Connections",
            ]
            for connection in runtime.connections.values():
                if not connection.receives_webhooks:
                    lines.append(
                        f"  {connection.id:<18} {connection.platform:<11} outbound ({connection.implementation})"
                    )
                    continue
                secret = runtime.signing_secret(connection.id)
                url = vendors.webhook_url(server.url, connection, secret)
                lines.append(f"  {connection.id:<18} {connection.platform:<11} {url}")
                lines.append(f"  {'':<18} {'':<11} signing secret (LOCAL ONLY): {secret}")
            example = _example_sample(runtime.connections.values())
            if example:
                connection_id, path = example
                sign_command = f"pshub sign {connection_id} {shlex.quote(str(path))} --url {server.url}"
                lines += [
                    "",
                    "Send a sample, signed at the moment you run it:",
                    f'  eval "$({sign_command})"',
                ]
            local_flag = "--local" + ("" if bound == 4566 else f" --local-endpoint http://{host}:{bound}")
            lines += [
                "",
                f"AWS (moto) at http://{host}:{bound}: operate it from another terminal, e.g.",
                f"  pshub {local_flag} status",
                "",
                "Ctrl-C to stop.",
            ]
            print("\n".join(lines), file=out, flush=True)
            _wait_for_stop_signal()
            log.info("stopping")
        finally:
            aws.stop()
    _done(0)


def _wait_for_stop_signal() -> None:
    """Until SIGINT or SIGTERM (set explicitly: a shell starts background jobs with SIGINT ignored)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
def sign(
    ctx: typer.Context,
    connection: Annotated[str, typer.Argument(help="connection id from infra/config/connections.json")],
    file: Annotated[Path, typer.Argument(help="the webhook body, sent byte for byte")],
    url: Annotated[str, typer.Option(help="base URL of `pshub serve`")] = "http://127.0.0.1:8080",
) -> None:
    """Print a curl command with fresh signature headers (the LOCAL-ONLY demo secrets)."""
    import json

    from pshub.connections import parse_registry
    from pshub_local import vendors

    connections = parse_registry(json.loads(CONNECTIONS_FILE.read_text()), str(CONNECTIONS_FILE))
    found = connections.get(connection)
    if found is None:
        log.error("no connection %r; configured: %s", connection, ", ".join(connections))
        _done(2)
    assert found is not None
    if not file.is_file():
        log.error("no such file: %s", file)
        _done(2)
    if not found.receives_webhooks:
        log.error("%s is a %s connection: pshub sends to it, it sends no webhooks", found.id, found.platform)
        _done(2)
    secret = vendors.local_secret(found.id, found.platform)
    request = vendors.sign(found, file.read_bytes(), url, secret)
    command = ["curl", "-sS", "-i", "-X", request.method, request.url]
    for name, value in request.headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["--data-binary", f"@{file}"]
    log.info("signed with the LOCAL-ONLY demo secret of %s%s", found.id,
             "; the signature is valid for 5 minutes" if vendors.signs_timestamp(found.platform) else "")  # fmt: skip
    print(" ".join(shlex.quote(part) for part in command), file=_state(ctx).out)
    _done(0)


def _example_sample(connections: Iterable[Connection]) -> tuple[str, Path] | None:
    """A connection and one of its platform's samples under events/, for the curl example.

    A closed-won deal if there is one: it runs the whole pipeline, workflow included.
    """
    from pshub_local.demo import DEFAULT_EVENTS_DIR, SAMPLE_SUFFIXES

    candidates = [
        (connection.id, path)
        for connection in connections
        if connection.receives_webhooks and (DEFAULT_EVENTS_DIR / connection.platform).is_dir()
        for path in sorted((DEFAULT_EVENTS_DIR / connection.platform).iterdir())
        if path.suffix in SAMPLE_SUFFIXES
    ]
    return next((c for c in candidates if "closed_won" in c[1].name), candidates[0] if candidates else None)


# -- exceptions ----------------------------------------------------------------------------


@exceptions_app.callback()
def exceptions_options(
    ctx: typer.Context,
    table: Annotated[
        str | None,
        typer.Option(envvar="PSHUB_EXCEPTIONS_TABLE", help="the exceptions table (default: the stack's)"),
    ] = None,
    audit_table: Annotated[
        str | None, typer.Option(envvar="PSHUB_AUDIT_TABLE", help="the audit table (default: the stack's)")
    ] = None,
    stack: Annotated[str | None, typer.Option(help="as `pshub --stack`")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="as `pshub --endpoint-url`")] = None,
) -> None:
    target = _state(ctx).target
    if stack:
        target.stack = stack
    if endpoint_url:
        target.endpoint_url = endpoint_url
    if table:
        target.overrides["BusinessExceptionsTable"] = table
    if audit_table:
        target.overrides["AuditTable"] = audit_table


def _age(text: str | None) -> timedelta | None:
    """``30m``, ``12h``, ``2d`` as a timedelta."""
    if text is None:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise typer.BadParameter(f"{text!r} is not an age like 30m, 12h or 2d")
    return timedelta(**{units[unit]: int(number)})


@exceptions_app.command(
    "list",
    help=_help(
        "Open exceptions (all with --all), sorted by business impact: money at risk, then hours, then "
        "blocked project starts, then age; with the totals per owner team (currencies never added).",
        ["pshub exceptions list --owner finance_ops --older-than 2d", "pshub --local exceptions list --json"],
    ),
)
def exceptions_list(
    ctx: typer.Context,
    include_resolved: Annotated[bool, typer.Option("--all", help="resolved ones too")] = False,
    owner: Annotated[
        str | None, typer.Option(help="sales_ops, finance_ops, pmo, integration_support, data_steward")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="e.g. posting_rejected, billing_held, amendment_failed")
    ] = None,
    connection: Annotated[str | None, typer.Option(help="the connection it concerns")] = None,
    project: Annotated[str | None, typer.Option(help="project code")] = None,
    older_than: Annotated[
        str | None, typer.Option(help="raised at least this long ago: 30m, 12h, 2d")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON: {exceptions, totals_by_owner}")] = False,
) -> None:
    from pshub_local.ops import exceptions as ops
    from pshub_local.ops.render import print_json

    state = _state(ctx)
    filters = ops.Filters(owner, category, connection, project, _age(older_than))
    found, totals = ops.list_exceptions(state.target, filters, include_resolved)
    out = state.out
    if json_output:
        print_json(
            out,
            {"exceptions": [ops.exception_doc(e) for e in found], "totals_by_owner": ops.totals_doc(totals)},
        )
        _done(0)
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
    for team, total in sorted(totals.items()):
        money = ", ".join(f"{amount} {currency}" for currency, amount in sorted(total.amounts.items()))
        out.write(
            f"{team.value}: {total.count}, at risk {money or 'no amount'}, {total.hours} h"
            + (f", {total.blocked_starts} project start(s) blocked" if total.blocked_starts else "")
            + "\n"
        )
    out.write(f"{len(found)} exception(s)\n")
    _done(0)


@exceptions_app.command("show")
def exceptions_show(
    ctx: typer.Context,
    exception_id: Annotated[str, typer.Argument(metavar="ID")],
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One exception: the business record, what it concerns (masked), its history and audit entries."""
    import json

    from pshub_local.ops import exceptions as ops
    from pshub_local.ops.render import print_json

    state = _state(ctx)
    shown = ops.show(state.target, exception_id)
    if shown is None:
        state.out.write(f"no exception {exception_id}\n")
        _done(2)
    assert shown is not None
    found, entries = shown
    if json_output:
        print_json(state.out, {**ops.exception_doc(found), "audit": [e.to_doc() for e in entries]})
        _done(0)
    out = state.out
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
    context = ops.exception_doc(found)["context"]
    if context:
        out.write(f"  record: {json.dumps(context, ensure_ascii=False, default=str)[:2000]}\n")
    out.write(f"audit ({len(entries)})\n")
    for entry in entries:
        before = (entry.before or {}).get("status")
        after = (entry.after or {}).get("status")
        out.write(f"  {entry.at}  {entry.actor}  {entry.action}  {before} -> {after}  {entry.note or ''}\n")
    _done(0)


def _resolve(ctx: typer.Context, exception_id: str, retry: bool, note: str) -> None:
    from pshub_local.ops import exceptions as ops

    state = _state(ctx)
    try:
        resolved = ops.resolve(state.target, exception_id, "retry" if retry else "abandon", note)
    except ops.CannotResolve as error:
        state.out.write(f"cannot resolve: {error}\n")
        _done(2)
        return
    state.out.write(f"{resolved.id}: {resolved.resolution}\n")
    _done(0)


NOTE = Annotated[str, typer.Option(help="what was done, for the audit trail")]


@exceptions_app.command(
    "resolve",
    help=_help(
        "Resume a parked workflow at its failed step (--retry) or compensate what it created (--abandon); "
        "for refused time or expenses, post them again once fixed (exactly once). Audited.",
        ['pshub exceptions resolve ID --retry --note "template restored"'],
    ),
)
def exceptions_resolve(
    ctx: typer.Context,
    exception_id: Annotated[str, typer.Argument(metavar="ID")],
    note: NOTE,
    retry: Annotated[bool, typer.Option("--retry", help="re-run the failed step, or post again")] = False,
    abandon: Annotated[bool, typer.Option("--abandon", help="compensate what was created and stop")] = False,
) -> None:
    if retry == abandon:
        raise typer.BadParameter("give one of --retry or --abandon")
    _resolve(ctx, exception_id, retry, note)


@exceptions_app.command("retry")
def exceptions_retry(
    ctx: typer.Context, exception_id: Annotated[str, typer.Argument(metavar="ID")], note: NOTE
) -> None:
    """The same as resolve ID --retry: re-run the failed step, or post again, once fixed."""
    _resolve(ctx, exception_id, True, note)


@exceptions_app.command("abandon")
def exceptions_abandon(
    ctx: typer.Context, exception_id: Annotated[str, typer.Argument(metavar="ID")], note: NOTE
) -> None:
    """The same as resolve ID --abandon: compensate what was created and stop."""
    _resolve(ctx, exception_id, False, note)


# -- dead-letter queues ----------------------------------------------------------------------


@dlq_app.command(
    "list",
    help=_help(
        "Every queue's depth beside its dead-letter queue's, with the oldest dead letter's age.",
        ["pshub dlq list", "pshub --local dlq list --json"],
    ),
)
def dlq_list(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    from dataclasses import asdict

    from rich.table import Table

    from pshub_local.ops import dlq
    from pshub_local.ops.render import age, console, print_json

    state = _state(ctx)
    rows = dlq.overview(state.target)
    if json_output:
        print_json(state.out, [asdict(r) for r in rows])
    else:
        table = Table("queue", "depth", "in flight", "dead-letter queue", "dead letters", "oldest")
        for row in rows:
            table.add_row(
                row.key, str(row.depth), str(row.in_flight), row.dead_letter_queue or "-",
                f"[red]{row.dead_letters}[/red]" if row.dead_letters else "0", age(row.oldest_dead_letter_age_s),
            )  # fmt: skip
        console(state.out).print(table)
    _done(NEEDS_ATTENTION if any(r.dead_letters for r in rows) else 0)


@dlq_app.command(
    "show",
    help=_help(
        "A dead-letter queue's messages, decoded, with their error; rates, salaries and personal data masked. Nothing is moved.",
        [
            "pshub dlq show erp_posting_netsuite_acme_dlq",
            "pshub dlq show raw_deliveries_dlq --limit 5 --json",
        ],
    ),
)
def dlq_show(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="the dead-letter queue's key (see `pshub dlq list`)")],
    limit: Annotated[int, typer.Option(help="at most this many messages")] = 50,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    import json

    from pshub_local.ops import dlq
    from pshub_local.ops.render import print_json

    state = _state(ctx)
    letters = dlq.read(state.target, queue, limit=limit)
    try:
        if json_output:
            print_json(state.out, [letter.to_doc() for letter in letters])
        else:
            for letter in letters:
                state.out.write(
                    f"{letter.message_id}  sent {letter.sent_at}  received {letter.receive_count}x\n"
                    f"    {letter.event_type or '?'}  connection {letter.connection or '?'}  "
                    f"correlation {letter.correlation_id or '?'}\n"
                    f"    error: {letter.error_class or 'not recorded'}{': ' + letter.error if letter.error else ''}\n"
                    f"    {json.dumps(letter.body, ensure_ascii=False, default=str)[:1500]}\n"
                )
            state.out.write(f"{len(letters)} message(s) in {queue}\n")
    finally:
        dlq.release(state.target, queue, letters)
    _done(0)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date or time (2026-12-01, 2026-12-01T09:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dlq_app.command(
    "redrive",
    help=_help(
        "Send dead letters back to the queue they came from, all of them or a selection; those not "
        "selected stay. Safe to run twice: the consumers' idempotency posts a redriven posting once. "
        "Against AWS, a whole queue moves with SQS's own message-move task. Audited.",
        [
            "pshub dlq redrive erp_posting_netsuite_acme_dlq --dry-run",
            "pshub dlq redrive raw_deliveries_dlq --connection hubspot-acme --since 2026-12-01",
            "pshub dlq redrive time_expense_changes_dlq --event-type 'TimeEntry*' --error-class ValidationError",
            "pshub dlq redrive billing_events_dlq --id 3f2c... --id 9a1b...",
        ],
    ),
)
def dlq_redrive(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="the dead-letter queue's key")],
    connection: Annotated[str | None, typer.Option(help="only this connection's")] = None,
    event_type: Annotated[str | None, typer.Option(help="only this event type (a glob: TimeEntry*)")] = None,
    error_class: Annotated[
        str | None, typer.Option(help="only those that failed with this error class")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="sent at or after (ISO date or time, UTC if no zone)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="sent before")] = None,
    message_id: Annotated[
        list[str] | None, typer.Option("--id", help="only these message ids (repeat)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say exactly what would move; move nothing")
    ] = False,
    per_message: Annotated[
        bool,
        typer.Option("--per-message", help="move a whole queue message by message (not SQS's move task)"),
    ] = False,
    note: Annotated[str, typer.Option(help="why, for the audit trail")] = "",
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    from dataclasses import asdict

    from pshub_local.ops import dlq
    from pshub_local.ops.render import print_json, progress

    state = _state(ctx)
    selection = dlq.Selection(
        connection, event_type, error_class, _moment(since), _moment(until), frozenset(message_id or ())
    )
    dlq.check_queue(queue)
    depth = sum(r.dead_letters for r in dlq.overview(state.target) if r.dead_letter_queue == queue)
    with progress(f"redriving {queue}", total=depth) as advance:
        report = dlq.redrive(
            state.target, queue, selection, dry_run=dry_run, per_message=per_message, advance=advance
        )
    if not dry_run and (report.moved or report.failed):
        dlq.audit_redrive(state.target, report, selection, note)
    if json_output:
        print_json(state.out, asdict(report))
    else:
        out = state.out
        verb = "would move" if dry_run else "moved"
        for letter in report.selected:
            out.write(
                f"  {verb} {letter['message_id']}  {letter['event_type'] or '?'}  {letter['connection'] or '?'}  {letter['error_class'] or ''}\n"
            )
        if report.method == "message-move-task":
            out.write(
                f"{queue} -> {report.destination}: SQS message-move task {report.task_handle} started for {report.moved} message(s)\n"
            )
        elif dry_run:
            out.write(
                f"dry run: {len(report.selected)} would move from {queue} to {report.destination}, {report.skipped} would stay\n"
            )
        else:
            out.write(
                f"{queue} -> {report.destination}: {report.moved} moved, {report.skipped} skipped (not selected), {report.failed} failed\n"
            )
        for failure in report.failures:
            out.write(f"  failed: {failure}\n")
    _done(1 if report.failed else 0)


# -- trace and replay ------------------------------------------------------------------------


@app.command(
    help=_help(
        "One business key's timeline, in order: the canonical events about it (and those of the same "
        "deliveries and workflows), the workflow executions and every step, the postings, the exceptions "
        "and their audit entries, with console links where deployed. KEY: a correlation id, an opportunity "
        "id, a project code, an invoice key or document id, a time entry id, or worker:<id>:<ISO week>; "
        "prefix project:, opportunity:, invoice:, entry:, correlation: to say which.",
        [
            "pshub trace PRJ-HARBLOGI-0001",
            "pshub trace opportunity:27182818284 --json",
            "pshub trace worker:ana@firm.example:2026-W49",
        ],
    )
)
def trace(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="what to trace")],
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    from rich.table import Table

    from pshub_local.ops import trace as ops
    from pshub_local.ops.render import console, print_json

    state = _state(ctx)
    try:
        timeline = ops.trace(state.target, key)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if json_output:
        print_json(state.out, timeline.to_doc())
        _done(0 if timeline.items else 2)
    if not timeline.items:
        state.out.write(f"nothing traced under {key} (the trace index keeps a key for 400 days)\n")
        _done(2)
    table = Table("at", "stage", "what", "detail", "ref", title=f"trace {key}")
    for item in timeline.items:
        table.add_row(item.at, item.stage, item.what, item.detail, item.link or item.ref)
    console(state.out).print(table)
    state.out.write(
        f"{len(timeline.items)} item(s); correlation ids: {', '.join(timeline.correlation_ids) or '-'}\n"
    )
    _done(0)


@app.command(
    help=_help(
        "Archived raw deliveries through the normaliser again (after a mapping was fixed). --dry-run "
        "shows, per delivery, the canonical events today's mapping emits against what was emitted before "
        "(new, unchanged, changed field by field, gone) and sends nothing. Without it the selection goes "
        "back on the raw queue, where the normaliser's idempotency and each entity's version decide what "
        "is published. Audited.",
        [
            "pshub replay --since 2026-12-01 --connection hubspot-acme --dry-run",
            "pshub replay --since 2026-12-01T09:00Z --until 2026-12-02 --event-type 'Opportunity*' --key 27182818284",
        ],
    )
)
def replay(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="received at or after (ISO date or time, UTC if no zone)")],
    until: Annotated[str | None, typer.Option(help="received before (default: now)")] = None,
    connection: Annotated[str | None, typer.Option(help="only this connection's deliveries")] = None,
    event_type: Annotated[
        str | None, typer.Option(help="only deliveries mapping to this canonical type (glob)")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="only deliveries whose events name this business key")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the events and the diff; send nothing")
    ] = False,
    only_changed: Annotated[
        bool, typer.Option("--changed", help="list only deliveries whose events change")
    ] = False,
    note: Annotated[str, typer.Option(help="why, for the audit trail")] = "",
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    from pshub_local.ops import replay as ops
    from pshub_local.ops.render import print_json, progress

    state = _state(ctx)
    start = _moment(since)
    assert start is not None
    selection = ops.ReplaySelection(start, _moment(until) or datetime.now(UTC), connection, event_type, key)
    with progress("reading the raw archive", total=0) as advance:
        report = ops.replay(state.target, selection, dry_run=dry_run, advance=advance)
    if not dry_run and report.sent:
        ops.audit_replay(state.target, selection, report, note)
    if only_changed:
        report.selected = [d for d in report.selected if d.changed or d.problem]
    if json_output:
        print_json(state.out, report.to_doc())
        _done(0)
    out = state.out
    for delivery in report.selected:
        out.write(f"{delivery.delivery_id}  {delivery.connection}  received {delivery.received_at}\n")
        if delivery.problem:
            out.write(f"    not mapped: {delivery.problem}\n")
        for event in delivery.events:
            out.write(f"    {event.status:<9} {event.event_type}  {event.event_id}\n")
            for change in event.changes:
                out.write(f"        {change['path']}: {change['before']!r} -> {change['after']!r}\n")
    changed = sum(1 for d in report.selected if d.changed)
    verb = "would send" if dry_run else "sent"
    out.write(
        f"{report.scanned} archived delivery(ies) read, {len(report.selected)} selected, {changed} with events "
        f"that change; {verb} {len(report.selected) if dry_run else report.sent} to the normaliser\n"
    )
    _done(0)


# -- status and connections ------------------------------------------------------------------


@app.command(
    help=_help(
        "Queue and dead-letter depths, open exceptions by owner with the money at risk, workflow executions failed or parked, and the last day's and week's figures.",
        ["pshub status", "pshub --stack pshub-prod --region eu-west-1 status --json"],
    )
)
def status(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    from rich.table import Table

    from pshub_local.ops import status as ops
    from pshub_local.ops.render import age, console, print_json

    state = _state(ctx)
    report = ops.status(state.target)
    if json_output:
        print_json(state.out, report.to_doc())
        _done(0 if report.healthy else NEEDS_ATTENTION)
    screen = console(state.out)
    screen.print(
        f"stack {report.stack}: "
        + ("[green]nothing needs a person[/green]" if report.healthy else "[yellow]needs attention[/yellow]")
    )
    queues = Table("queue", "depth", "in flight", "dead letters", "oldest dead letter", title="Queues")
    for row in report.queues:
        queues.add_row(
            row.key,
            str(row.depth),
            str(row.in_flight),
            str(row.dead_letters),
            age(row.oldest_dead_letter_age_s),
        )
    screen.print(queues)
    owners = Table(
        "owner", "open", "amount at risk", "hours at risk", "blocked starts", title="Open exceptions"
    )
    for owner, totals in report.by_owner.items():
        money = ", ".join(f"{a} {c}" for c, a in totals["amount_at_risk"].items()) or "-"
        owners.add_row(
            owner, str(totals["count"]), money, totals["hours_at_risk"], str(totals["blocked_starts"])
        )
    screen.print(owners)
    screen.print(f"parked workflows: {report.parked_workflows}")
    flows = Table(
        "workflow",
        "window",
        "started",
        "succeeded",
        "failed",
        "running",
        "median time",
        "straight through",
        title="Workflows",
    )
    for key, windows in report.workflows.items():
        for window, f in windows.items():
            rate = f"{f.straight_through_rate:.0%}" if f.straight_through_rate is not None else "-"
            flows.add_row(
                key,
                window,
                str(f.started),
                str(f.succeeded),
                str(f.failed),
                str(f.running),
                age(f.median_duration_s),
                rate,
            )
    screen.print(flows)
    _done(0 if report.healthy else NEEDS_ATTENTION)


def _connections_table(state: State, rows: list[Any], checked: bool) -> None:
    from rich.table import Table

    from pshub_local.ops.render import console

    columns = ["connection", "platform", "role", "implementation", "legal entity", "inbound", "outbound"]
    table = Table(*columns, *(["check", "detail"] if checked else []))
    for row in rows:
        cells = [
            row.id,
            row.platform,
            row.role,
            row.implementation,
            row.legal_entity or "-",
            row.inbound,
            "yes" if row.outbound else "no",
        ]
        if checked:
            colour = {"ok": "green", "failed": "red"}.get(row.check or "", "yellow")
            cells += [f"[{colour}]{row.check}[/{colour}]", row.detail or ""]
        table.add_row(*cells)
    console(state.out).print(table)


@connections_app.command("list")
def connections_list(
    ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Each connection the stack runs with: platform, role, implementation, inbound, outbound."""
    from pshub_local.ops import connections as ops
    from pshub_local.ops.render import print_json

    state = _state(ctx)
    rows = ops.rows(ops.registry(state.target))
    if json_output:
        print_json(state.out, ops.to_docs(rows))
    else:
        _connections_table(state, rows, checked=False)
    _done(0)


@connections_app.command("check")
def connections_check(
    ctx: typer.Context,
    only: Annotated[list[str] | None, typer.Argument(help="connection ids (default: all)")] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Whether each connection's credentials work: one harmless authenticated read (nothing is written)."""
    from pshub_local.ops import connections as ops
    from pshub_local.ops.render import print_json

    state = _state(ctx)
    registry = ops.registry(state.target)
    unknown = sorted(set(only or ()) - set(registry))
    if unknown:
        log.error("no connection %s; configured: %s", ", ".join(unknown), ", ".join(registry))
        _done(2)
    chosen = {k: v for k, v in registry.items() if not only or k in only}
    rows = ops.check(state.target, chosen)
    if json_output:
        print_json(state.out, ops.to_docs(rows))
    else:
        _connections_table(state, rows, checked=True)
    _done(NEEDS_ATTENTION if any(r.check == "failed" for r in rows) else 0)


# -- configuration ---------------------------------------------------------------------------


@config_app.command("list")
def config_list(ctx: typer.Context, json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each configuration, its SSM parameter, its size and digest."""
    from pshub_local.ops import config as ops
    from pshub_local.ops.render import print_json

    state = _state(ctx)
    rows = []
    for key, variable in sorted(ops.variables().items()):
        text = ops.read(state.target, key)
        rows.append(
            {
                "key": key,
                "variable": variable,
                "parameter": ops.parameter_name(state.target, variable),
                "bytes": len(text.encode()),
                "sha256": ops.digest(text),
            }
        )
    if json_output:
        print_json(state.out, rows)
    else:
        for row in rows:
            state.out.write(f"{row['key']:<18} {row['parameter']:<40} {row['bytes']:>6} B  {row['sha256']}\n")
    _done(0)


@config_app.command("show")
def config_show(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="e.g. ownership-policy")]
) -> None:
    """The configuration's text, exactly as the functions read it."""
    from pshub_local.ops import config as ops

    state = _state(ctx)
    state.out.write(ops.read(state.target, key).rstrip("\n") + "\n")
    _done(0)


@config_app.command(
    "set",
    help=_help(
        "Replace a configuration from a file: checked by the functions' own loader first, written "
        "to its SSM parameter, recorded on the audit trail (who, the note, digests before and after, "
        "the changed lines). Exit 0: written, or nothing changed; 2: the file was refused.",
        [
            "pshub config set ownership-policy infra/config/ownership.toml --dry-run",
            "pshub config set billing infra/config/billing.json --note 'UK rounding per finance'",
        ],
    ),
)
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="e.g. ownership-policy")],
    path: Annotated[Path, typer.Argument(help="the new text", exists=True, dir_okay=False)],
    note: Annotated[str, typer.Option(help="why, for the audit trail")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and show the diff; write nothing")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    from pshub_local.ops import config as ops
    from pshub_local.ops.render import print_json

    state = _state(ctx)
    try:
        result = ops.change(state.target, key, path.read_text(encoding="utf-8"), note, dry_run=dry_run)
    except ValueError as error:
        log.error("%s", error)
        _done(2)
        return
    if json_output:
        print_json(state.out, result.to_doc())
    else:
        for line in result.diff:
            state.out.write(line + "\n")
        verdict = (
            "unchanged"
            if not result.changed
            else "written and audited"
            if result.applied
            else "would change (dry run: nothing written)"
        )
        state.out.write(f"{key}: {result.before} -> {result.after}: {verdict}\n")
    _done(0)


# -- billing ---------------------------------------------------------------------------------


@billing_app.command(
    "run",
    help=_help(
        "Assess a period, then draft its invoice once (or say why it is held). Exit 0: every project "
        "billed or had nothing to bill; 3: a project was held, refused or failed; 1: the run failed.",
        [
            "pshub billing run --project PRJ-HARBLOGI-0001 --period 2026-11 --dry-run",
            "pshub billing run --legal-entity ACME-US --period 2026-11 --json",
        ],
    ),
)
def billing_run(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="the billing period, YYYY-MM")],
    project: Annotated[str | None, typer.Option(help="the project code")] = None,
    legal_entity: Annotated[str | None, typer.Option(help="every active project of the legal entity")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would be billed; bill nothing")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print the run's output as JSON")] = False,
    state_machine_arn: Annotated[str | None, typer.Option(help="default: the stack's bill_projects")] = None,
    stack: Annotated[str | None, typer.Option(help="as `pshub --stack`")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="as `pshub --endpoint-url`")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the run")] = 900.0,
) -> None:
    import json

    from pshub_local.ops import billing as ops

    if (project is None) == (legal_entity is None):
        raise typer.BadParameter("give one of --project or --legal-entity")
    state = _state(ctx)
    target = state.target
    if stack:
        target.stack = stack
    if endpoint_url:
        target.endpoint_url = endpoint_url
    if state_machine_arn:
        target.overrides["StateMachineBillProjectsArn"] = state_machine_arn
    out = state.out
    name, arn = ops.start(target, project, legal_entity, period, dry_run)
    out.write(
        f"billing run {name} started for {project or legal_entity}, {period}{' (dry run)' if dry_run else ''}\n"
    )

    def still_running() -> None:
        out.write("  ... still running\n")

    try:
        output = ops.wait(target, arn, timeout, tick=still_running)
    except (ops.RunFailed, TimeoutError) as error:
        out.write(f"{error}\n")
        _done(1)
        return
    results: list[dict[str, Any]] = output.get("results", [])
    if json_output:
        out.write(json.dumps(output, indent=2) + "\n")
    else:
        for result in results:
            out.write(ops.describe(result))
        out.write(f"{len(results)} project(s), period {output.get('due', {}).get('period', period)}\n")
    _done(0 if all(r.get("status") in ops.FINE for r in results) else NEEDS_ATTENTION)


# -- output plumbing -------------------------------------------------------------------------


class _FunctionOutput(io.TextIOBase):
    """Where the functions' stdout goes: stderr, without the metric (EMF) lines unless asked."""

    def __init__(self, target: TextIO, show_metrics: bool) -> None:
        self._target = target
        self._show_metrics = show_metrics
        self._pending = ""
        self._lock = threading.Lock()  # the server and the pollers write from their threads

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._pending + text).split("\n")
            self._pending = lines.pop()
            for line in lines:
                if self._show_metrics or not line.startswith('{"_aws":'):
                    self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()


@contextlib.contextmanager
def _console(verbose: bool, command: str) -> Iterator[None]:
    """Progress on stderr for the length of the command; global logging state restored after."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Our progress lines get their own handler: Powertools filters the root handlers
    # for any logger whose name contains its service name ("pshub" is in "pshub_local").
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("pshub_local.access")
    saved = (log.level, log.propagate, access.level)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    access.setLevel(logging.INFO if verbose or command == "serve" else logging.WARNING)
    # The functions' logs: quiet in the demo (it reports), informative when serving.
    # Read by Powertools when the functions first load; the user's own setting wins.
    set_level = "POWERTOOLS_LOG_LEVEL" not in os.environ
    if set_level:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if verbose or command == "serve" else "ERROR"
    try:
        yield
    finally:
        if set_level:
            os.environ.pop("POWERTOOLS_LOG_LEVEL", None)
        log.removeHandler(handler)
        log.level, log.propagate, access.level = saved


if __name__ == "__main__":
    sys.exit(main())

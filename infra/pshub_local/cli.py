"""``pshub``: run pshub on this machine with no AWS account and no Docker.

    pshub demo [--events-dir DIR] [--json]   play every sample webhook and the failure cases
    pshub serve [--port 8080]                keep the webhook endpoint up until Ctrl-C
    pshub sign CONNECTION FILE [--url URL]   print a curl command signed as the platform would

stdout carries only the result (summary, curl command); progress and the
functions' own logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pshub_infra.topology import CONNECTIONS_FILE
from pshub_local import billing_cli, operations

if TYPE_CHECKING:
    from pshub.connections import Connection

log = logging.getLogger("pshub_local")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "demo"
    out = sys.stdout
    # The functions log (Powertools) and print metrics to stdout, as in Lambda;
    # here stdout is the result, so their output goes to stderr.
    functions_out = _FunctionOutput(sys.stderr, show_metrics=args.verbose)
    with _console(args.verbose, command), contextlib.redirect_stdout(functions_out):
        try:
            commands = {
                "demo": _demo,
                "serve": _serve,
                "exceptions": operations.run,
                "billing": billing_cli.run,
                "sign": _sign,
            }
            return commands[command](args, out)
        except KeyboardInterrupt:
            return 130
        except Exception:
            log.exception("pshub %s failed", command)
            return 1


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pshub", description="pshub's embedded local runtime (moto, in-process)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the functions' logs and metrics")
    commands = parser.add_subparsers(dest="command", metavar="{demo,serve,sign,exceptions}")

    demo = commands.add_parser("demo", help="play every sample webhook and the failure cases (default)")
    demo.add_argument("--events-dir", type=Path, default=None, help="folder of <platform>/<sample> files")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)

    serve = commands.add_parser("serve", help="serve POST /webhooks/{connection} until Ctrl-C")
    serve.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free port)")
    serve.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)

    sign = commands.add_parser("sign", help="print a curl command with fresh signature headers")
    sign.add_argument("connection", help="connection id from infra/config/connections.json")
    sign.add_argument("file", type=Path, help="the webhook body, sent byte for byte")
    sign.add_argument("--url", default="http://127.0.0.1:8080", help="base URL of `pshub serve`")
    operations.add_parser(commands)
    billing_cli.add_parser(commands)
    parser.set_defaults(events_dir=None, json=False)
    return parser


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


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from pshub_local import demo

    events_dir = args.events_dir or demo.DEFAULT_EVENTS_DIR
    if not events_dir.is_dir():
        log.error("no such folder: %s", events_dir)
        return 2
    report = demo.run_demo(events_dir)
    print(demo.render_json(report) if args.json else demo.render_text(report), file=out)
    return 0 if report.ok else 1


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from pshub_local import vendors
    from pshub_local.runtime import LocalRuntime
    from pshub_local.server import WebhookServer

    with LocalRuntime() as runtime, WebhookServer(runtime, port=args.port) as server:
        runtime.start_pollers()
        runtime.start_schedules()
        lines = [f"pshub local runtime: webhooks at {server.url}/webhooks/{{connection}}", "", "Connections"]
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
            sign = f"pshub sign {connection_id} {shlex.quote(str(path))} --url {server.url}"
            lines += ["", "Send a sample, signed at the moment you run it:", f'  eval "$({sign})"']
        lines += ["", "Ctrl-C to stop."]
        print("\n".join(lines), file=out, flush=True)
        _wait_for_stop_signal()
        log.info("stopping")
    return 0


def _wait_for_stop_signal() -> None:
    """Until SIGINT or SIGTERM (set explicitly: a shell starts background jobs with SIGINT ignored)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _sign(args: argparse.Namespace, out: TextIO) -> int:
    import json

    from pshub.connections import parse_registry
    from pshub_local import vendors

    connections = parse_registry(json.loads(CONNECTIONS_FILE.read_text()), str(CONNECTIONS_FILE))
    connection = connections.get(args.connection)
    if connection is None:
        log.error("no connection %r; configured: %s", args.connection, ", ".join(connections))
        return 2
    if not args.file.is_file():
        log.error("no such file: %s", args.file)
        return 2
    if not connection.receives_webhooks:
        log.error(
            "%s is a %s connection: pshub sends to it, it sends no webhooks",
            connection.id,
            connection.platform,
        )
        return 2
    secret = vendors.local_secret(connection.id, connection.platform)
    request = vendors.sign(connection, args.file.read_bytes(), args.url, secret)
    command = ["curl", "-sS", "-i", "-X", request.method, request.url]
    for name, value in request.headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["--data-binary", f"@{args.file}"]
    log.info("signed with the LOCAL-ONLY demo secret of %s%s", connection.id,
             "; the signature is valid for 5 minutes" if vendors.signs_timestamp(connection.platform) else "")  # fmt: skip
    print(" ".join(shlex.quote(part) for part in command), file=out)
    return 0


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


if __name__ == "__main__":
    sys.exit(main())

"""Month-end burst: N approved time entries from the raw queue to the ERP, at the ERP's limits.

Runs the local runtime (moto; the NetSuite fake over HTTP on 127.0.0.1) with the fake limited
to R requests/s (its own 429 beyond that; its bucket twice the declared burst), C requests in flight (a 429 beyond that, as NetSuite
refuses over its account concurrency) and B entries per request (NetSuite's record API takes
one time bill per request: B = 1), each request taking a fixed latency. The raw queue receives
N signed-and-verified Toggl deliveries, one approved entry each; the normaliser and the
approvals step run on the runtime's consumers, and the posting function's work runs in C
workers (the function's reserved concurrency, from the connection's declared limits), each
through the real posting code (``pshub.workflows.time_expense.queueing.handle_batch``).

Prints, per run: drain time, the theoretical minimum N / (R x B) (plus the outage when one is
injected), their ratio, postings made, duplicates, lost, DLQ count, and the p50 / p99 time
from approval (the delivery reaching the raw queue) to posting (the ERP's answer).

Runs: clean; 10 % of requests answered 429 (half with Retry-After); a 30-second ERP outage;
every delivery twice.

``--prefill`` times the posting stage alone (the clock starts once every approval is on the
posting queue): in this one process the normaliser, the approvals step and moto share one
interpreter with the posting workers, which AWS runs in parallel.

Usage: python tests/benchmarks/bench_burst.py [--n 20000] [--rate 10] [--burst 5] [--concurrency 5]
       [--latency-ms 40] [--runs clean,throttled,outage,duplicated] [--prefill]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers/common"), str(REPO / "infra"), str(REPO)]

ERP = "netsuite-acme"
SOURCE = "toggl-acme"
PROJECT = "PRJ-HARBLOGI-0001"
OUTAGE_S = 30.0


class Gate:
    """The ERP's limits and faults, in front of the fake's own handling of each request."""

    def __init__(self, fake: Any, *, concurrency: int, latency_s: float, throttle_share: float) -> None:
        self.fake = fake
        self.concurrency = concurrency
        self.latency_s = latency_s
        self.throttle_share = throttle_share
        self.in_flight = 0
        self.lock = threading.Lock()
        self.posted_at: dict[str, float] = {}
        self.puts: dict[str, int] = {}
        self.answers: dict[int, int] = {}
        self.random = random.Random(7)
        self.outage_from = self.outage_until = 0.0
        self.refused_for_concurrency = 0
        self._handle = fake.handle

    def install(self) -> None:
        self.fake.handle = self.handle

    def handle(self, request: Any) -> Any:
        from pshub_local.fakes import FakeResponse

        with self.lock:
            over = self.in_flight >= self.concurrency
            if not over:
                self.in_flight += 1
            roll = self.random.random()
        if over:
            self.refused_for_concurrency += 1
            return self._count(FakeResponse(429, _error("SSS_REQUEST_LIMIT_EXCEEDED"), {}))
        try:
            time.sleep(self.latency_s)
            if self.outage_from <= time.monotonic() < self.outage_until:
                return self._count(FakeResponse(503, {"title": "Service Unavailable"}, {}))
            if roll < self.throttle_share:
                headers = {"Retry-After": "1"} if roll < self.throttle_share / 2 else {}
                return self._count(FakeResponse(429, _error("Too Many Requests"), headers))
            response = self._handle(request)
            if request.method == "PUT" and "/timeBill/eid:" in request.path and response.status < 300:
                key = request.path.rsplit("eid:", 1)[1]
                with self.lock:
                    self.puts[key] = self.puts.get(key, 0) + 1
                    self.posted_at.setdefault(key, time.perf_counter())
            return self._count(response)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _count(self, response: Any) -> Any:
        with self.lock:
            self.answers[response.status] = self.answers.get(response.status, 0) + 1
        return response


def _error(code: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": "Too Many Requests", "status": 429,
            "o:errorDetails": [{"detail": "Request limit exceeded", "o:errorCode": code}]}  # fmt: skip


def delivery_body(n: int) -> bytes:
    """A Toggl ``time_entry`` update: entry ``n``, 1.5 h, approved, as Toggl's webhook carries it."""
    document = json.loads((REPO / "events/toggl/time_entry.updated.json").read_bytes())
    document["event_id"] = 9_000_000_000_000_000 + n
    day = 1 + n % 28
    document["payload"] = {
        **document["payload"],
        "id": 5_000_000_000 + n,
        "start": f"2026-12-{day:02d}T14:00:00Z",
        "stop": f"2026-12-{day:02d}T15:30:00Z",
        "at": "2026-12-29T09:00:00+00:00",
    }
    return json.dumps(document).encode()


def run(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import boto3
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    from pshub.connectors.registry import connector_for
    from pshub.pipeline.raw_delivery import RawDelivery
    from pshub.store.exceptions_store import ExceptionStore
    from pshub.store.postings import PostingLedger
    from pshub.store.raw_queue import RawDeliveryQueue
    from pshub.workflows.time_expense.posting import ErpPoster
    from pshub.workflows.time_expense.queueing import PostingQueue, handle_batch
    from pshub_infra.topology import (
        CLAIM_CHECK_THRESHOLD_BYTES,
        CONNECTIONS_FILE,
        POSTING_TIMEOUT_S,
        posting_key,
    )
    from pshub_local.consumers import sqs_event
    from pshub_local.runtime import LocalRuntime
    from pshub_local.server import WebhookServer
    from tests.e2e.stack import LocalStack

    retrier_decl.time = SimpleNamespace(sleep=lambda _s: None)  # type: ignore[assignment,attr-defined]
    _serialise_aws_calls()
    registry = json.loads(CONNECTIONS_FILE.read_text())
    for connection in registry["connections"]:
        if connection["id"] == ERP:  # the declared limits: what the connector paces itself to
            connection["options"].update(
                rate_per_s=str(args.rate),
                burst=str(args.burst),
                max_concurrency=str(args.concurrency),
                max_wait_s="30",
            )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(registry, file)
    key = posting_key(ERP)
    with LocalRuntime(connections_file=Path(file.name)) as runtime, WebhookServer(runtime) as server:
        local = LocalStack(runtime, server)
        local.deliver("hubspot-acme", "hubspot/deal.closed_won.json")
        runtime.drain(120)
        fake = runtime.fake(ERP)
        # The ERP measures arrivals: in this one process a busy interpreter can hold several
        # requests back and release them together, which a real network does far less. Its
        # bucket holds twice the declared burst; its rate is exactly the declared one.
        fake.set_rate(args.rate, burst=2 * args.burst)
        gate = Gate(
            fake,
            concurrency=args.concurrency,
            latency_s=args.latency_ms / 1000,
            throttle_share=0.10 if name == "throttled" else 0.0,
        )
        gate.install()
        session = boto3.Session(region_name=runtime.region)
        sqs = session.client("sqs")
        raw = RawDeliveryQueue(
            lambda: sqs, runtime.queue_url("raw_deliveries"), runtime.resource_name("bucket", "claim_checks"),
            lambda: session.client("s3"), CLAIM_CHECK_THRESHOLD_BYTES,
        )  # fmt: skip
        connection = runtime.connections[SOURCE]
        served = runtime.fakes[ERP].served
        ledger = PostingLedger(session.client("dynamodb"), runtime.resource_name("table", "postings"))
        queue = PostingQueue(lambda: sqs, runtime.queue_url(key), runtime.queue_url(f"{key}_dlq"))
        poster = ErpPoster(
            connection_id=ERP,
            connector=lambda: connector_for(served, "erp"),
            ledger=ledger,
            exceptions=ExceptionStore(
                session.client("dynamodb"), runtime.resource_name("table", "business_exceptions")
            ),
            requeue=queue.requeue,
            dead_letter=queue.dead_letter,
        )
        copies = 2 if name == "duplicated" else 1
        started = time.perf_counter()
        approved_at: dict[int, float] = {}
        for n in range(args.n):
            body = delivery_body(n)
            for _ in range(copies):
                delivery = RawDelivery(
                    delivery_id=f"bench-{name}-{n}-{_}", correlation_id=f"bench-{n}", connection=SOURCE,
                    platform="toggl", received_at="2026-12-29T09:00:01Z", method="POST",
                    url=f"https://hooks.example.com/webhooks/{SOURCE}", headers={}, source_ip="127.0.0.1",
                    legal_entity=connection.legal_entity, role=connection.role, options=dict(connection.options),
                )  # fmt: skip
                raw.enqueue(delivery, body)
            approved_at[n] = time.perf_counter()
        done = threading.Event()
        errors: list[BaseException] = []
        batch_failures: list[int] = []
        upstream = [c for c in runtime._consumers if c.spec.queue != key]

        def pipeline() -> None:
            try:
                while not done.is_set():
                    if sum(c.poll_once() for c in upstream) == 0:
                        time.sleep(0.05)
            except BaseException as error:
                errors.append(error)

        def worker() -> None:
            try:
                while not done.is_set():
                    messages = _receive(sqs, runtime.queue_url(key), 100)
                    if not messages:
                        time.sleep(0.25)  # idle: a long poll's worth, without holding the GIL
                        continue
                    event = sqs_event(messages, runtime.resource_arn("queue", key), runtime.region)
                    deadline = time.monotonic() + POSTING_TIMEOUT_S  # one invocation's time, as deployed
                    response = handle_batch(event, poster, queue, lambda d=deadline: d - time.monotonic())
                    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
                    batch_failures.append(len(failed))
                    # What failed is seen again after its visibility timeout, as Lambda leaves it.
                    _delete(
                        sqs, runtime.queue_url(key), [m for m in messages if m["MessageId"] not in failed]
                    )
                    _retry_now(sqs, runtime.queue_url(key), [m for m in messages if m["MessageId"] in failed])
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=pipeline, daemon=True)]
        if getattr(args, "prefill", False):  # the posting stage alone: its queue full first
            threads[0].start()
            while runtime.queue_depth(key) < args.n * 0.99 and not errors:
                time.sleep(0.5)
            started = time.perf_counter()
            approved_at = dict.fromkeys(approved_at, started)  # the posting stage's own latency
        if name == "outage":
            gate.outage_from = time.monotonic() + 5  # from 5 s in, for 30 s
            gate.outage_until = gate.outage_from + OUTAGE_S
        threads += [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
        for thread in threads:
            if not thread.is_alive():
                thread.start()
        deadline = time.monotonic() + args.timeout_s
        while len(gate.posted_at) < args.n and time.monotonic() < deadline and not errors:
            time.sleep(0.2)
        drained = time.perf_counter() - started
        done.set()
        for thread in threads:
            thread.join()  # a worker ends after its batch: before the runtime goes
        if errors:
            raise errors[0]
        dlq = sum(runtime.queue_depth(q.key) for q in runtime.topology.queues if q.key.endswith("dlq"))
        bills = fake.records()["time_entries"]
        per_entry: dict[str, int] = {}
        for bill in bills:
            per_entry[bill["entry_id"]] = per_entry.get(bill["entry_id"], 0) + 1
        unposted = [r for r in ledger.scan_postings() if r.state != "posted"]
        queued: dict[str, Any] = {
            q.key: runtime.queue_depth(q.key) for q in runtime.topology.queues if runtime.queue_depth(q.key)
        }
        queued["exceptions"] = len(runtime.business_exceptions())
        queued["failed_batches"] = sum(1 for f in batch_failures if f)
        states: dict[str, int] = {}
        for r in ledger.scan_postings():
            states[r.state] = states.get(r.state, 0) + 1
        queued["ledger"] = states
        queued["approved_events"] = sum(
            1 for e in runtime.canonical_events() if e["detail-type"] == "TimeEntryApproved"
        )
        queued["changed_events"] = sum(
            1 for e in runtime.canonical_events() if e["detail-type"] == "TimeEntryChanged"
        )
        latencies = sorted(
            gate.posted_at[k] - approved_at[n]
            for n, k in enumerate(sorted(gate.posted_at))  # entries all enqueued before any posts
            if n in approved_at
        )
    minimum = args.n / (args.rate * 1) + (OUTAGE_S if name == "outage" else 0.0)
    return {
        "run": name,
        "drain_s": drained,
        "minimum_s": minimum,
        "ratio": drained / minimum,
        "postings": len(bills),
        "duplicates": sum(n - 1 for n in per_entry.values()) + sum(n - 1 for n in gate.puts.values()),
        "lost": args.n - len(per_entry),
        "dlq": dlq,
        "p50_s": statistics.median(latencies) if latencies else float("nan"),
        "p99_s": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "answers": {**dict(sorted(gate.answers.items())), "429 concurrency": gate.refused_for_concurrency},
        "unposted": [(r.entry_id, r.state, r.version, r.target_version, r.history[-3:]) for r in unposted][
            :5
        ],
        "queued": queued,
    }


def _serialise_aws_calls() -> None:
    """moto's backends are not thread-safe, and the workers here run in parallel (as Lambda
    invocations would, each with its own AWS): one AWS call at a time; the ERP calls overlap."""
    import botocore.client

    call = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private, untyped
    if getattr(call, "serialised", False):
        return
    lock = threading.RLock()

    def serialised(self: Any, operation: str, params: Any) -> Any:
        with lock:
            return call(self, operation, params)

    serialised.serialised = True  # type: ignore[attr-defined]
    setattr(botocore.client.BaseClient, "_make_api_call", serialised)  # noqa: B010


def _receive(sqs: Any, url: str, most: int, window_s: float = 1.0) -> list[Any]:
    """A batch as Lambda's SQS poller makes one: up to ``most``, gathered for at most the
    mapping's batching window (1 s) once the first message is in."""
    batch: list[Any] = []
    first = None
    while len(batch) < most:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
        ).get("Messages", [])
        if got:
            batch += got
            first = first or time.monotonic()
            continue
        if not batch or time.monotonic() - (first or 0) >= window_s:
            break
        time.sleep(0.05)
    return batch


def _retry_now(sqs: Any, url: str, messages: list[Any]) -> None:
    for start in range(0, len(messages), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 1}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


def _delete(sqs: Any, url: str, messages: list[Any]) -> None:
    for start in range(0, len(messages), 10):
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="approved entries (default 20,000)")
    parser.add_argument("--rate", type=float, default=10.0, help="ERP requests per second (R)")
    parser.add_argument("--concurrency", type=int, default=5, help="ERP requests in flight (C)")
    parser.add_argument("--burst", type=int, default=5, help="requests the ERP takes at once above its rate")
    parser.add_argument("--latency-ms", type=float, default=40.0, help="the ERP's time per request")
    parser.add_argument("--runs", default="clean,throttled,outage,duplicated")
    parser.add_argument("--timeout-s", type=float, default=7200.0)
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="time the posting stage alone: the clock starts once the approvals are all on the posting queue",
    )
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    stage = "posting queue -> ERP (--prefill)" if args.prefill else "raw queue -> ERP"
    print(f"month-end burst, {stage}: N={args.n:,} approved entries, ERP at R={args.rate:g} req/s, "
          f"C={args.concurrency}, B=1 entry per request, {args.latency_ms:g} ms per request", flush=True)  # fmt: skip
    print(f"  {'run':<11} {'drain s':>8} {'min s':>8} {'ratio':>6} {'posted':>7} {'dup':>4} {'lost':>5} "
          f"{'DLQ':>4} {'p50 s':>7} {'p99 s':>7}  ERP answers", flush=True)  # fmt: skip
    for name in args.runs.split(","):
        with contextlib.redirect_stdout(io.StringIO()):
            row = run(name, args)
        print(
            f"  {row['run']:<11} {row['drain_s']:8.1f} {row['minimum_s']:8.1f} {row['ratio']:6.2f} "
            f"{row['postings']:7d} {row['duplicates']:4d} {row['lost']:5d} {row['dlq']:4d} "
            f"{row['p50_s']:7.1f} {row['p99_s']:7.1f}  {row['answers']}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Ingress benchmark: our handler against the floor, in one run, as ratios.

The floor is the least any webhook receiver must do: one ``hmac`` signature check
with ``compare_digest`` and one ``sqs.send_message``. Both sides use the same boto3
SQS client whose HTTP send is answered in-process (so AWS latency and moto are out
of the measurement, but request building, signing and parsing are in).

Prints: per-request median and p99 over N requests (ours, floor, ratio); fresh-process
cold start (import + first request) for ours and the floor; cold import of the
ingress module against ``import boto3`` alone; and AWS requests per accepted webhook.

Usage: python tests/benchmarks/bench_ingress.py [--requests 10000] [--cold-runs 15]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SECRET = "whsec_benchmark_only_0123456789abcdef"  # benchmark-only
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/pshub-raw-deliveries"

ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "RAW_DELIVERY_QUEUE_URL": QUEUE_URL,
    "UNMAPPABLE_QUEUE_URL": QUEUE_URL + "-unmappable",
    "CLAIM_CHECK_BUCKET": "pshub-claim-checks",
    "MAX_BODY_BYTES": str(5 * 1024 * 1024),
    "CLAIM_CHECK_THRESHOLD_BYTES": str(256 * 1024),
    "PSHUB_CONNECTIONS": (REPO / "infra/config/connections.json").read_text(),
    "POWERTOOLS_SERVICE_NAME": "pshub",
    "POWERTOOLS_METRICS_NAMESPACE": "pshub",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "LOG_LEVEL": "INFO",
}

# Installed by both the in-process benchmark and the cold-start child processes:
# answers every AWS call in-process and counts them.
STUB_SOURCE = r"""
import hashlib, json, uuid
import botocore.session
from botocore.awsrequest import AWSResponse

AWS_CALLS = []

class _Raw:
    def __init__(self, body):
        self._body = body
    def stream(self, **kwargs):
        yield self._body

def _answer(request, **kwargs):
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    AWS_CALLS.append(target)
    if target.endswith("SendMessage"):
        sent = json.loads(request.body)
        body = {"MessageId": str(uuid.uuid4()),
                "MD5OfMessageBody": hashlib.md5(sent["MessageBody"].encode()).hexdigest()}
    elif target.endswith("GetSecretValue"):
        body = {"Name": json.loads(request.body)["SecretId"], "SecretString": SECRET,
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "VersionId": "v1"}
    else:
        raise AssertionError("unexpected AWS call " + target)
    data = json.dumps(body).encode()
    return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, _Raw(data))

_original = botocore.session.Session._register_builtin_handlers
def _register(self, events):
    _original(self, events)
    events.register_first("before-send", _answer)
botocore.session.Session._register_builtin_handlers = _register
"""


def install_stub() -> list[str]:
    namespace: dict[str, Any] = {"SECRET": SECRET}
    exec(STUB_SOURCE, namespace)
    return namespace["AWS_CALLS"]  # type: ignore[no-any-return]


def stripe_event(body: bytes, timestamp: int) -> dict[str, Any]:
    signature = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    now_ms = int(time.time() * 1000)
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{connection}",
        "rawPath": "/webhooks/stripe-acme",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json; charset=utf-8",
            "host": "hooks.example.com",
            "stripe-signature": f"t={timestamp},v1={signature}",
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "hooks.example.com",
            "http": {"method": "POST", "path": "/webhooks/stripe-acme", "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "Stripe/1.0"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "POST /webhooks/{connection}",
            "stage": "$default",
            "timeEpoch": now_ms,
        },
        "pathParameters": {"connection": "stripe-acme"},
        "body": body.decode(),
        "isBase64Encoded": False,
    }  # fmt: skip


class Context:
    function_name = "pshub-ingress"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pshub-ingress"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/pshub-ingress"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def load_handler() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("ingress_handler", REPO / "functions/ingress/handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _stdout_to_devnull() -> Any:
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Timer = Any  # () -> seconds for one request


def timers(handler: Any, floor_sqs: Any, before: Any = None) -> tuple[Timer, Timer]:
    """One request through our handler, and one through the floor; ``before`` runs untimed first."""
    body = (REPO / "events/stripe/invoice.paid.json").read_bytes()
    context = Context()
    ready = before or (lambda: None)

    def ours() -> float:
        ready()
        event = stripe_event(body, int(time.time()))
        start = time.perf_counter()
        response = handler.lambda_handler(event, context)
        elapsed = time.perf_counter() - start
        assert response["statusCode"] == 200, response
        return elapsed

    def floor() -> float:
        ready()
        timestamp = int(time.time())
        header = stripe_event(body, timestamp)["headers"]["stripe-signature"]
        start = time.perf_counter()
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, header.split("v1=")[1])
        floor_sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=body.decode())
        return time.perf_counter() - start

    return ours, floor


def interleaved(ours: Timer, floor: Timer, requests: int) -> tuple[list[float], list[float]]:
    """Samples of both, alternating which goes first, so that machine noise hits both sides alike."""
    ours_samples: list[float] = []
    floor_samples: list[float] = []
    for index in range(requests):
        if index % 2:
            ours_samples.append(ours())
            floor_samples.append(floor())
        else:
            floor_samples.append(floor())
            ours_samples.append(ours())
    return ours_samples, floor_samples


def warm_benchmark(requests: int) -> dict[str, Any]:
    calls = install_stub()
    handler = load_handler()
    import boto3

    ours, floor = timers(handler, boto3.client("sqs"))
    # Log and metric lines are written to stdout as in Lambda, but stdout is /dev/null here.
    with _stdout_to_devnull():
        for _ in range(200):  # warm both paths (secret cache, client endpoints)
            ours()
            floor()
        calls.clear()
        ours_samples, floor_samples = interleaved(ours, floor, requests)
    # Every floor() made one SendMessage, every ours() the rest.
    aws_per_webhook = (len(calls) - requests) / requests
    return {
        "requests": requests,
        "ours_median_ms": statistics.median(ours_samples) * 1000,
        "ours_p99_ms": percentile(ours_samples, 0.99) * 1000,
        "floor_median_ms": statistics.median(floor_samples) * 1000,
        "floor_p99_ms": percentile(floor_samples, 0.99) * 1000,
        "aws_requests_per_accepted_webhook": aws_per_webhook,
    }


def stubber_benchmark(requests: int, rounds: int, lean_client: bool = True) -> dict[str, Any]:
    """Ours and the floor with ``botocore.stub.Stubber`` on every client, as public receivers were
    measured: the stub answers at ``before-call``, after parameter validation and serialisation,
    so both sides pay botocore's request building but neither pays signing nor HTTP.

    ``lean_client=False`` gives our ingress a default boto3 SQS client, like the floor's: the
    ratio then shows our own code's cost alone, without the client's User-Agent caching."""
    from botocore.stub import Stubber

    install_stub()  # answers the first GetSecretValue (the secret is then cached, as in Lambda)
    handler = load_handler()
    import boto3

    ours_sqs = handler._sqs() if lean_client else boto3.client("sqs")
    if not lean_client:
        handler.ingress._queue._sqs = lambda: ours_sqs
    floor_sqs = boto3.client("sqs")
    reply = {"MessageId": "2bd7d3e4-5e35-4f6f-9f49-6e4c0c5b1a11"}
    ours_stub, floor_stub = Stubber(ours_sqs), Stubber(floor_sqs)

    def queue_replies() -> None:  # one reply each: the side measured next takes its own
        ours_stub.add_response("send_message", reply)
        floor_stub.add_response("send_message", reply)

    ours, floor = timers(handler, floor_sqs, before=queue_replies)
    with _stdout_to_devnull():
        # The first request builds the clients and caches the secret; not measured.
        ours()
        ours_stub.activate()
        floor_stub.activate()
        for _ in range(200):
            ours()
            floor()
        medians, p99s = [], []
        ours_all: list[float] = []
        floor_all: list[float] = []
        for _round in range(rounds):
            ours_samples, floor_samples = interleaved(ours, floor, requests)
            medians.append(statistics.median(ours_samples) / statistics.median(floor_samples))
            p99s.append(percentile(ours_samples, 0.99) / percentile(floor_samples, 0.99))
            ours_all += ours_samples
            floor_all += floor_samples
    ours_stub.deactivate()
    floor_stub.deactivate()
    return {
        "stubber_rounds": rounds,
        "stubber_ours_median_ms": statistics.median(ours_all) * 1000,
        "stubber_floor_median_ms": statistics.median(floor_all) * 1000,
        "stubber_ours_p99_ms": percentile(ours_all, 0.99) * 1000,
        "stubber_floor_p99_ms": percentile(floor_all, 0.99) * 1000,
        "stubber_median_ratios": medians,
        "stubber_p99_ratios": p99s,
    }


COLD_OURS = """
import time, sys, os
t0 = time.perf_counter()
{stub}
import importlib.util
spec = importlib.util.spec_from_file_location("h", os.path.join({repo!r}, "functions/ingress/handler.py"))
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
t1 = time.perf_counter()
sys.path.insert(0, {repo!r})
from tests.benchmarks.bench_ingress import stripe_event, Context
body = open(os.path.join({repo!r}, "events/stripe/invoice.paid.json"), "rb").read()
event = stripe_event(body, int(time.time()))
t2 = time.perf_counter()
r = m.lambda_handler(event, Context())
t3 = time.perf_counter()
assert r["statusCode"] == 200, r
print((t1 - t0) * 1000, (t1 - t0 + t3 - t2) * 1000, file=sys.stderr)
"""

COLD_FLOOR = """
import time, sys, os
t0 = time.perf_counter()
{stub}
import boto3, hmac, hashlib
t1 = time.perf_counter()
body = open(os.path.join({repo!r}, "events/stripe/invoice.paid.json"), "rb").read()
ts = int(time.time())
sig = hmac.new({secret!r}.encode(), f"{{ts}}.".encode() + body, hashlib.sha256).hexdigest()
t2 = time.perf_counter()
sqs = boto3.client("sqs")
expected = hmac.new({secret!r}.encode(), f"{{ts}}.".encode() + body, hashlib.sha256).hexdigest()
assert hmac.compare_digest(expected, sig)
sqs.send_message(QueueUrl={queue!r}, MessageBody=body.decode())
t3 = time.perf_counter()
print((t1 - t0) * 1000, (t1 - t0 + t3 - t2) * 1000, file=sys.stderr)
"""


def cold_runs(runs: int) -> dict[str, float]:
    stub = f"SECRET = {SECRET!r}\n" + STUB_SOURCE
    env = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join([str(REPO / "layers/common"), str(REPO)])}
    ours_import, ours_total, floor_import, floor_total = [], [], [], []
    for _ in range(runs):
        for script, imports, totals in (
            (COLD_OURS.format(stub=stub, repo=str(REPO)), ours_import, ours_total),
            (
                COLD_FLOOR.format(stub=stub, repo=str(REPO), secret=SECRET, queue=QUEUE_URL),
                floor_import,
                floor_total,
            ),
        ):
            # Log lines go to stdout (discarded, as CloudWatch would take them); figures to stderr.
            output = subprocess.run(
                [sys.executable, "-c", script],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                check=True,
            ).stderr.split()
            imports.append(float(output[0]))
            totals.append(float(output[1]))
    return {
        "ours_import_ms": statistics.median(ours_import),
        "boto3_import_ms": statistics.median(floor_import),
        "ours_cold_total_ms": statistics.median(ours_total),
        "floor_cold_total_ms": statistics.median(floor_total),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the Stubber measurement")
    parser.add_argument("--only-stubber", action="store_true", help="skip the cold and HTTP-stub figures")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    os.environ.update(ENV)
    sys.path[:0] = [str(REPO / "layers/common"), str(REPO)]

    if args.only_stubber:
        stubbed = stubber_benchmark(args.requests, args.rounds)
        default_client = stubber_benchmark(args.requests, args.rounds, lean_client=False)
        stubbed["stubber_default_client_median_ratios"] = default_client["stubber_median_ratios"]
        stubbed["stubber_default_client_p99_ratios"] = default_client["stubber_p99_ratios"]
        print(json.dumps(stubbed, indent=2))
        return
    print(f"cold start: {args.cold_runs} fresh processes each ...", file=sys.stderr)
    cold = cold_runs(args.cold_runs)
    print(f"warm: {args.requests} requests each, interleaved ...", file=sys.stderr)
    warm = warm_benchmark(args.requests)
    print(f"warm, Stubber on every client: {args.rounds} rounds of {args.requests} ...", file=sys.stderr)
    stubbed = stubber_benchmark(args.requests, args.rounds)
    default_client = stubber_benchmark(args.requests, args.rounds, lean_client=False)
    stubbed["stubber_default_client_median_ratios"] = default_client["stubber_median_ratios"]
    stubbed["stubber_default_client_p99_ratios"] = default_client["stubber_p99_ratios"]
    figures = {
        **warm,
        **stubbed,
        **cold,
        "median_ratio": warm["ours_median_ms"] / warm["floor_median_ms"],
        "p99_ratio": warm["ours_p99_ms"] / warm["floor_p99_ms"],
        "import_ratio_vs_boto3": cold["ours_import_ms"] / cold["boto3_import_ms"],
        "cold_total_ratio": cold["ours_cold_total_ms"] / cold["floor_cold_total_ms"],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"ingress, in-process, {warm['requests']} requests (Stripe invoice.paid, signature check + enqueue)"
    )
    print(f"  ours   median {warm['ours_median_ms']:.3f} ms   p99 {warm['ours_p99_ms']:.3f} ms")
    print(f"  floor  median {warm['floor_median_ms']:.3f} ms   p99 {warm['floor_p99_ms']:.3f} ms")
    print(f"  ours / floor: median {figures['median_ratio']:.2f}x   p99 {figures['p99_ratio']:.2f}x")
    print(f"  AWS requests per accepted webhook (warm): {warm['aws_requests_per_accepted_webhook']:.2f}")
    print(
        f"ingress with botocore Stubber on every client (as public receivers were measured), "
        f"{stubbed['stubber_rounds']} rounds of {warm['requests']}"
    )
    print(
        f"  ours   median {stubbed['stubber_ours_median_ms']:.3f} ms   p99 {stubbed['stubber_ours_p99_ms']:.3f} ms"
    )
    print(
        f"  floor  median {stubbed['stubber_floor_median_ms']:.3f} ms   p99 {stubbed['stubber_floor_p99_ms']:.3f} ms"
    )
    medians = " ".join(f"{r:.2f}x" for r in stubbed["stubber_median_ratios"])
    p99s = " ".join(f"{r:.2f}x" for r in stubbed["stubber_p99_ratios"])
    print(f"  ours / floor per round: median {medians}   p99 {p99s}   (goal <= 1.10x)")
    medians = " ".join(f"{r:.2f}x" for r in stubbed["stubber_default_client_median_ratios"])
    p99s = " ".join(f"{r:.2f}x" for r in stubbed["stubber_default_client_p99_ratios"])
    print(
        f"  ... with a default boto3 SQS client like the floor's (our code alone): median {medians}   p99 {p99s}"
    )
    print(f"cold start, median of {args.cold_runs} fresh processes")
    print(
        f"  import: ingress module {cold['ours_import_ms']:.0f} ms vs import boto3 {cold['boto3_import_ms']:.0f} ms"
        f" = {figures['import_ratio_vs_boto3']:.2f}x"
    )
    print(
        "    (the module builds no AWS client: like the floor's, ours are built by the first request,"
        " which the next line counts)"
    )
    print(
        f"  import + first request: ours {cold['ours_cold_total_ms']:.0f} ms vs floor "
        f"{cold['floor_cold_total_ms']:.0f} ms = {figures['cold_total_ratio']:.2f}x"
    )


if __name__ == "__main__":
    main()

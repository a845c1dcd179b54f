"""Cost per million webhooks, ingest + normalise, at AWS list price (us-east-1, arm64).

Plays N signed webhooks, each a new platform event (of every ten: seven Toggl Track time entries,
two HubSpot company domain changes, one Stripe customer billing-email change) through the local runtime: the ingress behind the HTTP
endpoint, the raw queue, the normaliser, the bus. It counts what AWS would bill for them:

- API Gateway HTTP API requests;
- Lambda requests, and GB-seconds at each function's configured memory over the durations
  measured here (in-process, against moto: an upper bound of what Lambda would measure);
- every AWS API call the ingress and the normaliser make (SQS, DynamoDB, EventBridge, Firehose,
  S3, Secrets Manager), from the request itself: SQS and EventBridge per 64 KB chunk, DynamoDB
  write units per KB written (by DynamoDB's item size rules; 2 per KB in a transaction) and
  read units per 4 KB (half for an eventually consistent read), Firehose per
  record rounded up to 5 KB;
- the raw queue's polling that returns messages, and its deletes (Lambda's event source mapping
  makes these calls in AWS; idle long polls are not per webhook and not counted);
- CloudWatch Logs ingestion of what the two functions print (logs and EMF metric lines).

Not counted: custom metric storage (monthly per metric, not per webhook), X-Ray traces (sampled),
and what the workflows downstream of the bus cost (``bench_billing.py`` and
``bench_provisioning.py`` price those).

Usage: python tests/benchmarks/bench_cost.py [--webhooks 400]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers/common"), str(REPO / "infra"), str(REPO)]

# List prices, us-east-1, per unit (USD).
PRICE = {
    "apigw_http_request": 1.00 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s_arm": 0.0000133334,
    "sqs_request": 0.40 / 1e6,  # per 64 KB chunk
    "eventbridge_event": 1.00 / 1e6,  # custom events, per 64 KB chunk
    "dynamodb_wru": 0.625 / 1e6,  # on-demand
    "dynamodb_rru": 0.125 / 1e6,
    "firehose_gb": 0.029,  # each record rounded up to 5 KB
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "secrets_call": 0.05 / 10_000,
    "logs_gb": 0.50,
}
MEASURED = ("ingress", "normaliser")
TRACE = "trace_indexer"
_CURRENT = threading.local()


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, separators=(",", ":")).encode())


def _attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value (its documented item size rules, approximately)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _attribute_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _attribute_size(v) for v in inner)
    return _size(inner)  # sets: close enough


def _item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _attribute_size(value) for name, value in item.items())


def _write_units(params: dict[str, Any], sizes: tuple[int, ...] = ()) -> int:
    """Write units of one put / update / delete: 1 per KB of the larger of the item before and
    after the write (DynamoDB's rule; ``sizes`` are those two when known, else what is sent)."""
    written = params.get("Item") or {**params.get("Key", {}), **params.get("ExpressionAttributeValues", {})}
    return max(1, math.ceil(max((_item_size(written), *sizes)) / 1024))


class Meter:
    """Counts billable units by line item, attributing AWS calls to the function making them."""

    def __init__(self) -> None:
        self.units: Counter[str] = Counter()
        self.trace: Counter[str] = Counter()  # the trace index, counted apart: not ingest
        self.calls: Counter[str] = Counter()
        self.call_wru: Counter[str] = Counter()  # write units by call, for the breakdown
        self.durations: defaultdict[str, float] = defaultdict(float)
        self.invocations: Counter[str] = Counter()
        self.log_bytes = 0

    def api_call(
        self, service: str, operation: str, params: dict[str, Any], result: Any, sizes: tuple[int, ...] = ()
    ) -> None:
        function = getattr(_CURRENT, "function", None)
        queue = str(params.get("QueueUrl", ""))
        raw_queue = "raw-deliveries" in queue and "dlq" not in queue
        trace_queue = "trace-events" in queue and "dlq" not in queue
        if function == TRACE or (function is None and trace_queue and service == "sqs"):
            if function is None and operation == "ReceiveMessage" and not (result or {}).get("Messages"):
                return
            if function is None and operation not in (
                "ReceiveMessage",
                "DeleteMessageBatch",
                "DeleteMessage",
            ):
                return
            saved, self.units = self.units, self.trace
            try:
                self._count(
                    service, operation, params, result, function or "trace event source mapping", sizes
                )
            finally:
                self.units = saved
            return
        if function not in MEASURED and not (function is None and raw_queue and service == "sqs"):
            return  # another function's, or the harness's own call
        if function is None and operation not in ("ReceiveMessage", "DeleteMessageBatch", "DeleteMessage"):
            return  # the harness looking at the queue, not the event source mapping
        if function is None and operation == "ReceiveMessage" and not (result or {}).get("Messages"):
            return  # an idle poll: not per webhook
        self._count(service, operation, params, result, function or "event source mapping", sizes)

    def _count(
        self,
        service: str,
        operation: str,
        params: dict[str, Any],
        result: Any,
        who: str,
        sizes: tuple[int, ...],
    ) -> None:
        table = params.get("TableName") or next(iter(params.get("RequestItems") or {}), "")
        where = f" ({str(table).removeprefix('pshub-')})" if service == "dynamodb" and table else ""
        label = f"{who}: {service} {operation}{where}"
        self.calls[label] += 1
        written = self.units["dynamodb_wru"]
        if service == "sqs":
            body = params.get("MessageBody") or params.get("Entries") or ""
            self.units["sqs_request"] += max(1, math.ceil(_size(body) / 65536))
        elif service == "events":
            for entry in params.get("Entries", []):
                self.units["eventbridge_event"] += max(1, math.ceil(_size(entry) / 65536))
        elif service == "dynamodb":
            self._dynamodb(operation, params, result, sizes)
            self.call_wru[label] += self.units["dynamodb_wru"] - written
        elif service == "firehose":
            records = params.get("Records") or [params.get("Record", {})]
            for record in records:
                self.units["firehose_kb"] += max(5, math.ceil(len(record.get("Data", b"")) / 1024))
        elif service == "s3":
            self.units["s3_put" if operation.startswith("Put") else "s3_get"] += 1
        elif service == "secretsmanager":
            self.units["secrets_call"] += 1

    def _dynamodb(self, operation: str, params: dict[str, Any], result: Any, sizes: tuple[int, ...]) -> None:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            self.units["dynamodb_wru"] += _write_units(params, sizes)
        elif operation == "TransactWriteItems":  # twice the units, condition checks included
            for item in params.get("TransactItems", []):
                self.units["dynamodb_wru"] += 2 * _write_units(next(iter(item.values()), {}))
        elif operation == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    self.units["dynamodb_wru"] += _write_units(next(iter(request.values()), {}))
        elif operation in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"):
            found = result.get("Item") or result.get("Items") or []
            if operation == "BatchGetItem":
                found = [i for items in (result.get("Responses") or {}).values() for i in items]
            items = [found] if isinstance(found, dict) else list(found)
            units = max(1, math.ceil(sum(_item_size(i) for i in items) / 4096))
            strong = params.get("ConsistentRead") or operation == "TransactGetItems"
            factor = 2 if operation == "TransactGetItems" else 1 if strong else 0.5
            self.units["dynamodb_rru"] += units * factor


def install(meter: Meter) -> None:
    """Count every boto3 call and time every local function invocation."""
    import botocore.client
    import botocore.exceptions

    from pshub_local import functions

    original_call = botocore.client.BaseClient._make_api_call

    key_names: dict[str, list[str]] = {}

    def _item_bytes(client: Any, params: dict[str, Any]) -> int:
        """The stored size of the item a single-item write names (not a billed call: the meter's)."""
        table = params["TableName"]
        if table not in key_names:
            schema = original_call(client, "DescribeTable", {"TableName": table})["Table"]["KeySchema"]
            key_names[table] = [k["AttributeName"] for k in schema]
        key = params.get("Key") or {name: params["Item"][name] for name in key_names[table]}
        found = original_call(client, "GetItem", {"TableName": table, "Key": key})
        return _item_size(found.get("Item") or {})

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        single_write = service == "dynamodb" and operation_name in ("PutItem", "UpdateItem", "DeleteItem")
        before = _item_bytes(self, api_params) if single_write and getattr(_CURRENT, "function", None) else 0
        try:
            result = original_call(self, operation_name, api_params)
        except botocore.exceptions.ClientError:
            if single_write and getattr(_CURRENT, "function", None):  # a failed condition is billed too
                meter.api_call(service, operation_name, api_params, {}, (before,))
            raise
        after = _item_bytes(self, api_params) if single_write and getattr(_CURRENT, "function", None) else 0
        meter.api_call(service, operation_name, api_params, result, (before, after))
        return result

    botocore.client.BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]
    original_invoke = functions.LocalFunction.invoke

    def invoke(self: Any, event: Any, context: Any = None) -> Any:
        key = self.spec.key
        _CURRENT.function = key
        started = time.perf_counter()
        try:
            return original_invoke(self, event, context)
        finally:
            _CURRENT.function = None
            meter.durations[key] += time.perf_counter() - started
            meter.invocations[key] += 1

    functions.LocalFunction.invoke = invoke  # type: ignore[method-assign]


class _LogCounter(io.TextIOBase):
    """The functions' stdout (their logs and EMF lines), counted while one of ours runs."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter

    def write(self, text: str) -> int:
        if getattr(_CURRENT, "function", None) in MEASURED:
            self._meter.log_bytes += len(text.encode())
        return len(text)


def webhooks(local: Any, n: int) -> list[Any]:
    """``n`` signed deliveries, each a new platform event: of every ten, seven Toggl time
    entries (new entries: the month-end bulk of traffic), two HubSpot company domain changes
    and one Stripe customer billing-email change (which the billing platform does not own: an
    ownership conflict for data stewards, the path such changes take)."""
    from tests.helpers import sample

    toggl = json.loads(sample("toggl/time_entry.updated.json"))
    stripe = json.loads(sample("stripe/customer.updated.json"))
    hubspot = json.loads(sample("hubspot/company.batch.json"))
    change = next(e for e in hubspot if e["subscriptionType"] == "company.propertyChange")
    requests = []
    for i in range(n):
        kind = i % 10
        if kind < 7:
            entry = {**toggl["payload"], "id": 3712100000 + i, "description": f"Migration wave {i}"}
            event = {**toggl, "event_id": int(toggl["event_id"]) + i, "payload": entry}
            requests.append(local.signed("toggl-acme", json.dumps(event).encode()))
        elif kind < 9:
            event = {
                **change, "eventId": change["eventId"] + i, "occurredAt": change["occurredAt"] + i,
                "propertyValue": f"acme-{i}.example.com",
            }  # fmt: skip
            requests.append(local.signed("hubspot-acme", json.dumps([event]).encode()))
        else:
            customer = {**stripe["data"]["object"], "email": f"billing+{i}@acme-consulting.example.com"}
            event = {
                **stripe, "id": f"{stripe['id'][:-6]}{i:06d}", "created": stripe["created"] + i,
                "data": {**stripe["data"], "object": customer},
            }  # fmt: skip
            requests.append(local.signed("stripe-acme", json.dumps(event).encode()))
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--webhooks", type=int, default=400)
    args = parser.parse_args()
    n = args.webhooks

    from pshub_local.runtime import LocalRuntime
    from pshub_local.server import WebhookServer
    from tests.e2e.stack import LocalStack, send

    meter = Meter()
    install(meter)
    logging.disable(logging.CRITICAL)
    with (
        contextlib.redirect_stdout(_LogCounter(meter)),
        LocalRuntime() as runtime,
        WebhookServer(runtime) as server,
    ):
        local = LocalStack(runtime, server)
        memory = {spec.key: spec.memory_mb for spec in runtime.topology.functions}
        requests = webhooks(local, n)
        meter.units.clear()
        meter.trace.clear()
        meter.calls.clear()
        meter.call_wru.clear()
        meter.durations.clear()
        meter.invocations.clear()
        meter.log_bytes = 0
        accepted = 0
        for start in range(0, n, 50):
            for request in requests[start : start + 50]:
                accepted += send(request).status == 200
            runtime.drain()
        published = len(runtime.canonical_events())
        raised = Counter(str(e.get("category")) for e in runtime.business_exceptions())
    units = Counter(meter.units)
    units["apigw_http_request"] = n
    for key in MEASURED:
        units["lambda_request"] += meter.invocations[key]
        units["lambda_gb_s_arm"] += meter.durations[key] * memory[key] / 1024
    units["firehose_gb"] = units.pop("firehose_kb", 0) / (1024 * 1024)
    units["logs_gb"] = meter.log_bytes / (1024**3)
    lines = {item: units[item] * PRICE[item] / n * 1e6 for item in PRICE if units.get(item)}
    total = sum(lines.values())
    lambda_only = {k: v for k, v in lines.items() if k.startswith("lambda")}
    print(
        f"cost per million webhooks, ingest + normalise ({n} webhooks, {accepted} accepted, {published} events)"
    )
    for item, cost in sorted(lines.items(), key=lambda kv: -kv[1]):
        print(f"  {item:22s} {units[item] / n:10.3f} per webhook   ${cost:8.3f} per million")
    print(f"  {'total':22s} {'':10s}                ${total:8.3f} per million (goal: at most $3.00)")
    print(
        f"  without Lambda GB-s measured against moto: ${total - lambda_only.get('lambda_gb_s_arm', 0):.3f}"
    )
    # The floor of the path itself, whatever the code does: each webhook an HTTP API request, a
    # Lambda request, one SQS send and its share of the batch receive and delete; each canonical
    # event one EventBridge entry and one DynamoDB write unit (the least any exactly-once record
    # of it costs). Lambda time, logs and the archive are on top of it.
    floor_units = {
        "apigw_http_request": n,
        "lambda_request": units["lambda_request"],
        "sqs_request": units["sqs_request"],
        "eventbridge_event": published,
        "dynamodb_wru": published,
    }
    floor = sum(count * PRICE[item] for item, count in floor_units.items()) / n * 1e6
    print(
        f"  floor of the path itself (HTTP API, Lambda and SQS requests, one bus entry and one write"
        f" unit per event): ${floor:.3f}; ours / floor: {total / floor:.2f}x"
    )
    print(f"  business exceptions raised: {dict(raised) or 'none'}")
    trace = Counter(meter.trace)
    # EventBridge delivering each event to the trace queue is a SendMessage billed to the queue.
    trace["sqs_request"] += published
    trace["lambda_request"] += meter.invocations[TRACE]
    trace["lambda_gb_s_arm"] += meter.durations[TRACE] * memory[TRACE] / 1024
    trace_lines = {
        item: trace[item] * PRICE[item] / max(1, published) * 1e6 for item in PRICE if trace.get(item)
    }
    print(f"cost of the trace index, per million canonical events ({published} events)")
    for item, cost in sorted(trace_lines.items(), key=lambda kv: -kv[1]):
        print(f"  {item:22s} {trace[item] / max(1, published):10.3f} per event     ${cost:8.3f} per million")
    print(f"  {'total':22s} {'':10s}                ${sum(trace_lines.values()):8.3f} per million events")
    print("AWS calls per webhook (ingress, normaliser, and the raw queue's event source mapping)")
    for call, count in sorted(meter.calls.items()):
        wru = f"  ({meter.call_wru[call] / n:.3f} write units)" if meter.call_wru.get(call) else ""
        print(f"  {call:60s} {count / n:6.3f}{wru}")
    for key in MEASURED:
        per = meter.durations[key] / max(1, meter.invocations[key]) * 1000
        print(f"  {key}: {meter.invocations[key] / n:.3f} invocations per webhook, {per:.1f} ms each (here)")


if __name__ == "__main__":
    main()

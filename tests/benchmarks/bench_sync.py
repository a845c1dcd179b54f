"""Sync figures: ordering convergence and DynamoDB requests per normalised event.

1. Ordering: random sequences of attribute updates to one client (with timestamp ties),
   replayed in order and as a random permutation with duplicates through the real
   entity sync on moto DynamoDB; prints permutations tried and divergences found.
2. DynamoDB reads and writes per normalised event, counted at the boto3 client, for
   webhooks played through the local runtime: a client's first sighting, the common
   path (a known client updated by its owner, in order) and a redelivery.

Usage: python tests/benchmarks/bench_sync.py [--permutations 500]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers/common"), str(REPO / "infra"), str(REPO)]

READS = {"GetItem", "BatchGetItem", "Query", "Scan"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def ordering(permutations: int) -> tuple[int, int]:
    from pshub.canonical.envelope import ClientUpsertedV1, make_event
    from tests.integration.aws import aws_stores

    base = datetime(2026, 11, 20, tzinfo=UTC)
    divergences = 0
    with aws_stores() as stores:
        sync = stores.entity_sync()
        for trial in range(permutations):
            rng = random.Random(trial)
            updates = [
                (rng.choice(["name", "web_domain"]), rng.choice("abcd"), rng.randint(0, 10), f"ev-{i:02d}")
                for i in range(rng.randint(1, 10))
            ]

            def replay(native_id: str, order: list[tuple[str, str, int, str]]) -> dict[str, Any]:
                for attribute, value, at_ms, event_id in order:
                    payload = ClientUpsertedV1(client_id=native_id, change="updated", **{attribute: value})  # type: ignore[arg-type]
                    event = make_event(
                        "ClientUpserted", payload, connection="salesforce-acme", source_platform="salesforce",
                        source_native_id=native_id, source_event_id=event_id,
                        occurred_at=base + timedelta(milliseconds=at_ms), correlation_id="bench", legal_entity=None,
                    )  # fmt: skip
                    sync.apply(event, "crm")
                canonical = stores.identity.lookup("Client", "salesforce-acme", native_id) or ""
                return stores.identity.load_state("Client", canonical).values

            in_order = sorted(updates, key=lambda u: (u[2], u[3]))
            shuffled = updates + rng.choices(updates, k=rng.randint(0, len(updates)))
            rng.shuffle(shuffled)
            if replay(f"t{trial}-in-order", in_order) != replay(f"t{trial}-shuffled", shuffled):
                divergences += 1
    return permutations, divergences


def hubspot_company_change(event_id: int, at_ms: int, value: str, company: int = 4242) -> bytes:
    return json.dumps(
        [
            {
                "eventId": event_id, "subscriptionId": 3920200, "portalId": 24681357, "appId": 5551234,
                "occurredAt": at_ms, "subscriptionType": "company.propertyChange", "attemptNumber": 0,
                "objectId": company, "propertyName": "name", "propertyValue": value, "changeSource": "CRM_UI",
            }
        ]
    ).encode()  # fmt: skip


def dynamodb_calls() -> dict[str, Any]:
    import botocore.client

    from pshub_local import vendors
    from pshub_local.client import send
    from pshub_local.runtime import LocalRuntime
    from pshub_local.server import WebhookServer

    calls: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls[operation] += 1
        return original(self, operation, params)

    def measure(runtime: LocalRuntime, server: WebhookServer, bodies: list[bytes]) -> dict[str, float]:
        connection = runtime.connections["hubspot-acme"]
        secret = runtime.signing_secret("hubspot-acme")
        calls.clear()
        for body in bodies:
            assert send(vendors.sign(connection, body, server.url, secret)).status == 200
            runtime.drain()
        reads = sum(n for op, n in calls.items() if op in READS)
        writes = sum(n for op, n in calls.items() if op in WRITES)
        return {
            "events": len(bodies),
            "reads_per_event": reads / len(bodies),
            "writes_per_event": writes / len(bodies),
        }

    start = 1_795_000_000_000
    with (
        LocalRuntime() as runtime,
        WebhookServer(runtime) as server,
        mock.patch.object(botocore.client.BaseClient, "_make_api_call", counting),
    ):
        first = measure(runtime, server, [hubspot_company_change(1, start, "Globex Advisory")])
        common = measure(
            runtime,
            server,
            [hubspot_company_change(10 + i, start + 1000 * (i + 1), f"Globex {i}") for i in range(20)],
        )
        redelivery = measure(runtime, server, [hubspot_company_change(10, start + 1000, "Globex 0")])
    return {"first_sighting": first, "common_path": common, "redelivery": redelivery}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--permutations", type=int, default=500)
    args = parser.parse_args()
    tried, divergences = ordering(args.permutations)
    sys.stdout.flush()
    print(f"ordering: {tried} random update sequences, each replayed in order and permuted with duplicates")
    print(f"  divergences from the in-order final state: {divergences}")
    from tests.benchmarks.bench_ingress import _stdout_to_devnull

    with _stdout_to_devnull():  # the functions' own log lines
        figures = dynamodb_calls()
    print(
        "DynamoDB requests per normalised event (normaliser: identity, sync state and its publication lease)"
    )
    for name, row in figures.items():
        print(
            f"  {name:15s} {row['events']:3d} event(s): reads {row['reads_per_event']:.1f}  "
            f"writes {row['writes_per_event']:.1f}"
        )


if __name__ == "__main__":
    main()

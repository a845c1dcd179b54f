"""Large bodies travel by claim check; every raw delivery lands in the raw archive."""

from __future__ import annotations

import gzip
import json

import boto3

from pshub_local.client import send
from tests.e2e.stack import LocalStack
from tests.helpers import sample


def test_body_above_the_sqs_threshold_goes_by_claim_check_and_still_maps(local: LocalStack) -> None:
    # Given a Stripe invoice.paid whose line descriptions make it ~400 KB (SQS takes 256 KiB here)
    event = json.loads(sample("stripe/invoice.paid.json"))
    event["data"]["object"]["description"] = "Detailed engagement notes. " * 15_000
    body = json.dumps(event).encode()
    assert len(body) > 256 * 1024
    # When Stripe delivers it
    response = send(local.signed("stripe-acme", body))
    local.runtime.drain()
    # Then it was accepted, the body sits in the claim-check bucket byte for byte, and it mapped
    assert response.status == 200
    s3 = boto3.client("s3", region_name=local.runtime.region)
    bucket = local.runtime.resource_name("bucket", "claim_checks")
    [stored] = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert s3.get_object(Bucket=bucket, Key=stored["Key"])["Body"].read() == body
    [paid] = local.events_of_type("InvoicePaid")
    assert paid["detail"]["source_event_id"] == event["id"]


def test_every_accepted_delivery_is_archived_with_its_correlation_id(local: LocalStack) -> None:
    responses = [
        local.deliver("hubspot-acme", "hubspot/deal.closed_won.json"),
        local.deliver("salesforce-acme", "salesforce/account.updated.xml"),
        local.deliver("stripe-acme", "stripe/invoice.payment_failed.json"),
    ]
    local.runtime.drain()
    s3 = boto3.client("s3", region_name=local.runtime.region)
    bucket = local.runtime.resource_name("bucket", "raw_archive")
    records = []
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        records += [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    archived = {record["correlation_id"]: record for record in records}
    for response in responses:
        assert response.request_id in archived
    salesforce = next(r for r in records if r["connection"] == "salesforce-acme")
    assert salesforce["body_text"] == sample("salesforce/account.updated.xml").decode()

"""Buckets and tables: private, encrypted, logged, recoverable as the topology declares."""

from __future__ import annotations

import pytest

from pshub.store.archive import RAW_ARCHIVE_RETENTION_DAYS, REPLAYABLE_SECONDS
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import PIPELINE, BucketSpec, TableSpec

from .support import Synth, ref

ARCHIVE_BUCKETS = {stream.bucket for stream in PIPELINE.streams}


@pytest.mark.parametrize("spec", PIPELINE.buckets, ids=lambda spec: spec.key)
def test_bucket_is_private_encrypted_and_logged(synth: Synth, spec: BucketSpec) -> None:
    # Given a topology bucket
    # When the stack is synthesized
    props = synth.props(f"Storage/{pascal_id(spec.key)}/Resource")

    # Then nothing about it is public
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # And it is encrypted at rest and logs access to the access-log bucket under its key
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": ref(synth.logical_id("Storage/AccessLogs/Resource")),
        "LogFilePrefix": f"{spec.key}/",
    }
    # And it refuses requests not made over TLS
    statements = synth.props(f"Storage/{pascal_id(spec.key)}/Policy/Resource")["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


@pytest.mark.parametrize("spec", PIPELINE.buckets, ids=lambda spec: spec.key)
def test_bucket_lifecycle_follows_expire_days(synth: Synth, spec: BucketSpec) -> None:
    # Given a topology bucket, with or without expire_days
    props = synth.props(f"Storage/{pascal_id(spec.key)}/Resource")
    # Then objects expire exactly when the topology says, or never
    expirations = [
        rule["ExpirationInDays"]
        for rule in props.get("LifecycleConfiguration", {}).get("Rules", [])
        if "ExpirationInDays" in rule
    ]
    assert expirations == ([spec.expire_days] if spec.expire_days is not None else [])


def test_raw_archive_is_versioned_and_retained(synth: Synth) -> None:
    # Given the Firehose destination bucket (the audit trail)
    assert {"raw_archive"} == ARCHIVE_BUCKETS
    resource = synth.resource("Storage/RawArchive/Resource")
    # Then an overwrite cannot lose a delivery and deleting the stack keeps the bucket
    assert resource["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_what_can_be_replayed_is_remembered_by_consumer_inboxes_as_long(synth: Synth) -> None:
    # Given the raw archive and the claim-check bucket its records point into
    for key in ("raw_archive", "claim_checks"):
        rules = synth.props(f"Storage/{pascal_id(key)}/Resource")["LifecycleConfiguration"]["Rules"]
        # Then both expire deliveries after the one retention constant
        assert [r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r] == [
            RAW_ARCHIVE_RETENTION_DAYS
        ]
    # And a consumer inbox remembers an event at least that long (plus S3's expiry lag)
    assert REPLAYABLE_SECONDS >= RAW_ARCHIVE_RETENTION_DAYS * 86_400
    # And every other replay source (the bus archive, queues) keeps events for less
    assert all(bus.archive_retention_days * 86_400 <= REPLAYABLE_SECONDS for bus in PIPELINE.buses)
    assert all(queue.retention_days * 86_400 <= REPLAYABLE_SECONDS for queue in PIPELINE.queues)
    for bus in PIPELINE.buses:
        archive = synth.props(f"Events/{pascal_id(bus.key)}/Archive/Archive")
        assert archive["RetentionDays"] * 86_400 <= REPLAYABLE_SECONDS


def test_access_log_bucket_accepts_only_s3_log_delivery(synth: Synth) -> None:
    # Given the access-log bucket
    props = synth.props("Storage/AccessLogs/Resource")
    statements = synth.props("Storage/AccessLogs/Policy/Resource")["PolicyDocument"]["Statement"]
    # Then it is SSE-S3 (the only encryption S3 log delivery supports) and private
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    # And only the S3 logging service may write to it, by bucket policy rather than ACLs
    writers = [s for s in statements if s["Effect"] == "Allow"]
    assert writers
    assert all(s["Principal"] == {"Service": "logging.s3.amazonaws.com"} for s in writers)
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("spec", PIPELINE.tables, ids=lambda spec: spec.key)
def test_table_matches_its_spec(synth: Synth, spec: TableSpec) -> None:
    # Given a topology table
    props = synth.props(f"Storage/{pascal_id(spec.key)}/Resource")
    # Then it is on-demand, recoverable to any second, encrypted, and expires by the TTL attribute
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["KeySchema"][0] == {"AttributeName": spec.partition_key, "KeyType": "HASH"}
    if spec.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}


def test_billing_reads_a_projects_posted_lines_by_day_through_the_postings_index(synth: Synth) -> None:
    # Given the postings table as deployed
    props = synth.props("Storage/Postings/Resource")
    # Then it has the by-project index the billing run queries: project code, then day#entry
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by_project_day",
            "KeySchema": [
                {"AttributeName": "project_code", "KeyType": "HASH"},
                {"AttributeName": "work_day", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert {"AttributeName": "work_day", "AttributeType": "S"} in props["AttributeDefinitions"]


def test_idempotency_table_is_keyed_as_powertools_expects(synth: Synth) -> None:
    # Given the table Powertools idempotency writes to
    props = synth.props("Storage/Idempotency/Resource")
    # Then its key is the string attribute "id" and records expire by "expiration"
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"]["AttributeName"] == "expiration"

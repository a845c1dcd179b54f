"""S3 buckets and DynamoDB tables of the topology, plus the bucket their access logs go to."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pshub_infra.constants import ACCESS_LOG_BUCKET_EXPIRE_DAYS
from pshub_infra.constructs.acknowledgments import acknowledge
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import BucketSpec, TableSpec, Topology


class Storage(Construct):
    """``self.buckets`` and ``self.tables`` are indexed by topology key."""

    def __init__(self, scope: Construct, construct_id: str, *, topology: Topology) -> None:
        super().__init__(scope, construct_id)
        # Firehose destinations hold the raw archive (replay and audit): versioned, so an
        # overwrite or delete cannot lose a delivery.
        archive_buckets = {stream.bucket for stream in topology.streams}
        self.access_logs = self._access_log_bucket()
        self.buckets: dict[str, s3.Bucket] = {
            spec.key: self._bucket(spec, archive=spec.key in archive_buckets) for spec in topology.buckets
        }
        self.tables: dict[str, dynamodb.Table] = {spec.key: self._table(spec) for spec in topology.tables}

    def _access_log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging can only deliver to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs", expiration=cdk.Duration.days(ACCESS_LOG_BUCKET_EXPIRE_DAYS)
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This bucket is the server access log destination of the other buckets; logging its own "
            "access would write logs about log delivery in an endless loop.",
        )
        return bucket

    def _bucket(self, spec: BucketSpec, *, archive: bool) -> s3.Bucket:
        lifecycle = []
        if spec.expire_days is not None:
            lifecycle.append(
                s3.LifecycleRule(
                    id=f"expire-after-{spec.expire_days}-days",
                    expiration=cdk.Duration.days(spec.expire_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            )
        return s3.Bucket(
            self,
            pascal_id(spec.key),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=archive or None,
            lifecycle_rules=lifecycle or None,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{spec.key}/",
            # Deleting the stack must never delete deliveries (the archive is the audit trail).
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = self._base_table(spec)
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(
                    name=index.partition_key, type=dynamodb.AttributeType.STRING
                ),
                sort_key=(
                    dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING)
                    if index.sort_key
                    else None
                ),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _base_table(self, spec: TableSpec) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            pascal_id(spec.key),
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING)
                if spec.sort_key
                else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # AWS-managed key: encrypted at rest, key use visible in CloudTrail, and the
            # functions need no KMS statements to read and write items.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=spec.ttl_attribute,
        )

"""Firehose delivery streams that batch raw deliveries into the archive bucket."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pshub_infra.constructs.acknowledgments import acknowledge, logical_id
from pshub_infra.constructs.naming import pascal_id
from pshub_infra.topology import DeliveryStreamSpec, Topology


class DeliveryStreams(Construct):
    """``self.streams`` is indexed by topology key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        buckets: Mapping[str, s3.IBucket],
    ) -> None:
        super().__init__(scope, construct_id)
        self.streams: dict[str, firehose.DeliveryStream] = {
            spec.key: self._stream(spec, buckets[spec.bucket]) for spec in topology.streams
        }
        if self.streams:
            # Reported on the stack, the narrowest scope that holds a template mapping.
            acknowledge(
                cdk.Stack.of(self),
                "CloudFormation-Validate::W7001",
                "The aws_kinesisfirehose L2 always adds its mapping of Firehose CIDR blocks, used only by "
                "Redshift/Splunk/HTTP destinations; with an S3 destination it is unreferenced and inert.",
            )

    def _stream(self, spec: DeliveryStreamSpec, bucket: s3.IBucket) -> firehose.DeliveryStream:
        destination = firehose.S3Bucket(
            bucket,
            compression=firehose.Compression.GZIP,
            buffering_interval=cdk.Duration.seconds(spec.buffer_interval_s),
            buffering_size=cdk.Size.mebibytes(spec.buffer_size_mib),
            data_output_prefix=spec.prefix,
            error_output_prefix=spec.error_prefix,
        )
        stream = firehose.DeliveryStream(
            self,
            pascal_id(spec.key),
            destination=destination,
            # Encrypted in the stream's buffer too, not only once it lands in S3.
            encryption=firehose.StreamEncryption.aws_owned_key(),
        )
        # The L2 makes the destination role and always grants it read/write on the
        # bucket; these are the wildcards of that grant.
        why = (
            f"Role of Firehose's S3 destination, made by the aws_kinesisfirehose L2 with grantReadWrite on "
            f"the {spec.bucket} bucket only (assumable only by firehose.amazonaws.com). Firehose needs "
            "AbortMultipartUpload, GetBucketLocation, GetObject, ListBucket, ListBucketMultipartUploads and "
            "PutObject on it; the grant's extra DeleteObject* cannot destroy data in the versioned archive."
        )
        for finding in (
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            f"Resource::<{logical_id(bucket)}.Arn>/*",
        ):
            acknowledge(stream, f"AwsSolutions-IAM5[{finding}]", why)
        return stream

"""Reading a delivery's body back, from the message itself or from its claim check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pshub.pipeline.raw_delivery import RawDelivery

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class DeliveryBodies:
    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3

    def load(self, delivery: RawDelivery) -> bytes:
        if delivery.body_ref is None:
            return delivery.inline_body()
        ref = delivery.body_ref
        return self._s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()

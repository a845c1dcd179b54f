"""The raw archive: every delivery, batched by Firehose into S3 (newline-delimited JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

MAX_RECORDS_PER_CALL = 500  # PutRecordBatch limit


class ArchiveError(Exception):
    pass


class RawArchive:
    def __init__(self, firehose: FirehoseClient, stream_name: str) -> None:
        self._firehose = firehose
        self._stream = stream_name

    def put(self, raw_deliveries: Sequence[str]) -> None:
        """Archive the deliveries (raw-delivery JSON documents); raises if any record was refused twice."""
        pending = [doc.encode() + b"\n" for doc in raw_deliveries]
        for _attempt in range(2):
            if not pending:
                return
            refused: list[bytes] = []
            for start in range(0, len(pending), MAX_RECORDS_PER_CALL):
                chunk = pending[start : start + MAX_RECORDS_PER_CALL]
                response = self._firehose.put_record_batch(
                    DeliveryStreamName=self._stream, Records=[{"Data": data} for data in chunk]
                )
                if response.get("FailedPutCount"):
                    refused += [
                        data
                        for data, result in zip(chunk, response["RequestResponses"], strict=True)
                        if "ErrorCode" in result
                    ]
            pending = refused
        if pending:
            raise ArchiveError(
                f"Firehose refused {len(pending)} raw deliveries twice; the batch will be retried"
            )

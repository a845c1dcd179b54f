"""The raw archive: every delivery, batched by Firehose into S3 (newline-delimited JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

MAX_RECORDS_PER_CALL = 500  # PutRecordBatch limit

# How long the raw archive keeps a delivery: seven years (leap days included), the span
# firms keep accounting records for an audit. The one source for the archive's S3
# lifecycle (``pshub_infra.topology``: the raw_archive bucket and the claim_checks bucket
# its records point into) and for how long every consumer inbox remembers a canonical
# event (``pshub.store.inbox``): anything still in the archive can be replayed through the
# normaliser, which mints the same canonical event ids again.
RAW_ARCHIVE_RETENTION_DAYS = 7 * 365 + 2
# S3 expires an object at the midnight (UTC) after it turns the lifecycle's age, then
# removes it asynchronously; until it is gone it can still be replayed. A consumer that
# must not act twice remembers for this long after it handled an event (which is after the
# delivery reached the archive), so it forgets only what the archive can no longer replay.
S3_EXPIRY_LAG_DAYS = 7
REPLAYABLE_SECONDS = (RAW_ARCHIVE_RETENTION_DAYS + S3_EXPIRY_LAG_DAYS) * 24 * 3600


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

"""The raw archive: every delivery, batched by Firehose into S3 (newline-delimited JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

MAX_RECORDS_PER_CALL = 500  # PutRecordBatch limit
# Firehose bills each record rounded up to 5 KB and takes records of up to 1,000 KiB, so the
# deliveries of a batch are packed into as few records as fit: each stays one line of its own
# in the object S3 receives, which is all a reader of the archive sees.
MAX_RECORD_BYTES = 1000 * 1024
MAX_BYTES_PER_CALL = 4 * 1024 * 1024  # PutRecordBatch limit, all records together

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
        pending = pack([doc.encode() + b"\n" for doc in raw_deliveries])
        for _attempt in range(2):
            if not pending:
                return
            refused: list[bytes] = []
            for chunk in _calls(pending):
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
                f"Firehose refused {len(pending)} archive records twice; the batch will be retried"
            )


def pack(lines: Sequence[bytes], limit: int = MAX_RECORD_BYTES) -> list[bytes]:
    """Newline-terminated documents joined, in order, into records of at most ``limit`` bytes
    (a document longer than that is a record of its own)."""
    records: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and size + len(line) > limit:
            records.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        records.append(b"".join(current))
    return records


def _calls(records: Sequence[bytes]) -> list[list[bytes]]:
    """The records split into PutRecordBatch calls within its count and size limits."""
    calls: list[list[bytes]] = [[]]
    size = 0
    for record in records:
        if calls[-1] and (len(calls[-1]) == MAX_RECORDS_PER_CALL or size + len(record) > MAX_BYTES_PER_CALL):
            calls.append([])
            size = 0
        calls[-1].append(record)
        size += len(record)
    return calls if calls[0] else []

"""The raw archive packs a batch's deliveries into few Firehose records, each delivery one line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pshub.store import archive
from pshub.store.archive import ArchiveError, RawArchive, pack


class RecordingFirehose:
    def __init__(self, refuse_first: int = 0) -> None:
        self.calls: list[list[bytes]] = []
        self._refuse = refuse_first

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([r["Data"] for r in Records])
        responses = []
        for _ in Records:
            if self._refuse:
                self._refuse -= 1
                responses.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
            else:
                responses.append({"RecordId": "r"})
        failed = sum("ErrorCode" in r for r in responses)
        return {"FailedPutCount": failed, "RequestResponses": responses}


def _deliveries(n: int, size: int = 300) -> list[str]:
    return [json.dumps({"delivery_id": f"d{i}", "body": "é" + "x" * size}) for i in range(n)]


def test_a_batch_of_ten_is_one_record_and_every_delivery_stays_a_line() -> None:
    firehose = RecordingFirehose()
    docs = _deliveries(10)
    RawArchive(firehose, "raw").put(docs)  # type: ignore[arg-type]
    assert len(firehose.calls) == 1 and len(firehose.calls[0]) == 1
    assert firehose.calls[0][0].decode().splitlines() == docs


def test_records_and_calls_stay_within_firehose_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    # 60 deliveries of ~100 KB: over 1,000 KiB per record and 4 MiB per call if packed blindly.
    firehose = RecordingFirehose()
    docs = _deliveries(60, size=100_000)
    RawArchive(firehose, "raw").put(docs)  # type: ignore[arg-type]
    records = [record for call in firehose.calls for record in call]
    assert all(len(r) <= 1000 * 1024 for r in records)
    assert all(sum(map(len, call)) <= 4 * 1024 * 1024 for call in firehose.calls)
    assert [line for r in records for line in r.decode().splitlines()] == docs
    assert len(records) < len(docs)


def test_a_refused_record_is_sent_again_and_twice_refused_raises() -> None:
    firehose = RecordingFirehose(refuse_first=1)
    RawArchive(firehose, "raw").put(_deliveries(3))  # type: ignore[arg-type]
    assert len(firehose.calls) == 2 and firehose.calls[0] == firehose.calls[1]
    with pytest.raises(ArchiveError, match="refused 1 archive records twice"):
        RawArchive(RecordingFirehose(refuse_first=2), "raw").put(_deliveries(3))  # type: ignore[arg-type]


@given(st.lists(st.integers(min_value=1, max_value=3000), max_size=40), st.integers(200, 5000))
def test_packing_keeps_order_and_bounds(sizes: list[int], limit: int) -> None:
    lines = [(b"x" * (size - 1)) + b"\n" for size in sizes]
    records = pack(lines, limit)
    assert b"".join(records) == b"".join(lines)
    for record in records:
        assert len(record) <= limit or record.count(b"\n") == 1
    assert archive.MAX_RECORD_BYTES == 1000 * 1024

"""The posting ledger: what pshub approved, and what the ERP holds, per time entry and expense.

Two items per entry in the ``postings`` table (``pk``, ``sk``), both written conditionally on
the revision read, so concurrent invocations never lose a write:

- ``ENTRY#<entry id>``, ``APPROVAL``: the approvals step's record. ``version`` counts the
  entry's approvals (1: first approved, +1 per adjustment after approval and per rejection
  after it), ``line`` is what version ``version`` means in the ledger (None: withdrawn),
  ``event`` the canonical event announcing it and ``published`` whether it is on the bus.
- ``ENTRY#<entry id>``, ``POSTING``: the posting step's record, the ledger line that
  reconciliation reads: ``version`` applied, ``state``, the ERP's ``document_id``, the
  ``hours`` and ``amount`` the ERP holds, and a short ``history`` of every change posted.

Posting states: ``sending`` (a call to the ERP is out for ``target_version``: if it never
answered, the retry reads the ERP back before anything is sent again), ``posted``,
``reversed`` (a rejection after posting took it out), ``rejected`` (the ERP refused this
version for a business reason: a business exception is open for it; a retry may apply the
same version again), ``withdrawn`` (rejected before it ever reached the ERP).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HISTORY_KEPT = 20
BY_PROJECT_DAY = "by_project_day"  # index: project_code, work_day ("2026-11-20#<entry id>")


class StaleRecord(Exception):
    """Another invocation changed the record since it was read: read again and redo."""


@dataclass
class ApprovalRecord:
    entry_id: str
    version: int = 0
    line: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    published: bool = True
    rev: int = 0


@dataclass
class PostingRecord:
    entry_id: str
    kind: str = "time"
    version: int = 0  # the highest version applied (posted, reversed, withdrawn or refused)
    state: str = "new"
    target_version: int | None = None  # set while ``sending``
    document_id: str | None = None
    line: dict[str, Any] | None = None  # what the ERP holds (None: nothing)
    project_code: str | None = None
    erp_connection: str | None = None
    refusal: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    rev: int = 0

    @property
    def hours(self) -> str | None:
        return None if self.line is None else self.line.get("hours")

    @property
    def amount(self) -> dict[str, Any] | None:
        return None if self.line is None else self.line.get("amount")

    def to_doc(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "state": self.state,
            "target_version": self.target_version,
            "document_id": self.document_id,
            "line": self.line,
            "project_code": self.project_code,
            "erp_connection": self.erp_connection,
            "refusal": self.refusal,
            "history": self.history[-HISTORY_KEPT:],
        }


class PostingLedger:
    def __init__(self, dynamodb: DynamoDBClient, table: str, clock: Any = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    # -- approvals -------------------------------------------------------------------------
    def approval(self, entry_id: str) -> ApprovalRecord:
        item = self._get(entry_id, "APPROVAL")
        if item is None:
            return ApprovalRecord(entry_id)
        doc = json.loads(item["doc"]["S"])
        return ApprovalRecord(
            entry_id=entry_id,
            version=doc["version"],
            line=doc.get("line"),
            event=doc.get("event"),
            published=doc.get("published", True),
            rev=int(item["rev"]["N"]),
        )

    def save_approval(self, record: ApprovalRecord) -> None:
        doc = {
            "version": record.version,
            "line": record.line,
            "event": record.event,
            "published": record.published,
        }
        self._put(record.entry_id, "APPROVAL", doc, record.rev)
        record.rev += 1

    # -- postings --------------------------------------------------------------------------
    def posting(self, entry_id: str) -> PostingRecord:
        item = self._get(entry_id, "POSTING")
        if item is None:
            return PostingRecord(entry_id)
        doc = json.loads(item["doc"]["S"])
        return PostingRecord(entry_id=entry_id, rev=int(item["rev"]["N"]), **doc)

    def postings(self, entry_ids: list[str]) -> dict[str, PostingRecord]:
        """The posting records of many entries (new ones for those never seen), consistent reads."""
        found: dict[str, PostingRecord] = {}
        unique = list(dict.fromkeys(entry_ids))
        for start in range(0, len(unique), 100):
            keys = [_key(e, "POSTING") for e in unique[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table, []):
                    entry_id = item["pk"]["S"].removeprefix("ENTRY#")
                    doc = json.loads(item["doc"]["S"])
                    found[entry_id] = PostingRecord(entry_id=entry_id, rev=int(item["rev"]["N"]), **doc)
                request = dict(response.get("UnprocessedKeys") or {})
        return {e: found.get(e) or PostingRecord(e) for e in unique}

    def save_posting(self, record: PostingRecord, note: dict[str, Any] | None = None) -> None:
        if note is not None:
            record.history.append({"at": int(self._clock()), **note})
        self._put(record.entry_id, "POSTING", record.to_doc(), record.rev)
        record.rev += 1

    def save_postings(
        self, records: list[PostingRecord], notes: list[dict[str, Any] | None] | None = None
    ) -> list[bool]:
        """Write many posting records, each conditional on its own revision (one write each: a
        transaction would make one stale record fail the rest). Returns, per record, whether it
        was written (False: another invocation moved it meanwhile)."""
        written = []
        for record, note in zip(records, notes or [None] * len(records), strict=True):
            try:
                self.save_posting(record, note)
            except StaleRecord:
                written.append(False)
                continue
            written.append(True)
        return written

    def scan_postings(self) -> list[PostingRecord]:
        """Every posting record (reconciliation, the benchmark, tests): a full scan."""
        records = []
        for page in self._db.get_paginator("scan").paginate(TableName=self._table):
            for item in page["Items"]:
                if item["sk"]["S"] == "POSTING":
                    doc = json.loads(item["doc"]["S"])
                    records.append(
                        PostingRecord(
                            entry_id=item["pk"]["S"].removeprefix("ENTRY#"), rev=int(item["rev"]["N"]), **doc
                        )
                    )
        return records

    def posted_in(self, project_code: str, period: str) -> list[PostingRecord]:
        """What the ERP holds for the project on the days of ``period`` ("2026-11", or a day):
        the posting records whose line is dated then (the ``by_project_day`` index)."""
        records = []
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=BY_PROJECT_DAY,
            KeyConditionExpression="project_code = :p AND begins_with(work_day, :d)",
            ExpressionAttributeValues={":p": {"S": project_code}, ":d": {"S": period}},
        ):
            for item in page["Items"]:
                if item["sk"]["S"] != "POSTING":
                    continue  # an entry awaiting approval (``mark_awaiting``)
                doc = json.loads(item["doc"]["S"])
                record = PostingRecord(
                    entry_id=item["pk"]["S"].removeprefix("ENTRY#"), rev=int(item["rev"]["N"]), **doc
                )
                if record.state == "posted" and record.line is not None:
                    records.append(record)
        return records

    # -- entries not approved yet ------------------------------------------------------------
    def mark_awaiting(self, entry_id: str, project_code: str, day: str) -> None:
        """The entry (time or expense) is booked on the project's ``day`` but not approved: a
        billing run of that period holds until it is (``awaiting_in``)."""
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(entry_id, "AWAITING"),
                "doc": {"S": "{}"},
                "project_code": {"S": project_code},
                "work_day": {"S": f"{day}#{entry_id}"},
            },
        )

    def clear_awaiting(self, entry_id: str) -> None:
        """Approved, or deleted at its source: no longer awaiting approval."""
        self._db.delete_item(TableName=self._table, Key=_key(entry_id, "AWAITING"))

    def awaiting_in(self, project_code: str, period: str) -> list[str]:
        """The entries booked on the project in ``period`` that are not approved yet."""
        found: list[str] = []
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=BY_PROJECT_DAY,
            KeyConditionExpression="project_code = :p AND begins_with(work_day, :d)",
            FilterExpression="sk = :awaiting",
            ExpressionAttributeValues={
                ":p": {"S": project_code},
                ":d": {"S": period},
                ":awaiting": {"S": "AWAITING"},
            },
        ):
            found += [item["pk"]["S"].removeprefix("ENTRY#") for item in page["Items"]]
        return found

    # -- entries waiting for their project --------------------------------------------------
    def wait_for_project(self, reference: str, entry_id: str, event: dict[str, Any]) -> None:
        """Remember an approved entry whose project pshub does not know yet (``reference``: the
        code or source id it names), to be announced once the project is activated."""
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"WAIT#{reference}"},
                "sk": {"S": entry_id},
                "doc": {"S": json.dumps(event, separators=(",", ":"), default=str)},
            },
        )

    def waiting_for(self, reference: str) -> list[tuple[str, dict[str, Any]]]:
        items: list[tuple[str, dict[str, Any]]] = []
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"WAIT#{reference}"}},
            ConsistentRead=True,
        ):
            items += [(item["sk"]["S"], json.loads(item["doc"]["S"])) for item in page["Items"]]
        return items

    def done_waiting(self, reference: str, entry_id: str) -> None:
        self._db.delete_item(
            TableName=self._table, Key={"pk": {"S": f"WAIT#{reference}"}, "sk": {"S": entry_id}}
        )

    # -- storage ---------------------------------------------------------------------------
    def _get(self, entry_id: str, sort: str) -> dict[str, Any] | None:
        return self._db.get_item(TableName=self._table, Key=_key(entry_id, sort), ConsistentRead=True).get(
            "Item"
        )

    def _put_request(self, entry_id: str, sort: str, doc: dict[str, Any], rev: int) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **_key(entry_id, sort),
                "doc": {"S": json.dumps(doc, separators=(",", ":"), default=str)},
                "rev": {"N": str(rev + 1)},
            },
            "ConditionExpression": "attribute_not_exists(pk)" if rev == 0 else "rev = :rev",
        }
        if rev:
            request["ExpressionAttributeValues"] = {":rev": {"N": str(rev)}}
        line = doc.get("line") if sort == "POSTING" else None
        if line and doc.get("project_code") and line.get("work_date"):  # the by-project index
            request["Item"]["project_code"] = {"S": doc["project_code"]}
            request["Item"]["work_day"] = {"S": f"{line['work_date']}#{entry_id}"}
        return request

    def _put(self, entry_id: str, sort: str, doc: dict[str, Any], rev: int) -> None:
        try:
            self._db.put_item(**self._put_request(entry_id, sort, doc, rev))
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleRecord(
                    f"{sort.lower()} of {entry_id} changed while it was being written"
                ) from None
            raise


def _key(entry_id: str, sort: str) -> dict[str, Any]:
    return {"pk": {"S": f"ENTRY#{entry_id}"}, "sk": {"S": sort}}

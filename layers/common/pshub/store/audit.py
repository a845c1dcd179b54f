"""The audit trail: who changed what, when, with before and after. Append-only.

One item per entry in the ``audit`` table: ``pk`` is the subject (``exception#<id>``,
``connection#<id>``, ``mapping#<name>``...), ``sk`` the moment and a random suffix
(``2026-12-07T16:11:02.123456Z#<hex>``), so a subject's entries read back in order. Every write
is conditional on the item not existing: nothing, not even a retry with the same key,
overwrites an entry (``AuditOverwrite``). No function's role is granted the table's update or
delete actions (``tests/infrastructure`` proves it on the template); operators write with
their own credentials.

``actor`` is the caller's identity: its IAM ARN in AWS (``sts:GetCallerIdentity``), or
``local:<user>`` on this machine.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class AuditOverwrite(Exception):
    """An entry with that key exists: the audit trail is append-only."""


@dataclass(frozen=True)
class AuditEntry:
    subject: str
    at: str  # ISO 8601 UTC, microseconds
    actor: str
    action: str
    note: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def sort_key(self) -> str:
        return f"{self.at}#{self.suffix}"

    def to_doc(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "note": self.note,
            "before": self.before,
            "after": self.after,
        }


class AuditLog:
    def __init__(
        self, dynamodb: DynamoDBClient, table: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def record(
        self,
        subject: str,
        action: str,
        actor: str,
        *,
        note: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> AuditEntry:
        at = self._clock().astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        entry = AuditEntry(subject, at, actor, action, note, before, after)
        self.append(entry)
        return entry

    def append(self, entry: AuditEntry) -> None:
        """Write ``entry``; ``AuditOverwrite`` if its key is taken (never replaced)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": entry.subject},
                    "sk": {"S": entry.sort_key},
                    "doc": {"S": json.dumps(entry.to_doc(), separators=(",", ":"), default=str)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise AuditOverwrite(
                    f"audit entry {entry.subject} {entry.sort_key} exists: not replaced"
                ) from None
            raise

    def entries(self, subject: str) -> list[AuditEntry]:
        """The subject's entries, oldest first."""
        found: list[AuditEntry] = []
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": subject}},
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                doc = json.loads(item["doc"]["S"])
                suffix = item["sk"]["S"].rpartition("#")[2]
                found.append(
                    AuditEntry(
                        doc["subject"],
                        doc["at"],
                        doc["actor"],
                        doc["action"],
                        doc.get("note"),
                        doc.get("before"),
                        doc.get("after"),
                        suffix,
                    )
                )
        return found


def exception_subject(exception_id: str) -> str:
    return f"exception#{exception_id}"


def caller_identity(sts: Any | None) -> str:
    """The caller's IAM identity (its ARN), or ``local:<user>`` where there is no AWS identity."""
    if sts is not None:
        try:
            return str(sts.get_caller_identity()["Arn"])
        except (BotoCoreError, ClientError, KeyError):
            pass
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"

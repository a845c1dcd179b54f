"""Project codes unique by construction: a counter per series and a claim per opportunity.

A project code is the business key every system finds the project by (NetSuite's job
``entityId``, the marker in Kantata's title, the CRM's link-back, Stripe's metadata),
so two deals sharing one would merge two projects silently; and a retried or duplicate
execution of one deal must get back the code it got first, or it would create the
project twice. A hash of the deal cannot promise the first; a counter alone cannot
promise the second. Both items live in the identity table (``pk``, ``sk``), next to
the cross-references the workflow already writes:

- ``CODESERIES#<series>``, ``COUNTER``: ``last``, the last number handed out in the
  series (``PRJ-HARB``), raised with an atomic ``ADD`` and never beyond the digits the
  format holds. Each number is handed out once, so codes never repeat.
- ``CODECLAIM#<opportunity id>``, ``CLAIM``: the code the opportunity got, written with
  ``attribute_not_exists``. A retry reads it back; of two executions racing for one
  deal, the second to write reads the first's code, and its own number stays unused
  (codes have gaps, never duplicates).

First allocation: 1 consistent read, 2 writes; every later one for the deal: 1 read.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pshub.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class SeriesExhausted(PermanentError):
    """Every number of the series' format is taken; the format needs another digit or prefix."""


def _claim_key(opportunity_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CODECLAIM#{opportunity_id}"}, "sk": {"S": "CLAIM"}}


def _series_key(series: str) -> dict[str, Any]:
    return {"pk": {"S": f"CODESERIES#{series}"}, "sk": {"S": "COUNTER"}}


class ProjectCodeAllocator:
    def __init__(self, dynamodb: DynamoDBClient, table: str, *, digits: int = 4) -> None:
        self._db = dynamodb
        self._table = table
        self._digits = digits
        self.reads = 0
        self.writes = 0

    def code_for(self, opportunity_id: str, series: str) -> str:
        """``<series>-<NNNN>``: the opportunity's code, allocated the first time it is asked for."""
        claimed = self.claimed(opportunity_id)
        if claimed is not None:
            return claimed
        number = self._next_number(series)
        code = f"{series}-{number:0{self._digits}d}"
        self.writes += 1
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **_claim_key(opportunity_id),
                    "code": {"S": code},
                    "series": {"S": series},
                    "number": {"N": str(number)},
                    "claimed_at": {"N": str(int(time.time()))},
                },
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Another execution for this deal claimed first: its code is the deal's.
            existing = error.response.get("Item", {}).get("code", {}).get("S")  # type: ignore[attr-defined]
            winner = existing or self.claimed(opportunity_id)
            if winner is None:  # a claim is never deleted: this is not a race we know
                raise
            return str(winner)
        return code

    def claimed(self, opportunity_id: str) -> str | None:
        """The code the opportunity already has, if any (one consistent read)."""
        self.reads += 1
        item = self._db.get_item(
            TableName=self._table, Key=_claim_key(opportunity_id), ConsistentRead=True
        ).get("Item")
        return item["code"]["S"] if item else None

    def _next_number(self, series: str) -> int:
        self.writes += 1
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=_series_key(series),
                UpdateExpression="ADD #last :one",
                ConditionExpression="attribute_not_exists(#last) OR #last < :max",
                ExpressionAttributeNames={"#last": "last"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":max": {"N": str(10**self._digits - 1)}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise SeriesExhausted(
                f"project code series {series} has used all {10**self._digits - 1} numbers"
            ) from None
        return int(response["Attributes"]["last"]["N"])

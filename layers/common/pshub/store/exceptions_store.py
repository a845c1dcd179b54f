"""The business-exception register (DynamoDB), idempotent on the exception id; each one
raised (or opened again) counts in the ``ExceptionsOpened`` KPI of its owner team."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from pshub.business_exceptions import BusinessException, Status
from pshub.kpis import EXCEPTIONS_OPENED

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ExceptionStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self.writes = 0

    def raise_exception(self, exception: BusinessException) -> bool:
        """Record it; False when the same exception is already recorded."""
        self.writes += 1
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": exception.id},
                    "status": {"S": exception.status.value},
                    "category": {"S": exception.category.value},
                    "doc": {"S": exception.model_dump_json()},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        EXCEPTIONS_OPENED.emit(1, owner=exception.owner_team.value)
        return True

    def raise_or_reopen(self, exception: BusinessException) -> bool:
        """Record it, or open it again if a person resolved it and it happened again (a retry
        that failed the same way); False when it is open already."""
        if self.raise_exception(exception):
            return True
        current = self.get(exception.id)
        if current is None or current.status is Status.OPEN:
            return False
        self._db.put_item(
            TableName=self._table,
            Item={
                "id": {"S": exception.id},
                "status": {"S": Status.OPEN.value},
                "category": {"S": exception.category.value},
                "doc": {"S": exception.model_dump_json()},
            },
        )
        EXCEPTIONS_OPENED.emit(1, owner=exception.owner_team.value)
        return True

    def get(self, exception_id: str) -> BusinessException | None:
        item = self._db.get_item(
            TableName=self._table, Key={"id": {"S": exception_id}}, ConsistentRead=True
        ).get("Item")
        return BusinessException.model_validate_json(item["doc"]["S"]) if item else None

    def list(self, status: Status | None = Status.OPEN) -> list[BusinessException]:
        found: list[BusinessException] = []
        for page in self._db.get_paginator("scan").paginate(TableName=self._table):
            for item in page["Items"]:
                exception = BusinessException.model_validate_json(item["doc"]["S"])
                if status is None or exception.status == status:
                    found.append(exception)
        return sorted(found, key=lambda e: e.raised_at)

    def resolve(self, exception_id: str, resolution: str) -> BusinessException:
        current = self.get(exception_id)
        if current is None:
            raise KeyError(f"no business exception {exception_id!r}")
        resolved = current.model_copy(update={"status": Status.RESOLVED, "resolution": resolution})
        self._db.put_item(
            TableName=self._table,
            Item={
                "id": {"S": resolved.id},
                "status": {"S": resolved.status.value},
                "category": {"S": resolved.category.value},
                "doc": {"S": resolved.model_dump_json()},
            },
        )
        return resolved

"""Every five minutes: the open business exceptions as gauges per owner team (``pshub.gauges``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.gauges import exception_readings
from pshub.observability import logger
from pshub.settings import OperationsTickSettings, read_settings
from pshub.store.exceptions_store import ExceptionStore

settings = read_settings(OperationsTickSettings)
store = ExceptionStore(boto3.client("dynamodb"), settings.exceptions_table)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    readings = exception_readings(store.list(), datetime.now(UTC))
    for reading in readings:
        reading.emit()
    return {"readings": len(readings)}

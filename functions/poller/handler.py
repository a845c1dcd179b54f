"""Poller: one poll-only connection's change feed -> raw deliveries, from its watermark on."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.connectors.feed import ChangeFeed
from pshub.connectors.registry import connector_for_id
from pshub.errors import UnknownConnection
from pshub.kpis import POLL_COVERAGE_AGE
from pshub.observability import logger, metrics
from pshub.pipeline.poller import Poller, PollStates
from pshub.settings import PollerSettings, read_settings
from pshub.store.raw_queue import RawDeliveryQueue

settings = read_settings(PollerSettings)
connections = load_registry(settings.pshub_connections)
_raw = RawDeliveryQueue(
    cache(lambda: boto3.client("sqs")),
    settings.raw_delivery_queue_url,
    settings.claim_check_bucket,
    cache(lambda: boto3.client("s3")),
    settings.claim_check_threshold_bytes,
)
poller = Poller(states=PollStates(boto3.client("dynamodb"), settings.poll_state_table), enqueue=_raw.enqueue)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``{"connection": id}`` (the schedule's input): every object type its feed serves."""
    connection = connections.get(str(event.get("connection")))
    if connection is None:
        raise UnknownConnection(f"no connection {event.get('connection')!r} is configured to poll")
    feed = connector_for_id(connections, connection.id, connection.role)
    if not isinstance(feed, ChangeFeed):
        raise TypeError(
            f"connection {connection.id!r}: its {connection.platform} connector has no change feed"
        )
    results = []
    try:
        for object_type in feed.feed_objects():
            outcome = poller.poll(connection, feed, object_type, context.get_remaining_time_in_millis)
            metrics.add_metric(name="PolledRecords", unit="Count", value=outcome.records)
            metrics.add_metric(name="PollDeletesDetected", unit="Count", value=outcome.deleted)
            results.append(
                {
                    "object_type": object_type,
                    "pages": outcome.pages,
                    "records": outcome.records,
                    "deleted": outcome.deleted,
                    "completed": outcome.completed,
                    "watermark": outcome.watermark.isoformat() if outcome.watermark else None,
                }
            )
    finally:  # failed or not: how far behind the feed is, for the retention alarm
        age = poller.coverage_age_s(connection.id, feed.feed_objects())
        if age is not None:
            POLL_COVERAGE_AGE.emit(age, connection=connection.id)
    return {"connection": connection.id, "polled": results}

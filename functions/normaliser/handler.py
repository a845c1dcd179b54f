"""Normaliser: SQS batch of raw deliveries -> canonical events on the bus (partial batch failure)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.connectors.registry import connector_for_id
from pshub.observability import logger, metrics
from pshub.pipeline.enrichment import RecordReader
from pshub.pipeline.failures import FailureRecordingProcessor
from pshub.pipeline.normaliser import DeliveryNormaliser
from pshub.settings import NormaliserSettings, read_settings
from pshub.store.archive import RawArchive
from pshub.store.bodies import DeliveryBodies
from pshub.store.event_bus import EventBusPublisher
from pshub.store.event_claims import PlatformEventClaims
from pshub.store.exceptions_store import ExceptionStore
from pshub.store.identity import IdentityStore
from pshub.store.raw_queue import ParkingQueue
from pshub.sync.entity_sync import EntitySync
from pshub.sync.ownership import load_policy
from pshub.tracing import tracer

settings = read_settings(NormaliserSettings)
_dynamodb = boto3.client("dynamodb")
_s3 = boto3.client("s3")
connections = load_registry(settings.pshub_connections) if settings.pshub_connections else {}
normaliser = DeliveryNormaliser(
    bodies=DeliveryBodies(_s3),
    claims=PlatformEventClaims(DynamoDBPersistenceLayer(table_name=settings.idempotency_table)),
    publisher=EventBusPublisher(boto3.client("events"), settings.event_bus_name),
    parking=ParkingQueue(
        cache(lambda: boto3.client("sqs")),
        settings.unmappable_queue_url,
        claim_check_bucket=settings.claim_check_bucket,
        s3=lambda: _s3,
        inline_limit=settings.claim_check_threshold_bytes,
    ),
    archive=RawArchive(boto3.client("firehose"), settings.raw_archive_stream),
    entity_sync=EntitySync(
        identity=IdentityStore(_dynamodb, settings.identity_table),
        exceptions=ExceptionStore(_dynamodb, settings.exceptions_table),
        policy=load_policy(settings.pshub_ownership_policy, source="PSHUB_OWNERSHIP_POLICY"),
    ),
    money_limit=Decimal(settings.max_money_amount),
    record_reader=RecordReader(
        lambda connection_id, role: connector_for_id(connections, connection_id, role)
    ),
)
processor = FailureRecordingProcessor()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = event.get("Records", [])
    # Archive first, once per batch: every delivery is kept whatever happens next.
    normaliser.archive([record["body"] for record in records])

    def normalise_record(record: SQSRecord) -> None:
        normaliser.normalise(record.body, context.get_remaining_time_in_millis)

    try:
        return process_partial_response(
            event=event, record_handler=normalise_record, processor=processor, context=context
        )
    finally:
        normaliser.count_received()

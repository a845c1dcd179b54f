"""Ingress: POST /webhooks/{connection} -> verified raw delivery on SQS -> platform's ack."""

from __future__ import annotations

import time
import warnings
from typing import Any

import boto3
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.dal.raw_queue import ParkingQueue, RawDeliveryQueue
from pshub.dal.secrets import SecretsManagerSource
from pshub.ingress import WebhookIngress, request_from_http_api
from pshub.observability import logger, metrics
from pshub.settings import IngressSettings, read_settings

# Only rejections are metrics here (API Gateway counts the 2xx); an accepted webhook
# flushes no metric, which is expected, not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")
settings = read_settings(IngressSettings)
_sqs = boto3.client("sqs")
ingress = WebhookIngress(
    connections=load_registry(settings.pshub_connections),
    secrets=SecretsManagerSource(boto3.client("secretsmanager")),
    queue=RawDeliveryQueue(
        sqs=_sqs,
        queue_url=settings.raw_delivery_queue_url,
        claim_check_bucket=settings.claim_check_bucket,
        s3_factory=lambda: boto3.client("s3"),
        claim_check_threshold=settings.claim_check_threshold_bytes,
    ),
    parking=ParkingQueue(_sqs, settings.unmappable_queue_url),
    max_body_bytes=settings.max_body_bytes,
    clock=time.time,
)


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = request_from_http_api(event, time.time())
    connection_id = (event.get("pathParameters") or {}).get("connection", "")
    response = ingress.receive(connection_id, request)
    return {"statusCode": response.status, "headers": response.headers, "body": response.body}

"""Ingress: POST /webhooks/{connection} -> verified raw delivery on SQS -> platform's ack."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.dal.raw_queue import ParkingQueue, RawDeliveryQueue
from pshub.dal.secrets import SecretsManagerSource
from pshub.ingress import WebhookIngress, request_from_http_api
from pshub.observability import logger
from pshub.settings import IngressSettings, read_settings

settings = read_settings(IngressSettings)
# One client per service and execution environment, built on first use: the first
# webhook needs SQS and its connection's secret, a claim check S3; nothing else does.
_sqs = cache(lambda: boto3.client("sqs"))
_s3 = cache(lambda: boto3.client("s3"))
ingress = WebhookIngress(
    connections=load_registry(settings.pshub_connections),
    secrets=SecretsManagerSource(cache(lambda: boto3.client("secretsmanager"))),
    queue=RawDeliveryQueue(
        sqs=_sqs,
        queue_url=settings.raw_delivery_queue_url,
        claim_check_bucket=settings.claim_check_bucket,
        s3=_s3,
        claim_check_threshold=settings.claim_check_threshold_bytes,
    ),
    parking=ParkingQueue(
        _sqs,
        settings.unmappable_queue_url,
        claim_check_bucket=settings.claim_check_bucket,
        s3=_s3,
        inline_limit=settings.claim_check_threshold_bytes,
    ),
    max_body_bytes=settings.max_body_bytes,
    clock=time.time,
)


# No metrics decorator: API Gateway counts accepted webhooks, and each rejection flushes
# its own metric (pshub.ingress), so there is never anything left to flush here.
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = request_from_http_api(event, time.time())
    # The API Gateway request id, read once (a JMESPath correlation path costs ~10 us).
    logger.set_correlation_id(request.request_id)
    connection_id = (event.get("pathParameters") or {}).get("connection", "")
    response = ingress.receive(connection_id, request)
    return {"statusCode": response.status, "headers": response.headers, "body": response.body}

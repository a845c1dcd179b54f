"""Ingress: POST /webhooks/{connection} -> verified raw delivery on SQS -> platform's ack."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pshub.connections import load_registry
from pshub.observability import bind_invocation, logger
from pshub.pipeline.ingress import WebhookIngress, request_from_http_api
from pshub.settings import IngressSettings, read_settings
from pshub.store.clients import lean_client
from pshub.store.raw_queue import ParkingQueue, RawDeliveryQueue
from pshub.store.secrets import SecretsManagerSource

settings = read_settings(IngressSettings)
# One client per service and execution environment, built on first use: the first
# webhook needs SQS and its connection's signing secret, a claim check S3; nothing else does.
_sqs = cache(lambda: lean_client("sqs"))
_s3 = cache(lambda: lean_client("s3"))
ingress = WebhookIngress(
    connections=load_registry(settings.pshub_connections),
    secrets=SecretsManagerSource(cache(lambda: lean_client("secretsmanager"))),
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
_cold_start = [True]


# No logger or metrics decorator: a quiet accept logs nothing, so the Lambda context is put
# on the logger only when a line is written (bind_invocation); each rejection flushes its
# own metric, and API Gateway counts accepted webhooks.
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    cold_start, _cold_start[0] = _cold_start[0], False
    request = request_from_http_api(event, time.time())
    connection_id = (event.get("pathParameters") or {}).get("connection", "")

    def bind_log() -> None:
        bind_invocation(context, request.request_id, cold_start)

    try:
        response = ingress.receive(connection_id, request, bind_log)
    except Exception:
        # Not stored (an AWS outage): the vendor retries on the 500. Say which webhook, then fail.
        bind_log()
        logger.exception("webhook not stored; the vendor will retry", extra={"connection": connection_id})
        raise
    return {"statusCode": response.status, "headers": response.headers, "body": response.body}

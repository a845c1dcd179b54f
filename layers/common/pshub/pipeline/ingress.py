"""Ingress logic: verify a webhook as its platform signs it, store it, then acknowledge.

Order matters: an unknown connection is 404 and an oversize body 413 before any
crypto; a bad signature is 401 and nothing is stored; only an authentic body that
cannot be parsed is kept (on the parking queue) and answered 400; an authentic,
parseable delivery is acknowledged only after SQS has it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pshub.connections import Connection
from pshub.errors import (
    PayloadTooLarge,
    PshubError,
    SignatureInvalid,
    UnknownConnection,
    UnparseableBody,
)
from pshub.kpis import UNKNOWN, WEBHOOK_REJECTED
from pshub.observability import logger
from pshub.pipeline.http import HttpResponse, InboundRequest, redact_query
from pshub.pipeline.raw_delivery import RawDelivery
from pshub.platforms import adapter_for
from pshub.store.raw_queue import ParkingQueue, RawDeliveryQueue

_STATUS = {UnknownConnection: 404, PayloadTooLarge: 413, SignatureInvalid: 401, UnparseableBody: 400}
# Headers never worth keeping with a delivery.
_DROP_HEADERS = frozenset({"authorization", "cookie", "x-amzn-trace-id"})


def _nothing() -> None:
    return None


def error_response(error: PshubError, connection_id: str, request_id: str) -> HttpResponse:
    return HttpResponse.json(
        _STATUS.get(type(error), 500),
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "connection": connection_id,
                "request_id": request_id,
            }
        },
    )


class WebhookIngress:
    def __init__(
        self,
        connections: Mapping[str, Connection],
        secrets: Callable[[str], str],
        queue: RawDeliveryQueue,
        parking: ParkingQueue,
        max_body_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._connections = connections
        self._secrets = secrets
        self._queue = queue
        self._parking = parking
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        # What each connection's deliveries carry as options, built once, not per webhook.
        self._options = {key: dict(value.options) or None for key, value in connections.items()}

    def receive(
        self, connection_id: str, request: InboundRequest, bind_log: Callable[[], None] = _nothing
    ) -> HttpResponse:
        """The response for one webhook. ``bind_log`` puts the invocation's keys on the logger;
        it is called only before a line is written (refusals, DEBUG), never on a quiet accept."""
        try:
            return self._receive(connection_id, request, bind_log)
        except PshubError as error:
            status = _STATUS.get(type(error), 500)
            bind_log()
            logger.warning(
                "webhook rejected",
                extra={
                    "connection": connection_id,
                    "status": status,
                    "reason": error.code,
                    "detail": error.message,
                    "source_ip": request.source_ip,
                },
            )
            # Accepted deliveries are counted by the normaliser (DeliveriesReceived, per batch);
            # refusals here, per connection (a configured one: the path is the caller's) and reason.
            known = connection_id if connection_id in self._connections else UNKNOWN
            WEBHOOK_REJECTED.emit(1, connection=known, reason=error.code)
            return error_response(error, connection_id, request.request_id)

    def _receive(
        self, connection_id: str, request: InboundRequest, bind_log: Callable[[], None]
    ) -> HttpResponse:
        connection = self._connections.get(connection_id)
        if connection is None:
            raise UnknownConnection(f"no connection named {connection_id!r} is configured")
        if not connection.receives_webhooks:
            raise UnknownConnection(
                f"connection {connection_id!r} ({connection.platform}) does not receive webhooks"
            )
        if len(request.body) > self._max_body_bytes:
            raise PayloadTooLarge(
                f"body is {len(request.body)} bytes; the limit is {self._max_body_bytes} bytes"
            )
        adapter = adapter_for(connection.platform)
        # An AWS outage here is a 500: the vendor retries.
        secret = self._secrets(connection.signing_secret_name)
        try:
            adapter.verify(request, connection, secret, request.received_at_epoch)
        except SignatureInvalid:
            raise
        except Exception as error:
            # A request the checks could not even read is not shown to be authentic: refused, not kept.
            raise SignatureInvalid(
                f"the request could not be verified ({type(error).__name__} reading its signature)"
            ) from error
        delivery = self._delivery(connection, request)
        try:
            try:
                adapter.parse(request.body)
            except UnparseableBody:
                raise
            except Exception as error:  # authentic, but nothing the checks foresaw: kept all the same
                raise UnparseableBody(
                    f"{connection.platform} body could not be read ({type(error).__name__})"
                ) from error
        except UnparseableBody as error:
            # Authentic but unreadable: keep it for a person, then tell the sender.
            for name, value in RawDelivery.body_fields(request.body).items():
                setattr(delivery, name, value)
            self._parking.park(delivery, error.code, error.message)
            raise
        message_id = self._queue.enqueue(delivery, request.body)
        # DEBUG, not INFO: a JSON log line costs ~80 us, as much as the rest of the ack path;
        # API Gateway's access log already records every accepted request by its request id,
        # which is the delivery's correlation id.
        if logger.log_level <= logging.DEBUG:
            bind_log()
            logger.debug(
                "webhook accepted",
                extra={
                    "connection": connection.id,
                    "platform": connection.platform,
                    "delivery_id": delivery.delivery_id,
                    "message_id": message_id,
                    "bytes": len(request.body),
                },
            )
        return adapter.acknowledge(request)

    def _delivery(self, connection: Connection, request: InboundRequest) -> RawDelivery:
        headers = request.headers
        if _DROP_HEADERS.intersection(headers):
            headers = {k: v for k, v in headers.items() if k not in _DROP_HEADERS}
        return RawDelivery(
            # API Gateway's request id is unique per request: one delivery, one id (no uuid4 to draw).
            delivery_id=request.request_id,
            correlation_id=request.request_id,
            connection=connection.id,
            platform=connection.platform,
            received_at=_iso_utc(request.received_at_epoch),
            method=request.method,
            url=_redacted(request.url) if request.raw_query else request.url,
            headers=headers,
            source_ip=request.source_ip,
            legal_entity=connection.legal_entity,
            role=connection.role,
            options=self._options[connection.id],
        )


_last_second: tuple[int, str] = (-1, "")


def _iso_utc(epoch: float) -> str:
    """``2026-11-20T10:47:36.123+00:00``; the seconds part formatted once per second."""
    global _last_second  # noqa: PLW0603 - a one-entry cache, replaced whole (atomic)
    second = int(epoch)
    cached = _last_second
    if cached[0] != second:
        cached = _last_second = (second, datetime.fromtimestamp(second, UTC).isoformat()[:19])
    return f"{cached[1]}.{int((epoch - second) * 1000):03d}+00:00"


def _redacted(url: str) -> str:
    """The URL without secrets some platforms carry in it (Salesforce's endpoint token)."""
    base, question, query = url.partition("?")
    return f"{base}?{redact_query(query)}" if question else url


def request_from_http_api(event: Mapping[str, Any], now: float) -> InboundRequest:
    """An API Gateway HTTP API (payload 2.0) event as the platform sent it.

    The URL is rebuilt from the Host header, the raw path and the raw query string
    exactly as received: HubSpot signs the URL it called, so nothing is re-encoded.
    """
    import base64

    # Payload format 2.0 delivers header names lower-cased already (AWS documents it).
    headers: dict[str, str] = event.get("headers") or {}
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    body_text = event.get("body") or ""
    body = base64.b64decode(body_text) if event.get("isBase64Encoded") else body_text.encode()
    raw_query = event.get("rawQueryString") or ""
    path = event.get("rawPath") or http.get("path") or "/"
    scheme = headers.get("x-forwarded-proto", "https")
    host = headers.get("host") or context.get("domainName", "")
    return InboundRequest(
        method=http.get("method", "POST"),
        url=f"{scheme}://{host}{path}" + (f"?{raw_query}" if raw_query else ""),
        path=path,
        raw_query=raw_query,
        headers=headers,
        body=body,
        source_ip=http.get("sourceIp", ""),
        request_id=context.get("requestId") or str(uuid.uuid4()),
        received_at_epoch=now,
    )

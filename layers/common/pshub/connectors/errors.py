"""Typed errors of outbound calls, one vocabulary for every platform.

Each error names where it happened (platform, connection, operation), says what
went wrong in pshub's words (``message``) and keeps the platform's own words
(``platform_code``, ``platform_message``, ``http_status``) for the person who
opens a ticket with the vendor. Retry decisions read the type, never the text:

- ``TransientConnectorError``: timeouts, 5xx, outages. Retry with backoff.
- ``RateLimited``: HTTP 429. Retry after ``retry_after_s``.
- ``PermanentConnectorError``: the request itself is wrong (validation, closed
  period, missing reference). Retrying will not help; raise a business exception.
- ``Conflict``: a record with the same unique key exists with different content.
- ``NotFound``: the record addressed does not exist.
- ``OutcomeUnknown``: the request was sent and no answer came (a read timeout, a
  dropped connection): the platform may or may not have applied it. Resolved by
  reading back, never by sending the write again blind.

Lambda reports the concrete class name as the error type: a Step Functions Retry
must either list ``TransientConnectorError`` and ``RateLimited`` by name or the
handler re-raises every ``TransientError`` as that (``pshub.workflows.provisioning`` does).
"""

from __future__ import annotations

from typing import Any

from pshub.errors import PermanentError, PshubError, TransientError


class ConnectorError(PshubError):
    code = "connector_error"

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        connection_id: str,
        operation: str,
        platform_code: str | None = None,
        platform_message: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.connection_id = connection_id
        self.operation = operation
        self.platform_code = platform_code
        self.platform_message = platform_message
        self.http_status = http_status

    def __str__(self) -> str:
        vendor = f" [{self.platform_code}: {self.platform_message}]" if self.platform_code else ""
        return f"{self.connection_id} ({self.platform}) {self.operation}: {self.message}{vendor}"

    def context(self) -> dict[str, Any]:
        """Where it happened and the platform's own words: what a reworded copy keeps."""
        return {
            "platform": self.platform,
            "connection_id": self.connection_id,
            "operation": self.operation,
            "platform_code": self.platform_code,
            "platform_message": self.platform_message,
            "http_status": self.http_status,
        }

    def _own(self) -> dict[str, Any]:
        return {}

    def reworded(self, message: str) -> ConnectorError:
        """The same error (class, platform words, retry facts) with ``message``: pshub's words
        naming the record."""
        return type(self)(message, **self.context(), **self._own())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record for business exceptions and workflow outputs."""
        return {
            "error": type(self).__name__,
            "code": self.code,
            "platform": self.platform,
            "connection_id": self.connection_id,
            "operation": self.operation,
            "message": self.message,
            "platform_code": self.platform_code,
            "platform_message": self.platform_message,
            "http_status": self.http_status,
        }


def error_context(
    platform: str, connection_id: str, operation: str, vendor: ConnectorError | None = None
) -> dict[str, Any]:
    """The keyword arguments of a connector's own error about ``operation``, keeping the
    platform's code, message and HTTP status from ``vendor`` (the error it rewords), if any."""
    return {
        "platform": platform,
        "connection_id": connection_id,
        "operation": operation,
        "platform_code": vendor.platform_code if vendor else None,
        "platform_message": vendor.platform_message if vendor else None,
        "http_status": vendor.http_status if vendor else None,
    }


class TransientConnectorError(ConnectorError, TransientError):
    """The platform did not answer usefully (timeout, 5xx, outage); the same call may succeed later.
    ``retry_after_s``: when the connection is held (a 503: nothing goes before then), else None."""

    code = "connector_transient"

    def __init__(self, message: str, *, retry_after_s: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after_s = retry_after_s

    def _own(self) -> dict[str, Any]:
        return {} if self.retry_after_s is None else {"retry_after_s": self.retry_after_s}

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.retry_after_s is None else {"retry_after_s": self.retry_after_s}
        return {**super().to_dict(), **extra}


class RateLimited(TransientConnectorError):
    """The platform throttled the caller (HTTP 429); wait ``retry_after_s`` before the next call."""

    code = "connector_rate_limited"

    retry_after_s: float

    def __init__(self, message: str, *, retry_after_s: float, **context: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **context)
        # False: pshub's own limiter held it back before sending (nothing reached the platform).
        self.sent = True


class OutcomeUnknown(TransientConnectorError):
    """A write was sent and its answer lost: read back before deciding whether to send it again."""

    code = "connector_outcome_unknown"


class PermanentConnectorError(ConnectorError, PermanentError):
    """The platform refused the request as made; someone has to change data or configuration."""

    code = "connector_permanent"


class Conflict(PermanentConnectorError):
    """A record with the same unique key (``key``) exists with different content (``fields``)."""

    code = "connector_conflict"

    def __init__(self, message: str, *, key: str, fields: tuple[str, ...], **context: Any) -> None:
        super().__init__(message, **context)
        self.key = key
        self.fields = fields

    def _own(self) -> dict[str, Any]:
        return {"key": self.key, "fields": self.fields}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "key": self.key, "fields": list(self.fields)}


class NotFound(PermanentConnectorError):
    """The record addressed by id or key does not exist in the platform."""

    code = "connector_not_found"

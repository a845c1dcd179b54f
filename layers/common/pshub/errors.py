"""Domain errors. Each carries a stable ``code`` and a message a person can act on."""

from __future__ import annotations


class PshubError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownConnection(PshubError):
    code = "unknown_connection"


class PayloadTooLarge(PshubError):
    code = "payload_too_large"


class SignatureInvalid(PshubError):
    """Missing, malformed, stale or wrong signature: the request is not stored."""

    code = "signature_invalid"


class UnparseableBody(PshubError):
    """Signed correctly but not a body this platform sends."""

    code = "unparseable_body"


class Unmappable(PshubError):
    """A verified delivery no adapter can turn into canonical events."""

    code = "unmappable"


class TransientError(PshubError):
    """Worth retrying: throttling, timeouts, 5xx."""

    code = "transient"


class PermanentError(PshubError):
    """Retrying will not help; a person must look."""

    code = "permanent"

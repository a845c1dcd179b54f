"""The raw delivery: a verified webhook exactly as received, as it travels on SQS.

The body is kept byte-for-byte (text when it is valid UTF-8, otherwise base64),
or, above the claim-check threshold, in S3 with only a pointer on the queue.
This is also the record the raw archive keeps for replay and audit.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "pshub.raw-delivery/1"


@dataclass(frozen=True)
class BodyRef:
    """Where a claim-checked body lives."""

    bucket: str
    key: str
    size: int


@dataclass
class RawDelivery:
    delivery_id: str
    correlation_id: str
    connection: str
    platform: str
    received_at: str  # ISO-8601 UTC
    method: str
    url: str  # the URL as received, query string included
    headers: dict[str, str]
    source_ip: str
    body_text: str | None = None
    body_base64: str | None = None
    body_ref: BodyRef | None = None
    legal_entity: str | None = None
    role: str | None = None  # the connection's role (crm, erp, billing ...): ownership is by role
    # The connection's options, so the normaliser needs no registry of its own.
    options: dict[str, str] | None = None
    schema: str = field(default=SCHEMA)

    @property
    def has_inline_body(self) -> bool:
        return self.body_ref is None

    def inline_body(self) -> bytes:
        if self.body_text is not None:
            return self.body_text.encode()
        if self.body_base64 is not None:
            return base64.b64decode(self.body_base64)
        raise ValueError(f"delivery {self.delivery_id}: body is in S3 ({self.body_ref}), fetch it first")

    def to_json(self) -> str:
        # vars() rather than asdict(): this runs on every webhook's ack path.
        doc = {k: v for k, v in vars(self).items() if v is not None}
        if self.body_ref is not None:
            doc["body_ref"] = vars(self.body_ref)
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RawDelivery:
        doc: dict[str, Any] = json.loads(text)
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"not a raw delivery (schema {doc.get('schema')!r}, expected {SCHEMA!r})")
        ref = doc.pop("body_ref", None)
        return cls(**doc, body_ref=BodyRef(**ref) if ref else None)

    @staticmethod
    def body_fields(body: bytes) -> dict[str, str]:
        """``body_text`` for UTF-8 bodies (the common case, readable in the console), else base64."""
        try:
            return {"body_text": body.decode()}
        except UnicodeDecodeError:
            return {"body_base64": base64.b64encode(body).decode()}

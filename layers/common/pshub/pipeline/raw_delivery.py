"""The raw delivery: a verified webhook exactly as received, as it travels on SQS.

The body is kept byte-for-byte (text when it is valid UTF-8, otherwise base64),
or, above the claim-check threshold, in S3 with only a pointer on the queue.

Two forms of the same record:
- the message (``to_message``), what the ingress puts on the raw queue: one line of
  JSON metadata, a newline, then the body as it arrived. The body is not escaped
  into a JSON string, which on a 6 KB webhook saves the ack path ~60 us (a tenth
  of its time) and keeps the message no larger than body + metadata.
- the document (``to_json``), one JSON object on one line: what the raw archive keeps
  (newline-delimited in S3) and the parking queue shows a person.
``from_message`` reads either.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from pshub.pipeline import fastjson

SCHEMA = "pshub.raw-delivery/1"  # the document form
MESSAGE_SCHEMA = "pshub.raw-delivery-message/1"  # the queue form
_BODY_FIELDS = frozenset({"body_text", "body_base64", "body_ref", "schema"})


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
        return fastjson.dumps(doc)

    def to_message(self) -> str:
        """The queue form: metadata line, newline, body text (or base64; nothing if claim-checked)."""
        doc = {k: v for k, v in vars(self).items() if v is not None and k not in _BODY_FIELDS}
        doc["schema"] = MESSAGE_SCHEMA
        if self.body_ref is not None:
            doc["body_ref"] = vars(self.body_ref)
            body = ""
        elif self.body_text is not None:
            doc["body_encoding"] = "text"
            body = self.body_text
        else:
            doc["body_encoding"] = "base64"
            body = self.body_base64 or ""
        return fastjson.dumps(doc) + "\n" + body

    @classmethod
    def from_message(cls, text: str) -> RawDelivery:
        """A raw delivery from its message or its document form; ValueError if it is neither."""
        head, _, body = text.partition("\n")
        doc: dict[str, Any] = json.loads(head)
        if not isinstance(doc, dict):
            raise ValueError("not a raw delivery (the first line is not a JSON object)")
        schema = doc.pop("schema", None)
        if schema == MESSAGE_SCHEMA:
            encoding = doc.pop("body_encoding", None)
            if encoding == "text":
                doc["body_text"] = body
            elif encoding == "base64":
                doc["body_base64"] = body
            elif "body_ref" not in doc:
                raise ValueError(f"raw delivery message without a body (body_encoding {encoding!r})")
        elif schema == SCHEMA:
            if body.strip():
                raise ValueError("raw delivery document followed by more text")
        else:
            raise ValueError(
                f"not a raw delivery (schema {schema!r}, expected {MESSAGE_SCHEMA!r} or {SCHEMA!r})"
            )
        ref = doc.pop("body_ref", None)
        return cls(**doc, body_ref=BodyRef(**ref) if ref else None)

    @staticmethod
    def archive_line(message: str) -> str:
        """The document form of a raw-queue message, for the newline-delimited archive.

        Text that is not a raw delivery is archived as it is, newlines escaped, so that
        one message stays one line and nothing on the queue escapes the archive.
        """
        try:
            return RawDelivery.from_message(message).to_json()
        except (ValueError, TypeError):
            return fastjson.dumps({"schema": "pshub.unreadable-message/1", "text": message})

    @staticmethod
    def body_fields(body: bytes) -> dict[str, str]:
        """``body_text`` for UTF-8 bodies (the common case, readable in the console), else base64."""
        try:
            return {"body_text": body.decode()}
        except UnicodeDecodeError:
            return {"body_base64": base64.b64encode(body).decode()}

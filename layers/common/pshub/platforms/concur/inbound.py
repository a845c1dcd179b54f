"""SAP Concur Event Subscription Service (ESS): signed expense report notifications.

Authentication, as Concur documents it (Event Subscription Service v4, "ESS Authentication"
and "ESS Behavior"): every delivery is a POST over mutual TLS with Concur's client certificate
(``CN=webhook.api.concursolutions.com``) and always carries a digital signature of the body in
the ``Concur-Signature`` header, to be checked with Concur's published RSA public key. The
certificate check belongs to the TLS terminator (an API Gateway custom domain with a trust
store); this adapter checks the signature.

The signature is base64 of an RSA signature with SHA-256 over the raw request body. Concur names
neither the padding nor the salt: RSA-PSS (MGF1-SHA-256, any salt length) is what the public
receivers of Concur deliveries verify; PKCS#1 v1.5 is accepted too, so that whichever of the two
Concur's signer uses passes and nothing else does. The public keys are the connection's signing
secret: one or more PEM ``PUBLIC KEY`` blocks (text around them is ignored), so a key rotation
is both keys in the secret until the old one stops being used. Concur published its current key
(in use since 22 October 2025) and the one before: ``DOCUMENTED_PUBLIC_KEYS``.

No time is signed and Concur documents no tolerance: a delivery is retried for 72 hours (the
event retention) until it is answered 2xx or a 4xx other than 401, 403 and 429, so an old
notification is a retry, not a replay to refuse. A replayed notification costs a read: the
adapter maps the report as it reads it from Concur with pshub's own credentials, never what the
notification says, and the event id (``id``) is the idempotency key.

Envelope (topic ``public.concur.expense.report``; Concur's own samples also show
``concur.expense.report``): ``id`` (the event's UUID), ``correlationId``, ``eventType``
(``statusChanged``, ``reportCreated``, ``reportUpdated``, ``reportDeleted``), ``timeStamp`` (when
the notification was issued, RFC 3339) and ``facts`` (``reportId``, ``userId``, ``companyId``,
``currentApprovalStatus``/``previousApprovalStatus`` such as ``A_APPR``, ``stepCode`` such as
``SENDBACK``/``RECALL``, ``lastModifiedDate``, ``href``...). One notification per delivery.

The notification carries ids only. ``to_canonical`` therefore refuses it (``Unmappable``: it
needs a read); the normaliser calls ``read_and_map`` with the connection's expense connector,
which reads the report and its expenses (``mapping`` says how they map).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline import fastjson
from pshub.pipeline.http import HttpResponse, InboundRequest
from pshub.platforms import fields
from pshub.platforms.base import ACCEPTED, PlatformEvent, canonical_from
from pshub.platforms.concur import mapping

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

SIGNATURE_HEADER = "concur-signature"
VERSION_SCHEME = "concur.lastModifiedDate"
TOPICS = frozenset({"public.concur.expense.report", "concur.expense.report"})
EVENT_TYPES = frozenset({"statusChanged", "reportCreated", "reportUpdated", "reportDeleted"})
# The workflow step a report's approval or send-back is: the only ones that change what is posted.
STATUS_CHANGED = "statusChanged"
_MAX_SIGNATURE_CHARS = 2048  # base64 of a 8192-bit RSA signature is 1,368
_MIN_KEY_BITS = 2048
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+?-----END PUBLIC KEY-----")

# From "Event Subscription Service v4" > "ESS Authentication" (developer.concur.com).
DOCUMENTED_PUBLIC_KEYS = """\
Concur ESS signing key, in use since 22 October 2025:
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuE2x914aLmJa9GSzVVcT
e6CEi3afbs84RIEhRoLO8oK2nBKKS0fyRfZtzUZIiD0kcjBjeLrMjJpC5oI6f709
DpGQSgL1ytzP9dnIp/n1lcCk88NA+ihJlHwB6gNX6lMbftTbCpxvkY6PZmjZfnw/
/Ito5iM2P2IY7oxK8GsYWXLnnMDw9ONnvxfPLoZLGxYXXs+zR2yGFiZ0wPRY6QJ+
NT0xusN2nacPPwtgQQoD/oh7QMaBhXZ7WLSM0Gm68/c2lzMjQjtXgwAyy1+5h4EH
YhasT+p98Q0P3LpMcX9wZN3hMqbhRiRaJAQffCdYgk2Kv6EjE2l88K8kXdsocIZc
iQIDAQAB
-----END PUBLIC KEY-----
Concur ESS signing key used before 22 October 2025:
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2wJd8TVDGUxD00bCqemz
cptSfm7VGNa8Bm2DIpmqobzN6jv/HNzI3HPjeqcP1GtA4vjoFkFRaW2Qs286cI7e
9GcLbJP4mzww97LfbZYGTI+9SAlxDKEZl/AWbwTi6P8lOxho8fQ4Sv4eSK7hyL3l
I82XdBYJ2JWRpEQ1hZOui1f0BlFyqFVrEbzolE6S0eeP3gb1szFELz8ES5T4/T0o
Tz1KZE2knMsugAz760Mlmc7EuLutnNhfCZQypNUZ9fI2CMSZWHZa8IH9MCz/ywuE
NYp3hlsu0Q+oYeAwpDKyoWNLcV8pKaStVnP+3yn+/J3/oK4Rtqz/lKRrepxwTVRA
1wIDAQAB
-----END PUBLIC KEY-----
"""

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
_PADDINGS: tuple[padding.AsymmetricPadding, ...] = (_PSS, padding.PKCS1v15())


@lru_cache(maxsize=64)
def public_keys(secret: str) -> tuple[rsa.RSAPublicKey, ...]:
    """The RSA public keys in ``secret`` (PEM blocks, in order); ``SignatureInvalid`` if none is one.

    Cached per secret: parsing is the slow part of a check, and the secret changes only on a
    rotation (a new secret string, a new entry).
    """
    keys = []
    for block in _PEM_BLOCK.findall(secret.encode("utf-8", "surrogatepass")):
        try:
            key = serialization.load_pem_public_key(block)
        except (ValueError, UnsupportedAlgorithm):
            raise SignatureInvalid(
                "the connection's signing secret holds a PEM block that is not a public key"
            ) from None
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_KEY_BITS:
            raise SignatureInvalid(
                f"the connection's signing secret holds a key that is not RSA of at least {_MIN_KEY_BITS} bits"
            )
        keys.append(key)
    if not keys:
        raise SignatureInvalid(
            "the connection's signing secret holds no PEM PUBLIC KEY: store Concur's published key(s) there"
        )
    return tuple(keys)


def signature_matches(body: bytes, signature: bytes, keys: tuple[rsa.RSAPublicKey, ...]) -> bool:
    for key in keys:
        for scheme in _PADDINGS:
            try:
                key.verify(signature, body, scheme, hashes.SHA256())
            except InvalidSignature:
                continue
            return True
    return False


def _decoded_signature(header: str) -> bytes:
    text = header.strip()
    if len(text) > _MAX_SIGNATURE_CHARS:
        raise SignatureInvalid("Concur-Signature is longer than any RSA signature")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise SignatureInvalid("Concur-Signature is not base64") from None


def _notification(body: bytes, loads: Callable[[bytes], Any]) -> Any:
    """The ESS notification in ``body`` as ``loads`` reads it, its shape checked."""
    try:
        document = loads(body)
    except ValueError as exc:
        raise UnparseableBody(f"Concur body is not JSON: {exc}") from None
    if not fastjson.is_object(document):
        raise UnparseableBody("Concur body is not a JSON object (an ESS notification)")
    for key in ("id", "topic", "eventType", "timeStamp", "facts"):
        if key not in document:
            raise UnparseableBody(f"Concur notification has no {key!r}")
    return document


def _platform_event(notification: dict[str, Any]) -> PlatformEvent:
    raw_id = notification.get("id")
    label = raw_id if isinstance(raw_id, str) and raw_id else "Concur notification"
    try:
        event_id = fields.identifier(raw_id, "Concur notification id")
        event_type = fields.text(notification.get("eventType"), f"Concur notification {event_id} eventType")
        occurred_at = fields.iso_datetime(
            notification.get("timeStamp"), f"Concur notification {event_id} timeStamp"
        )
        facts = fields.mapping(notification.get("facts"), f"Concur notification {event_id} facts")
        report_id = fields.identifier(facts.get("reportId"), f"Concur notification {event_id} facts.reportId")
        user = facts.get("userId")
        if user is not None:
            fields.identifier(user, f"Concur notification {event_id} facts.userId")
        if facts.get("lastModifiedDate") is not None:
            fields.iso_datetime(
                facts["lastModifiedDate"], f"Concur notification {event_id} facts.lastModifiedDate"
            )
    except fields.FieldProblem as problem:
        return PlatformEvent.malformed(str(label)[:255], str(problem), notification)
    return PlatformEvent(
        event_id=event_id,
        event_type=event_type,
        native_id=report_id,
        occurred_at=occurred_at,
        data=notification,
    )


def owner_of(event: PlatformEvent) -> str:
    """The report owner's user id, as the report's ``href`` names it (``/users/{id}/``), else ``userId``.

    In a ``statusChanged`` notification ``userId`` is whoever acted (the approver, for an
    approval), so the owner in the report's URL wins.
    """
    facts: dict[str, Any] = event.data.get("facts") or {}
    href = facts.get("href")
    if isinstance(href, str):
        found = re.search(r"/users/([^/]+)/context/", href)
        if found:
            return found.group(1)
    user = facts.get("userId")
    if isinstance(user, str) and user:
        return user
    raise Unmappable(f"Concur notification {event.event_id} names no report owner (no href, no userId)")


class ConcurAdapter:
    platform = "concur"
    # The notification names the report only: the normaliser reads it (``read_and_map``).
    reads_records = True

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        header = request.header(SIGNATURE_HEADER)
        if not header:
            raise SignatureInvalid("missing Concur-Signature header")
        signature = _decoded_signature(header)
        if not signature_matches(request.body, signature, public_keys(secret)):
            raise SignatureInvalid(
                "Concur-Signature does not match the body (altered body, or signed by a key the "
                "connection's signing secret does not hold)"
            )

    def parse(self, body: bytes) -> Any:
        return _notification(body, fastjson.loads_for_shape)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACCEPTED  # ESS: any 2xx is delivered

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        notification: dict[str, Any] = _notification(body, fastjson.loads_exact)
        topic = notification.get("topic")
        if topic not in TOPICS:
            raise Unmappable(
                f"Concur topic {fields.kind_of(topic) if not isinstance(topic, str) else repr(topic)[:80]} is not an expense report topic"
            )
        return [_platform_event(notification)]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        if event.problem:
            raise Unmappable(event.problem)
        raise Unmappable(
            f"Concur notification {event.event_id} names report {event.native_id} only: it needs a read "
            "of the report (read_and_map with the connection's expense connector)"
        )

    def read_and_map(
        self, event: PlatformEvent, delivery: RawDelivery, connector: Any
    ) -> list[CanonicalEvent]:
        """The report's expenses as ``ExpenseChanged`` snapshots, read through ``connector``
        (``read_report(user_id, report_id) -> dict``); none for a notification that cannot change
        what is posted (a report created, edited or deleted before submission)."""
        from pshub.canonical.envelope import EntityChangedV1

        if event.problem:
            raise Unmappable(event.problem)
        if event.event_type not in EVENT_TYPES:
            raise Unmappable(f"no mapping for Concur event type {event.event_type[:80]!r}")
        if event.event_type != STATUS_CHANGED:
            return []
        report = connector.read_report(owner_of(event), event.native_id)
        try:
            records = mapping.report_records(report, event.data, options=delivery.options)
        except fields.FieldProblem as problem:
            raise Unmappable(str(problem)) from None
        events: list[CanonicalEvent] = []
        for record in records:
            one = replace(event, event_id=f"{event.event_id}:{record.expense_id}", native_id=record.native_id)
            payload = EntityChangedV1(
                native_id=record.native_id, change="snapshot", attributes=record.attributes
            )
            events += canonical_from(
                self.platform, "ExpenseChanged", payload, one, delivery, _version(record)
            )
        return events


def _version(record: mapping.ExpenseRecord) -> SourceVersion:
    from pshub.canonical.envelope import SourceVersion

    return SourceVersion(scheme=VERSION_SCHEME, major=record.version_ms, minor=0, tiebreak=record.expense_id)

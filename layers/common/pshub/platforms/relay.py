"""The relay contract: how a platform that pushes only through something the customer installs
(a NetSuite SuiteScript, an Oracle Integration flow, a Workday outbound integration) tells
pshub what changed. It is Standard Webhooks (https://www.standardwebhooks.com), the open
specification, with one JSON body per platform; pshub invents no signature scheme.

Signature (Standard Webhooks, "Symmetric" scheme). Three headers:

- ``webhook-id``: the message's unique id, the same on every retry of it (the idempotency key);
- ``webhook-timestamp``: integer Unix seconds of the attempt;
- ``webhook-signature``: a space-delimited list of ``v1,<base64 HMAC-SHA256>`` entries over
  ``<webhook-id>.<webhook-timestamp>.<raw body>``, keyed by the secret's bytes (the secret is
  ``whsec_`` + base64 of them). A relay rotating its secret sends one entry per secret.

pshub verifies over the raw bytes and the two headers exactly as received, with a constant-time
compare, and refuses an attempt more than ``TOLERANCE_S`` (five minutes, the specification's
libraries' window) before or after its own clock. Entries of other versions (``v1a``,
asymmetric) and malformed entries are skipped; one matching ``v1`` entry is enough. The
connection's signing secret may hold several ``whsec_`` secrets separated by whitespace: pshub
accepts a signature by any of them, so the receiving side can rotate first (add the new
secret, switch the relay, remove the old one).

Body (JSON, UTF-8, one change per message; the specification's ``type`` / ``timestamp`` /
``data`` shape)::

    {"type": "<platform>.<record_type>.<operation>",
     "timestamp": "<ISO 8601 with offset: when the change happened>",
     "data": {"event_id": "<the webhook-id>", "record_type": "...", "id": "<native id>",
              "operation": "create" | "update" | "delete",
              "modified_at": "<the platform's own last-modified stamp, ISO 8601 with offset>",
              "changed_fields": ["<native field>", ...],
              "fields": {"<native field>": <value after the change>, ...}}}

``data.event_id`` must be the ``webhook-id`` the message was signed with (checked at the
ingress), so the id pshub deduplicates on is the one the relay retries with. Amounts are
decimal strings (``"1250.00"``): never binary floating point on the way. A delete carries no
``fields``. What each platform's ``fields`` hold, and what they become, is its package's
``RECORDS`` table (``RelayRecord``); docs/relays.md is the published contract.

Answers: 200 once stored (the relay's retries stop); 401 for a signature refused (a relay
whose secret is wrong needs a person, and Standard Webhooks senders retry other 4xx too, so
the answer costs nothing but a retry); 5xx only when pshub could not store the message (the
relay retries it). A message is never answered 4xx for a fault of pshub's.

Versions: ``<platform>.modified_at``: major ``modified_at`` in ms, minor 1 for a delete (a
delete is final at an equal stamp), tiebreak the ``webhook-id``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline import fastjson
from pshub.pipeline.http import HttpResponse, InboundRequest
from pshub.platforms import fields
from pshub.platforms.base import ACCEPTED, PlatformEvent, canonical_from

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the form of a secret, not one
TOLERANCE_S = 300
OPERATIONS = ("create", "update", "delete")
_MAX_TIMESTAMP_DIGITS = 12  # Unix seconds up to year 33658: anything longer is not a timestamp
_MAX_SIGNATURES = 16  # a rotation sends two or three; more is an attack on our CPU


def signing_keys(secret: str) -> list[bytes]:
    """The keys of a connection's secret: one or more ``whsec_<base64>`` separated by whitespace
    (the prefix is optional, as the specification's libraries accept). ValueError if none is one."""
    keys = []
    for word in secret.split():
        encoded = word.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a relay signing secret is not whsec_ followed by base64") from None
        if key:
            keys.append(key)
    if not keys:
        raise ValueError("the relay signing secret is empty")
    return keys


def signature(key: bytes, message_id: bytes, timestamp: bytes, body: bytes) -> bytes:
    """The specification's v1 signature (raw HMAC-SHA256 bytes) of one message."""
    return hmac.new(key, message_id + b"." + timestamp + b"." + body, hashlib.sha256).digest()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _v1_signatures(header: str) -> list[bytes]:
    """The ``v1`` signatures a header lists; other versions and malformed entries are skipped."""
    offered = []
    for entry in header.split(" ")[:_MAX_SIGNATURES]:
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            offered.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return offered


def verify_signature(request: InboundRequest, secret: str, now: float, title: str) -> str:
    """The message id of a request signed as Standard Webhooks specifies; ``SignatureInvalid``
    naming what is wrong (a missing header, a stale attempt, no matching signature) otherwise."""
    message_id = request.header(ID_HEADER)
    stamp = request.header(TIMESTAMP_HEADER)
    signatures = request.header(SIGNATURE_HEADER)
    for name, value in ((ID_HEADER, message_id), (TIMESTAMP_HEADER, stamp), (SIGNATURE_HEADER, signatures)):
        if not value:
            raise SignatureInvalid(f"missing {name} header ({title} relays sign as Standard Webhooks)")
    assert message_id and stamp and signatures
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_TIMESTAMP_DIGITS):
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} is not integer Unix seconds")
    age = now - int(stamp)
    if age > TOLERANCE_S:
        raise SignatureInvalid(
            f"{TIMESTAMP_HEADER} is {age:.0f} s old (over {TOLERANCE_S} s): a replay or a stale retry"
        )
    if -age > TOLERANCE_S:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} is {-age:.0f} s in the future (over {TOLERANCE_S} s)")
    try:
        keys = signing_keys(secret)
    except ValueError as problem:
        raise SignatureInvalid(f"connection's {problem}") from None
    offered = _v1_signatures(signatures)
    if not offered:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} has no v1,<base64> signature")
    id_bytes, stamp_bytes = _utf8(message_id), _utf8(stamp)
    matched = False
    for key in keys:  # every key against every entry: no early exit that times which matched
        expected = signature(key, id_bytes, stamp_bytes, request.body)
        for candidate in offered:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureInvalid(
            f"{SIGNATURE_HEADER} does not match the message (wrong secret, or an altered body, id or timestamp)"
        )
    return message_id


@dataclass(frozen=True)
class RelayChange:
    """A created or updated record, as its relay message states it."""

    native_id: str
    fields: Mapping[str, Any]
    created: bool
    modified_at: datetime
    where: str  # "Oracle NetSuite invoice 4711", for messages

    def field(self, name: str) -> str:
        return f"{self.where} fields.{name}"


@dataclass(frozen=True)
class RelayRecord:
    """One record type a platform's relay sends, and what it becomes.

    ``upsert`` maps a change to a list of canonical events' ``(event type, payload)``: empty
    for a change pshub has no use for (a partial payment); ``FieldProblem`` for fields not of
    the contract's types. ``deleted`` maps a delete, or is None when the record type is never
    deleted in the platform (then a delete is refused, by name).
    """

    record_type: str
    upsert: Callable[[RelayChange], list[tuple[str, Any]]]
    deleted: Callable[[str], tuple[str, Any]] | None = None


def _document(body: bytes, loads: Callable[[bytes], Any], title: str) -> Any:
    try:
        document = loads(body)
    except ValueError as exc:
        raise UnparseableBody(f"{title} relay message is not JSON: {exc}") from None
    if not fastjson.is_object(document):
        raise UnparseableBody(f"{title} relay message is not a JSON object")
    for key in ("type", "timestamp", "data"):
        if key not in document:
            raise UnparseableBody(f"{title} relay message has no {key!r} (see docs/relays.md)")
    data = document["data"]
    if not fastjson.is_object(data):
        raise UnparseableBody(f"{title} relay message's data is not an object")
    for key in ("event_id", "record_type", "id", "operation", "modified_at"):
        if key not in data:
            raise UnparseableBody(f"{title} relay message has no data.{key} (see docs/relays.md)")
    return document


class RelayAdapter:
    """A platform whose changes reach pshub through a relay the customer installs."""

    platform: str
    title: str
    records: Mapping[str, RelayRecord]

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        message_id = verify_signature(request, secret, now, self.title)
        # The body's event id is the signed id: what pshub deduplicates on is what the relay retries.
        try:
            document = fastjson.loads_for_shape(request.body)
            data = document.get("data") if fastjson.is_object(document) else None
            stated = data.get("event_id") if data is not None and fastjson.is_object(data) else None
        except ValueError:
            return  # not JSON: parse refuses it, with its reason
        if isinstance(stated, bool) or not isinstance(stated, str | int):
            return  # no event id of an id's type: split parks it, with its reason
        if str(stated) != message_id:
            raise SignatureInvalid(f"data.event_id is not the {ID_HEADER} the message was signed with")

    def parse(self, body: bytes) -> Any:
        return _document(body, fastjson.loads_for_shape, self.title)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACCEPTED

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        document = _document(body, fastjson.loads_exact, self.title)
        data = document["data"]
        where = f"{self.title} relay message"
        event_id = "message"
        try:
            event_id = fields.identifier(data["event_id"], f"{where} data.event_id")
            where = f"{self.title} relay message {event_id}"
            record_type = fields.text(data["record_type"], f"{where} data.record_type")
            operation = fields.text(data["operation"], f"{where} data.operation")
            if operation not in OPERATIONS:
                raise fields.FieldProblem(f"{where} data.operation is not one of {', '.join(OPERATIONS)}")
            native_id = fields.identifier(data["id"], f"{where} data.id")
            modified_at = fields.iso_datetime(data["modified_at"], f"{where} data.modified_at")
            fields.iso_datetime(document["timestamp"], f"{where} timestamp")
            if operation != "delete":
                fields.mapping(data.get("fields"), f"{where} data.fields")
        except fields.FieldProblem as problem:
            return [PlatformEvent.malformed(event_id, str(problem), document)]
        return [
            PlatformEvent(
                event_id=event_id,
                event_type=f"{record_type}.{operation}",
                native_id=native_id,
                occurred_at=modified_at,
                data=document,
            )
        ]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        if event.problem:
            raise Unmappable(event.problem)
        record_type, _, operation = event.event_type.rpartition(".")
        record = self.records.get(record_type)
        if record is None:
            known = ", ".join(sorted(self.records))
            raise Unmappable(f"no mapping for {self.title} {record_type!r} records (mapped: {known})")
        version = self.version(event, deletion=operation == "delete")
        where = f"{self.title} {record_type} {event.native_id}"
        if operation == "delete":
            if record.deleted is None:
                raise Unmappable(f"{where}: a {record_type} is never deleted in {self.title}; refused")
            event_type, payload = record.deleted(event.native_id)
            return canonical_from(self.platform, event_type, payload, event, delivery, version)
        data: dict[str, Any] = event.data["data"]
        assert event.occurred_at is not None  # split sets it on every event it does not mark malformed
        change = RelayChange(event.native_id, data["fields"], operation == "create", event.occurred_at, where)
        try:
            mapped = record.upsert(change)
        except fields.FieldProblem as problem:
            raise Unmappable(str(problem)) from None
        # The canonical model's own refusals (pydantic) are the normaliser's to word.
        return [
            canonical
            for event_type, payload in mapped
            for canonical in canonical_from(self.platform, event_type, payload, event, delivery, version)
        ]

    def version(self, event: PlatformEvent, deletion: bool) -> SourceVersion:
        from pshub.canonical.envelope import SourceVersion

        assert event.occurred_at is not None
        return SourceVersion(
            scheme=f"{self.platform}.modified_at",
            major=(event.occurred_at - _EPOCH) // timedelta(milliseconds=1),
            minor=1 if deletion else 0,
            tiebreak=event.event_id,
        )


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


# -- what the platforms' RECORDS tables share -------------------------------------------------


def exact_money(value: object, currency: str, field: str) -> Any:
    """An amount as the contract sends it (a decimal string, or a JSON integer) in ``currency``,
    exact: more decimal places than the currency has is refused, never rounded."""
    from decimal import Decimal, InvalidOperation

    from pshub.canonical.model import Money

    if isinstance(value, bool) or not isinstance(value, str | int):
        raise fields.MappingProblem(f"{field} is {fields.kind_of(value)}, expected a decimal string")
    try:
        return Money(amount=Decimal(str(value)), currency=currency)
    except (InvalidOperation, ValueError):
        raise fields.MappingProblem(f"{field} is not an exact amount in {currency}") from None


def currency_code(value: object, field: str) -> str:
    code = fields.text(value, field)
    if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
        raise fields.MappingProblem(f"{field} is not an ISO 4217 currency code")
    return code


def client_upserted(
    change: RelayChange, *, name: str | None, email: str, website: str, country: str, city: str
) -> tuple[str, Any]:
    """``ClientUpserted`` from the platform's fields of those names (``name`` already read)."""
    from pshub.canonical.envelope import ClientUpsertedV1

    values = change.fields
    return (
        "ClientUpserted",
        ClientUpsertedV1(
            client_id=change.native_id,
            change="created" if change.created else "updated",
            name=name,
            email=fields.optional_text(values.get(email), change.field(email)) or None,
            web_domain=fields.web_domain(fields.optional_text(values.get(website), change.field(website))),
            country=fields.country_code(fields.optional_text(values.get(country), change.field(country))),
            city=fields.optional_text(values.get(city), change.field(city)) or None,
        ),
    )


def client_deleted(native_id: str) -> tuple[str, Any]:
    from pshub.canonical.envelope import ClientDeletedV1

    return "ClientDeleted", ClientDeletedV1(client_id=native_id)


def invoice_paid_if_settled(
    change: RelayChange, *, number: str, client: str, currency: str, total: str, remaining: str
) -> list[tuple[str, Any]]:
    """``InvoicePaid`` (paid at the change's ``modified_at``) when nothing remains to pay, from the
    platform's fields of those names; nothing for a new or partly paid invoice: pshub drafts the
    invoices, and hears from the ERP only that one was settled."""
    from pshub.canonical.envelope import InvoicePaymentV1

    values = change.fields
    code = currency_code(values.get(currency), change.field(currency))
    due = exact_money(values.get(total), code, change.field(total))
    left = exact_money(values.get(remaining), code, change.field(remaining))
    if left.amount < 0 or left.amount > due.amount:
        raise fields.MappingProblem(f"{change.field(remaining)} is not between 0 and {change.field(total)}")
    if left.amount != 0:
        return []
    customer = values.get(client)
    return [
        (
            "InvoicePaid",
            InvoicePaymentV1(
                invoice_id=change.native_id,
                invoice_number=fields.optional_text(values.get(number), change.field(number)) or None,
                client_id=None if customer is None else fields.identifier(customer, change.field(client)),
                status="paid",
                amount_due=due,
                amount_paid=due,
                amount_remaining=left,
                paid_at=change.modified_at,
            ),
        )
    ]


def entity_changed(model: type[Any], change: RelayChange, attributes: Mapping[str, Any]) -> tuple[str, Any]:
    """``<Object>Changed`` (a snapshot) with ``attributes`` validated by the canonical ``model``
    and valued as it dumps them; absent (None) attributes are left out, not asserted empty."""
    from pshub.canonical.envelope import EntityChangedV1

    present = {name: value for name, value in attributes.items() if value is not None}
    record = model.model_validate({"id": f"{change.where} (mapping)", **present})
    dumped: dict[str, Any] = record.model_dump(mode="json", include=set(present))
    return (
        f"{model.__name__}Changed",
        EntityChangedV1(
            native_id=change.native_id,
            change="snapshot",
            attributes={name: dumped[name] for name in present if name in dumped},
        ),
    )


def records_table(*records: RelayRecord) -> Mapping[str, RelayRecord]:
    return {record.record_type: record for record in records}


def client_record(
    record_type: str,
    name: Callable[[RelayChange], str | None],
    *,
    email: str,
    website: str,
    country: str,
    city: str,
) -> RelayRecord:
    """A customer record type: ``ClientUpserted`` from the platform's fields of those names (its
    name read by ``name``), ``ClientDeleted`` for a delete."""

    def upsert(change: RelayChange) -> list[tuple[str, Any]]:
        return [
            client_upserted(
                change, name=name(change), email=email, website=website, country=country, city=city
            )
        ]

    return RelayRecord(record_type, upsert, client_deleted)


def paid_invoice_record(
    record_type: str, *, number: str, client: str, currency: str, total: str, remaining: str
) -> RelayRecord:
    """An invoice record type: ``InvoicePaid`` once settled, from the platform's fields of those
    names (``invoice_paid_if_settled``); invoices are not deleted once issued, so a delete is refused."""

    def upsert(change: RelayChange) -> list[tuple[str, Any]]:
        return invoice_paid_if_settled(
            change, number=number, client=client, currency=currency, total=total, remaining=remaining
        )

    return RelayRecord(record_type, upsert)


__all__ = [
    "RelayAdapter",
    "RelayChange",
    "RelayRecord",
    "client_deleted",
    "client_upserted",
    "entity_changed",
    "invoice_paid_if_settled",
    "records_table",
    "signature",
    "signing_keys",
    "verify_signature",
]

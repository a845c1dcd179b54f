"""Toggl Track webhooks (Webhooks API v1): signature, validation handshake, time entries.

Signature. Toggl sends ``X-Webhook-Signature-256: sha256=<hex>``, the lower-case hex
HMAC-SHA256 of the raw body keyed by the subscription's ``secret`` (the string as set when
the subscription was created, or the one Toggl generated). Nothing else is signed: no URL,
no header, no timestamp, so there is no freshness window to check. A replayed delivery is
an event pshub has already seen: its ``event_id`` is the idempotency key, and one replayed
after that key has expired carries an ``at`` entity sync already holds, so it is stale.

Validation handshake. A subscription receives events only once it is validated. Toggl
posts a PING event (``"payload": "ping"``, signed like any other) that, while the
subscription is not validated, carries ``validation_code`` and ``validation_code_url``; the
endpoint validates it synchronously by answering 2xx with ``{"validation_code": "<code>"}``
(``acknowledge``), or an operator opens ``validation_code_url`` (asynchronous validation).
A ping is stored like any delivery and maps to nothing. The ping is verified like any
event, so the subscription's secret must be the connection's signing secret before Toggl
pings: otherwise the ping is refused (401) and the subscription stays unvalidated until it
is pinged again (``POST /webhooks/api/v1/ping/{workspace_id}/{subscription_id}``) or an
operator opens ``validation_code_url``.

Deliveries. One event per POST: ``event_id`` (an integer; a redelivery is of the same stored event),
``created_at``, ``creator_id``, ``metadata`` (``model``, ``action`` = ``created`` /
``updated`` / ``deleted``, ``path``, ``request_type``, ``workspace_id``, ``time_entry_id``,
the ids as text, and ``request_body``, the API request that made the change, which pshub
never reads or logs), ``payload`` (the whole time entry, API v9), ``subscription_id``,
``timestamp`` and ``url_callback``. Toggl keeps the events it attempted to deliver for a week,
with a count of failed attempts; its retry schedule is not documented, so a retry may come
late, and nothing here depends on when it comes.

Mapping (``mapping.time_entry_attributes`` and its options). A stopped entry is a
``TimeEntryChanged`` with ``change == "snapshot"`` (the webhook carries the whole entry); an
entry whose timer still runs (negative ``duration``) is not yet time worked and maps to
nothing; ``action == "deleted"`` or a ``server_deleted_at`` is a ``TimeEntryDeleted``.

Approval. A Toggl time entry has no approval state, and the Webhooks API sends no event
for Toggl's timesheet approvals (a member's period, approved as a whole in the Approvals API
of paid plans; webhooks cover clients, projects, project groups and users, tags, tasks, time
entries, workspaces and workspace users). So an entry is ``approved`` when it carries the
connection's ``approved_tag`` (default ``approved``), ``submitted`` otherwise; with no
approval time in Toggl, ``approved_at`` is not stated.

Versions. ``at`` is the entry's last modification, in whole seconds:

| platform | scheme | major | minor | tiebreak |
|---|---|---|---|---|
| Toggl Track | ``toggl.at`` | the entry's ``at``, Unix ms | 0 for a change, 1 for a deletion | ``event_id``, zero-padded to 20 digits |

Two changes in one second share ``at``; ``event_id`` (repeated on every redelivery, and
increasing in the deliveries seen, though Toggl does not document it) breaks the tie, in
numeric order once padded. pshub takes a deletion as final, so at an equal stamp it orders
after any change; its stamp is the later of ``at`` and ``server_deleted_at`` (the event's
``created_at`` if it carries neither).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline import fastjson
from pshub.pipeline.http import HttpResponse, InboundRequest
from pshub.platforms import fields
from pshub.platforms.base import ACCEPTED, PlatformEvent, canonical_from
from pshub.platforms.toggl import mapping

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

SIGNATURE_HEADER = "x-webhook-signature-256"
SIGNATURE_PREFIX = b"sha256="
VERSION_SCHEME = "toggl.at"
PING = "ping"
_MAX_EVENT_ID = 2**64 - 1  # padded to 20 digits, the tiebreak keeps numeric order


def _utf8(text: str) -> bytes:
    # Header values hold whatever a client sends; compare_digest refuses non-ASCII str.
    return text.encode("utf-8", "surrogatepass")


def _delivery(body: bytes, loads: Callable[[bytes], Any]) -> Any:
    """Toggl's event in ``body`` as ``loads`` reads it, its shape checked."""
    try:
        document = loads(body)
    except ValueError as exc:
        raise UnparseableBody(f"Toggl body is not JSON: {exc}") from None
    if not fastjson.is_object(document):
        raise UnparseableBody("Toggl body is not a JSON object (a webhook event)")
    for key in ("event_id", "metadata", "payload"):
        if key not in document:
            raise UnparseableBody(f"Toggl event has no {key!r}")
    return document


def _loose_id(document: dict[str, Any]) -> str:
    """A label for an event whose own id is unusable: its event_id if it is an integer."""
    value = document.get("event_id")
    return f"event_id:{value}" if isinstance(value, int) and not isinstance(value, bool) else "event"


def _platform_event(document: dict[str, Any]) -> PlatformEvent | None:
    """The event a delivery carries, its fields of Toggl's documented types (or ``malformed``);
    None for a ping."""
    where = "Toggl event"
    try:
        event_id = fields.integer(document["event_id"], f"{where} event_id", 0, _MAX_EVENT_ID)
        where = f"Toggl event {event_id}"
        if document["payload"] == PING:
            return None
        metadata = fields.mapping(document["metadata"], f"{where} metadata")
        model = fields.text(metadata.get("model"), f"{where} metadata.model")
        action = fields.text(metadata.get("action"), f"{where} metadata.action")
        payload = fields.mapping(document["payload"], f"{where} payload")
        if model != "time_entry":  # a record pshub does not map: refused in to_canonical, by name
            return PlatformEvent(str(event_id), f"{model}.{action}", "", None, document)
        native_id = mapping.identifier(
            payload.get("id", metadata.get("time_entry_id")), f"{where} payload.id"
        )
        if _is_deletion(action, payload):
            occurred_at = _deletion_stamp(document, payload, where)
        else:
            occurred_at = mapping.read_entry(payload, f"{where} payload").at
    except fields.FieldProblem as problem:
        return PlatformEvent.malformed(_loose_id(document), str(problem), document)
    return PlatformEvent(
        event_id=str(event_id),
        event_type=f"{model}.{action}",
        native_id=native_id,
        occurred_at=occurred_at,
        data=document,
    )


def _is_deletion(action: str, payload: dict[str, Any]) -> bool:
    return action == "deleted" or payload.get("server_deleted_at") is not None


def _deletion_stamp(document: dict[str, Any], payload: dict[str, Any], where: str) -> datetime:
    """When a record was deleted: the later of its ``at`` and ``server_deleted_at``, else the
    event's ``created_at`` (the shape of a deletion's payload is not documented)."""
    stamps = [
        fields.iso_datetime(payload[key], f"{where} payload.{key}")
        for key in ("at", "server_deleted_at")
        if payload.get(key) is not None
    ]
    return max(stamps) if stamps else fields.iso_datetime(document.get("created_at"), f"{where} created_at")


def _version(event: PlatformEvent, deletion: bool) -> SourceVersion:
    """The event's place in Toggl's order of changes to the entry (see the module docstring)."""
    from pshub.canonical.envelope import SourceVersion

    assert event.occurred_at is not None  # set by split for every event it does not mark malformed
    return SourceVersion(
        scheme=VERSION_SCHEME,
        major=mapping.epoch_ms(event.occurred_at),
        minor=1 if deletion else 0,
        tiebreak=f"{int(event.event_id):020d}",
    )


def validation_code(body: bytes) -> str | None:
    """The code a validation ping asks to have echoed, or None for any other delivery."""
    if b'"validation_code"' not in body:  # the common case, decided without parsing
        return None
    try:
        document = fastjson.loads_exact(body)
    except ValueError:
        return None
    if not fastjson.is_object(document) or document.get("payload") != PING:
        return None
    code = document.get("validation_code")
    try:
        return fields.identifier(code, "Toggl ping validation_code") if isinstance(code, str) else None
    except fields.FieldProblem:
        return None


class TogglAdapter:
    platform = "toggl"

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        # ``now`` is unused: Toggl signs no time (see the module docstring).
        header = request.header(SIGNATURE_HEADER)
        if not header:
            raise SignatureInvalid("missing X-Webhook-Signature-256 header")
        signature = _utf8(header)
        if not signature.startswith(SIGNATURE_PREFIX):
            raise SignatureInvalid("X-Webhook-Signature-256 is not of the form sha256=<hex>")
        expected = hmac.new(_utf8(secret), request.body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, signature[len(SIGNATURE_PREFIX) :]):
            raise SignatureInvalid(
                "X-Webhook-Signature-256 does not match the body (wrong subscription secret, or an "
                "altered body)"
            )

    def parse(self, body: bytes) -> Any:
        return _delivery(body, fastjson.loads_for_shape)

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        code = validation_code(request.body)
        # Synchronous validation: Toggl reads the code back from the response body.
        return ACCEPTED if code is None else HttpResponse.json(200, {"validation_code": code})

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        event = _platform_event(_delivery(body, fastjson.loads_exact))
        return [] if event is None else [event]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical import envelope as cv

        if event.problem:  # malformed in split: its reason, not a second one
            raise Unmappable(event.problem)
        model, _, action = event.event_type.partition(".")
        if model != "time_entry" or action not in ("created", "updated", "deleted"):
            raise Unmappable(f"no mapping for Toggl {event.event_type!r} events")
        where = f"Toggl event {event.event_id}"
        try:
            options = mapping.TimeEntryOptions.from_options(delivery.options or {})
        except mapping.OptionProblem as problem:
            raise Unmappable(f"connection {delivery.connection!r}: {problem}") from None
        payload: dict[str, Any] = event.data["payload"]
        deletion = _is_deletion(action, payload)
        self._check_workspace(event, options, delivery)
        if deletion:
            return canonical_from(
                self.platform,
                "TimeEntryDeleted",
                cv.EntityDeletedV1(native_id=event.native_id),
                event,
                delivery,
                _version(event, deletion=True),
            )
        try:
            entry = mapping.read_entry(payload, f"{where} payload")
            if entry.running:
                return []  # a timer still running is not yet time worked
            attributes = mapping.time_entry_attributes(entry, options, f"Toggl time entry {entry.id}")
        except fields.FieldProblem as problem:
            raise Unmappable(str(problem)) from None
        return canonical_from(
            self.platform,
            "TimeEntryChanged",
            cv.EntityChangedV1(native_id=event.native_id, change="snapshot", attributes=attributes),
            event,
            delivery,
            _version(event, deletion=False),
        )

    @staticmethod
    def _check_workspace(
        event: PlatformEvent, options: mapping.TimeEntryOptions, delivery: RawDelivery
    ) -> None:
        if options.workspace_id is None:
            return
        payload: dict[str, Any] = event.data["payload"]
        metadata: dict[str, Any] = event.data["metadata"]
        found = payload.get("workspace_id", metadata.get("workspace_id"))
        if found is None or str(found) != options.workspace_id:
            raise Unmappable(
                f"Toggl event {event.event_id} is not of workspace {options.workspace_id}, the workspace "
                f"of connection {delivery.connection!r}"
            )

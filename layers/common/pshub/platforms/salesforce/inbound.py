"""Salesforce Outbound Messages: SOAP ``notifications`` answered with the SOAP ``Ack``.

Outbound Messages carry no payload signature. Salesforce's documented safeguards are
TLS (optionally with Salesforce's client certificate for mutual TLS, configured on
the API custom domain), the sending ``OrganizationId`` inside the message, and an
endpoint URL only Salesforce knows. pshub checks the last two: the endpoint URL
configured in Salesforce carries the connection's secret as ``?token=...``
(compared in constant time) and the message's OrganizationId must be the one the
connection names. One message holds up to 100 notifications, each with its own
``Id`` that Salesforce reuses when it redelivers: that is the idempotency key.

Versions. Salesforce retries out of order for 24 hours, and a notification carries the
record's latest field values, so the order of changes must come from the record itself:

| platform | scheme | major | minor | tiebreak |
|---|---|---|---|---|
| Salesforce | ``salesforce.SystemModstamp`` (else ``salesforce.LastModifiedDate``) | the stamp, ms since the epoch | 0 | the record's 18-character id |

``SystemModstamp`` is preferred: Salesforce moves it on every change, by a user or an automated
process, and no one can set it, while ``LastModifiedDate`` skips system changes and can be
back-dated on import ("Set Audit Fields upon Record Creation"), so
``LastModifiedDate <= SystemModstamp`` always (Salesforce's System Fields reference). A message
whose fields carry neither is refused with what to add, never stamped with the time it arrived:
pick one for an Outbound Message and keep it, because two schemes for one record compare by
their stamps alone. ``occurred_at`` is the same stamp.

An Opportunity notification that is won and carries ``SBQQ__AmendedContract__c`` (add the field
to the Outbound Message) is a CPQ amendment won: a ``ChangeOrderApproved`` with ``complete:
false`` naming the opportunity, whose terms its workflow's starter reads from the org; it never
starts a second project.

Ids. A record has a 15-character, case-sensitive id and an 18-character form that adds a
checksum of its case; both name the same record. Every id pshub keeps or publishes (the
record, its account, in ``source_native_id`` and in payloads) is the 18-character form
(``salesforce_id18``), so that one record is one key everywhere.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.pipeline.http import HttpResponse, InboundRequest
from pshub.platforms import fields
from pshub.platforms.base import PlatformEvent, canonical_from

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent, SourceVersion
    from pshub.pipeline.raw_delivery import RawDelivery

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
TOKEN_PARAM = "token"  # noqa: S105 - the query parameter name
DEFAULT_CLOSED_WON_STAGES = "Closed Won"
# Salesforce CPQ: an amendment opportunity's lookup to the contract it amends.
AMENDED_CONTRACT_FIELD = "SBQQ__AmendedContract__c"

ACK = HttpResponse(
    status=200,
    body=(
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
        f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
        "</soapenv:Body></soapenv:Envelope>"
    ),
    headers={"content-type": "text/xml; charset=utf-8"},
)


class Notification(NamedTuple):
    """One ``Notification``: its id, the sObject's type and fields, or why it cannot be read."""

    notification_id: str
    sobject_type: str
    fields: dict[str, Any]
    problem: str | None


class OutboundMessage:
    """The parts of a ``notifications`` message pshub uses."""

    def __init__(self, organization_id: str, action_id: str, notifications: list[Notification]):
        self.organization_id = organization_id
        self.action_id = action_id
        self.notifications = notifications


# Salesforce ids: 15 case-sensitive characters, or 18 where the last three encode the case
# of the first fifteen (five bits each: which of five characters is an upper-case letter).
_ID_FORM = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Z]{3})?$")
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_id(record_id: str) -> str:
    """The 18-character form of a 15-character Salesforce id."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(record_id[start : start + 5]) if "A" <= char <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return record_id + suffix


def salesforce_id(value: object, field: str) -> str:
    """A Salesforce id as sent: 15 characters, or 18 whose last three are the first fifteen's checksum."""
    record_id = fields.text(value, field)
    if not _ID_FORM.match(record_id):
        raise fields.FieldProblem(f"{field} is not a Salesforce id (15 or 18 letters and digits)")
    if len(record_id) == 18 and case_safe_id(record_id[:15]) != record_id:
        raise fields.FieldProblem(
            f"{field} is not a Salesforce id (its last three characters are not its checksum)"
        )
    return record_id


def salesforce_id18(value: object, field: str) -> str:
    """A Salesforce id sent in either form, as its 18-character form: the one form pshub keeps,
    compares and publishes (``0015e00000AcMe1`` and ``0015e00000AcMe1AAF`` are one record).

    ``FieldProblem`` unless it is an id (15 characters, or 18 whose last three are the checksum).
    """
    record_id = salesforce_id(value, field)
    return record_id if len(record_id) == 18 else case_safe_id(record_id)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sobject_fields(sobject: Element, where: str) -> dict[str, Any]:
    fields_: dict[str, Any] = {}
    for child in sobject:
        name = _local(child.tag)
        if name in fields_:
            # Which of two values is the record's? Any choice would be a guess.
            raise fields.FieldProblem(f"{where} has the field {name[:64]} twice")
        fields_[name] = None if child.get(XSI_NIL) == "true" else (child.text or "")
    return fields_


def _same_org(received: str, configured: str) -> bool:
    """The message's OrganizationId is the configured org: its exact 15-character id, or that id's
    valid 18-character form (either may be configured). Nothing looser: a prefix match would let
    ``00D5e000000ABCDEvilCorp`` through."""
    try:
        received_15 = salesforce_id(received, "OrganizationId")[:15]
    except fields.FieldProblem:
        return False
    return hmac.compare_digest(received_15.encode(), configured[:15].encode())


def _parse(body: bytes) -> OutboundMessage:
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise UnparseableBody(f"Salesforce body is not well-formed, safe XML: {exc}") from None
    except (ValueError, LookupError, RecursionError) as exc:  # e.g. an encoding declaration Python lacks
        raise UnparseableBody(f"Salesforce body is not readable XML ({type(exc).__name__})") from None
    node = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if node is None:
        raise UnparseableBody("Salesforce body is not a SOAP notifications message (Outbound Message)")
    orgs = node.findall(f"{{{OUTBOUND_NS}}}OrganizationId")
    if len(orgs) != 1 or not orgs[0].text:
        raise UnparseableBody(
            "Outbound Message has no OrganizationId"
            if not orgs
            else "Outbound Message has more than one OrganizationId"
            if len(orgs) > 1
            else "Outbound Message has an empty OrganizationId"
        )
    notifications = [
        _notification(index, item)
        for index, item in enumerate(node.findall(f"{{{OUTBOUND_NS}}}Notification"))
    ]
    if not notifications:
        raise UnparseableBody("Outbound Message has no Notification")
    return OutboundMessage(orgs[0].text, node.findtext(f"{{{OUTBOUND_NS}}}ActionId") or "", notifications)


def _notification(index: int, item: Element) -> Notification:
    ids = item.findall(f"{{{OUTBOUND_NS}}}Id")
    label = (
        ids[0].text
        if len(ids) == 1 and ids[0].text and _ID_FORM.match(ids[0].text)
        else f"Notification[{index}]"
    )
    try:
        if len(ids) != 1:
            raise fields.FieldProblem(f"Notification [{index}] has {'no' if not ids else 'more than one'} Id")
        notification_id = salesforce_id(ids[0].text, f"Notification [{index}] Id")
        sobjects = item.findall(f"{{{OUTBOUND_NS}}}sObject")
        if len(sobjects) != 1:
            raise fields.FieldProblem(
                f"Notification {notification_id} has {'no' if not sobjects else 'more than one'} sObject"
            )
        sobject_type = (sobjects[0].get(XSI_TYPE) or "").rpartition(":")[2]
        if not sobject_type:
            raise fields.FieldProblem(f"Notification {notification_id} has an sObject without xsi:type")
        record = _sobject_fields(sobjects[0], f"Notification {notification_id}")
    except fields.FieldProblem as problem:
        return Notification(label, "", {}, str(problem))
    return Notification(notification_id, sobject_type, record, None)


class SalesforceAdapter:
    platform = "salesforce"

    def __init__(self) -> None:
        # verify() needs the parsed message (its OrganizationId) and the ingress then checks
        # the same body: the last body parsed, by identity, is parsed once.
        self._last: tuple[bytes, OutboundMessage] | None = None

    def verify(self, request: InboundRequest, connection: Connection, secret: str, now: float) -> None:
        token = request.query_param(TOKEN_PARAM)
        if not token:
            raise SignatureInvalid(
                "missing ?token= in the endpoint URL (set the Outbound Message endpoint to the URL pshub "
                "gave for this connection)"
            )
        if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), secret.encode()):
            raise SignatureInvalid("the endpoint token does not match this connection's secret")
        configured = connection.options.get("organization_id")
        if not configured:
            raise SignatureInvalid(
                f"connection {connection.id!r} names no organization_id, so no Salesforce org is accepted"
            )
        try:
            salesforce_id(configured, "organization_id")
        except fields.FieldProblem:
            raise SignatureInvalid(
                f"connection {connection.id!r}: its organization_id is not a Salesforce id (15 characters, "
                "or 18 with a valid checksum), so no Salesforce org is accepted"
            ) from None
        try:
            message = self.parse(request.body)
        except Exception:  # whatever it is, the ingress's own check names it
            # Authentic by its token; the ingress's own check refuses the body and keeps it.
            return
        if not _same_org(message.organization_id, configured):
            # Neither id in the message: the answer and the log line name no org.
            raise SignatureInvalid(
                f"the message's OrganizationId is not the org connection {connection.id!r} accepts"
            )

    def parse(self, body: bytes) -> OutboundMessage:
        last = self._last
        if last is not None and last[0] is body:
            return last[1]
        message = _parse(body)
        self._last = (body, message)
        return message

    def acknowledge(self, request: InboundRequest) -> HttpResponse:
        return ACK

    def split(self, body: bytes, connection_id: str) -> list[PlatformEvent]:
        return [_platform_event(notification) for notification in self.parse(body).notifications]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical import envelope as cv

        if event.problem:  # malformed in split: its reason, not a second one
            raise Unmappable(event.problem)
        record: dict[str, Any] = event.data
        options = delivery.options or {}
        where = f"Notification {event.event_id}"
        version = _version(record, event.native_id, where)
        properties = _properties(record, where)
        payload: cv._Payload
        if event.event_type == "Opportunity":
            won_stages = options.get("closed_won_stages", DEFAULT_CLOSED_WON_STAGES).split(",")
            won = record.get("IsWon") == "true" or record.get("StageName") in won_stages
            if won and record.get(AMENDED_CONTRACT_FIELD):
                # A CPQ amendment won: a change order to a contract, not a new project.
                event_type = "ChangeOrderApproved"
                payload = cv.ChangeOrderApprovedV1(
                    complete=False, crm_connection=delivery.connection, opportunity_native_id=event.native_id
                )
            elif won:
                event_type = "OpportunityClosedWon"
                currency = record.get("CurrencyIsoCode") or options.get("currency")
                amount = _decimal(record.get("Amount"), f"Notification {event.event_id} Amount")
                payload = cv.OpportunityClosedWonV1(
                    opportunity_id=event.native_id,
                    name=record.get("Name"),
                    stage=record.get("StageName") or "",
                    amount=cv.Money(amount=amount, currency=currency)
                    if amount is not None and currency
                    else None,
                    close_date=fields.iso_date(
                        record["CloseDate"], f"Notification {event.event_id} CloseDate"
                    )
                    if record.get("CloseDate")
                    else None,
                    client_id=properties.get("AccountId") or None,
                    complete=True,
                )
            else:
                event_type = "OpportunityUpdated"
                payload = cv.OpportunityUpdatedV1(
                    opportunity_id=event.native_id, change=_change(record), properties=properties
                )
        elif event.event_type == "Account":
            event_type = "ClientUpserted"
            payload = cv.ClientUpsertedV1(
                client_id=event.native_id,
                change=_change(record),
                name=record.get("Name"),
                web_domain=fields.web_domain(record.get("Website")),
                country=record.get("BillingCountryCode") or record.get("BillingCountry"),
                city=record.get("BillingCity"),
                properties=properties,
            )
        else:
            raise Unmappable(f"no mapping for Salesforce {event.event_type} notifications")
        return canonical_from(self.platform, event_type, payload, event, delivery, version)


def _platform_event(notification: Notification) -> PlatformEvent:
    """One notification as a platform event, its record id and version checked (or ``malformed``)."""
    if notification.problem:
        return PlatformEvent.malformed(notification.notification_id, notification.problem)
    record, where = notification.fields, f"Notification {notification.notification_id}"
    try:
        if not record.get("Id"):
            raise fields.FieldProblem(f"{where} has no sObject Id field")
        native_id = salesforce_id18(record["Id"], f"{where} Id")
        _, occurred_at = _version_stamp(record, where)
    except fields.FieldProblem as problem:
        return PlatformEvent.malformed(notification.notification_id, str(problem), record)
    return PlatformEvent(
        event_id=notification.notification_id,
        event_type=notification.sobject_type,
        native_id=native_id,
        occurred_at=occurred_at,
        data=record,
    )


# The record's own stamps of its last change, most trustworthy first (see the module docstring).
VERSION_FIELDS = ("SystemModstamp", "LastModifiedDate")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Fields of a record that hold Salesforce ids pshub compares: kept in their 18-character form.
_ID_FIELDS = ("Id", "AccountId")


def _version_stamp(record: dict[str, Any], where: str) -> tuple[str, datetime]:
    """The field that versions the record and its moment: ``SystemModstamp``, else
    ``LastModifiedDate``. Each one present must be a date and time with its offset (a malformed
    stamp is refused even when the other is fine: which would be the record's?). Neither is a
    ``FieldProblem`` saying what to add: the time pshub saw the message is not the record's."""
    stamps = [
        (name, fields.iso_datetime(record[name], f"{where} {name}"))
        for name in VERSION_FIELDS
        if record.get(name)
    ]
    if not stamps:
        raise fields.FieldProblem(
            f"{where} carries neither SystemModstamp nor LastModifiedDate, so the order of its "
            "changes is unknown: add SystemModstamp to the Outbound Message's fields to send "
            "(Setup > Outbound Messages > Edit), then redrive this message"
        )
    return stamps[0]


def _version(record: dict[str, Any], native_id: str, where: str) -> SourceVersion:
    """The record's version: its stamp in ms since the epoch, ties broken by its 18-character id."""
    from pshub.canonical.envelope import SourceVersion

    name, moment = _version_stamp(record, where)
    return SourceVersion(
        scheme=f"salesforce.{name}",
        major=(moment - _EPOCH) // timedelta(milliseconds=1),
        minor=0,
        tiebreak=native_id,
    )


def _properties(record: dict[str, Any], where: str) -> dict[str, Any]:
    """The record's fields as sent, its ids (``_ID_FIELDS``) in their 18-character form."""
    return {
        name: salesforce_id18(value, f"{where} {name}") if name in _ID_FIELDS and value else value
        for name, value in record.items()
    }


def _change(fields: dict[str, Any]) -> Literal["created", "updated"]:
    created, modified = fields.get("CreatedDate"), fields.get("LastModifiedDate")
    return "created" if created and created == modified else "updated"


def _decimal(value: str | None, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise fields.FieldProblem(f"{field} is not a number") from None

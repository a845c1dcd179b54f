"""Salesforce Outbound Messages: SOAP ``notifications`` answered with the SOAP ``Ack``.

Outbound Messages carry no payload signature. Salesforce's documented safeguards are
TLS (optionally with Salesforce's client certificate for mutual TLS, configured on
the API custom domain), the sending ``OrganizationId`` inside the message, and an
endpoint URL only Salesforce knows. pshub checks the last two: the endpoint URL
configured in Salesforce carries the connection's secret as ``?token=...``
(compared in constant time) and the message's OrganizationId must be the one the
connection names. One message holds up to 100 notifications, each with its own
``Id`` that Salesforce reuses when it redelivers: that is the idempotency key.
"""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from pshub.connections import Connection
from pshub.errors import SignatureInvalid, Unmappable, UnparseableBody
from pshub.http import HttpResponse, InboundRequest
from pshub.platforms.base import PlatformEvent, canonical_from

if TYPE_CHECKING:
    from pshub.canonical.envelope import CanonicalEvent
    from pshub.raw_delivery import RawDelivery

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
TOKEN_PARAM = "token"  # noqa: S105 - the query parameter name
DEFAULT_CLOSED_WON_STAGES = "Closed Won"

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


class OutboundMessage:
    """The parts of a ``notifications`` message pshub uses."""

    def __init__(
        self, organization_id: str, action_id: str, notifications: list[tuple[str, str, dict[str, Any]]]
    ):
        self.organization_id = organization_id
        self.action_id = action_id
        # (notification id, sObject type, fields)
        self.notifications = notifications


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sobject_fields(sobject: Element) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for child in sobject:
        fields[_local(child.tag)] = None if child.get(XSI_NIL) == "true" else (child.text or "")
    return fields


def _same_org(received: str, configured: str) -> bool:
    # 18-character ids end in a case-insensitivity checksum; the first 15 are the id.
    return hmac.compare_digest(received[:15].encode(), configured[:15].encode())


def _parse(body: bytes) -> OutboundMessage:
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise UnparseableBody(f"Salesforce body is not well-formed, safe XML: {exc}") from None
    node = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if node is None:
        raise UnparseableBody("Salesforce body is not a SOAP notifications message (Outbound Message)")
    org = node.findtext(f"{{{OUTBOUND_NS}}}OrganizationId")
    if not org:
        raise UnparseableBody("Outbound Message has no OrganizationId")
    notifications = []
    for index, item in enumerate(node.findall(f"{{{OUTBOUND_NS}}}Notification")):
        notification_id = item.findtext(f"{{{OUTBOUND_NS}}}Id")
        sobject = item.find(f"{{{OUTBOUND_NS}}}sObject")
        if not notification_id or sobject is None:
            raise UnparseableBody(f"Notification [{index}] has no Id or no sObject")
        sobject_type = (sobject.get(XSI_TYPE) or "").rpartition(":")[2]
        if not sobject_type:
            raise UnparseableBody(f"Notification {notification_id} has an sObject without xsi:type")
        notifications.append((notification_id, sobject_type, _sobject_fields(sobject)))
    if not notifications:
        raise UnparseableBody("Outbound Message has no Notification")
    return OutboundMessage(org, node.findtext(f"{{{OUTBOUND_NS}}}ActionId") or "", notifications)


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
        if not hmac.compare_digest(token.encode(), secret.encode()):
            raise SignatureInvalid("the endpoint token does not match this connection's secret")
        configured = connection.options.get("organization_id")
        if not configured:
            raise SignatureInvalid(
                f"connection {connection.id!r} names no organization_id, so no Salesforce org is accepted"
            )
        try:
            message = self.parse(request.body)
        except UnparseableBody:
            # Authentic by its token; the ingress's own check refuses the body and keeps it.
            return
        if not _same_org(message.organization_id, configured):
            raise SignatureInvalid(
                f"message is from Salesforce org {message.organization_id}, "
                f"connection {connection.id!r} accepts {configured}"
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
        message = self.parse(body)
        return [
            PlatformEvent(
                event_id=notification_id,
                event_type=sobject_type,
                native_id=str(fields.get("Id") or ""),
                occurred_at=_modified_at(fields),
                data=fields,
            )
            for notification_id, sobject_type, fields in message.notifications
        ]

    def to_canonical(self, event: PlatformEvent, delivery: RawDelivery) -> list[CanonicalEvent]:
        from pshub.canonical import envelope as cv

        fields: dict[str, Any] = event.data
        options = delivery.options or {}
        if not event.native_id:
            raise Unmappable(f"Salesforce notification {event.event_id} has no sObject Id field")
        payload: cv._Payload
        if event.event_type == "Opportunity":
            won_stages = options.get("closed_won_stages", DEFAULT_CLOSED_WON_STAGES).split(",")
            if fields.get("IsWon") == "true" or fields.get("StageName") in won_stages:
                event_type = "OpportunityClosedWon"
                currency = fields.get("CurrencyIsoCode") or options.get("currency")
                amount = _decimal(fields.get("Amount"), event)
                payload = cv.OpportunityClosedWonV1(
                    opportunity_id=event.native_id,
                    name=fields.get("Name"),
                    stage=fields.get("StageName") or "",
                    amount=cv.Money(amount=amount, currency=currency)
                    if amount is not None and currency
                    else None,
                    close_date=date.fromisoformat(fields["CloseDate"]) if fields.get("CloseDate") else None,
                    client_id=fields.get("AccountId"),
                    complete=True,
                )
            else:
                event_type = "OpportunityUpdated"
                payload = cv.OpportunityUpdatedV1(
                    opportunity_id=event.native_id, change=_change(fields), properties=fields
                )
        elif event.event_type == "Account":
            event_type = "ClientUpserted"
            payload = cv.ClientUpsertedV1(
                client_id=event.native_id,
                change=_change(fields),
                name=fields.get("Name"),
                web_domain=_domain(fields.get("Website")),
                country=fields.get("BillingCountry"),
                city=fields.get("BillingCity"),
                properties=fields,
            )
        else:
            raise Unmappable(f"no mapping for Salesforce {event.event_type} notifications")
        return canonical_from(self.platform, event_type, payload, event, delivery)


def _modified_at(fields: dict[str, Any]) -> datetime:
    stamp = fields.get("LastModifiedDate") or fields.get("SystemModstamp")
    if not stamp:
        return datetime.now(UTC)
    return datetime.fromisoformat(stamp)


def _change(fields: dict[str, Any]) -> Literal["created", "updated"]:
    created, modified = fields.get("CreatedDate"), fields.get("LastModifiedDate")
    return "created" if created and created == modified else "updated"


def _decimal(value: str | None, event: PlatformEvent) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise Unmappable(
            f"Salesforce notification {event.event_id}: Amount {value!r} is not a number"
        ) from None


def _domain(website: str | None) -> str | None:
    if not website:
        return None
    host = website.split("://", 1)[-1].split("/", 1)[0].lower()
    return host.removeprefix("www.") or None

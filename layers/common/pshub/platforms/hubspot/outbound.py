"""The HubSpot CRM connector: reads a won deal with its company and quote, writes the project back.

CRM v3 objects API on ``https://api.hubapi.com``. What it reads and writes, and how a
HubSpot object becomes a canonical object, is in ``mapping``.

Configuration (connection ``options``):

- ``base_url``: default ``https://api.hubapi.com``; the OAuth token endpoint is
  ``{base_url}/oauth/v1/token``.
- ``time_zone`` (IANA name, default ``UTC``): the portal's time zone, the day a deal's
  ``closedate`` falls on.
- ``currency``: for a portal without ``deal_currency_code`` values (single currency).
- The kit's ``rate_per_s`` / ``burst`` (default 10/s, burst 100: the lowest tier's 100
  requests per 10 s), ``daily_quota``, timeouts and retries (``pshub.connectors.http.settings``).

Credentials (the connection's ``api`` secret, a JSON object), one of:

- a private app (or service key): ``access_token``, sent as a bearer token; a 401 means
  it was rotated or revoked, a permanent error;
- a public app's OAuth: ``client_id``, ``client_secret``, ``refresh_token``; access tokens
  last ``expires_in`` (1800 s) and are refreshed 5 minutes before they expire. HubSpot says
  a 401 is not the signal to refresh: a token is refreshed on its expiry, and a 401 with a
  token pshub believed fresh (revoked, or the portal's clock ahead) triggers one refresh at
  most, then is a permanent error.

Limits: a 429 says which policy was hit (``policyName``): ``TEN_SECONDLY_ROLLING`` waits
the window (``X-HubSpot-RateLimit-Interval-Milliseconds``, 10 s), ``SECONDLY`` (search)
1 s, ``DAILY`` an hour (the daily allowance resets at midnight in the portal's time
zone), handed back to the workflow. A ``Retry-After``, when sent, wins.

Idempotency: the CRM role writes nothing new, it updates two custom deal properties
(``PATCH /crm/v3/objects/deals/{id}``), always read first: the same code and ids again
writes nothing; another code is a ``Conflict`` (a second provisioning). After a lost
answer the properties are read back and the update sent again only if it did not apply.
HubSpot has no conditional update, so two provisionings of one deal in the same moment
could both pass the read and the later write would win: this connector does not close that
race (one provisioning per deal is the workflow's to ensure).

Not part of the role protocol: ``changed_since`` for pollers and reconciliation, the
CRM search API on ``hs_lastmodifieddate`` ascending, paged by ``after``; HubSpot stops a
search at 10,000 results, so the page token then restarts the window at the last
modification seen (``GTE``, so a record at that very millisecond may come twice).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pshub.canonical.envelope import ChangeOrderApprovedV1
from pshub.canonical.model import Client
from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
    TransientConnectorError,
)
from pshub.connectors.http import (
    ApiClient,
    ApiResponse,
    ApiSettings,
    ConnectorContext,
    VendorError,
    api_client,
)
from pshub.connectors.http.auth import Auth, HeaderAuth, refresh_token
from pshub.connectors.http.context import oauth2
from pshub.connectors.results import OpportunityDetails
from pshub.platforms.fields import MappingProblem
from pshub.platforms.hubspot import mapping

PLATFORM = "hubspot"
DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_RATE_PER_S = 10.0
DEFAULT_BURST = 100
TEN_SECONDLY_WAIT_S = 10.0
SECONDLY_WAIT_S = 1.0
DAILY_WAIT_S = 3600.0
BATCH_READ_MAX = 100
SEARCH_PAGE = 100
SEARCH_RESULT_CAP = 10_000
REFRESH_MARGIN_S = 300.0


def describe(response: ApiResponse) -> VendorError:
    """HubSpot's error body: ``{"status": "error", "message", "correlationId", "category",
    "errors"}``; a 429 adds ``errorType: RATE_LIMIT`` and ``policyName``."""
    document = response.json_or_none()
    if not isinstance(document, dict):
        return VendorError()
    status = document.get("status")
    code = document.get("category") or document.get("errorType") or (status if status != "error" else None)
    message = document.get("message")
    code = code if isinstance(code, str) else None
    message = message if isinstance(message, str) else None
    throttled = response.status == 429 or code in {"RATE_LIMITS", "RATE_LIMIT"}
    wait = None
    if throttled and not response.header("Retry-After"):
        policy = document.get("policyName")
        if policy == "DAILY":
            wait = DAILY_WAIT_S
        elif policy == "SECONDLY":
            wait = SECONDLY_WAIT_S
        else:
            interval = response.header("X-HubSpot-RateLimit-Interval-Milliseconds") or ""
            wait = int(interval) / 1000 if interval.isdigit() and int(interval) > 0 else TEN_SECONDLY_WAIT_S
    if throttled and isinstance(document.get("policyName"), str):
        code = f"{code or 'RATE_LIMIT'}:{document['policyName']}"
    return VendorError(code=code, message=message, throttled=throttled, retry_after_s=wait)


def budget(response: ApiResponse) -> float | None:
    """HubSpot's remaining-budget headers on a successful answer: none left in the daily or the
    ten-second window means the next request would be a 429, so every request waits first."""
    if (response.header("X-HubSpot-RateLimit-Daily-Remaining") or "").strip() == "0":
        return DAILY_WAIT_S
    if (response.header("X-HubSpot-RateLimit-Remaining") or "").strip() == "0":
        interval = response.header("X-HubSpot-RateLimit-Interval-Milliseconds") or ""
        return int(interval) / 1000 if interval.isdigit() and int(interval) > 0 else TEN_SECONDLY_WAIT_S
    return None


class HubSpotCrm:
    search_page = SEARCH_PAGE
    search_result_cap = SEARCH_RESULT_CAP

    def __init__(
        self,
        connection: Connection,
        client: ApiClient,
        *,
        zone: tzinfo = UTC,
        default_currency: str | None = None,
    ) -> None:
        self._connection = connection
        self._client = client
        self._zone = zone
        self._default_currency = default_currency.upper() if default_currency else None

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return PLATFORM

    # -- the CRM role --------------------------------------------------------------------------
    def get_opportunity(self, native_id: str) -> OpportunityDetails:
        op = "get_opportunity"
        what = f"deal {native_id}"
        deal_id = self._checked_id(op, native_id)
        deal = self._read(
            op,
            "deals",
            deal_id,
            mapping.DEAL_PROPERTIES,
            what,
            associations=("companies", "quotes"),
        )
        company_id = mapping.primary_company_id(deal)
        if company_id is None:
            raise self._error(PermanentConnectorError, op, f"{what} has no associated company")
        company = self._read(
            op, "companies", company_id, mapping.COMPANY_PROPERTIES, f"company {company_id} of {what}"
        )
        quote, line_items = self._terms(op, deal, what)
        try:
            return mapping.opportunity_details(
                self.connection_id,
                deal,
                company,
                quote,
                line_items,
                default_currency=self._default_currency,
                zone=self._zone,
            )
        except (MappingProblem, ValueError) as problem:
            raise self._error(
                PermanentConnectorError, op, f"{what} cannot be read as a deal: {problem}"
            ) from None

    def read_client(self, native_id: str) -> Client:
        """The company as a ``Client`` (``GET /crm/v3/objects/companies/{id}``), for a creation
        event that carried its id alone. Raises ``NotFound`` for a company that is gone."""
        op = "read_client"
        what = f"company {native_id}"
        try:
            company_id = mapping.object_id(native_id, "company id")
        except MappingProblem:
            raise self._error(
                NotFound, op, f"no company {native_id!r} in HubSpot (ids are numeric)"
            ) from None
        company = self._read(op, "companies", company_id, mapping.COMPANY_PROPERTIES, what)
        try:
            return mapping.client_of(self.connection_id, company, self._default_currency)
        except MappingProblem as problem:
            raise self._error(PermanentConnectorError, op, f"{what}: {problem}") from None

    def read_change_order(self, opportunity_native_id: str) -> ChangeOrderApprovedV1:
        """The deal's approved change order (``GET`` the deal, and the quote it names for the
        new rates with its line items), for a ``pshub_change_order_status`` webhook."""
        op = "read_change_order"
        what = f"deal {opportunity_native_id}"
        deal_id = self._checked_id(op, opportunity_native_id)
        deal = self._read(op, "deals", deal_id, mapping.CHANGE_ORDER_PROPERTIES, what)
        quote = None
        lines: list[dict[str, Any]] = []
        quote_ref = (deal.get("properties") or {}).get("pshub_change_order_quote_id")
        try:
            if isinstance(quote_ref, str) and quote_ref.strip():
                quote_id = mapping.object_id(quote_ref, "pshub_change_order_quote_id")
                quote, lines = self._quote_and_lines(op, quote_id, f"change order quote {quote_id} of {what}")
            return mapping.change_order_of(
                self.connection_id, deal, quote, lines, default_currency=self._default_currency
            )
        except (MappingProblem, ValueError) as problem:
            raise self._error(
                PermanentConnectorError, op, f"{what}: its change order cannot be applied: {problem}"
            ) from None

    def link_project(
        self, opportunity_native_id: str, project_code: str, project_ids: dict[str, str]
    ) -> None:
        op = "link_project"
        what = f"deal {opportunity_native_id}"
        deal_id = self._checked_id(op, opportunity_native_id)
        code, ids = self._linked(op, deal_id, what)
        self._refuse_other_project(op, deal_id, what, code, project_code)
        merged = {**ids, **project_ids}  # ids gathered over a resumed run accumulate
        if code == project_code and merged == ids:
            return  # already recorded: nothing to write
        try:
            body = mapping.link_body(project_code, merged)
        except MappingProblem as problem:
            raise self._error(PermanentConnectorError, op, f"{what}: {problem}") from None
        try:
            self._send(op, "PATCH", f"/crm/v3/objects/deals/{deal_id}", what, json=body)
        except OutcomeUnknown:
            code, ids = self._linked(op, deal_id, what)
            if (code, ids) == (project_code, merged):
                return  # the lost update had applied
            self._refuse_other_project(op, deal_id, what, code, project_code)
            self._send(op, "PATCH", f"/crm/v3/objects/deals/{deal_id}", what, json=body)

    # -- for pollers (not part of the role protocol) -------------------------------------------
    def changed_since(
        self, object_type: str, since: datetime, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Objects of ``object_type`` (``Opportunity``/``deals``, ``Client``/``companies``)
        modified after ``since``, oldest first; ``page_token`` continues a previous call."""
        op = "changed_since"
        kind = mapping.OBJECT_TYPE_OF.get(object_type)
        if kind is None:
            raise ValueError(
                f"HubSpot changes are read for {sorted(mapping.OBJECT_TYPE_OF)}, not {object_type!r}"
            )
        if page_token is None:
            if since.tzinfo is None:
                raise ValueError("the start of a change window has no UTC offset")
            window_ms, operator, after = round(since.timestamp() * 1000), "GT", 0
        else:
            window_ms, operator, after = self._page(op, page_token)
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": operator, "value": str(window_ms)}
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(mapping.CHANGE_PROPERTIES[kind]),
            "limit": self.search_page,
        }
        if after:
            body["after"] = str(after)
        document = self._send(
            op, "POST", f"/crm/v3/objects/{kind}/search", f"changed {kind}", json=body, repeatable=True
        ).json()
        records = [r for r in document.get("results") or [] if isinstance(r, dict)]
        following = ((document.get("paging") or {}).get("next") or {}).get("after")
        if following is None or not records:
            return records, None
        next_after = int(following) if str(following).isdigit() else after + len(records)
        if next_after + self.search_page > self.search_result_cap:
            # HubSpot stops the search here: start a new window at the last change seen.
            last = mapping.moment(
                (records[-1].get("properties") or {}).get("hs_lastmodifieddate"), "hs_lastmodifieddate"
            )
            last_ms = round(last.timestamp() * 1000) if last is not None else window_ms
            if last_ms > window_ms:
                return records, f"{last_ms}:GTE:0"
        return records, f"{window_ms}:{operator}:{next_after}"

    # -- HTTP ----------------------------------------------------------------------------------
    def _checked_id(self, operation: str, native_id: str) -> str:
        try:
            return mapping.object_id(native_id, "deal id")
        except MappingProblem:
            # Not an id HubSpot issues, so no deal has it (and it never reaches a URL).
            raise self._error(
                NotFound, operation, f"no deal {native_id!r} in HubSpot (deal ids are numeric)"
            ) from None

    def _page(self, operation: str, token: str) -> tuple[int, str, int]:
        parts = token.split(":")
        if len(parts) == 3 and parts[0].isdigit() and parts[1] in {"GT", "GTE"} and parts[2].isdigit():
            return int(parts[0]), parts[1], int(parts[2])
        raise self._error(PermanentConnectorError, operation, "the page token is not one this connector gave")

    def _send(self, operation: str, method: str, path: str, what: str, **kwargs: Any) -> ApiResponse:
        try:
            return self._client.request(operation, method, path, **kwargs)
        except NotFound as missing:
            raise missing.reworded(f"no {what} in HubSpot") from None
        except ConnectorError as error:
            raise error.reworded(f"{what}: {error.message}") from None

    def _read(
        self,
        operation: str,
        object_type: str,
        object_id: str,
        properties: tuple[str, ...],
        what: str,
        *,
        associations: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        params = {"properties": ",".join(properties), "archived": "false"}
        if associations:
            params["associations"] = ",".join(associations)
        document = self._send(
            operation, "GET", f"/crm/v3/objects/{object_type}/{object_id}", what, params=params
        ).json()
        if not isinstance(document, dict):
            raise self._error(PermanentConnectorError, operation, f"{what}: HubSpot answered no object")
        return document

    def _batch_read(
        self, operation: str, object_type: str, ids: list[str], properties: tuple[str, ...], what: str
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), BATCH_READ_MAX):
            chunk = ids[start : start + BATCH_READ_MAX]
            document = self._send(
                operation,
                "POST",
                f"/crm/v3/objects/{object_type}/batch/read",
                what,
                json={
                    "properties": list(properties),
                    "propertiesWithHistory": [],
                    "inputs": [{"id": i} for i in chunk],
                },
                repeatable=True,  # a read
            ).json()
            if document.get("numErrors") or document.get("errors"):
                # An association named an object that is gone: read again once it settles.
                raise self._error(
                    TransientConnectorError,
                    operation,
                    f"{what}: {object_type} associated with it could not all be read",
                    vendor_document=document,
                )
            found += [r for r in document.get("results") or [] if isinstance(r, dict)]
        return found

    def _terms(
        self, operation: str, deal: dict[str, Any], what: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        quote_ids = [identifier for identifier, _ in mapping.associated_ids(deal, "quotes")]
        if not quote_ids:
            return None, []
        chosen_id = quote_ids[0]
        if len(quote_ids) > 1:
            quotes = self._batch_read(
                operation, "quotes", quote_ids, mapping.QUOTE_PROPERTIES, f"quotes of {what}"
            )
            chosen = mapping.chosen_quote(quotes)
            chosen_id = str(chosen["id"]) if chosen is not None else chosen_id
        quote_id = mapping.object_id(chosen_id, "quote id")
        return self._quote_and_lines(operation, quote_id, f"quote {quote_id} of {what}")

    def _quote_and_lines(
        self, operation: str, quote_id: str, what: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A quote with its line items (``quote_to_line_item``), read in two requests."""
        quote = self._read(
            operation, "quotes", quote_id, mapping.QUOTE_PROPERTIES, what, associations=("line_items",)
        )
        line_ids = [identifier for identifier, _ in mapping.associated_ids(quote, "line_items")]
        if not line_ids:
            return quote, []
        lines = self._batch_read(
            operation, "line_items", line_ids, mapping.LINE_ITEM_PROPERTIES, f"line items of quote {quote_id}"
        )
        return quote, lines

    def _linked(self, operation: str, deal_id: str, what: str) -> tuple[str | None, dict[str, str]]:
        return mapping.linked_project(self._read(operation, "deals", deal_id, mapping.LINK_PROPERTIES, what))

    def _refuse_other_project(
        self, operation: str, deal_id: str, what: str, linked: str | None, requested: str
    ) -> None:
        if linked is not None and linked != requested:
            raise self._error(
                Conflict,
                operation,
                f"{what} is already linked to project {linked}, not {requested}",
                key=deal_id,
                fields=("project_code",),
            )

    def _error(
        self, cls: type[Any], operation: str, message: str, *, vendor_document: Any = None, **own: Any
    ) -> Any:
        code = message_text = None
        if isinstance(vendor_document, dict):
            errors = vendor_document.get("errors") or [{}]
            first = errors[0] if isinstance(errors[0], dict) else {}
            code, message_text = first.get("category"), first.get("message")
        return cls(
            message,
            platform=PLATFORM,
            connection_id=self.connection_id,
            operation=operation,
            platform_code=code,
            platform_message=message_text,
            http_status=None,
            **own,
        )


def _zone(connection: Connection) -> tzinfo:
    name = connection.options.get("time_zone")
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConnectionConfigError(
            f"connection {connection.id!r}: options.time_zone = {name!r} is not an IANA time zone"
        ) from None


def _auth(connection: Connection, context: ConnectorContext, settings: ApiSettings) -> tuple[Auth, bool]:
    """The credential scheme, and whether a 401 may be worth one refresh."""
    credentials = context.credentials
    if credentials.get("refresh_token") or credentials.get("client_secret"):
        grant = refresh_token(
            f"{settings.base_url}/oauth/v1/token",
            context.credential(connection, "client_id"),
            context.credential(connection, "client_secret"),
            context.credential(connection, "refresh_token"),
        )
        return oauth2(connection, context, grant, settings=settings, refresh_margin_s=REFRESH_MARGIN_S), True
    if credentials.get("access_token"):
        return HeaderAuth(context.credential(connection, "access_token")), False
    raise ConnectionConfigError(
        f"connection {connection.id!r}: its api secret ({connection.api_secret_name}) holds neither access_token "
        "(a private app) nor client_id, client_secret and refresh_token (OAuth)"
    )


def connect(connection: Connection, context: ConnectorContext) -> HubSpotCrm:
    settings = ApiSettings.of(
        connection.id,
        connection.options,
        default_base_url=DEFAULT_BASE_URL,
        default_rate_per_s=DEFAULT_RATE_PER_S,
        default_burst=DEFAULT_BURST,
    )
    zone = _zone(connection)
    auth, oauth = _auth(connection, context, settings)
    client = api_client(
        connection,
        context,
        auth,
        settings=settings,
        describe=describe,
        default_retry_after_s=TEN_SECONDLY_WAIT_S,
        refresh_on_401=oauth,
        mask_fields=mapping.MASK_FIELDS,
        budget=budget,
    )
    return HubSpotCrm(connection, client, zone=zone, default_currency=connection.options.get("currency"))

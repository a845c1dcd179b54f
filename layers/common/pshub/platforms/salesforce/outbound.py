"""The Salesforce CRM connector: reads a won opportunity with its terms, writes the project back.

REST API ``/services/data/v{api_version}`` on the org's My Domain. What it reads and
writes, and how a Salesforce record becomes a canonical object, is in ``mapping``.

Configuration (connection ``options``):

- ``base_url`` (required): the org's My Domain, ``https://{MyDomain}.my.salesforce.com``
  (no path). Every API request goes there and nowhere else: the token endpoint's
  ``instance_url`` must be this origin, else the connector refuses to call
  (``ConnectionConfigError``), so no request goes to a host the configuration did not name.
- ``api_version``: default ``66.0`` (Spring '26).
- ``login_url``: the JWT bearer flow's token host, default ``https://login.salesforce.com``
  (``https://test.salesforce.com`` for sandboxes); ``jwt_audience``: the assertion's
  ``aud``, default the login host for login/test, else ``https://login.salesforce.com``.
- ``multi_currency`` (default ``true``): the org has ``CurrencyIsoCode`` fields; set
  ``false`` for a single-currency org and give its currency as ``currency``.
- ``state_country_picklists`` (default ``true``): read ``BillingStateCode`` /
  ``BillingCountryCode``; ``false`` reads the free-text ``BillingState`` / ``BillingCountry``.
- The kit's ``rate_per_s``, ``burst``, ``daily_quota``, timeouts and retries
  (``pshub.connectors.http.settings``).

Credentials (the connection's ``api`` secret, a JSON object), one of:

- JWT bearer: ``consumer_key`` (the connected app's), ``username`` (the integration user),
  ``private_key`` (PEM of the key whose certificate the connected app holds);
- client credentials: ``client_id``, ``client_secret`` (token URL on the My Domain; the
  connected app names the run-as user).

Neither flow has a refresh token or an ``expires_in``: the token lives as long as the
org's session timeout, so a 401 ``INVALID_SESSION_ID`` fetches a new one, once.

Limits: Salesforce answers a spent allocation with 403 ``REQUEST_LIMIT_EXCEEDED`` (not
429): ``TotalRequests`` (the rolling 24 h allocation) waits an hour, handed back to the
workflow; ``ConcurrentPerOrgLongTxn`` (too many long requests at once) waits 10 s. Both
waits are pshub's choice: Salesforce sends no ``Retry-After``. Every answer carries
``Sforce-Limit-Info: api-usage=used/max``; the latest is ``api_usage``.

Idempotency: the CRM role writes nothing new, it updates two custom fields of the
opportunity (``PATCH /sobjects/Opportunity/{id}``), always read first: the same code and
ids again writes nothing; another code is a ``Conflict`` (a second provisioning). After
a lost answer the fields are read back and the update is sent again only if it did not
apply. An org validation rule keeping ``pshub_Project_Code__c`` once set closes the race
between the read and the write (its ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` is a
``Conflict`` when a re-read shows another code; any other rule's refusal stays a
permanent error); without it, two provisionings in the same second could both pass the read.

Not part of the role protocol: ``changed_since`` for pollers and reconciliation, a SOQL
``queryAll`` on ``SystemModstamp`` (deleted records included, ``IsDeleted``) paged by
``nextRecordsUrl``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pshub.canonical.envelope import ChangeOrderApprovedV1
from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
)
from pshub.connectors.http import (
    ApiClient,
    ApiResponse,
    ApiSettings,
    ConnectorContext,
    VendorError,
    api_client,
)
from pshub.connectors.http.auth import (
    PinnedOrigin,
    TokenRequest,
    client_credentials,
    salesforce_jwt_bearer,
)
from pshub.connectors.http.context import oauth2
from pshub.connectors.http.settings import origin_of
from pshub.connectors.results import OpportunityDetails
from pshub.platforms.fields import MappingProblem
from pshub.platforms.salesforce import inbound, mapping

PLATFORM = "salesforce"
DEFAULT_API_VERSION = "66.0"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
CONCURRENCY_WAIT_S = 10.0
DAILY_LIMIT_WAIT_S = 3600.0
_VERSION = re.compile(r"^\d{2,3}\.0$")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


_MAX_QUERY_PAGES = 50
_NEXT_PAGE = re.compile(r"^/services/data/v[\d.]+/query(All)?/")


def budget(response: ApiResponse) -> float | None:
    """``Sforce-Limit-Info: api-usage=used/max`` on a successful answer: the org's rolling 24-hour
    allowance spent means the next request would be refused, so every request waits first."""
    match = _LIMIT_INFO.search(response.header("Sforce-Limit-Info") or "")
    if match and int(match.group(2)) > 0 and int(match.group(1)) >= int(match.group(2)):
        return DAILY_LIMIT_WAIT_S
    return None


def describe(response: ApiResponse) -> VendorError:
    """Salesforce's error body: a list of ``{"message", "errorCode", "fields"}`` (the token
    endpoint's ``{"error", "error_description"}`` too); ``REQUEST_LIMIT_EXCEEDED`` is a throttle."""
    document = response.json_or_none()
    first = document[0] if isinstance(document, list) and document else document
    if not isinstance(first, dict):
        return VendorError()
    code = first.get("errorCode") or first.get("error")
    message = first.get("message") or first.get("error_description")
    code = code if isinstance(code, str) else None
    message = message if isinstance(message, str) else None
    throttled = code == "REQUEST_LIMIT_EXCEEDED"
    wait = DAILY_LIMIT_WAIT_S if throttled and "TotalRequests" in (message or "") else None
    return VendorError(code=code, message=message, throttled=throttled, retry_after_s=wait)


class SalesforceCrm:
    def __init__(
        self,
        connection: Connection,
        client: ApiClient,
        *,
        api_version: str = DEFAULT_API_VERSION,
        multi_currency: bool = True,
        country_picklists: bool = True,
        default_currency: str | None = None,
    ) -> None:
        self._connection = connection
        self._client = client
        self._api = f"/services/data/v{api_version}"
        self._multi_currency = multi_currency
        self._country_picklists = country_picklists
        self._default_currency = default_currency.upper() if default_currency else None
        self.api_usage: tuple[int, int] | None = None  # the latest Sforce-Limit-Info: (used, max)

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return PLATFORM

    # -- the CRM role --------------------------------------------------------------------------
    def get_opportunity(self, native_id: str) -> OpportunityDetails:
        op = "get_opportunity"
        what = f"opportunity {native_id}"
        opportunity_id = self._checked_id(op, native_id)
        record = self._query_one(
            op,
            mapping.opportunity_query(
                opportunity_id, multi_currency=self._multi_currency, country_picklists=self._country_picklists
            ),
            what,
        )
        if record is None:
            raise self._error(NotFound, op, f"no opportunity {native_id!r} in Salesforce")
        quote = None
        if record.get("ContractId"):  # terms exist: the primary quote holds the rate card
            quote = self._query_one(
                op, mapping.primary_quote_query(opportunity_id, multi_currency=self._multi_currency), what
            )
        try:
            return mapping.opportunity_details(
                self.connection_id, record, quote, default_currency=self._default_currency
            )
        except (MappingProblem, ValueError) as problem:
            raise self._error(
                PermanentConnectorError, op, f"{what} cannot be read as a deal: {problem}"
            ) from None

    def read_change_order(self, opportunity_native_id: str) -> ChangeOrderApprovedV1:
        """A won CPQ amendment opportunity's change order: the opportunity with the contract it
        amends, the contract's won amendments (for its number and the new budget), the
        opportunity that won the contract (the project) and the amendment's primary quote."""
        op = "read_change_order"
        what = f"amendment opportunity {opportunity_native_id}"
        opportunity_id = self._checked_id(op, opportunity_native_id)
        amendment = self._query_one(
            op, mapping.amendment_query(opportunity_id, multi_currency=self._multi_currency), what
        )
        if amendment is None:
            raise self._error(NotFound, op, f"no opportunity {opportunity_native_id!r} in Salesforce")
        try:
            contract_id = mapping.record_id(
                str(amendment.get(inbound.AMENDED_CONTRACT_FIELD) or ""), inbound.AMENDED_CONTRACT_FIELD
            )
            won = self._query_all(
                op, mapping.amendments_query(contract_id), f"amendments of contract {contract_id}"
            )
            original = self._query_one(
                op, mapping.originating_query(contract_id, multi_currency=self._multi_currency), what
            )
            quote = self._query_one(
                op, mapping.primary_quote_query(opportunity_id, multi_currency=self._multi_currency), what
            )
            return mapping.change_order_of(
                self.connection_id, amendment, won, original, quote, default_currency=self._default_currency
            )
        except (MappingProblem, ValueError) as problem:
            raise self._error(
                PermanentConnectorError, op, f"{what}: its change order cannot be applied: {problem}"
            ) from None

    def link_project(
        self, opportunity_native_id: str, project_code: str, project_ids: dict[str, str]
    ) -> None:
        op = "link_project"
        what = f"opportunity {opportunity_native_id}"
        opportunity_id = self._checked_id(op, opportunity_native_id)
        code, ids = mapping.linked_project(self._link_fields(op, opportunity_id, what))
        self._refuse_other_project(op, opportunity_id, what, code, project_code)
        merged = {**ids, **project_ids}  # ids gathered over a resumed run accumulate
        if code == project_code and merged == ids:
            return  # already recorded: nothing to write
        try:
            body = mapping.link_body(project_code, merged)
        except MappingProblem as problem:
            raise self._error(PermanentConnectorError, op, f"{what}: {problem}") from None
        try:
            self._update(op, opportunity_id, body, what)
        except OutcomeUnknown:
            code, ids = mapping.linked_project(self._link_fields(op, opportunity_id, what))
            if (code, ids) == (project_code, merged):
                return  # the lost update had applied
            self._refuse_other_project(op, opportunity_id, what, code, project_code)
            self._update(op, opportunity_id, body, what)

    # -- for pollers (not part of the role protocol) -------------------------------------------
    def changed_since(
        self, object_type: str, since: datetime, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Records of ``object_type`` (``Opportunity``, ``Client``/``Account``) whose
        ``SystemModstamp`` is after ``since``, oldest first, deleted ones included
        (``IsDeleted``); ``page_token`` is the previous page's ``nextRecordsUrl``."""
        op = "changed_since"
        if page_token is None:
            sobject = mapping.SOBJECT_OF.get(object_type)
            if sobject is None:
                raise ValueError(
                    f"Salesforce changes are read for {sorted(mapping.SOBJECT_OF)}, not {object_type!r}"
                )
            response = self._get(
                op, f"{self._api}/queryAll", {"q": mapping.changed_query(sobject, since)}, sobject
            )
        else:
            # A nextRecordsUrl is a path on this org; an absolute URL is sent only to the configured host.
            absolute = page_token.startswith(("http://", "https://"))
            if not (absolute or re.match(r"^/services/data/v[\d.]+/query(All)?/", page_token)):
                raise self._error(
                    PermanentConnectorError, op, "the page token is not a nextRecordsUrl Salesforce gave"
                )
            response = self._get(op, page_token, None, "the next page of changes")
        document = response.json()
        records = [{k: v for k, v in r.items() if k != "attributes"} for r in document.get("records") or []]
        done = document.get("done", True)
        next_url = document.get("nextRecordsUrl")
        return records, (next_url if not done and isinstance(next_url, str) else None)

    # -- HTTP ----------------------------------------------------------------------------------
    def _checked_id(self, operation: str, native_id: str) -> str:
        try:
            return mapping.record_id(native_id, "opportunity id")
        except MappingProblem:
            # Not an id Salesforce issues, so no record has it (and it never reaches SOQL).
            raise self._error(
                NotFound, operation, f"no opportunity {native_id!r} in Salesforce (not a Salesforce id)"
            ) from None

    def _get(self, operation: str, path: str, params: dict[str, str] | None, what: str) -> ApiResponse:
        return self._send(operation, "GET", path, what, params=params)

    def _send(self, operation: str, method: str, path: str, what: str, **kwargs: Any) -> ApiResponse:
        try:
            response = self._client.request(operation, method, path, **kwargs)
        except ConnectorError as error:
            raise error.reworded(f"{what}: {error.message}") from None
        self._note_usage(response)
        return response

    def _query_one(self, operation: str, soql: str, what: str) -> dict[str, Any] | None:
        document = self._get(operation, f"{self._api}/query", {"q": soql}, what).json()
        records = document.get("records") if isinstance(document, dict) else None
        if not records:
            return None
        first = records[0]
        return first if isinstance(first, dict) else None

    def _query_all(self, operation: str, soql: str, what: str) -> list[dict[str, Any]]:
        """Every record a query finds, following ``nextRecordsUrl``."""
        found: list[dict[str, Any]] = []
        document = self._get(operation, f"{self._api}/query", {"q": soql}, what).json()
        for _ in range(_MAX_QUERY_PAGES):
            records = document.get("records") if isinstance(document, dict) else None
            found += [r for r in records or [] if isinstance(r, dict)]
            next_url = document.get("nextRecordsUrl") if isinstance(document, dict) else None
            if document.get("done", True) or not isinstance(next_url, str):
                return found
            if not _NEXT_PAGE.match(next_url):  # a path on this org, never another host
                raise self._error(PermanentConnectorError, operation, f"{what}: an unexpected nextRecordsUrl")
            document = self._get(operation, next_url, None, what).json()
        raise self._error(PermanentConnectorError, operation, f"{what}: more than {_MAX_QUERY_PAGES} pages")

    def _link_fields(self, operation: str, opportunity_id: str, what: str) -> dict[str, Any]:
        try:
            response = self._get(
                operation,
                f"{self._api}/sobjects/Opportunity/{opportunity_id}",
                {"fields": ",".join(mapping.LINK_FIELDS)},
                what,
            )
        except NotFound as missing:
            raise missing.reworded(f"no {what} in Salesforce") from None
        document = response.json()
        return document if isinstance(document, dict) else {}

    def _update(self, operation: str, opportunity_id: str, body: dict[str, str], what: str) -> None:
        try:
            self._send(
                operation, "PATCH", f"{self._api}/sobjects/Opportunity/{opportunity_id}", what, json=body
            )
        except PermanentConnectorError as refused:
            if refused.platform_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION":
                # A validation rule refused: pshub's (another project was linked meanwhile) or
                # one of the org's own. The record says which.
                linked, _ = mapping.linked_project(self._link_fields(operation, opportunity_id, what))
                if linked is not None and linked != body[mapping.PROJECT_CODE_FIELD]:
                    raise self._error(
                        Conflict,
                        operation,
                        f"{what} was linked to project {linked} meanwhile; the org refused another code",
                        vendor=refused,
                        key=opportunity_id,
                        fields=("project_code",),
                    ) from None
                raise refused.reworded(f"{what}: an org validation rule refused the update") from None
            if refused.platform_code == "STRING_TOO_LONG":
                raise refused.reworded(
                    f"{what}: a project field is longer than the org's field holds"
                ) from None
            raise

    def _refuse_other_project(
        self, operation: str, opportunity_id: str, what: str, linked: str | None, requested: str
    ) -> None:
        if linked is not None and linked != requested:
            raise self._error(
                Conflict,
                operation,
                f"{what} is already linked to project {linked}, not {requested}",
                key=opportunity_id,
                fields=("project_code",),
            )

    def _note_usage(self, response: ApiResponse) -> None:
        match = _LIMIT_INFO.search(response.header("Sforce-Limit-Info") or "")
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))

    def _error(
        self,
        cls: type[Any],
        operation: str,
        message: str,
        *,
        vendor: ConnectorError | None = None,
        **own: Any,
    ) -> Any:
        return cls(
            message,
            platform=PLATFORM,
            connection_id=self.connection_id,
            operation=operation,
            platform_code=vendor.platform_code if vendor else None,
            platform_message=vendor.platform_message if vendor else None,
            http_status=vendor.http_status if vendor else None,
            **own,
        )


def _flag(connection: Connection, name: str, default: bool) -> bool:
    raw = connection.options.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    raise ConnectionConfigError(
        f"connection {connection.id!r}: options.{name} = {raw!r} must be true or false"
    )


def _grant(connection: Connection, context: ConnectorContext, settings: ApiSettings) -> TokenRequest:
    credentials = context.credentials
    where = f"connection {connection.id!r}"
    if credentials.get("private_key") or credentials.get("consumer_key"):
        login_url = (connection.options.get("login_url") or DEFAULT_LOGIN_URL).rstrip("/")
        _, login_host = origin_of(login_url, f"{where}: options.login_url")
        audience = connection.options.get("jwt_audience") or (
            f"https://{login_host}"
            if login_host in {"login.salesforce.com", "test.salesforce.com"}
            else DEFAULT_LOGIN_URL
        )
        return salesforce_jwt_bearer(
            f"{login_url}/services/oauth2/token",
            context.credential(connection, "consumer_key"),
            context.credential(connection, "username"),
            context.credential(connection, "private_key"),
            audience=audience,
            clock=context.clock,
        )
    if credentials.get("client_id") or credentials.get("client_secret"):
        return client_credentials(
            f"{settings.base_url}/services/oauth2/token",
            context.credential(connection, "client_id"),
            context.credential(connection, "client_secret"),
        )
    raise ConnectionConfigError(
        f"{where}: its api secret ({connection.api_secret_name}) holds neither consumer_key, username and "
        "private_key (JWT bearer) nor client_id and client_secret (client credentials)"
    )


def connect(connection: Connection, context: ConnectorContext) -> SalesforceCrm:
    settings = ApiSettings.of(connection.id, connection.options)
    where = f"connection {connection.id!r}"
    if urlsplit(settings.base_url).path:
        raise ConnectionConfigError(
            f"{where}: options.base_url is the org's My Domain (https://MyDomain.my.salesforce.com), without a path"
        )
    version = connection.options.get("api_version") or DEFAULT_API_VERSION
    if not _VERSION.match(version):
        raise ConnectionConfigError(
            f"{where}: options.api_version = {version!r} is not a version such as 66.0"
        )
    auth = PinnedOrigin(
        oauth2(connection, context, _grant(connection, context, settings), settings=settings),
        settings,
        connection.id,
        field="instance_url",
        explain=lambda named, configured: (
            f"the token endpoint says the org's API is at {named}, not the configured base_url "
            f"{configured}; set options.base_url to the org's My Domain (nothing was sent to either)"
        ),
    )
    client = api_client(
        connection,
        context,
        auth,
        settings=settings,
        describe=describe,
        default_retry_after_s=CONCURRENCY_WAIT_S,
        refresh_on_401=True,
        mask_fields=mapping.MASK_FIELDS,
        budget=budget,
    )
    return SalesforceCrm(
        connection,
        client,
        api_version=version,
        multi_currency=_flag(connection, "multi_currency", True),
        country_picklists=_flag(connection, "state_country_picklists", True),
        default_currency=connection.options.get("currency"),
    )

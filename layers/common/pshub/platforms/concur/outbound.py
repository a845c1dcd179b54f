"""SAP Concur Expense as pshub's expense source: reads a report and its expenses (Expense v4).

What it reads, per report (all documented Expense Report v4 and List v4 endpoints, company token):

1. ``GET /expensereports/v4/users/{userId}/context/TRAVELER/reports/{reportId}``: the header
   (``approvalStatusId``, ``userId``, ``currencyCode``...);
2. ``GET .../reports/{reportId}/expenses``: the expenses' summaries;
3. per expense, ``GET .../expenses/{expenseId}`` (the detail: ``lastModifiedDate``,
   ``isExpenseBillable``, ``customData``) and ``GET .../expenses/{expenseId}/allocations``;
4. when the project field is given by its label, the expense form's fields
   (``GET /expensereports/v4/reports/{reportId}/expenses/{expenseId}/formFields?expenseTypeId=``,
   once per expense type), to learn which custom field id it is;
5. per project list item, ``GET /list/v4/items/{itemId}`` (its ``shortCode`` and ``code``), once.

``read_report`` returns the header with ``expenses``: each the detail with ``allocations`` (and
``formFields`` when read), the project field's list item entries carrying the ``listItem`` read.
Numbers are read as ``Decimal``: Concur's amounts (``25.00000000``) keep every digit.

Configuration
- Credentials (the connection's ``api`` secret): ``client_id``, ``client_secret`` of the app, and
  ``refresh_token``: the company's, from exchanging the company request token an admin generates
  (valid 24 hours) with the password grant (``credtype=authtoken``) once, by hand; it lasts six
  months and every refresh may return a new one, which the kit keeps.
- Options: ``base_url`` (required): the company token's geolocation, e.g.
  ``https://us2.api.concursolutions.com``; every call and the refresh
  (``{base_url}/oauth2/v0/token``, or ``token_url``) go there, and a token whose ``geolocation`` is
  another origin is refused (``ConnectionConfigError``: nothing is sent). ``project_field``,
  ``approved_statuses`` (see ``mapping``), and the kit's ``rate_per_s``, ``burst``, timeouts,
  ``max_attempts``, ``max_wait_s``. Concur publishes no rate limits: a 429 without
  ``Retry-After`` waits 5 s.

Access tokens last an hour (``expires_in`` 3600); a 401 refreshes once. Errors are Concur's v4
``{"errorId", "errorMessage", "httpStatus", "path", "timestamp", "validationErrors"?}``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from pshub.connections import Connection
from pshub.connectors.errors import PermanentConnectorError
from pshub.connectors.http import (
    ApiClient,
    ApiResponse,
    ApiSettings,
    ConnectorContext,
    VendorError,
    api_client,
)
from pshub.connectors.http.auth import OAuth2, PinnedOrigin, refresh_token, token_fetcher
from pshub.connectors.http.tokens import SharedTokens, Token
from pshub.platforms.concur import mapping

CONTEXT = "TRAVELER"
DEFAULT_RETRY_AFTER_S = 5.0
TOKEN_PATH = "/oauth2/v0/token"  # noqa: S105 - a URL path, not a secret
MASK_FIELDS = (
    "$..approvedAmount",
    "$..claimedAmount",
    "$..postedAmount",
    "$..transactionAmount",
    "$..approverAdjustedAmount",
    "$..reportTotal",
    "$..amountDueEmployee",
    "$..businessPurpose",
    "$..vendor",
    "$..location",
    "$..userId",
)


def describe_concur(response: ApiResponse) -> VendorError:
    """Concur's v4 error: ``errorId`` as the code, ``errorMessage`` and any validation messages."""
    document = response.json_or_none()
    if not isinstance(document, dict):
        return VendorError()
    code = document.get("errorId") or document.get("error")
    message = document.get("errorMessage") or document.get("error_description") or document.get("message")
    problems = document.get("validationErrors")
    texts = [str(message)] if isinstance(message, str) and message else []
    if isinstance(problems, list):
        texts += [str(p.get("message")) for p in problems if isinstance(p, dict) and p.get("message")]
    return VendorError(code=code if isinstance(code, str) else None, message="; ".join(texts) or None)


def _oauth(connection: Connection, context: ConnectorContext, settings: ApiSettings) -> OAuth2:
    """The kit's refresh-token grant, keeping the ``geolocation`` each token answer carries."""
    token_url = connection.options.get("token_url") or settings.base_url + TOKEN_PATH
    grant = refresh_token(
        token_url,
        context.credential(connection, "client_id"),
        context.credential(connection, "client_secret"),
        context.credential(connection, "refresh_token"),
    )
    seen = threading.local()

    def keep_geolocation(response: httpx.Response) -> None:
        response.read()
        try:
            document = response.json()
        except ValueError:
            return
        geolocation = document.get("geolocation") if isinstance(document, dict) else None
        seen.geolocation = geolocation if isinstance(geolocation, str) and geolocation else None

    timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
    http = httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        transport=context.transport,
        event_hooks={"response": [keep_geolocation]},
    )
    fetch_token = token_fetcher(grant, http, clock=context.clock)

    def fetch(previous: Token | None) -> Token:
        seen.geolocation = None
        token = fetch_token(previous)
        geolocation = getattr(seen, "geolocation", None)
        return replace(token, extra={**token.extra, "geolocation": geolocation}) if geolocation else token

    tokens = SharedTokens(context.state, connection.id, fetch, clock=context.clock, sleep=context.sleep)
    return OAuth2(tokens)


class ConcurExpenseReports:
    """Reads Concur expense reports for the normaliser (``ConcurAdapter.read_and_map``)."""

    def __init__(self, connection: Connection, context: ConnectorContext) -> None:
        self._connection = connection
        settings = ApiSettings.of(connection.id, connection.options)
        auth = PinnedOrigin(
            _oauth(connection, context, settings),
            settings,
            connection.id,
            field="geolocation",
            explain=lambda named, configured: (
                f"Concur says the company's geolocation is {named}, not the configured base_url "
                f"{configured}; set options.base_url to it (nothing was sent)"
            ),
        )
        self._api: ApiClient = api_client(
            connection,
            context,
            auth,
            settings=settings,
            describe=describe_concur,
            default_retry_after_s=DEFAULT_RETRY_AFTER_S,
            mask_fields=MASK_FIELDS,
        )
        self._project_field = mapping.project_field(connection.options)
        self._form_fields: dict[tuple[str, str], list[Any]] = {}  # (report, expense type) -> fields
        self._list_items: dict[str, dict[str, Any]] = {}

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return self._connection.platform

    def read_report(self, user_id: str, report_id: str) -> dict[str, Any]:
        """The report, its expenses' details with their allocations, project list items resolved."""
        op = "read_report"
        base = f"/expensereports/v4/users/{_segment(user_id)}/context/{CONTEXT}/reports/{_segment(report_id)}"
        report = self._object(op, base, f"report {report_id}")
        summaries = self._get(op, base + "/expenses")
        if not isinstance(summaries, list):
            raise self._error(op, f"Concur answered report {report_id}'s expenses with no list")
        expenses = []
        for summary in summaries:
            expense_id = summary.get("expenseId") if isinstance(summary, dict) else None
            if not isinstance(expense_id, str) or not expense_id:
                raise self._error(op, f"Concur listed an expense of report {report_id} without an expenseId")
            path = f"{base}/expenses/{_segment(expense_id)}"
            expense = self._object(op, path, f"expense {report_id}/{expense_id}")
            allocations = self._get(op, path + "/allocations")
            expense["allocations"] = allocations if isinstance(allocations, list) else []
            if mapping.names_field_by_label(self._project_field):
                expense["formFields"] = self._fields_of(op, report_id, expense)
            self._resolve_project_items(op, expense)
            expenses.append(expense)
        report["expenses"] = expenses
        return report

    # -- reads -------------------------------------------------------------------------------------
    def _fields_of(self, op: str, report_id: str, expense: dict[str, Any]) -> list[Any]:
        expense_type = expense.get("expenseType")
        type_id = str(expense_type.get("id") or "") if isinstance(expense_type, dict) else ""
        key = (report_id, type_id)
        if key not in self._form_fields:
            path = f"/expensereports/v4/reports/{_segment(report_id)}/expenses/{_segment(str(expense['expenseId']))}/formFields"
            found = self._get(op, path, params={"expenseTypeId": type_id} if type_id else None)
            self._form_fields[key] = found if isinstance(found, list) else []
        return self._form_fields[key]

    def _resolve_project_items(self, op: str, expense: dict[str, Any]) -> None:
        ids = mapping.project_field_ids(expense, self._project_field)
        for entry in mapping.project_entries(expense, ids):
            if mapping.is_list_item(entry):
                item_id = str(entry["value"])
                if item_id not in self._list_items:
                    self._list_items[item_id] = self._object(
                        op, f"/list/v4/items/{_segment(item_id)}", f"list item {item_id}"
                    )
                entry["listItem"] = self._list_items[item_id]

    def _object(self, op: str, path: str, what: str) -> dict[str, Any]:
        document = self._get(op, path)
        if not isinstance(document, dict):
            raise self._error(op, f"Concur answered {what} with no object")
        return document

    def _get(self, op: str, path: str, params: dict[str, str] | None = None) -> Any:
        response = self._api.request(op, "GET", path, params=params)
        try:
            return json.loads(response.content, parse_float=Decimal) if response.content else None
        except ValueError:
            raise self._error(op, f"Concur answered {path} with a body that is not JSON") from None

    def _error(self, op: str, message: str) -> PermanentConnectorError:
        return PermanentConnectorError(
            message, platform=self.platform, connection_id=self.connection_id, operation=op
        )


def _segment(value: str) -> str:
    """One path segment, so an id can never reach another resource."""
    return quote(value, safe="")


def connect(connection: Connection, context: ConnectorContext) -> ConcurExpenseReports:
    """The manifest's outbound factory for the expense role."""
    return ConcurExpenseReports(connection, context)

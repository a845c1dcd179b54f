"""``ConcurFake``: SAP Concur's token endpoint, Expense Report v4 reads and List v4 items on 127.0.0.1.

Faithful to the developer.concur.com reference where it speaks:

- ``POST /oauth2/v0/token`` with ``grant_type=refresh_token`` (form: ``client_id``,
  ``client_secret``, ``refresh_token``) answers ``access_token``, ``token_type``, ``expires_in``
  (a string, ``"3600"``), ``refresh_token``, ``refresh_expires_in``, ``scope``, ``id_token`` and
  ``geolocation`` (this fake's base URL unless ``geolocation`` is set);
- ``GET /expensereports/v4/users/{userId}/context/TRAVELER/reports/{reportId}`` (a report owned
  by another user is a 404), ``.../expenses`` (summaries), ``.../expenses/{expenseId}`` (the
  detail), ``.../expenses/{expenseId}/allocations``,
  ``GET /expensereports/v4/reports/{reportId}/expenses/{expenseId}/formFields`` and
  ``GET /list/v4/items/{itemId}``;
- errors as Concur's v4 ``ErrorMessage``: ``{"errorId", "errorMessage", "httpStatus", "path",
  "timestamp"}``.

Concur publishes no rate limits; this fake's 429 carries no ``Retry-After``. Expense amounts are
kept as ``Decimal`` and sent as JSON numbers with Concur's eight decimals (``25.00000000``).

``add_report`` / ``add_expense`` / ``add_list_item`` / ``set_form_fields`` build the company's
data; ``add_demo_reports`` adds the reports the samples under ``events/concur/`` are about.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from pshub.connections import Connection
from pshub_local.fakes.server import FakeApi, FakeRequest, FakeResponse, VendorFault, route

_ID = r"([^/]+)"
_REPORT = r"/expensereports/v4/users/" + _ID + r"/context/TRAVELER/reports/" + _ID
_SUMMARY_FIELDS = (
    "expenseId",
    "allocationSetId",
    "allocationState",
    "approvedAmount",
    "approverAdjustedAmount",
    "attendeeCount",
    "businessPurpose",
    "claimedAmount",
    "ereceiptImageId",
    "exchangeRate",
    "expenseSourceIdentifiers",
    "expenseType",
    "hasBlockingExceptions",
    "hasExceptions",
    "hasMissingReceiptDeclaration",
    "imageCertificationStatus",
    "isAutoCreated",
    "isImageRequired",
    "isPaperReceiptRequired",
    "isPersonalExpense",
    "location",
    "paymentType",
    "postedAmount",
    "receiptImageId",
    "ticketNumber",
    "transactionAmount",
    "transactionDate",
    "travelAllowance",
    "vendor",
)
APPROVAL_STATUSES = {
    "A_NOTF": "Not Submitted",
    "A_PEND": "Submitted & Pending Approval",
    "A_APPR": "Approved",
    "A_RESU": "Sent Back to Employee",
    "A_EXTV": "Pending External Validation",
    "A_PBDG": "Pending Budget Approval",
    "A_PECO": "Pending Cost Object Approval",
    "A_ACCO": "Approved & In Accounting Review",
}

# The company the samples under events/concur/ are about (all fictional).
DEMO_OWNER = "5d6e7f80-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
DEMO_APPROVED_REPORT = "9A1B2C3D4E5F60718293"
DEMO_SENT_BACK_REPORT = "7F6E5D4C3B2A19081726"
DEMO_PROJECT_ITEM = "0C9E1F2A3B4C5D6E7F8091A2B3C4D5E6"
DEMO_PROJECT_CODE = "PRJ-HARBLOGI-0001"  # the code the demo's HubSpot deal is provisioned under


def credentials_for_local(connection: Connection) -> dict[str, str]:
    """The connection's LOCAL-ONLY ``api`` secret: a made-up app and company refresh token."""
    digest = hashlib.sha256(f"concur:{connection.id}".encode()).hexdigest()[:24]
    return {
        "client_id": f"localdemo-client-{digest[:8]}",
        "client_secret": f"localdemo-secret-{digest}",
        "refresh_token": f"localdemo-refresh-{digest}",
    }


def amount(value: str | Decimal, currency: str) -> dict[str, Any]:
    """Concur's ``Amount``: ``{"value", "currencyCode"}``."""
    return {"value": Decimal(value), "currencyCode": currency}


def _eight_places(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.quantize(Decimal("1E-8"))
    if isinstance(value, dict):
        return {k: _eight_places(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_eight_places(v) for v in value]
    return value


_MARK = "\u0000decimal:"


def _marked(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _MARK + format(value, "f")
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


def _encode(document: Any) -> bytes:
    """JSON with Decimals as bare numbers (Concur's ``25.00000000``), never floats."""
    text = json.dumps(_marked(_eight_places(document)), separators=(",", ":"))
    return re.sub(r'"\\u0000decimal:(-?[0-9.]+)"', r"\1", text).encode()


class ConcurFake(FakeApi):
    platform: ClassVar[str] = "concur"

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str] | None = None,
        *,
        rate_per_s: float | None = None,
        burst: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(rate_per_s=rate_per_s, burst=burst)
        self.connection = connection
        self._credentials = dict(credentials or credentials_for_local(connection))
        self._clock = clock
        self._issued: set[str] = set()
        self.geolocation: str | None = None  # None: this fake's base URL
        self.reports: dict[str, dict[str, Any]] = {}
        self.expenses: dict[str, dict[str, dict[str, Any]]] = {}  # report id -> expense id -> detail
        self.allocations: dict[str, list[dict[str, Any]]] = {}  # expense id -> allocations
        self.list_items: dict[str, dict[str, Any]] = {}
        self.form_fields: dict[str, list[dict[str, Any]]] = {}  # expense type id -> form fields

    # -- building the company's data ---------------------------------------------------------------
    def add_report(
        self,
        report_id: str,
        user_id: str,
        *,
        approval_status: str = "A_APPR",
        currency: str = "USD",
        **header: Any,
    ) -> dict[str, Any]:
        """A report header as Expense v4 returns it (fields Concur documents; more via ``header``)."""
        report = {
            "reportId": report_id,
            "userId": user_id,
            "name": header.pop("name", f"Report {report_id[:6]}"),
            "approvalStatusId": approval_status,
            "approvalStatus": APPROVAL_STATUSES.get(approval_status, approval_status),
            "paymentStatusId": "P_NOTP",
            "paymentStatus": "Not Paid",
            "currencyCode": currency,
            "reportType": "Regular",
            "customData": [],
            "creationDate": "2026-11-23T09:12:44Z",
            **header,
        }
        self.reports[report_id] = report
        self.expenses.setdefault(report_id, {})
        return report

    def add_expense(
        self,
        report_id: str,
        expense_id: str,
        *,
        expense_type: tuple[str, str],
        transaction_date: str,
        approved: dict[str, Any],
        transaction: dict[str, Any] | None = None,
        allocations: list[dict[str, Any]] | None = None,
        **detail: Any,
    ) -> dict[str, Any]:
        """An expense's detail (``ReportExpenseDetail``); ``expense_type`` is ``(id, name)``."""
        type_id, type_name = expense_type
        expense = {
            "expenseId": expense_id,
            "allocationState": "FULLY_ALLOCATED" if allocations else "NOT_ALLOCATED",
            "allocationSetId": None,
            "approvedAmount": approved,
            "approverAdjustedAmount": approved,
            "claimedAmount": approved,
            "postedAmount": approved,
            "transactionAmount": transaction or approved,
            "exchangeRate": {"value": Decimal(1), "operation": "MULTIPLY"},
            "expenseType": {"id": type_id, "name": type_name, "code": "OTHER", "isDeleted": False},
            "transactionDate": transaction_date,
            "businessPurpose": None,
            "hasBlockingExceptions": False,
            "hasExceptions": False,
            "hasMissingReceiptDeclaration": False,
            "isAutoCreated": False,
            "isImageRequired": True,
            "isPaperReceiptRequired": False,
            "isPersonalExpense": False,
            "isExpenseBillable": False,
            "isExpenseRejected": False,
            "receiptImageId": None,
            "ereceiptImageId": None,
            "customData": [],
            "vendor": None,
            "lastModifiedDate": None,
            **detail,
        }
        self.expenses.setdefault(report_id, {})[expense_id] = expense
        self.allocations[expense_id] = allocations or []
        return expense

    def add_list_item(self, item_id: str, short_code: str, value: str, *, code: str | None = None) -> None:
        self.list_items[item_id] = {
            "id": item_id,
            "code": code or short_code,
            "shortCode": short_code,
            "value": value,
            "parentId": None,
            "listId": "5A1F0C2B8E3D4A6F9B7C0D1E2F3A4B5C",
            "level": 1,
            "lists": [],
            "isDeleted": False,
        }

    def set_form_fields(self, expense_type_id: str, form_fields: list[dict[str, Any]]) -> None:
        self.form_fields[expense_type_id] = form_fields

    def set_status(self, report_id: str, approval_status: str) -> None:
        with self.lock:
            report = self.reports[report_id]
            report["approvalStatusId"] = approval_status
            report["approvalStatus"] = APPROVAL_STATUSES.get(approval_status, approval_status)

    def seed_demo(self) -> None:
        """The local runtime's company: the demo reports."""
        self.add_demo_reports()

    def add_demo_reports(self) -> None:
        """The reports the samples under ``events/concur/`` notify about."""
        self.add_list_item(DEMO_PROJECT_ITEM, DEMO_PROJECT_CODE, "Acme Consulting: harbour redesign")
        self.set_form_fields(
            "AIRFR", [form_field("custom9", "Project", list_id="5A1F0C2B8E3D4A6F9B7C0D1E2F3A4B5C")]
        )
        self.set_form_fields(
            "LODNG", [form_field("custom9", "Project", list_id="5A1F0C2B8E3D4A6F9B7C0D1E2F3A4B5C")]
        )
        project = [allocation("3BBB494511E1C74DA04469C45B039871", DEMO_PROJECT_ITEM, amount("412.80", "EUR"))]
        self.add_report(DEMO_APPROVED_REPORT, DEMO_OWNER, currency="EUR", name="Harbour workshop, Hamburg")
        self.add_expense(
            DEMO_APPROVED_REPORT,
            "84FCBB92BD4E5342B849DAC29FD163A1",
            expense_type=("AIRFR", "Airfare"),
            transaction_date="2026-11-17",
            approved=amount("412.80", "EUR"),
            allocations=project,
            isExpenseBillable=True,
            receiptImageId="1E2D3C4B5A69788796A5B4C3D2E1F0A9",
            vendor={"id": None, "name": None, "description": "Lufthansa"},
            lastModifiedDate="2026-11-23T08:58:10Z",
        )
        self.add_report(DEMO_SENT_BACK_REPORT, DEMO_OWNER, approval_status="A_RESU", currency="USD")
        self.add_expense(
            DEMO_SENT_BACK_REPORT,
            "29EE3C62F5D844458828A5C1086072D1",
            expense_type=("LODNG", "Hotel"),
            transaction_date="2026-11-18",
            approved=amount("189.00", "USD"),
            allocations=[
                allocation("4DB06B4360E31443AD43ED52B2AE007E", DEMO_PROJECT_ITEM, amount("189.00", "USD"))
            ],
            isExpenseBillable=True,
            vendor={"id": None, "name": None, "description": "Hôtel Zürichsee"},
        )

    # -- FakeApi's vendor specifics -----------------------------------------------------------------
    def local_options(self) -> dict[str, str]:
        return {"base_url": self.base_url}

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        if request.path == "/oauth2/v0/token":
            return None
        header = request.header("Authorization") or ""
        if header.startswith("Bearer ") and header.removeprefix("Bearer ") in self._issued:
            return None
        return FakeResponse(401, self._error_body(401, "Unauthorized", "invalid or expired token", request))

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        return FakeResponse(429, self._error_body(429, "Too Many Requests", "rate limit exceeded", request))

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(503, self._error_body(503, "Service Unavailable", "service unavailable", request))

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, self._error_body(404, "Not Found", "No static resource", request))

    def records(self) -> dict[str, Any]:
        """Reports with their approval status and expense ids (no amounts, no users)."""
        return {
            "reports": [
                {
                    "report_id": report_id,
                    "approval_status": report["approvalStatusId"],
                    "expenses": sorted(self.expenses.get(report_id, {})),
                }
                for report_id, report in self.reports.items()
            ]
        }

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (they expired)."""
        with self.lock:
            self._issued.clear()

    # -- the token endpoint -------------------------------------------------------------------------
    @route("POST", r"/oauth2/v0/token", "token")
    def token(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            raise VendorFault(400, {"error": "unsupported_grant_type", "error_description": "grant_type"})
        if (
            form.get("client_id") != self._credentials["client_id"]
            or form.get("client_secret") != self._credentials["client_secret"]
        ):
            raise VendorFault(
                401, {"error": "invalid_client", "error_description": "client authentication failed"}
            )
        if form.get("refresh_token") != self._credentials["refresh_token"]:
            raise VendorFault(
                400, {"error": "invalid_grant", "error_description": "refresh token is not valid"}
            )
        access = f"localdemo-access-{secrets.token_hex(16)}"
        self._issued.add(access)
        return FakeResponse(
            200,
            {
                "expires_in": "3600",
                "scope": "expense.report.read spend.listitem.read",
                "token_type": "Bearer",
                "access_token": access,
                "refresh_token": self._credentials["refresh_token"],
                "refresh_expires_in": int(self._clock()) + 180 * 86_400,
                "id_token": "localdemo-id-token",
                "geolocation": self.geolocation or self.base_url,
            },
        )

    # -- Expense Report v4 ---------------------------------------------------------------------------
    @route("GET", _REPORT, "get_report")
    def get_report(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._json(self._report(request, match))

    @route("GET", _REPORT + r"/expenses", "list_expenses")
    def list_expenses(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        report = self._report(request, match)
        details = self.expenses.get(report["reportId"], {}).values()
        return self._json([{k: e.get(k) for k in _SUMMARY_FIELDS} for e in details])

    @route("GET", _REPORT + r"/expenses/" + _ID, "get_expense")
    def get_expense(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._json(self._expense(request, match))

    @route("GET", _REPORT + r"/expenses/" + _ID + r"/allocations", "list_allocations")
    def list_allocations(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        expense = self._expense(request, match)
        return self._json(self.allocations.get(expense["expenseId"], []))

    @route("GET", r"/expensereports/v4/reports/" + _ID + r"/expenses/" + _ID + r"/formFields", "form_fields")
    def get_form_fields(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        expense = self.expenses.get(match.group(1), {}).get(match.group(2))
        if expense is None:
            raise self._not_found(request, "expense")
        type_id = request.param("expenseTypeId") or expense["expenseType"]["id"]
        return self._json(self.form_fields.get(type_id, []))

    # -- List v4 -----------------------------------------------------------------------------------
    @route("GET", r"/list/v4/items/" + _ID, "get_list_item")
    def get_list_item(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        item = self.list_items.get(match.group(1))
        if item is None:
            raise self._not_found(request, "list item")
        return self._json(item)

    # -- helpers -----------------------------------------------------------------------------------
    def _report(self, request: FakeRequest, match: re.Match[str]) -> dict[str, Any]:
        report = self.reports.get(match.group(2))
        if report is None or report["userId"].lower() != match.group(1).lower():
            raise self._not_found(request, "report")
        return report

    def _expense(self, request: FakeRequest, match: re.Match[str]) -> dict[str, Any]:
        report = self._report(request, match)
        expense = self.expenses.get(report["reportId"], {}).get(match.group(3))
        if expense is None:
            raise self._not_found(request, "expense")
        return expense

    def _not_found(self, request: FakeRequest, what: str) -> VendorFault:
        return VendorFault(404, self._error_body(404, "Not Found", f"The {what} was not found", request))

    def _error_body(self, status: int, phrase: str, message: str, request: FakeRequest) -> dict[str, Any]:
        return {
            "errorId": secrets.token_hex(8),
            "errorMessage": message,
            "httpStatus": f"{status} {phrase}",
            "path": request.path,
            "timestamp": datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds"),
        }

    @staticmethod
    def _json(document: Any) -> FakeResponse:
        return FakeResponse(200, _encode(document), {"Content-Type": "application/json"})


def form_field(field_id: str, name: str, *, list_id: str | None = None) -> dict[str, Any]:
    """One expense form field as ``formFields`` returns it."""
    return {
        "parentFieldId": None,
        "controlType": "List" if list_id else "Edit",
        "dataType": "List" if list_id else "String",
        "defaultValue": None,
        "fieldAccess": "RW",
        "fieldId": field_id,
        "formFieldId": hashlib.md5(field_id.encode(), usedforsecurity=False).hexdigest().upper(),
        "fieldName": name,
        "fieldSequence": 1,
        "hasLineSeparator": False,
        "isCopyDownSource": False,
        "listId": list_id,
        "listLevel": 1 if list_id else None,
        "isExternalList": False,
        "maximumLength": 48,
        "isRequired": False,
        "tooltip": None,
        "validationExpression": None,
        "validationMessage": None,
        "itemizationCopyDownAction": "None",
        "requiredForAutoSave": False,
        "referenceLink": None,
        "targetFieldSettings": None,
    }


def allocation(
    allocation_id: str,
    project_item: str | None,
    approved: dict[str, Any],
    *,
    field_id: str = "custom9",
    percentage: str = "100",
) -> dict[str, Any]:
    """One allocation as ``.../allocations`` returns it, its project in ``field_id``."""
    return {
        "customData": [{"id": field_id, "value": project_item, "isValid": True}] if project_item else [],
        "allocationId": allocation_id,
        "accountCode": None,
        "overLimitAccountCode": None,
        "allocationAmount": approved,
        "approvedAmount": approved,
        "claimedAmount": approved,
        "expenseId": None,
        "isSystemAllocation": False,
        "isPercentEdited": False,
        "percentage": Decimal(percentage),
    }

"""``NetSuiteFake``: SuiteTalk REST web services on 127.0.0.1, as pshub's ERP connector uses them.

What it speaks (paths under ``/services/rest``):

- ``POST /auth/oauth2/v1/token``: OAuth 2.0 client credentials (M2M). The client assertion is
  checked as NetSuite documents it: a JWT signed PS256 (or PS384/PS512/ES256/ES384/ES512)
  with the certificate mapped to the integration, ``kid`` = the certificate id, ``iss`` = the
  client id, ``aud`` = this token URL, ``exp`` less than 60 minutes after ``iat``. Tokens
  last 3,600 s. Token-based authentication (OAuth 1.0a, HMAC-SHA256, realm = the account id)
  is verified by recomputing the RFC 5849 signature. Anything else is NetSuite's 401
  ``INVALID_LOGIN``.
- ``GET/POST/PUT/PATCH /record/v1/{customer|job|billingSchedule|timeBill|expenseReport|invoice}``
  and ``GET/POST/PUT /record/v1/creditMemo`` (``[/{id}|/eid:{externalId}]``): create answers
  204 with ``Location``; ``PUT .../eid:`` upserts; ``PATCH`` merges fields; ``GET`` returns the
  record with references as ``{"id", "refName", "links"}`` and sublists only with
  ``expandSubResources=true``. Invoices and credit memos show what NetSuite computes: line
  numbers and amounts, ``total``, ``tranId``, ``status`` and the currency (the customer's when
  none is sent; a reference shows the currency's name, e.g. ``USA``, not its ISO code).
- ``POST /query/v1/suiteql`` (``Prefer: transient``): the few SuiteQL shapes pshub sends
  (``SELECT cols FROM table WHERE c = 'v' OR c IN (...) OR c LIKE '...' ORDER BY ...``, and
  ``lastmodifieddate >= TO_TIMESTAMP(...)`` with ``TO_CHAR``), paged by ``limit``/``offset``.

Business rules it enforces, as an account set up for pshub would: unique ``externalId`` per
record type and unique ``entityId`` (``DUP_ENTITY``); required fields (``USER_ERROR``); list
values that exist (``INVALID_CONTENT``); the project code format (``project_code_pattern``);
no time dated in a closed period (``closed_periods_through``) or on an inactive project; a
fixed bid milestone schedule whose milestones add up to 100 %; invoice lines with items the
account has (``time_item_id``, ``invoice_item_id``, ``tax_item_id``) and numbers as numbers,
on a project of the invoice's customer, in a currency the customer bills in; a credit memo
only from an approved invoice of the same customer, in its currency. ``approve_invoice`` is
finance approving a draft (after which it is sent).

Error bodies are NetSuite's: ``{"type", "title", "status", "o:errorDetails": [{"detail",
"o:errorCode", "o:errorPath"?}]}`` (help topic "Error Handling in REST Web Services"). Codes
that help topic does not show are unverified: ``DUP_ENTITY`` / ``DUP_RCRD`` (SOAP's),
``USER_ERROR`` for missing fields and closed periods, ``NONEXISTENT_ID`` for a missing record,
``INVALID_PARAMETER`` for a SuiteQL it cannot run, and the body of the 429. Unverified too: the
``status`` ids of invoices and credit memos (the letters of SuiteScript's transaction status
filters: ``CustInvc:A`` Open, ``D`` Pending Approval ...) and the refusal of a credit memo from
an invoice pending approval.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from http.server import ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from pshub.connections import Connection
from pshub_local.fakes import FakeApi, FakeRequest, FakeResponse, VendorFault, route
from pshub_local.fakes.server import _handler_for

REST = "/services/rest"
RECORD = f"{REST}/record/v1"
TOKEN_PATH = f"{REST}/auth/oauth2/v1/token"
SUITEQL_PATH = f"{REST}/query/v1/suiteql"
TOKEN_LIFETIME_S = 3600
_KEY = r"(?P<key>\d+|eid:[A-Za-z0-9_-]+)"
_RECORD_TYPE = "application/vnd.oracle.resource+json; type=singular; charset=UTF-8"
_COLLECTION_TYPE = "application/vnd.oracle.resource+json; type=collection; charset=UTF-8"
_ERROR_TYPE = "application/vnd.oracle.resource+json; type=error; charset=UTF-8"
_PROBLEM_TYPES = {
    400: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "Bad Request"),
    401: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2", "Unauthorized"),
    404: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5", "Not Found"),
    415: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.16", "Unsupported Media Type"),
    429: ("https://www.rfc-editor.org/rfc/rfc6585.html#section-4", "Too Many Requests"),
    503: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4", "Service Unavailable"),
}
INVALID_LOGIN = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
# Internal id sequences, in NetSuite's style (NetSuite ids are numeric).
_FIRST_IDS = {
    "customer": 1840,
    "job": 5210,
    "billingSchedule": 31,
    "timeBill": 88000,
    "employee": 300,
    "expenseReport": 4400,
    "invoice": 12000,
    "creditMemo": 12500,
}
_TABLES = {
    "customer": "customer",
    "job": "job",
    "timebill": "timeBill",
    "employee": "employee",
    "expensereport": "expenseReport",
    "currency": "currency",
}
# The account's currencies: internal id -> (ISO code, the currency record's name).
_CURRENCIES = {
    "1": ("USD", "USA"),
    "2": ("GBP", "British pound"),
    "3": ("CAD", "Canadian Dollar"),
    "4": ("EUR", "Euro"),
}
_BASE_CURRENCY = "1"
_APPROVAL = {"1": "Pending Approval", "2": "Approved", "3": "Rejected"}
# Invoice status by approval status, and the credit memo's; (id, refName).
_INVOICE_STATUS = {"1": ("D", "Pending Approval"), "2": ("A", "Open"), "3": ("E", "Rejected")}
_CREDIT_STATUS = ("A", "Open")
_STATUS_NAMES = dict([*_INVOICE_STATUS.values(), _CREDIT_STATUS])
_TRAN_PREFIX = {"invoice": "INV", "creditMemo": "CM"}
_SCHEDULE_TYPES = frozenset({"STD", "FBM", "FBI", "TM", "CB"})
_M2M_ALGORITHMS = ["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


def problem(status: int, detail: str, code: str, *, path: str | None = None, **extra: str) -> dict[str, Any]:
    """NetSuite's error body."""
    kind, title = _PROBLEM_TYPES.get(status, ("https://www.rfc-editor.org/rfc/rfc9110.html", "Error"))
    entry: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path:
        entry["o:errorPath"] = path
    entry.update(extra)
    return {"type": kind, "title": title, "status": status, "o:errorDetails": [entry]}


def fault(status: int, detail: str, code: str, *, path: str | None = None, **extra: str) -> VendorFault:
    return VendorFault(
        status, problem(status, detail, code, path=path, **extra), {"Content-Type": _ERROR_TYPE}
    )


def invalid_value(value: object, field: str) -> VendorFault:
    return fault(
        400,
        f"Error while accessing a resource. You have entered an Invalid Field Value {value} for the following field: {field}",
        "INVALID_CONTENT",
        path=field,
    )


def required(*labels: str) -> VendorFault:
    return fault(400, f"Please enter value(s) for: {', '.join(labels)}", "USER_ERROR")


def credentials_for_local(connection: Connection, auth: str = "m2m") -> dict[str, str]:
    """LOCAL-ONLY credentials a local NetSuite fake accepts (a fresh RSA key for M2M)."""
    return NetSuiteFake.credentials_for_local(connection, auth)


class NetSuiteFake(FakeApi):
    platform = "netsuite"
    content_type = _ERROR_TYPE
    # What each SuiteQL table answers for (lower-case column -> record field).
    _columns: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "customer": {
            "id": "id",
            "externalid": "externalId",
            "entityid": "entityId",
            "companyname": "companyName",
            "isinactive": "isInactive",
            "lastmodifieddate": "lastModifiedDate",
            "custentity_pshub_client_ids": "custentity_pshub_client_ids",
            "custentity_pshub_tax_key": "custentity_pshub_tax_key",
            "custentity_pshub_name_key": "custentity_pshub_name_key",
        },
        "job": {
            "id": "id",
            "externalid": "externalId",
            "entityid": "entityId",
            "companyname": "companyName",
            "isinactive": "isInactive",
            "parent": "parent",
            "lastmodifieddate": "lastModifiedDate",
            "custentity_pshub_project_id": "custentity_pshub_project_id",
        },
        "timebill": {"id": "id", "externalid": "externalId", "lastmodifieddate": "lastModifiedDate"},
        "employee": {
            "id": "id",
            "externalid": "externalId",
            "email": "email",
            "lastmodifieddate": "lastModifiedDate",
        },
        "expensereport": {"id": "id", "externalid": "externalId", "lastmodifieddate": "lastModifiedDate"},
        "currency": {"id": "id", "symbol": "symbol", "name": "name"},
    }

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
        employees: Iterable[str] | None = None,
        service_items: Iterable[str] | None = None,
        subsidiaries: Iterable[str] | None = None,
        classes: Iterable[str] | None = None,
        departments: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        rate_per_s: float | None = None,
        burst: int = 50,
    ) -> None:
        super().__init__(rate_per_s=rate_per_s, burst=burst)
        options = connection.options
        self.connection = connection
        self.account_id = (options.get("account_id") or "1234567_SB1").upper().replace("-", "_")
        self._clock = clock
        self._credentials = dict(credentials)
        self._public_key = _public_key(credentials)
        pattern = options.get("project_code_pattern")
        self._code_pattern = re.compile(pattern) if pattern else None
        closed = options.get("closed_periods_through")
        self._closed_through = date.fromisoformat(closed) if closed else None
        # The account's lists: the ids the connection's options name (None: any id exists).
        self._lists: dict[str, frozenset[str] | None] = {
            "subsidiary": _ids(subsidiaries, options.get("subsidiaries"), default={"1"}),
            "class": _ids(classes, options.get("classes")),
            "department": _ids(departments, options.get("departments")),
            "location": _ids(locations, options.get("locations")),
        }
        item = options.get("time_item_id")
        self._service_items = frozenset(
            service_items if service_items is not None else ({item} if item else {"20"})
        )
        # Invoice lines bill these too: the invoice item and the tax item the connection names.
        billed = {options.get(name) for name in ("invoice_item_id", "tax_item_id")}
        self._items = self._service_items | {i for i in billed if i}
        self._records: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in _FIRST_IDS}
        self._records["currency"] = _currencies(options.get("currencies"))
        self._sequence = dict(_FIRST_IDS)
        self._access_tokens: dict[str, float] = {}
        self._nonces: set[str] = set()
        if employees is None:  # the local runtime's account: the seeded people, by e-mail
            from pshub_local.platforms import seed

            for email in seed.EMPLOYEES:
                self.add_employee(email.split("@")[0], email)
        for worker in employees or ():
            self.add_employee(worker)

    def start(self) -> str:
        """Serve on 127.0.0.1 as ``FakeApi`` does, polling for shutdown every 20 ms rather than
        500 ms: tests start and stop one fake each."""
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._server.daemon_threads = True
            server = self._server
            self._thread = threading.Thread(
                target=lambda: server.serve_forever(poll_interval=0.02), name="fake-netsuite", daemon=True
            )
            self._thread.start()
        return self.base_url

    def local_options(self) -> dict[str, str]:
        """Points the connector at this fake: the REST root (the token URL hangs under it)."""
        return {"base_url": f"{self.base_url}{REST}"}

    # -- local credentials and test controls ----------------------------------------------------
    @classmethod
    def credentials_for_local(cls, connection: Connection, auth: str = "m2m") -> dict[str, str]:
        """LOCAL-ONLY credentials of ``connection`` this fake accepts: an M2M client with a fresh
        RSA key (the fake derives the certificate's public key from it), or TBA tokens."""
        tag = secrets.token_hex(6)
        if auth == "tba":
            return {
                "consumer_key": f"localdemo-ck-{tag}",
                "consumer_secret": f"localdemo-cs-{secrets.token_hex(16)}",
                "token_id": f"localdemo-tid-{tag}",
                "token_secret": f"localdemo-ts-{secrets.token_hex(16)}",
            }
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        pem = f"localdemo-key: LOCAL-ONLY, generated for {connection.id} by the NetSuite fake\n{pem}"
        return {
            "client_id": f"localdemo-client-{tag}",
            "certificate_id": f"localdemo-cert-{tag}",
            "private_key": pem,
        }

    def add_employee(self, external_id: str, email: str | None = None) -> str:
        """An employee record (what an HR sync creates) with ``external_id`` (and ``email``);
        its internal id."""
        with self.lock:
            native_id = self._next_id("employee")
            record = {"id": native_id, "externalId": external_id, **({"email": email} if email else {})}
            self._records["employee"][native_id] = self._stamped(record)
            return native_id

    def seed(self, record_type: str, fields: Mapping[str, Any]) -> str:
        """A record made in NetSuite itself (its UI, another integration), checked like any
        create; its internal id."""
        with self.lock:
            self._insert(record_type, dict(fields))
            return str(self._sequence[record_type])

    def approve_invoice(self, native_id: str) -> None:
        """Finance approves the draft invoice ``native_id`` in NetSuite (and so it is sent)."""
        with self.lock:
            record = self._records["invoice"][native_id]
            record["approvalStatus"] = {"id": "2"}
            self._derive("invoice", record)
            self._stamped(record)

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired (as 60 minutes later)."""
        with self.lock:
            self._access_tokens = dict.fromkeys(self._access_tokens, 0.0)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    def record(self, record_type: str, native_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._records[record_type].get(native_id)
            return json.loads(json.dumps(found)) if found is not None else None

    # -- the vendor's gates ---------------------------------------------------------------------
    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        if request.path == TOKEN_PATH:
            return None
        header = request.header("Authorization") or ""
        if header.startswith("Bearer "):
            expires = self._access_tokens.get(header.removeprefix("Bearer ").strip())
            if expires is not None and expires > self._clock():
                return None
            return self._unauthorized(
                f'Bearer realm="{self.account_id}", error="invalid_token", error_description="Invalid login attempt."'
            )
        if header.startswith("OAuth ") and self._tba_valid(request, header):
            return None
        return self._unauthorized(
            f'OAuth realm="{self.account_id}", error="token_rejected", error_description="Invalid login attempt."'
        )

    def _unauthorized(self, challenge: str) -> FakeResponse:
        body = problem(401, INVALID_LOGIN, "INVALID_LOGIN")
        return FakeResponse(401, body, {"Content-Type": _ERROR_TYPE, "WWW-Authenticate": challenge})

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        body = problem(
            429, "Concurrent request limit exceeded. Request blocked.", "CONCURRENCY_LIMIT_EXCEEDED"
        )
        return FakeResponse(
            429, body, {"Content-Type": _ERROR_TYPE, "Retry-After": str(max(1, round(retry_after_s)))}
        )

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        body = problem(503, "The service is temporarily unavailable. Try again later.", "SERVICE_UNAVAILABLE")
        return FakeResponse(503, body, {"Content-Type": _ERROR_TYPE})

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        body = problem(404, f"The requested resource {request.path} does not exist.", "NONEXISTENT_ID")
        return FakeResponse(404, body, {"Content-Type": _ERROR_TYPE})

    def _tba_valid(self, request: FakeRequest, header: str) -> bool:  # noqa: PLR0911 - one return per check
        from oauthlib.oauth1.rfc5849 import signature, utils  # type: ignore[import-untyped]

        creds = self._credentials
        if not all(creds.get(n) for n in ("consumer_key", "consumer_secret", "token_id", "token_secret")):
            return False
        try:
            fields = dict(utils.parse_authorization_header(header))
        except (ValueError, IndexError):
            return False
        if fields.get("realm") != self.account_id or fields.get("oauth_signature_method") != "HMAC-SHA256":
            return False
        if (
            fields.get("oauth_consumer_key") != creds["consumer_key"]
            or fields.get("oauth_token") != creds["token_id"]
        ):
            return False
        try:
            timestamp = int(fields.get("oauth_timestamp", ""))
        except ValueError:
            return False
        nonce = fields.get("oauth_nonce", "")
        if abs(timestamp - self._clock()) > 300 or not nonce or f"{nonce}:{timestamp}" in self._nonces:
            return False
        params = signature.collect_parameters(
            uri_query=urlsplit(request.url).query, headers={"Authorization": header}, with_realm=False
        )
        base = signature.signature_base_string(
            request.method, signature.base_string_uri(request.url), signature.normalize_parameters(params)
        )
        # RFC 5849 3.4.2: key = escaped consumer secret & escaped token secret
        key = f"{utils.escape(creds['consumer_secret'])}&{utils.escape(creds['token_secret'])}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, unquote(fields.get("oauth_signature", ""))):
            return False
        self._nonces.add(f"{nonce}:{timestamp}")
        return True

    # -- token endpoint ---------------------------------------------------------------------------
    @route("POST", TOKEN_PATH, "token")
    def _token(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        import jwt

        form = request.form()
        if (
            not (request.header("Content-Type") or "").startswith("application/x-www-form-urlencoded")
            or form.get("grant_type") != "client_credentials"
            or form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            or not form.get("client_assertion")
        ):
            return _token_error(400, "invalid_request")
        if self._public_key is None:
            return _token_error(401, "invalid_client", self.account_id)
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=_M2M_ALGORITHMS,
                audience=self.token_url,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return _token_error(401, "invalid_client", self.account_id)
        now = self._clock()
        exp, iat = claims.get("exp"), claims.get("iat")
        scopes = claims.get("scope")
        scope_list = scopes if isinstance(scopes, list) else str(scopes or "").replace(",", " ").split()
        if (
            header.get("typ") != "JWT"
            or header.get("kid") != self._credentials.get("certificate_id")
            or claims.get("iss") != self._credentials.get("client_id")
            or not isinstance(exp, int | float)
            or not isinstance(iat, int | float)
            or exp <= now
            or exp - iat > TOKEN_LIFETIME_S
            or iat > now + 300
            or "rest_webservices" not in scope_list
        ):
            return _token_error(401, "invalid_client", self.account_id)
        token = secrets.token_urlsafe(32)
        self._access_tokens[token] = now + TOKEN_LIFETIME_S
        answer = {"access_token": token, "expires_in": str(TOKEN_LIFETIME_S), "token_type": "Bearer"}
        return FakeResponse(200, answer, {"Content-Type": "application/json;charset=utf-8"})

    # -- records ----------------------------------------------------------------------------------
    @route("GET", rf"{RECORD}/(?P<type>customer)/{_KEY}", "get_customer")
    @route("GET", rf"{RECORD}/(?P<type>job)/{_KEY}", "get_job")
    @route("GET", rf"{RECORD}/(?P<type>billingSchedule)/{_KEY}", "get_billing_schedule")
    @route("GET", rf"{RECORD}/(?P<type>timeBill)/{_KEY}", "get_time_bill")
    @route("GET", rf"{RECORD}/(?P<type>expenseReport)/{_KEY}", "get_expense_report")
    @route("GET", rf"{RECORD}/(?P<type>invoice)/{_KEY}", "get_invoice")
    @route("GET", rf"{RECORD}/(?P<type>creditMemo)/{_KEY}", "get_credit_memo")
    def _get(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        record_type = match["type"]
        native_id = self._find(record_type, match["key"])
        if native_id is None:
            raise _missing(record_type, match["key"])
        expand = (request.param("expandSubResources") or "").lower() == "true"
        return FakeResponse(200, self._shown(record_type, native_id, expand), {"Content-Type": _RECORD_TYPE})

    @route("POST", rf"{RECORD}/(?P<type>customer)", "create_customer")
    @route("POST", rf"{RECORD}/(?P<type>job)", "create_job")
    @route("POST", rf"{RECORD}/(?P<type>billingSchedule)", "create_billing_schedule")
    @route("POST", rf"{RECORD}/(?P<type>timeBill)", "create_time_bill")
    @route("POST", rf"{RECORD}/(?P<type>expenseReport)", "create_expense_report")
    @route("POST", rf"{RECORD}/(?P<type>invoice)", "create_invoice")
    @route("POST", rf"{RECORD}/(?P<type>creditMemo)", "create_credit_memo")
    def _create(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        record_type = match["type"]
        body = _json_body(request)
        external = body.get("externalId")
        if external is not None and self._find(record_type, f"eid:{external}") is not None:
            raise fault(400, "This record already exists.", "DUP_RCRD", path="externalId")
        return self._insert(record_type, body)

    @route("PUT", rf"{RECORD}/(?P<type>customer)/(?P<key>eid:[A-Za-z0-9_-]+)", "upsert_customer")
    @route("PUT", rf"{RECORD}/(?P<type>job)/(?P<key>eid:[A-Za-z0-9_-]+)", "upsert_job")
    @route(
        "PUT", rf"{RECORD}/(?P<type>billingSchedule)/(?P<key>eid:[A-Za-z0-9_-]+)", "upsert_billing_schedule"
    )
    @route("PUT", rf"{RECORD}/(?P<type>timeBill)/(?P<key>eid:[A-Za-z0-9_-]+)", "upsert_time_bill")
    @route("PUT", rf"{RECORD}/(?P<type>expenseReport)/(?P<key>eid:[A-Za-z0-9_-]+)", "upsert_expense_report")
    @route("PUT", rf"{RECORD}/(?P<type>invoice)/(?P<key>eid:[A-Za-z0-9_-]+)", "upsert_invoice")
    @route("PUT", rf"{RECORD}/(?P<type>creditMemo)/(?P<key>eid:[A-Za-z0-9_-]+)", "upsert_credit_memo")
    def _upsert(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        record_type, external = match["type"], match["key"].removeprefix("eid:")
        body = {**_json_body(request), "externalId": external}
        native_id = self._find(record_type, match["key"])
        if native_id is None:
            return self._insert(record_type, body)
        return self._update(record_type, native_id, body, request.param("replace"))

    @route("PATCH", rf"{RECORD}/(?P<type>customer)/{_KEY}", "update_customer")
    @route("PATCH", rf"{RECORD}/(?P<type>job)/{_KEY}", "update_job")
    @route("PATCH", rf"{RECORD}/(?P<type>billingSchedule)/{_KEY}", "update_billing_schedule")
    @route("PATCH", rf"{RECORD}/(?P<type>timeBill)/{_KEY}", "update_time_bill")
    @route("PATCH", rf"{RECORD}/(?P<type>expenseReport)/{_KEY}", "update_expense_report")
    @route("PATCH", rf"{RECORD}/(?P<type>invoice)/{_KEY}", "update_invoice")
    def _patch(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        record_type = match["type"]
        native_id = self._find(record_type, match["key"])
        if native_id is None:
            raise _missing(record_type, match["key"])
        if record_type in ("timeBill", "expenseReport", "invoice"):
            self._open_period(self._records[record_type][native_id], record_type)  # the posted date's period
        return self._update(record_type, native_id, _json_body(request), request.param("replace"))

    @route("DELETE", rf"{RECORD}/(?P<type>timeBill)/{_KEY}", "delete_time_bill")
    @route("DELETE", rf"{RECORD}/(?P<type>expenseReport)/{_KEY}", "delete_expense_report")
    def _delete(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        """NetSuite deletes a transaction (204) unless its period is closed."""
        record_type = match["type"]
        native_id = self._find(record_type, match["key"])
        if native_id is None:
            raise _missing(record_type, match["key"])
        self._open_period(self._records[record_type][native_id], record_type)
        del self._records[record_type][native_id]
        return FakeResponse(204, None, {})

    def _open_period(self, record: Mapping[str, Any], record_type: str) -> None:
        day = record.get("tranDate")
        if self._closed_through is None or not day:
            return
        worked = date.fromisoformat(str(day))
        if worked <= self._closed_through:
            raise fault(
                400,
                f"The accounting period for {worked.isoformat()} is closed. This {record_type} cannot be changed.",
                "USER_ERROR",
                path="tranDate",
            )

    def _insert(self, record_type: str, body: dict[str, Any]) -> FakeResponse:
        record = _normalised(body)
        record.pop("id", None)
        self._validate(record_type, record, None)
        native_id = self._next_id(record_type)
        record["id"] = native_id
        if record_type == "customer" and not record.get("entityId"):
            record["entityId"] = f"CUS{native_id}"  # auto-generated numbering
        if record_type in _TRAN_PREFIX:
            record["tranId"] = f"{_TRAN_PREFIX[record_type]}{native_id}"  # auto-generated numbering
            self._derive(record_type, record)
        else:
            record.setdefault("isInactive", False)
        self._records[record_type][native_id] = self._stamped(record, created=True)
        return self._written(record_type, native_id)

    def _update(
        self, record_type: str, native_id: str, body: dict[str, Any], replace: str | None
    ) -> FakeResponse:
        current = self._records[record_type][native_id]
        changes = _normalised(body)
        changes.pop("id", None)
        replaced = {s.strip() for s in (replace or "").split(",") if s.strip()}
        merged = dict(current)
        for name, value in changes.items():
            old = merged.get(name)
            if (
                isinstance(value, dict)
                and "items" in value
                and isinstance(old, dict)
                and name not in replaced
            ):
                merged[name] = {"items": [*old.get("items", []), *value["items"]]}  # sublist lines add up
            else:
                merged[name] = value
        self._validate(record_type, merged, native_id)
        if record_type in _TRAN_PREFIX:
            self._derive(record_type, merged)
        self._records[record_type][native_id] = self._stamped(merged)
        return self._written(record_type, native_id)

    def _written(self, record_type: str, native_id: str) -> FakeResponse:
        return FakeResponse(204, None, {"Location": f"{self.base_url}{RECORD}/{record_type}/{native_id}"})

    def _next_id(self, record_type: str) -> str:
        self._sequence[record_type] += 1
        return str(self._sequence[record_type])

    def _stamped(self, record: dict[str, Any], *, created: bool = False) -> dict[str, Any]:
        now = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if created or "dateCreated" not in record:
            record["dateCreated"] = now
        record["lastModifiedDate"] = now
        return record

    def _find(self, record_type: str, key: str) -> str | None:
        records = self._records[record_type]
        if key.startswith("eid:"):
            wanted = key.removeprefix("eid:")
            return next((i for i, r in records.items() if r.get("externalId") == wanted), None)
        return key if key in records else None

    def _shown(self, record_type: str, native_id: str, expand: bool) -> dict[str, Any]:
        record = self._records[record_type][native_id]
        href = f"{self.base_url}{RECORD}/{record_type}/{native_id}"
        shown: dict[str, Any] = {"links": [{"rel": "self", "href": href}]}
        for name, value in record.items():
            if isinstance(value, dict) and "items" in value:
                sub_href = f"{href}/{name}"
                shown[name] = (
                    {
                        "links": [{"rel": "self", "href": sub_href}],
                        "items": value["items"],
                        "totalResults": len(value["items"]),
                    }
                    if expand
                    else {"links": [{"rel": "self", "href": sub_href}]}
                )
            elif isinstance(value, dict) and "id" in value:
                shown[name] = {**self._referenced(name, str(value["id"])), "id": str(value["id"])}
            else:
                shown[name] = value
        return shown

    def _referenced(self, field: str, ref: str) -> dict[str, Any]:
        if field == "approvalStatus":
            return {"links": [], "refName": _APPROVAL.get(ref, ref)}
        if field == "status":
            return {"links": [], "refName": _STATUS_NAMES.get(ref, ref)}
        if field == "currency":
            name = str(self._records["currency"].get(ref, {}).get("name") or ref)
            return {
                "links": [{"rel": "self", "href": f"{self.base_url}{RECORD}/currency/{ref}"}],
                "refName": name,
            }
        kind = {
            "parent": "customer",
            "customer": "job",
            "project": "job",
            "employee": "employee",
            "entity": "customer",
            "job": "job",
            "createdFrom": "invoice",
        }.get(field)
        target = self._records.get(kind or "", {}).get(ref) if kind else None
        if kind == "job" and target is None and field == "customer":
            kind, target = "customer", self._records["customer"].get(ref)
        name = (target or {}).get("companyName") or (target or {}).get("entityId") or ref
        links = [{"rel": "self", "href": f"{self.base_url}{RECORD}/{kind}/{ref}"}] if kind else []
        return {"links": links, "refName": str(name)}

    # -- validation (what the account refuses) ------------------------------------------------------
    def _validate(self, record_type: str, record: dict[str, Any], native_id: str | None) -> None:
        {
            "customer": self._valid_customer,
            "job": self._valid_job,
            "billingSchedule": self._valid_schedule,
            "timeBill": self._valid_time,
            "expenseReport": self._valid_expense,
            "invoice": self._valid_invoice,
            "creditMemo": self._valid_credit_memo,
        }[record_type](record, native_id)

    def _known(self, record: Mapping[str, Any], field: str) -> None:
        ref = _ref(record, field)
        allowed = self._lists[field]
        if ref is not None and (not ref.isdigit() or (allowed is not None and ref not in allowed)):
            raise invalid_value(ref, field)

    def _valid_customer(self, record: dict[str, Any], native_id: str | None) -> None:
        missing = [
            label
            for label, present in (
                ("Company Name", record.get("isPerson") or record.get("companyName")),
                ("Subsidiary", _ref(record, "subsidiary")),
                (
                    "Tax Jurisdiction",
                    record.get("custentity_pshub_tax_jurisdiction"),
                ),  # a mandatory custom field
            )
            if not present
        ]
        if missing:
            raise required(*missing)
        self._known(record, "subsidiary")
        self._unique_entity("customer", record, native_id)

    def _valid_job(self, record: dict[str, Any], native_id: str | None) -> None:
        code = record.get("entityId")
        missing = [
            label
            for label, present in (
                ("Project ID", code),
                ("Project Name", record.get("companyName")),
                ("Customer", _ref(record, "parent")),
                ("Subsidiary", _ref(record, "subsidiary")),
                ("Class", _ref(record, "class")),  # "Make Classes Mandatory" is on
            )
            if not present
        ]
        if missing:
            raise required(*missing)
        if self._code_pattern is not None and not self._code_pattern.fullmatch(str(code)):
            raise invalid_value(code, "entityId")
        parent = str(_ref(record, "parent"))
        if parent not in self._records["customer"]:
            raise invalid_value(parent, "parent")
        for field in ("subsidiary", "class", "department", "location"):
            self._known(record, field)
        self._unique_entity("job", record, native_id)

    def _unique_entity(self, record_type: str, record: Mapping[str, Any], native_id: str | None) -> None:
        code = record.get("entityId")
        if not code:
            return
        for other_id, other in self._records[record_type].items():
            if other_id != native_id and other.get("entityId") == code:
                raise fault(400, "This entity already exists.", "DUP_ENTITY", path="entityId")

    def _valid_schedule(self, record: dict[str, Any], native_id: str | None) -> None:
        kind = _ref(record, "scheduleType") or "STD"
        missing = [
            label
            for label, present in (("Name", record.get("name")), ("Frequency", _ref(record, "frequency")))
            if not present
        ]
        if kind != "STD" and not _ref(record, "project"):
            missing.append("Project")
        if missing:
            raise required(*missing)
        if kind not in _SCHEDULE_TYPES:
            raise invalid_value(kind, "scheduleType")
        project_id = _ref(record, "project")
        if project_id is not None:
            job = self._records["job"].get(project_id)
            if job is None:
                raise invalid_value(project_id, "project")
            if job.get("isInactive"):
                raise fault(400, f"Project {job.get('entityId')} is inactive.", "USER_ERROR", path="project")
        if kind == "FBM":
            lines = (record.get("milestone") or {}).get("items") or []
            if not lines:
                raise required("Milestones")
            try:
                total = sum((Decimal(str(line.get("milestoneAmount"))) for line in lines), Decimal(0))
            except (InvalidOperation, AttributeError):
                raise invalid_value("milestoneAmount", "milestone.items.milestoneAmount") from None
            if any(not line.get("milestoneDate") and not line.get("projectTask") for line in lines):
                raise required("Milestone Date")
            if total != 100:
                raise fault(400, "The milestone amounts must total 100%.", "USER_ERROR", path="milestone")

    def _valid_time(self, record: dict[str, Any], native_id: str | None) -> None:
        missing = [
            label
            for label, present in (
                ("Employee", _ref(record, "employee")),
                ("Duration", record.get("hours") not in (None, "")),
                ("Date", record.get("tranDate")),
            )
            if not present
        ]
        customer = _ref(record, "customer")
        if customer and not _ref(record, "item"):
            missing.append("Service Item")
        if missing:
            raise required(*missing)
        employee = str(_ref(record, "employee"))
        if employee not in self._records["employee"]:
            raise invalid_value(employee, "employee")
        hours = _hours(record.get("hours"))
        if hours is None or not Decimal(0) < hours <= Decimal(24):
            raise invalid_value(record.get("hours"), "hours")
        try:
            worked = date.fromisoformat(str(record.get("tranDate")))
        except ValueError:
            raise invalid_value(record.get("tranDate"), "tranDate") from None
        if customer:
            job = self._records["job"].get(customer)
            if job is None and customer not in self._records["customer"]:
                raise invalid_value(customer, "customer")
            if job is not None and job.get("isInactive"):
                raise fault(400, f"Project {job.get('entityId')} is inactive.", "USER_ERROR", path="customer")
            item = str(_ref(record, "item"))
            if item not in self._service_items:
                raise invalid_value(item, "item")
        if self._closed_through is not None and worked <= self._closed_through:
            raise fault(
                400,
                f"The accounting period for {worked.isoformat()} is closed. Time cannot be entered in a closed period.",
                "USER_ERROR",
                path="tranDate",
            )

    def _valid_expense(self, record: dict[str, Any], native_id: str | None) -> None:
        lines = (record.get("expense") or {}).get("items") or []
        missing = [
            label
            for label, present in (
                ("Employee", _ref(record, "employee")),
                ("Date", record.get("tranDate")),
                ("Expenses", lines),
            )
            if not present
        ]
        if missing:
            raise required(*missing)
        employee = str(_ref(record, "employee"))
        if employee not in self._records["employee"]:
            raise invalid_value(employee, "employee")
        for line in lines:
            amount = _hours(line.get("amount"))  # a decimal number, like hours
            if amount is None or amount <= 0:
                raise invalid_value(line.get("amount"), "expense.items.amount")
            customer = _ref(line, "customer")
            job = self._records["job"].get(str(customer)) if customer else None
            if customer and job is None:
                raise invalid_value(customer, "expense.items.customer")
            if job is not None and job.get("isInactive"):
                raise fault(400, f"Project {job.get('entityId')} is inactive.", "USER_ERROR", path="expense")
        self._open_period(record, "expenseReport")

    def _valid_invoice(self, record: dict[str, Any], native_id: str | None) -> None:
        entity = self._valid_transaction(record)
        job_id = _ref(record, "job")
        if job_id is not None:
            job = self._records["job"].get(job_id)
            if job is None or _ref(job, "parent") != entity:
                raise invalid_value(job_id, "job")
            if job.get("isInactive"):
                raise fault(400, f"Project {job.get('entityId')} is inactive.", "USER_ERROR", path="job")
        approval = _ref(record, "approvalStatus")
        if approval is not None and approval not in _APPROVAL:
            raise invalid_value(approval, "approvalStatus")
        self._open_period(record, "invoice")

    def _valid_credit_memo(self, record: dict[str, Any], native_id: str | None) -> None:
        entity = self._valid_transaction(record)
        source_id = _ref(record, "createdFrom")
        if source_id is None:
            return
        invoice = self._records["invoice"].get(source_id)
        if invoice is None or _ref(invoice, "entity") != entity:
            raise invalid_value(source_id, "createdFrom")
        if _ref(invoice, "approvalStatus") != "2":
            raise fault(
                400,
                f"Invoice {invoice.get('tranId')} is not approved. Only an approved invoice can be credited.",
                "USER_ERROR",
                path="createdFrom",
            )
        if _ref(record, "currency") not in (None, _ref(invoice, "currency")):
            raise invalid_value(_ref(record, "currency"), "currency")

    def _valid_transaction(self, record: dict[str, Any]) -> str:
        """Customer and item lines, as NetSuite checks any sales transaction; the customer's id."""
        lines = (record.get("item") or {}).get("items") or []
        missing = [
            label
            for label, present in (("Customer", _ref(record, "entity")), ("Items", lines))
            if not present
        ]
        if missing:
            raise required(*missing)
        entity = str(_ref(record, "entity"))
        customer = self._records["customer"].get(entity)
        if customer is None:
            raise invalid_value(entity, "entity")
        currency = _ref(record, "currency")
        if currency is not None and currency not in self._customer_currencies(customer):
            raise invalid_value(currency, "currency")
        for line in lines:
            item = _ref(line, "item")
            if item not in self._items:
                raise invalid_value(item, "item.items.item")
            for name in ("quantity", "rate", "amount"):
                value = line.get(name)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                    raise invalid_value(value, f"item.items.{name}")
            if line.get("amount") is None and (line.get("quantity") is None or line.get("rate") is None):
                raise required("Amount")
        return entity

    def _customer_currencies(self, customer: Mapping[str, Any]) -> set[str]:
        """The customer's primary currency (the base one unless set) and its other currencies."""
        listed = {_ref(line, "currency") for line in (customer.get("currencyList") or {}).get("items") or []}
        return {_ref(customer, "currency") or _BASE_CURRENCY} | {c for c in listed if c}

    def _derive(self, record_type: str, record: dict[str, Any]) -> None:
        """What NetSuite fills in on a sales transaction: currency, line numbers and amounts,
        the total, the status."""
        customer = self._records["customer"].get(str(_ref(record, "entity")), {})
        source = self._records["invoice"].get(str(_ref(record, "createdFrom")), {})
        default = _ref(source, "currency") or _ref(customer, "currency") or _BASE_CURRENCY
        record.setdefault("currency", {"id": default})
        total = Decimal(0)
        for number, line in enumerate((record.get("item") or {}).get("items") or [], 1):
            line["line"] = number
            if line.get("amount") is None:
                line["amount"] = float(Decimal(str(line["quantity"])) * Decimal(str(line["rate"])))
            total += Decimal(str(line["amount"]))
        record["subtotal"] = record["total"] = float(total)
        if record_type == "invoice":
            record.setdefault("approvalStatus", {"id": "1"})  # invoice approval routing is on
            status = _INVOICE_STATUS[str(_ref(record, "approvalStatus"))]
        else:
            status = _CREDIT_STATUS
        record["status"] = {"id": status[0]}

    # -- SuiteQL ------------------------------------------------------------------------------------
    @route("POST", SUITEQL_PATH, "suiteql")
    def _suiteql(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        if (request.header("Prefer") or "").strip().lower() != "transient":
            raise fault(
                400,
                "The request header Prefer must be set to transient.",
                "INVALID_HEADER",
                **{"o:errorHeader": "Prefer"},
            )
        body = _json_body(request)
        query = body.get("q")
        if not isinstance(query, str) or not query.strip():
            raise fault(
                400,
                "The request body must contain the query in the q parameter.",
                "INVALID_CONTENT",
                path="q",
            )
        limit, offset = _paging(request)
        try:
            rows = self._run(query.strip())
        except _QueryError as error:
            raise fault(
                400,
                f"Invalid search query. Detailed unprocessed description follows. Search error occurred: {error}",
                "INVALID_PARAMETER",
            ) from None
        page = rows[offset : offset + limit]
        has_more = offset + limit < len(rows)
        href = f"{self.base_url}{SUITEQL_PATH}"
        links = [{"rel": "self", "href": f"{href}?limit={limit}&offset={offset}"}]
        if has_more:
            links.append({"rel": "next", "href": f"{href}?limit={limit}&offset={offset + limit}"})
        document = {
            "links": links,
            "count": len(page),
            "hasMore": has_more,
            "items": [{"links": [], **row} for row in page],
            "offset": offset,
            "totalResults": len(rows),
        }
        return FakeResponse(200, document, {"Content-Type": _COLLECTION_TYPE})

    def _run(self, query: str) -> list[dict[str, str]]:
        parsed = _parse(query)
        table = _TABLES.get(parsed.table)
        columns = self._columns.get(parsed.table)
        if table is None or columns is None:
            raise _QueryError(f"Record '{parsed.table}' was not found.")
        for name in [*(c for c, _ in parsed.columns), *(c.column for c in parsed.where), *parsed.order]:
            if name not in columns:
                raise _QueryError(f"Field '{name}' for record '{parsed.table}' was not found.")
        matched = [
            record
            for record in self._records[table].values()
            if not parsed.where or any(c.holds(_column(record, columns[c.column])) for c in parsed.where)
        ]
        matched.sort(key=lambda r: tuple(_sort_key(_column(r, columns[name])) for name in parsed.order))
        rows = []
        for record in matched:
            row: dict[str, str] = {}
            for name, alias in parsed.columns:
                value = _column(record, columns[name])
                if value is not None:  # SuiteQL leaves out what is empty
                    row[alias] = _timestamp(value) if alias != name else value
            rows.append(row)
        return rows

    # -- the demo's printout -------------------------------------------------------------------------
    def records(self) -> dict[str, Any]:
        """Counts-friendly lists, as the demo prints them: no money, rates or personal data."""
        customers = self._records["customer"]
        jobs = self._records["job"]
        named = self._named
        return {
            "customers": [
                {
                    "native_id": i,
                    "client_id": r.get("externalId"),
                    "name": r.get("companyName"),
                    "legal_entity": named("subsidiaries", _ref(r, "subsidiary")),
                    "tax_jurisdiction": r.get("custentity_pshub_tax_jurisdiction"),
                }
                for i, r in customers.items()
            ],
            "projects": [
                {
                    "native_id": i,
                    "code": r.get("entityId"),
                    "name": r.get("companyName"),
                    "customer": _ref(r, "parent"),
                    "legal_entity": named("subsidiaries", _ref(r, "subsidiary")),
                    "service_line": named("classes", _ref(r, "class")),
                    "active": not r.get("isInactive"),
                    "inactive_reason": r.get("custentity_pshub_inactive_reason") or None,
                }
                for i, r in jobs.items()
            ],
            "billing_schedules": [
                {"native_id": i, "project": _ref(r, "project"), "schedule_type": _ref(r, "scheduleType")}
                for i, r in self._records["billingSchedule"].items()
            ],
            "time_entries": [
                {
                    "native_id": i,
                    "entry_id": r.get("externalId"),
                    "project_code": (jobs.get(str(_ref(r, "customer"))) or {}).get("entityId"),
                    "work_date": r.get("tranDate"),
                    "hours": str(_hours(r.get("hours"))),
                }
                for i, r in self._records["timeBill"].items()
            ],
            "expense_reports": [
                {
                    "native_id": i,
                    "entry_id": r.get("externalId"),
                    "work_date": r.get("tranDate"),
                    "lines": len((r.get("expense") or {}).get("items") or []),
                }
                for i, r in self._records["expenseReport"].items()
            ],
            "invoices": [
                {
                    "native_id": i,
                    "external_id": r.get("externalId"),
                    "number": r.get("tranId"),
                    "customer": _ref(r, "entity"),
                    "project_code": (jobs.get(str(_ref(r, "job"))) or {}).get("entityId"),
                    "approval": _APPROVAL.get(str(_ref(r, "approvalStatus"))),
                    "lines": len((r.get("item") or {}).get("items") or []),
                }
                for i, r in self._records["invoice"].items()
            ],
            "credit_memos": [
                {
                    "native_id": i,
                    "external_id": r.get("externalId"),
                    "number": r.get("tranId"),
                    "created_from": _ref(r, "createdFrom"),
                    "lines": len((r.get("item") or {}).get("items") or []),
                }
                for i, r in self._records["creditMemo"].items()
            ],
        }

    def _named(self, option: str, internal_id: str | None) -> str | None:
        """A list value as pshub calls it (the connection's option), else its internal id."""
        for pair in (self.connection.options.get(option) or "").split(","):
            name, _, known = (p.strip() for p in pair.partition("="))
            if known and known == internal_id:
                return name
        return internal_id


# -- helpers ------------------------------------------------------------------------------------------
def _ids(
    explicit: Iterable[str] | None, option: str | None, default: set[str] | None = None
) -> frozenset[str] | None:
    if explicit is not None:
        return frozenset(explicit)
    declared = {pair.partition("=")[2].strip() for pair in (option or "").split(",") if "=" in pair}
    if declared:
        return frozenset(declared | (default or set()))
    return None


def _currencies(option: str | None) -> dict[str, dict[str, Any]]:
    """The account's currency records: those the connection maps (``USD=1,...``), else a few."""
    pairs = [p.partition("=") for p in (option or "").split(",") if "=" in p]
    declared = {i.strip(): (code.strip(), code.strip()) for code, _, i in pairs}
    return {
        i: {"id": i, "symbol": code, "name": name, "isBaseCurrency": i == _BASE_CURRENCY}
        for i, (code, name) in (declared or _CURRENCIES).items()
    }


def _public_key(credentials: Mapping[str, str]) -> Any:
    pem = credentials.get("public_key") or credentials.get("private_key")
    if not pem:
        return None
    from cryptography.hazmat.primitives import serialization

    data = pem.encode()
    if "PRIVATE KEY" in pem:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


def _token_error(status: int, error: str, realm: str | None = None) -> FakeResponse:
    headers = {"Content-Type": "application/json;charset=utf-8"}
    if status == 401 and realm:
        headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
    return FakeResponse(status, {"error": error}, headers)


def _missing(record_type: str, key: str) -> VendorFault:
    return fault(
        404,
        f"The record instance does not exist. Provide a valid record instance ID. ({record_type} {key})",
        "NONEXISTENT_ID",
        **{"o:urlPath": key},
    )


def _json_body(request: FakeRequest) -> dict[str, Any]:
    kind = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if kind not in ("application/json", "application/vnd.oracle.resource+json"):
        raise fault(
            415,
            f"Content type {kind or 'none'} is not supported. Use application/json.",
            "UNSUPPORTED_MEDIA_TYPE",
        )
    try:
        body = request.json()
    except ValueError:
        raise fault(400, "The request body is not valid JSON.", "INVALID_CONTENT") from None
    if not isinstance(body, dict):
        raise fault(400, "The request body must be a JSON object.", "INVALID_CONTENT")
    return body


def _normalised(body: Mapping[str, Any]) -> dict[str, Any]:
    """References kept as ``{"id"}`` (what a GET decorates), everything else as sent."""
    record: dict[str, Any] = {}
    for name, value in body.items():
        if isinstance(value, dict) and "id" in value and "items" not in value:
            record[name] = {"id": str(value["id"])}
        else:
            record[name] = value
    return record


def _ref(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, Mapping) and value.get("id") not in (None, ""):
        return str(value["id"])
    return None


def _hours(value: object) -> Decimal | None:
    """Duration as NetSuite takes it: decimal hours (7.5) or the UI's ``H:MM`` ("7:30")."""
    try:
        if isinstance(value, str) and ":" in value:
            hours, _, minutes = value.partition(":")
            return Decimal(int(hours)) + Decimal(int(minutes)) / 60
        return (
            Decimal(str(value))
            if isinstance(value, int | float | str) and not isinstance(value, bool)
            else None
        )
    except (InvalidOperation, ValueError):
        return None


def _paging(request: FakeRequest) -> tuple[int, int]:
    raw_limit, raw_offset = request.param("limit", "1000") or "1000", request.param("offset", "0") or "0"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise fault(
            400,
            "The limit must be a number from 1 to 1000.",
            "INVALID_PARAMETER",
            **{"o:errorQueryParam": "limit"},
        )
    if not raw_offset.isdigit():
        raise fault(
            400,
            "The offset must be a non-negative number.",
            "INVALID_PARAMETER",
            **{"o:errorQueryParam": "offset"},
        )
    return int(raw_limit), int(raw_offset)


def _column(record: Mapping[str, Any], field: str) -> str | None:
    value = record.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, Mapping):
        return _ref(record, field)
    return str(value)


def _timestamp(value: str) -> str:
    return value.replace("T", " ").removesuffix("Z")


def _sort_key(value: str | None) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    return (1, int(value)) if value.isdigit() else (2, value)


# -- the SuiteQL this fake understands -------------------------------------------------------------------
class _QueryError(ValueError):
    pass


_LITERAL = r"'(?:[^']|'')*'"
_STATEMENT = re.compile(
    r"SELECT\s+(?P<columns>.+?)\s+FROM\s+(?P<table>[a-z_]+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>[a-z_]+(?:\s*,\s*[a-z_]+)*))?",
    re.IGNORECASE | re.DOTALL,
)
_TO_CHAR = re.compile(
    r"TO_CHAR\(\s*(?P<column>[a-z_]+)\s*,\s*'YYYY-MM-DD HH24:MI:SS'\s*\)\s+AS\s+(?P<alias>[a-z_]+)",
    re.IGNORECASE,
)
_EQUALS = re.compile(rf"(?P<column>[a-z_]+)\s*=\s*(?P<value>{_LITERAL})", re.IGNORECASE)
_IN = re.compile(
    rf"(?P<column>[a-z_]+)\s+IN\s*\((?P<values>{_LITERAL}(?:\s*,\s*{_LITERAL})*)\)", re.IGNORECASE
)
_LIKE = re.compile(rf"(?P<column>[a-z_]+)\s+LIKE\s+(?P<value>{_LITERAL})", re.IGNORECASE)
_SINCE = re.compile(
    rf"(?P<column>[a-z_]+)\s*>=\s*TO_TIMESTAMP\(\s*(?P<value>{_LITERAL})\s*,\s*'YYYY-MM-DD HH24:MI:SS'\s*\)",
    re.IGNORECASE,
)


class _Condition:
    def __init__(self, column: str, test: Callable[[str | None], bool]) -> None:
        self.column = column
        self.holds = test


class _Query:
    def __init__(
        self, table: str, columns: list[tuple[str, str]], where: list[_Condition], order: list[str]
    ) -> None:
        self.table, self.columns, self.where, self.order = table, columns, where, order


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _split(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` outside quotes and parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    upper = text.upper()
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and upper.startswith(separator, i):
            parts.append(text[start:i].strip())
            i += len(separator)
            start = i
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts


def _condition(text: str) -> _Condition:
    if len(_split(text, " AND ")) > 1:
        raise _QueryError("only OR-joined conditions are supported here")
    if found := _EQUALS.fullmatch(text):
        wanted = _unquote(found["value"])
        return _Condition(found["column"].lower(), lambda v: v == wanted)
    if found := _IN.fullmatch(text):
        values = {_unquote(v) for v in re.findall(_LITERAL, found["values"])}
        return _Condition(found["column"].lower(), lambda v: v in values)
    if found := _LIKE.fullmatch(text):
        pattern = re.compile(
            "".join(
                ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in _unquote(found["value"])
            ),
            re.DOTALL,
        )
        return _Condition(
            found["column"].lower(), lambda v: v is not None and pattern.fullmatch(v) is not None
        )
    if found := _SINCE.fullmatch(text):
        try:
            since = datetime.strptime(_unquote(found["value"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            raise _QueryError(f"invalid timestamp {found['value']}") from None
        return _Condition(
            found["column"].lower(),
            lambda v: (
                v is not None and datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) >= since
            ),
        )
    raise _QueryError(f"cannot parse condition {text!r}")


def _parse(query: str) -> _Query:
    statement = _STATEMENT.fullmatch(query)
    if statement is None:
        raise _QueryError("not a SELECT this account can run")
    columns: list[tuple[str, str]] = []
    for part in _split(statement["columns"], ","):
        if found := _TO_CHAR.fullmatch(part):
            columns.append((found["column"].lower(), found["alias"].lower()))
        elif re.fullmatch(r"[a-z_]+", part, re.IGNORECASE):
            columns.append((part.lower(), part.lower()))
        else:
            raise _QueryError(f"cannot select {part!r}")
    where = [_condition(part) for part in _split(statement["where"], " OR ")] if statement["where"] else []
    order = [o.strip().lower() for o in (statement["order"] or "").split(",") if o.strip()]
    return _Query(statement["table"].lower(), columns, where, order)

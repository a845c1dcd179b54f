"""A Salesforce org over HTTP, for the local runtime and the tests: what the CRM connector calls.

It speaks the REST API as an org does: the OAuth 2.0 token endpoint
(``POST /services/oauth2/token``: the JWT bearer flow, its RS256 assertion checked
against the connected app's certificate, and client credentials), SOQL queries
(``GET /services/data/vXX.X/query`` and ``queryAll``, paged by ``nextRecordsUrl``),
record reads (``GET /sobjects/{type}/{id}?fields=``) and updates (``PATCH``, 204).
Refusals come as Salesforce words them, a list of ``{"message", "errorCode", "fields"}``:
``INVALID_SESSION_ID`` (401) for a missing, wrong or expired token, ``NOT_FOUND``,
``INVALID_FIELD``, ``MALFORMED_QUERY``, ``STRING_TOO_LONG``, the org's validation rule
keeping a linked project's code (``FIELD_CUSTOM_VALIDATION_EXCEPTION``) and 403
``REQUEST_LIMIT_EXCEEDED`` for a spent daily allocation (``set_api_usage``) or too many
requests at once (``set_rate``). Every API answer carries ``Sforce-Limit-Info``.

SOQL: the select list (fields, parent relationship paths such as ``Account.Name``, one
level of child subquery), ``WHERE`` conditions joined by ``AND`` comparing a field with a
quoted string, a number, ``true``/``false``/``null`` or a dateTime literal, ``ORDER BY``
and ``LIMIT``. That is every shape the connector sends; anything else is a
``MALFORMED_QUERY``. Ids compare on their first 15 characters, so a 15-character id finds
the record its 18-character form names.

Seeded with the deal behind the sample Outbound Message (``pshub_local.platforms.seed``),
expressed as the org holds it: the account, the won opportunity, its contract, and the
CPQ primary quote whose lines are the rate card.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pshub.connections import Connection
from pshub.platforms.salesforce.inbound import case_safe_id
from pshub_local.fakes import FakeApi, FakeRequest, FakeResponse, VendorFault, route
from pshub_local.platforms import seed

API = r"/services/data/v(?P<version>\d+\.\d)"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
DEFAULT_ORG = "00D5e000000ABCDEA4"
MAX_VERSION = 68

# sObject -> its fields; references: (sObject, relationship) -> (reference field, parent sObject).
_AUDIT = ("IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
FIELDS: dict[str, tuple[str, ...]] = {
    "Account": (
        "Id", "Name", "Type", "Website", "BillingStreet", "BillingCity", "BillingState", "BillingStateCode",
        "BillingPostalCode", "BillingCountry", "BillingCountryCode", "CurrencyIsoCode",
        "pshub_Legal_Name__c", "pshub_Segment__c", "pshub_Legal_Entity__c", "pshub_Tax_Id__c",
        "pshub_Tax_Jurisdiction__c", *_AUDIT,
    ),
    "Opportunity": (
        "Id", "Name", "StageName", "Amount", "CurrencyIsoCode", "CloseDate", "OwnerId", "IsWon", "IsClosed",
        "AccountId", "ContractId", "pshub_Service_Line__c", "pshub_Project_Code__c", "pshub_Project_Ids__c",
        "SBQQ__AmendedContract__c", *_AUDIT,
    ),
    "Contract": (
        "Id", "AccountId", "ContractNumber", "Status", "StatusCode", "StartDate", "ContractTerm", "EndDate",
        "CurrencyIsoCode", "pshub_Billing_Model__c", "pshub_Retainer_Per_Month__c", "pshub_Retainer_Hours__c",
        "pshub_Overage_Rate__c", "pshub_Unused_Hours__c", "pshub_Rollover_Cap_Hours__c", "pshub_Expense_Markup__c",
        "pshub_Milestone_Acceptance__c", "pshub_Requires_PO__c", "pshub_Purchase_Order__c", "pshub_Budget_Cap__c",
        *_AUDIT,
    ),
    "Pricebook2": ("Id", "Name", "IsActive", *_AUDIT),
    "SBQQ__Quote__c": (
        "Id", "Name", "SBQQ__Opportunity2__c", "SBQQ__Account__c", "SBQQ__Primary__c", "SBQQ__Status__c",
        "SBQQ__StartDate__c", "SBQQ__EndDate__c", "SBQQ__PaymentTerms__c", "SBQQ__NetAmount__c",
        "CurrencyIsoCode", "SBQQ__PriceBook__c", *_AUDIT,
    ),
    "SBQQ__QuoteLine__c": (
        "Id", "Name", "SBQQ__Quote__c", "SBQQ__Number__c", "SBQQ__ProductName__c", "SBQQ__Quantity__c",
        "SBQQ__ListPrice__c", "SBQQ__NetPrice__c", "CurrencyIsoCode", *_AUDIT,
    ),
}  # fmt: skip
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("Opportunity", "Account"): ("AccountId", "Account"),
    ("Opportunity", "Contract"): ("ContractId", "Contract"),
    ("Opportunity", "SBQQ__AmendedContract__r"): ("SBQQ__AmendedContract__c", "Contract"),
    ("Contract", "Account"): ("AccountId", "Account"),
    ("SBQQ__Quote__c", "SBQQ__Opportunity2__r"): ("SBQQ__Opportunity2__c", "Opportunity"),
    ("SBQQ__Quote__c", "SBQQ__Account__r"): ("SBQQ__Account__c", "Account"),
    ("SBQQ__Quote__c", "SBQQ__PriceBook__r"): ("SBQQ__PriceBook__c", "Pricebook2"),
    ("SBQQ__QuoteLine__c", "SBQQ__Quote__r"): ("SBQQ__Quote__c", "SBQQ__Quote__c"),
}
# (parent sObject, child relationship) -> (child sObject, its reference field).
CHILDREN: dict[tuple[str, str], tuple[str, str]] = {
    ("SBQQ__Quote__c", "SBQQ__LineItems__r"): ("SBQQ__QuoteLine__c", "SBQQ__Quote__c"),
    ("Opportunity", "SBQQ__Quotes2__r"): ("SBQQ__Quote__c", "SBQQ__Opportunity2__c"),
}
# Fields the API may update: (sObject, field) -> (label, max length or None).
UPDATEABLE: dict[tuple[str, str], tuple[str, int | None]] = {
    ("Opportunity", "Name"): ("Name", 120),
    ("Opportunity", "StageName"): ("Stage", 255),
    ("Opportunity", "pshub_Service_Line__c"): ("pshub Service Line", 255),
    ("Opportunity", "pshub_Project_Code__c"): ("pshub Project Code", 80),
    ("Opportunity", "pshub_Project_Ids__c"): ("pshub Project Ids", 32_768),
}
KEY_PREFIXES = {
    "Account": "001",
    "Opportunity": "006",
    "Contract": "800",
    "Pricebook2": "01s",
    "SBQQ__Quote__c": "a0A",
    "SBQQ__QuoteLine__c": "a0B",
}
_ID = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _sf_error(status: int, code: str, message: str, fields: Iterable[str] = ()) -> VendorFault:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields:
        entry["fields"] = list(fields)
    return VendorFault(status, [entry])


def _oauth_error(error: str, description: str, status: int = 400) -> VendorFault:
    return VendorFault(status, {"error": error, "error_description": description})


def _stamp(moment: float) -> str:
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("+0000", "+00:00"))


def credentials_for_local(connection: Connection) -> dict[str, str]:
    """A throwaway connected-app key pair for the local org (JWT bearer): nothing real.

    The private key is generated here, for this run; the fake built with these
    credentials holds its public half, as a connected app holds the certificate.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    tag = hashlib.sha256(connection.id.encode()).hexdigest()[:12]
    return {
        "consumer_key": f"localdemo-3MVG9{tag}",
        "username": f"localdemo-integration@{connection.id}.example",
        # Text before a PEM block is allowed (RFC 7468): it marks the key as a local throwaway.
        "private_key": f"localdemo- throwaway key for the local Salesforce fake\n{pem}",
    }


@dataclass(frozen=True)
class _Subquery:
    relationship: str
    fields: tuple[str, ...]
    order: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class _Condition:
    field: str
    operator: str
    value: Any  # str | float | bool | None | datetime
    literal: str


@dataclass(frozen=True)
class _Query:
    sobject: str
    fields: tuple[str | _Subquery, ...]
    where: tuple[_Condition, ...]
    order: tuple[tuple[str, bool], ...]  # (field, ascending)
    limit: int | None


class _Malformed(Exception):
    pass


def _split_top(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` outside parentheses and quotes."""
    parts, depth, quoted, start, index = [], 0, False, 0, 0
    upper = text.upper()
    while index < len(text):
        char = text[index]
        if char == "'" and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and upper.startswith(separator, index):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return parts


_REST = re.compile(
    r"^(?P<sobject>\w+)(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?$",
    re.IGNORECASE | re.DOTALL,
)
_COMPARISON = re.compile(r"^(?P<field>[\w.]+)\s*(?P<op>=|!=|>=|<=|>|<)\s*(?P<value>.+)$", re.DOTALL)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})$")


def _parse(soql: str) -> _Query:
    text = " ".join(soql.split())
    # The FROM outside parentheses is the query's own (a subquery has its own inside them).
    head = _split_top(text, " FROM ")
    if len(head) != 2 or not head[0].upper().startswith("SELECT "):
        raise _Malformed("unexpected token: the query is not SELECT ... FROM ...")
    match = _REST.match(head[1].strip())
    if match is None:
        raise _Malformed("unexpected token: the query is not SELECT ... FROM ... [WHERE] [ORDER BY] [LIMIT]")
    items: list[str | _Subquery] = []
    for raw in _split_top(head[0][len("SELECT ") :], ","):
        item = raw.strip()
        if item.startswith("(") and item.endswith(")"):
            inner = _parse(item[1:-1])
            if inner.where or inner.limit is not None or any(isinstance(f, _Subquery) for f in inner.fields):
                raise _Malformed("unexpected token: a subquery here takes a select list and ORDER BY only")
            items.append(_Subquery(inner.sobject, tuple(str(f) for f in inner.fields), inner.order))
        elif re.fullmatch(r"[\w.]+", item):
            items.append(item)
        else:
            raise _Malformed(f"unexpected token: '{item[:40]}'")
    where = tuple(
        _condition(part) for part in _split_top(match.group("where") or "", " AND ") if part.strip()
    )
    order = tuple(_ordering(part) for part in _split_top(match.group("order") or "", ",") if part.strip())
    limit = int(match.group("limit")) if match.group("limit") else None
    return _Query(match.group("sobject"), tuple(items), where, order, limit)


def _condition(text: str) -> _Condition:
    match = _COMPARISON.match(text.strip())
    if match is None:
        raise _Malformed(f"unexpected token: '{text.strip()[:40]}'")
    literal = match.group("value").strip()
    value: Any
    if literal.startswith("'") and literal.endswith("'") and len(literal) >= 2:
        value = literal[1:-1].replace("\\'", "'")
    elif literal.lower() in {"true", "false"}:
        value = literal.lower() == "true"
    elif literal.lower() == "null":
        value = None
    elif _DATETIME.match(literal):
        value = datetime.fromisoformat(literal.replace("Z", "+00:00"))
    elif re.fullmatch(r"-?\d+(?:\.\d+)?", literal):
        value = float(literal)
    else:
        raise _Malformed(f"unexpected token: '{literal[:40]}'")
    return _Condition(match.group("field"), match.group("op"), value, literal)


def _ordering(text: str) -> tuple[str, bool]:
    words = text.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in {"ASC", "DESC"}):
        raise _Malformed(f"unexpected token: '{text.strip()[:40]}'")
    return words[0], len(words) == 1 or words[1].upper() == "ASC"


class SalesforceFake(FakeApi):
    platform = "salesforce"

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
        seeded: bool = True,
        api_max: int = 100_000,
        page_size: int = 2000,
        rate_per_s: float | None = None,
        burst: int = 50,
        without: Iterable[str] = (),
    ) -> None:
        """``without``: what this org lacks, ``SBQQ__Quote__c`` (no CPQ) or ``Object.Field``
        (a custom field not deployed); queries and updates naming them are refused."""
        super().__init__(rate_per_s=rate_per_s, burst=burst)
        self.connection = connection
        missing = set(without)
        self._fields: dict[str, tuple[str, ...]] = {
            sobject: tuple(f for f in names if f"{sobject}.{f}" not in missing)
            for sobject, names in FIELDS.items()
            if sobject not in missing
        }
        self.organization_id = connection.options.get("organization_id") or DEFAULT_ORG
        self._clock = clock
        self._consumer_key = credentials.get("consumer_key")
        self._username = credentials.get("username")
        self._public_key = self._public_key_of(credentials.get("private_key"))
        self._client_id = credentials.get("client_id")
        self._client_secret = credentials.get("client_secret")
        self._sessions: dict[str, bool] = {}  # access token -> still valid
        self.instance_url: str | None = None  # what the token endpoint names; None: this fake's own URL
        self.lock_project_code = True  # the org's validation rule on pshub_Project_Code__c
        self.api_used = 0
        self.api_max = api_max
        self.page_size = page_size
        self._cursors: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._cursor_numbers = itertools.count(1)
        self._record_numbers = itertools.count(1)
        self._records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in FIELDS}
        if seeded:
            self._seed()

    credentials_for_local = staticmethod(credentials_for_local)

    # -- controls (tests and demos) -------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (a session timeout)."""
        with self.lock:
            self._sessions = dict.fromkeys(self._sessions, False)

    def tokens_issued(self) -> int:
        with self.lock:
            return len(self._sessions)

    def set_api_usage(self, used: int) -> None:
        """API requests already spent in the rolling 24 h (``api_max`` spent: 403 for everyone)."""
        with self.lock:
            self.api_used = used

    def add_record(self, sobject: str, values: Mapping[str, Any]) -> str:
        """Put a record in the org as a user would; returns its 18-character id."""
        with self.lock:
            unknown = set(values) - set(FIELDS[sobject])
            if unknown:
                raise ValueError(f"{sobject} has no field(s) {sorted(unknown)}")
            record_id = values.get("Id") or self._new_id(sobject)
            stamp = _stamp(self._clock())
            record = dict.fromkeys(self._fields.get(sobject, ()))
            record.update(
                {"IsDeleted": False, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}
            )
            record.update({k: v for k, v in values.items() if k in record})  # what the org lacks is not kept
            record["Id"] = record_id
            self._records[sobject][record_id[:15]] = record
            return str(record_id)

    def update_record(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        """Change a record as a user would in the org (a contract set back to draft, say)."""
        with self.lock:
            unknown = set(values) - set(FIELDS[sobject])
            if unknown:
                raise ValueError(f"{sobject} has no field(s) {sorted(unknown)}")
            found = self._records[sobject].get(record_id[:15])
            if found is None:
                raise KeyError(f"no {sobject} {record_id}")
            found.update(values)
            stamp = _stamp(self._clock())
            found["LastModifiedDate"] = found["SystemModstamp"] = stamp

    def record(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._records[sobject].get(record_id[:15])
            return dict(found) if found is not None else None

    def records(self) -> dict[str, Any]:
        """The opportunities as the demo prints them: no amounts, no personal data."""
        opportunities = []
        for record in self._records["Opportunity"].values():
            account = self._records["Account"].get((record.get("AccountId") or "")[:15]) or {}
            contract = self._records["Contract"].get((record.get("ContractId") or "")[:15]) or {}
            try:
                ids = json.loads(record.get("pshub_Project_Ids__c") or "{}")
            except ValueError:
                ids = {}
            opportunities.append(
                {
                    "native_id": record["Id"],
                    "name": record.get("Name"),
                    "stage": record.get("StageName"),
                    "client": account.get("Name"),
                    "billing_model": contract.get("pshub_Billing_Model__c"),
                    "linked_project": record.get("pshub_Project_Code__c"),
                    "linked_ids": ids if isinstance(ids, dict) else {},
                }
            )
        return {"opportunities": opportunities}

    def local_options(self) -> dict[str, str]:
        """The org's My Domain and its login host (the JWT bearer token endpoint) are both here."""
        return {"base_url": self.base_url, "login_url": self.base_url}

    # -- gates ------------------------------------------------------------------------------------
    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        if not request.path.startswith("/services/data/"):
            return None
        header = request.header("Authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not self._sessions.get(token):
            return FakeResponse(
                401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            )
        if self.api_used >= self.api_max:
            return FakeResponse(
                403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
            )
        self.api_used += 1
        return None

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        # Salesforce has no per-second quota; too many long-running requests at once is its throttle.
        return FakeResponse(
            403,
            [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        )

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(
            503,
            [
                {
                    "message": "Server temporarily unavailable, please try again.",
                    "errorCode": "SERVER_UNAVAILABLE",
                }
            ],
        )

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(
            404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        )

    def handle(self, request: FakeRequest) -> FakeResponse:
        response = super().handle(request)
        if request.path.startswith("/services/data/"):
            with self.lock:
                response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_max}"
        return response

    # -- OAuth 2.0 --------------------------------------------------------------------------------
    @route("POST", r"/services/oauth2/token", "token")
    def _token(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        form = request.form()
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            username = self._check_assertion(form.get("assertion") or "")
        elif grant == "client_credentials":
            if self._client_id is None or form.get("client_id") != self._client_id:
                raise _oauth_error("invalid_client_id", "client identifier invalid")
            if not secrets.compare_digest(form.get("client_secret") or "", self._client_secret or ""):
                raise _oauth_error("invalid_client", "invalid client credentials")
            username = "integration-user"
        else:
            raise _oauth_error("unsupported_grant_type", "grant type not supported")
        token = f"{self.organization_id[:15]}!AQ{secrets.token_urlsafe(48)}"
        self._sessions[token] = True
        user_id = case_safe_id("0055e" + hashlib.sha256(username.encode()).hexdigest()[:10].upper())
        return FakeResponse(
            200,
            {
                "access_token": token,
                "scope": "api",
                "instance_url": self.instance_url or self.base_url,
                "id": f"https://login.salesforce.com/id/{self.organization_id}/{user_id}",
                "token_type": "Bearer",
                "issued_at": str(int(self._clock() * 1000)),
            },
        )

    def _check_assertion(self, assertion: str) -> str:
        import jwt

        if self._public_key is None:
            raise _oauth_error("invalid_client_id", "client identifier invalid")
        try:
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                audience=list(LOGIN_AUDIENCES),
                options={"verify_exp": False, "require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.InvalidAudienceError:
            raise _oauth_error("invalid_grant", "audience is invalid") from None
        except jwt.PyJWTError:
            raise _oauth_error("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self._consumer_key:
            raise _oauth_error("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != self._username:
            raise _oauth_error("invalid_grant", "user hasn't approved this consumer")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._clock():
            raise _oauth_error("invalid_grant", "expired assertion")
        return str(claims["sub"])

    @staticmethod
    def _public_key_of(private_key: str | None) -> Any:
        if not private_key:
            return None
        from cryptography.hazmat.primitives import serialization

        return serialization.load_pem_private_key(private_key.encode(), password=None).public_key()

    # -- the REST API -----------------------------------------------------------------------------
    @route("GET", API + r"/query/?", "query")
    def _query(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._run_query(request, match, include_deleted=False)

    @route("GET", API + r"/queryAll/?", "query_all")
    def _query_all(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._run_query(request, match, include_deleted=True)

    @route("GET", API + r"/(?P<resource>query|queryAll)/(?P<locator>01g\w{15})-(?P<offset>\d+)", "query_more")
    def _query_more(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        version = self._version(match)
        cursor = self._cursors.get(match.group("locator"))
        offset = int(match.group("offset"))
        if cursor is None or offset > len(cursor[1]):
            raise _sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        resource, results = cursor
        return FakeResponse(200, self._page(version, resource, match.group("locator"), results, offset))

    @route("GET", API + r"/sobjects/(?P<sobject>\w+)/(?P<id>[^/]+)", "get_record")
    def _get_record(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        version = self._version(match)
        sobject = self._sobject(match.group("sobject"))
        record = self._find(sobject, match.group("id"))
        wanted = request.param("fields")
        names = [name.strip() for name in wanted.split(",")] if wanted else list(self._fields[sobject])
        checked = [self._field(sobject, name, "sobject of type") for name in names]
        body: dict[str, Any] = {"attributes": self._attributes(version, sobject, record["Id"])}
        body.update({name: record.get(name) for name in checked})
        return FakeResponse(200, body)

    @route("PATCH", API + r"/sobjects/(?P<sobject>\w+)/(?P<id>[^/]+)", "update_record")
    def _update_record(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        self._version(match)
        sobject = self._sobject(match.group("sobject"))
        record = self._find(sobject, match.group("id"))
        try:
            changes = request.json()
        except ValueError:
            raise _sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None
        if not isinstance(changes, dict):
            raise _sf_error(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object"
            )
        for name, value in changes.items():
            if name not in self._fields[sobject]:
                raise _sf_error(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")
            if (sobject, name) not in UPDATEABLE:
                raise _sf_error(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security settings of this field "
                    "and verify that it is read/write for your profile or permission set.",
                    [name],
                )
            label, length = UPDATEABLE[(sobject, name)]
            if value is not None and not isinstance(value, str):
                raise _sf_error(
                    400,
                    "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of string from {type(value).__name__} value for {name}",
                )
            if length is not None and value is not None and len(value) > length:
                raise _sf_error(
                    400,
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {value[:40]}... (max length={length})",
                    [name],
                )
        linked = record.get("pshub_Project_Code__c")
        if (
            self.lock_project_code
            and sobject == "Opportunity"
            and "pshub_Project_Code__c" in changes
            and linked
            and changes["pshub_Project_Code__c"] != linked
        ):
            raise _sf_error(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "The project code cannot change once a project is linked to this opportunity.",
                ["pshub_Project_Code__c"],
            )
        record.update(changes)
        record["LastModifiedDate"] = record["SystemModstamp"] = _stamp(self._clock())
        return FakeResponse(204)

    # -- SOQL ---------------------------------------------------------------------------------------
    def _run_query(
        self, request: FakeRequest, match: re.Match[str], *, include_deleted: bool
    ) -> FakeResponse:
        version = self._version(match)
        soql = request.param("q")
        if not soql:
            raise _sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            query = _parse(soql)
        except _Malformed as malformed:
            raise _sf_error(
                400, "MALFORMED_QUERY", f"\n{soql[:80]}\n^\nERROR at Row:1:Column:1\n{malformed}"
            ) from None
        sobject = self._sobject(query.sobject, status=400, code="INVALID_TYPE")
        self._check_fields(sobject, query)
        rows = [
            record
            for record in self._records[sobject].values()
            if (include_deleted or not record.get("IsDeleted"))
            and all(self._holds(sobject, record, c) for c in query.where)
        ]
        rows = self._sorted(sobject, rows, query.order)
        if query.limit is not None:
            rows = rows[: query.limit]
        results = [self._shape(version, sobject, record, query.fields) for record in rows]
        resource = "queryAll" if include_deleted else "query"
        locator = f"01g5e00000{next(self._cursor_numbers):05d}AAA"
        if len(results) > self.page_size:
            self._cursors[locator] = (resource, results)
        return FakeResponse(200, self._page(version, resource, locator, results, 0))

    def _page(
        self, version: str, resource: str, locator: str, results: list[dict[str, Any]], offset: int
    ) -> dict[str, Any]:
        end = offset + self.page_size
        page: dict[str, Any] = {
            "totalSize": len(results),
            "done": end >= len(results),
            "records": results[offset:end],
        }
        if end < len(results):
            page["nextRecordsUrl"] = f"/services/data/v{version}/{resource}/{locator}-{end}"
        return page

    def _check_fields(self, sobject: str, query: _Query) -> None:
        for item in query.fields:
            if isinstance(item, _Subquery):
                child = CHILDREN.get((sobject, item.relationship))
                if child is None:
                    raise _sf_error(
                        400,
                        "INVALID_TYPE",
                        f"Didn't understand relationship '{item.relationship}' in FROM part of query call.",
                    )
                for name in (*item.fields, *(f for f, _ in item.order)):
                    self._path(child[0], name)
            else:
                self._path(sobject, item)
        for condition in query.where:
            self._path(sobject, condition.field)
            if (
                self._path(sobject, condition.field)[-1] in {"Id", *self._reference_fields(sobject)}
                and isinstance(condition.value, str)
                and not _ID.match(condition.value)
            ):
                raise _sf_error(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {condition.value}")
        for name, _ in query.order:
            self._path(sobject, name)

    def _reference_fields(self, sobject: str) -> set[str]:
        return {field for (owner, _), (field, _) in REFERENCES.items() if owner == sobject}

    def _path(self, sobject: str, path: str) -> list[str]:
        """The field names along ``Relationship.Field``, checked (and spelled as the schema does)."""
        parts = path.split(".")
        names, current = [], sobject
        for index, part in enumerate(parts):
            if index < len(parts) - 1:
                relation = next(
                    (
                        (k[1], v)
                        for k, v in REFERENCES.items()
                        if k[0] == current and k[1].lower() == part.lower()
                    ),
                    None,
                )
                if relation is None:
                    raise _sf_error(400, "INVALID_FIELD", self._no_column(part, current))
                names.append(relation[0])
                current = relation[1][1]
            else:
                names.append(self._field(current, part, "entity"))
        return names

    def _field(self, sobject: str, name: str, noun: str) -> str:
        for known in self._fields[sobject]:
            if known.lower() == name.lower():
                return known
        raise _sf_error(400, "INVALID_FIELD", self._no_column(name, sobject, noun))

    @staticmethod
    def _no_column(name: str, sobject: str, noun: str = "entity") -> str:
        return (
            f"No such column '{name}' on {noun} '{sobject}'. If you are attempting to use a custom field, be sure "
            "to append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
            "the appropriate names."
        )

    def _value(self, sobject: str, record: dict[str, Any] | None, path: str) -> Any:
        parts = path.split(".")
        current, owner = record, sobject
        for part in parts[:-1]:
            if current is None:
                return None
            relation = next(
                v for k, v in REFERENCES.items() if k[0] == owner and k[1].lower() == part.lower()
            )
            parent_id = current.get(relation[0])
            owner = relation[1]
            current = self._records[owner].get(parent_id[:15]) if parent_id else None
        if current is None:
            return None
        return current.get(self._field(owner, parts[-1], "entity"))

    def _holds(self, sobject: str, record: dict[str, Any], condition: _Condition) -> bool:
        actual = self._value(sobject, record, condition.field)
        wanted = condition.value
        name = self._path(sobject, condition.field)[-1]
        if isinstance(wanted, str) and (name == "Id" or name in self._reference_fields(sobject)):
            actual, wanted = (actual or "")[:15], wanted[:15]
        elif isinstance(wanted, datetime):
            actual = _moment(actual) if actual else None
        if condition.operator == "=":
            return bool(actual == wanted)
        if condition.operator == "!=":
            return bool(actual != wanted)
        if actual is None or wanted is None:
            return False
        return bool(COMPARE[condition.operator](actual, wanted))

    def _sorted(
        self, sobject: str, rows: list[dict[str, Any]], order: tuple[tuple[str, bool], ...]
    ) -> list[dict[str, Any]]:
        for name, ascending in reversed(order):  # stable sorts, last key first
            rows = sorted(rows, key=self._sorter(sobject, name), reverse=not ascending)
        return rows

    def _sorter(self, sobject: str, name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
        def key(record: dict[str, Any]) -> tuple[bool, Any]:
            value = self._value(sobject, record, name)
            return value is not None, "" if value is None else value  # nulls first, as SOQL sorts ASC

        return key

    def _shape(
        self, version: str, sobject: str, record: dict[str, Any], items: tuple[str | _Subquery, ...]
    ) -> dict[str, Any]:
        shaped: dict[str, Any] = {"attributes": self._attributes(version, sobject, record["Id"])}
        for item in items:
            if isinstance(item, _Subquery):
                child_type, reference = CHILDREN[(sobject, item.relationship)]
                children = [
                    child
                    for child in self._records[child_type].values()
                    if (child.get(reference) or "")[:15] == record["Id"][:15] and not child.get("IsDeleted")
                ]
                children = self._sorted(child_type, children, item.order)
                key = next(
                    k[1] for k in CHILDREN if k[0] == sobject and k[1].lower() == item.relationship.lower()
                )
                shaped[key] = (
                    {
                        "totalSize": len(children),
                        "done": True,
                        "records": [
                            self._shape(version, child_type, child, item.fields) for child in children
                        ],
                    }
                    if children
                    else None
                )
                continue
            self._place(version, sobject, record, item, shaped)
        return shaped

    def _place(
        self, version: str, sobject: str, record: dict[str, Any], path: str, into: dict[str, Any]
    ) -> None:
        """Put ``path``'s value into ``into``, parents as nested records (null when unset)."""
        parts = path.split(".")
        if len(parts) == 1:
            into[self._field(sobject, path, "entity")] = record.get(self._field(sobject, path, "entity"))
            return
        (_, relationship), (reference, parent_type) = next(
            (k, v) for k, v in REFERENCES.items() if k[0] == sobject and k[1].lower() == parts[0].lower()
        )
        parent_id = record.get(reference)
        parent = self._records[parent_type].get(parent_id[:15]) if parent_id else None
        if parent is None:
            into[relationship] = None
            return
        nested = into.get(relationship) or {
            "attributes": self._attributes(version, parent_type, parent["Id"])
        }
        into[relationship] = nested
        self._place(version, parent_type, parent, ".".join(parts[1:]), nested)

    # -- helpers ----------------------------------------------------------------------------------
    def _version(self, match: re.Match[str]) -> str:
        version = match.group("version")
        if not 20 <= float(version) <= MAX_VERSION:
            raise _sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return version

    def _sobject(self, name: str, *, status: int = 404, code: str = "NOT_FOUND") -> str:
        for known in self._fields:
            if known.lower() == name.lower():
                return known
        if code == "NOT_FOUND":
            raise _sf_error(status, code, "The requested resource does not exist")
        raise _sf_error(status, code, f"sObject type '{name}' is not supported.")

    def _find(self, sobject: str, record_id: str) -> dict[str, Any]:
        found = self._records[sobject].get(record_id[:15]) if _ID.match(record_id) else None
        if found is None or found.get("IsDeleted"):
            raise _sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return found

    @staticmethod
    def _attributes(version: str, sobject: str, record_id: str) -> dict[str, str]:
        return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}

    def _new_id(self, sobject: str) -> str:
        number = next(self._record_numbers)
        tail = hashlib.sha256(f"{self.connection.id}:{sobject}:{number}".encode()).hexdigest()[:5].upper()
        return case_safe_id(f"{KEY_PREFIXES[sobject]}5e0000{number:03d}{tail[:3]}")

    def _seed(self) -> None:
        """The deal behind the sample Outbound Message, as the org holds it (see ``pshub_local.platforms.seed``)."""
        created = "2026-10-02T09:30:00.000+0000"
        won = "2026-11-20T15:02:11.000+0000"
        audit = {"IsDeleted": False, "CreatedDate": created, "LastModifiedDate": won, "SystemModstamp": won}
        price_book = case_safe_id("01s5e000000PsFY")
        self.add_record(
            "Account",
            {
                **audit,
                "Id": seed.SALESFORCE_ACCOUNT_ID,
                "Name": "Acme Consulting Ltd",
                "Type": "Customer - Direct",
                "Website": "https://www.acme-consulting.example",
                "BillingStreet": "1 Example Street",
                "BillingCity": "London",
                "BillingPostalCode": "EC1A 1AA",
                "BillingCountry": "United Kingdom",
                "BillingCountryCode": "GB",
                "CurrencyIsoCode": "USD",
                "pshub_Legal_Name__c": "Acme Consulting Ltd",
                "pshub_Segment__c": "enterprise",
                "pshub_Legal_Entity__c": "ACME-UK",
                "pshub_Tax_Id__c": "GB999999973",
                "pshub_Tax_Jurisdiction__c": "GB",
            },
        )
        self.add_record(
            "Contract",
            {
                **audit,
                "Id": seed.SALESFORCE_CONTRACT_ID,
                "AccountId": seed.SALESFORCE_ACCOUNT_ID,
                "ContractNumber": "00000101",
                "Status": "Draft",
                "StatusCode": "Draft",
                "StartDate": "2026-12-01",
                "ContractTerm": 12,
                "EndDate": "2027-11-30",
                "CurrencyIsoCode": "USD",
                "pshub_Billing_Model__c": "Time and Materials",
            },
        )
        self.add_record(
            "Opportunity",
            {
                **audit,
                "Id": seed.SALESFORCE_OPPORTUNITY_ID,
                "Name": "Acme Consulting Ltd - Professional Services Retainer FY27",
                "StageName": "Closed Won",
                "Amount": 12500.0,
                "CurrencyIsoCode": "USD",
                "CloseDate": "2026-11-20",
                "OwnerId": "0055e000003OwNrAAK",
                "IsWon": True,
                "IsClosed": True,
                "AccountId": seed.SALESFORCE_ACCOUNT_ID,
                "ContractId": seed.SALESFORCE_CONTRACT_ID,
                "pshub_Service_Line__c": "consulting",
            },
        )
        self.add_record(
            "Pricebook2",
            {**audit, "Id": price_book, "Name": "ACME-UK Professional Services FY27 (USD)", "IsActive": True},
        )
        self.add_record(
            "SBQQ__Quote__c",
            {
                **audit,
                "Id": seed.SALESFORCE_RATE_CARD_ID,
                "Name": "Q-00042",
                "SBQQ__Opportunity2__c": seed.SALESFORCE_OPPORTUNITY_ID,
                "SBQQ__Account__c": seed.SALESFORCE_ACCOUNT_ID,
                "SBQQ__Primary__c": True,
                "SBQQ__Status__c": "Approved",
                "SBQQ__StartDate__c": "2026-12-01",
                "SBQQ__PaymentTerms__c": "Net 30",
                "SBQQ__NetAmount__c": 12500.0,
                "CurrencyIsoCode": "USD",
                "SBQQ__PriceBook__c": price_book,
            },
        )
        roles = [
            ("Partner", 410.0),
            ("Managing Consultant", 300.0),
            ("Senior Consultant", 240.0),
            ("Consultant", 175.0),
        ]
        for number, (role, rate) in enumerate(roles, start=1):
            self.add_record(
                "SBQQ__QuoteLine__c",
                {
                    **audit,
                    "Name": f"QL-{number:07d}",
                    "SBQQ__Quote__c": seed.SALESFORCE_RATE_CARD_ID,
                    "SBQQ__Number__c": float(number),
                    "SBQQ__ProductName__c": role,
                    "SBQQ__Quantity__c": 1.0,
                    "SBQQ__ListPrice__c": rate,
                    "SBQQ__NetPrice__c": rate,
                    "CurrencyIsoCode": "USD",
                },
            )

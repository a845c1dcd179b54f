"""A HubSpot portal over HTTP, for the local runtime and the tests: what the CRM connector calls.

It speaks CRM v3 as a portal does: objects read by id with ``properties`` and
``associations`` (``GET /crm/v3/objects/{deals|companies|quotes}/{id}``), deals updated
(``PATCH``, 200 with the object), line items and quotes read in batches of at most 100
(``POST .../batch/read``; 207 with ``errors`` for ids that are gone), the CRM search
(``POST .../search``: ``filterGroups`` on a property, sorts, ``limit`` up to 200,
``after`` paging, and no further than 10,000 results), and the OAuth v1 token endpoint
(``POST /oauth/v1/token``, the refresh-token grant; access tokens last 1800 s by this
fake's clock). A private app's static token is accepted as well.

Refusals come as HubSpot words them (``{"status": "error", "message", "correlationId",
"category", ...}``): ``INVALID_AUTHENTICATION`` / ``EXPIRED_AUTHENTICATION`` (401),
``MISSING_SCOPES`` (403), ``OBJECT_NOT_FOUND`` (404), ``VALIDATION_ERROR`` (400, a
property that does not exist or is read-only, a value over 65,536 characters), and 429
``RATE_LIMIT`` with its ``policyName`` (``TEN_SECONDLY_ROLLING`` under ``set_rate``,
``DAILY`` once ``set_daily_usage`` spends the allowance). Every CRM answer carries the
``X-HubSpot-RateLimit-*`` headers (the daily ones only for a private app's token, as
HubSpot does).

Seeded with the deal behind the sample webhook (``pshub_local.platforms.seed``),
expressed as the portal holds it: the company, the won deal with pshub's custom deal
properties, its approved quote and one line item per role.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pshub.connections import Connection
from pshub_local.fakes import FakeApi, FakeRequest, FakeResponse, VendorFault, route
from pshub_local.platforms import seed

TOKEN_LIFETIME_S = 1800
TEXT_MAX = 65_536
DEFAULTS = ("createdate", "hs_lastmodifieddate", "hs_object_id")
PROPERTIES: dict[str, frozenset[str]] = {
    "deals": frozenset({
        *DEFAULTS, "dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate",
        "hubspot_owner_id", "pshub_service_line", "pshub_billing_model", "pshub_contract_start_date",
        "pshub_contract_end_date", "pshub_payment_terms_days", "pshub_project_code", "pshub_project_ids",
        "pshub_retainer_fee", "pshub_retainer_hours", "pshub_overage_rate", "pshub_unused_hours",
        "pshub_rollover_cap_hours", "pshub_expense_markup", "pshub_milestone_acceptance", "pshub_requires_po",
        "pshub_purchase_order", "pshub_budget_cap", "pshub_change_order_status", "pshub_change_order_number",
        "pshub_change_order_effective_date", "pshub_change_order_description", "pshub_change_order_value",
        "pshub_change_order_staffing", "pshub_change_order_quote_id",
    }),
    "companies": frozenset({
        *DEFAULTS, "name", "domain", "lifecyclestage", "address", "address2", "city", "state", "zip", "country",
        "phone", "pshub_legal_name", "pshub_segment", "pshub_legal_entity", "pshub_tax_id",
        "pshub_tax_jurisdiction",
    }),
    "quotes": frozenset({*DEFAULTS, "hs_title", "hs_status", "hs_currency", "hs_quote_amount", "hs_expiration_date"}),
    "line_items": frozenset({
        *DEFAULTS, "name", "price", "quantity", "amount", "hs_position_on_quote", "hs_line_item_currency_code",
    }),
}  # fmt: skip
READ_ONLY = frozenset(DEFAULTS)
# Association types as v3 names them; the key v3 answers under (line items: with a space).
ASSOCIATION_KEYS = {
    "companies": "companies",
    "deals": "deals",
    "quotes": "quotes",
    "line_items": "line items",
}
SCOPES = frozenset({
    "crm.objects.deals.read", "crm.objects.deals.write", "crm.objects.companies.read",
    "crm.objects.quotes.read", "crm.objects.line_items.read",
})  # fmt: skip
_READ_SCOPE = {
    "deals": "crm.objects.deals.read",
    "companies": "crm.objects.companies.read",
    "quotes": "crm.objects.quotes.read",
    "line_items": "crm.objects.line_items.read",
}
DATED = frozenset({"hs_lastmodifieddate", "createdate", "closedate"})
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "NEQ": operator.ne,
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}
SEARCH_OPERATORS = frozenset({"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY"})


def _iso(moment: float) -> str:
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _millis(value: str) -> int:
    if value.isdigit():
        return int(value)
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def credentials_for_local(connection: Connection, *, oauth: bool = False) -> dict[str, str]:
    """Fake credentials for the local portal: a private app token, or (``oauth``) a public
    app's client id, secret and refresh token. Nothing real."""
    if oauth:
        return {
            "client_id": f"localdemo-{uuid.uuid4()}",
            "client_secret": f"localdemo-{secrets.token_hex(16)}",
            "refresh_token": f"localdemo-na1-{uuid.uuid4()}",
        }
    return {"access_token": f"localdemo-pat-na1-{uuid.uuid4()}"}


class HubSpotFake(FakeApi):
    platform = "hubspot"

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
        seeded: bool = True,
        scopes: Iterable[str] = SCOPES,
        daily_limit: int = 250_000,
        ten_secondly_limit: int = 190,
        rate_per_s: float | None = None,
        burst: int = 50,
        without: Iterable[str] = (),
    ) -> None:
        """``without``: properties this portal lacks (``deals.pshub_project_code``: not created yet)."""
        super().__init__(rate_per_s=rate_per_s, burst=burst)
        self.connection = connection
        missing = set(without)
        self._properties = {
            kind: frozenset(p for p in names if f"{kind}.{p}" not in missing)
            for kind, names in PROPERTIES.items()
        }
        self.portal_id = int(connection.options.get("portal_id") or "24681357")
        self._clock = clock
        self._private_token = credentials.get("access_token")
        self._client_id = credentials.get("client_id")
        self._client_secret = credentials.get("client_secret")
        self._refresh_token = credentials.get("refresh_token")
        self._access: dict[str, float] = {}  # OAuth access token -> expires at (epoch s, this fake's clock)
        self.scopes = frozenset(scopes)
        self.daily_limit = daily_limit
        self.daily_used = 0
        self.ten_secondly_limit = ten_secondly_limit
        self._recent: deque[float] = deque()
        self.search_cap = 10_000
        self._objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in PROPERTIES}
        self._links: dict[
            tuple[str, str], list[tuple[str, str, str]]
        ] = {}  # (type, id) -> (to type, id, label)
        self._ids = itertools.count(1)
        if seeded:
            self._seed()

    credentials_for_local = staticmethod(credentials_for_local)

    # -- controls (tests and demos) -------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every OAuth access token issued so far has expired (a private app's token is not affected)."""
        with self.lock:
            now = self._clock()
            self._access = {token: min(expiry, now - 1) for token, expiry in self._access.items()}

    def tokens_issued(self) -> int:
        with self.lock:
            return len(self._access)

    def set_daily_usage(self, used: int) -> None:
        with self.lock:
            self.daily_used = used

    def add_object(
        self,
        object_type: str,
        properties: Mapping[str, str | None],
        *,
        object_id: str | None = None,
        associations: Iterable[tuple[str, str, str]] = (),
        updated_at: str | None = None,
        created_at: str | None = None,
    ) -> str:
        """Put an object in the portal as a user would: ``associations`` are (to type, to id,
        association type), recorded both ways. Returns its id."""
        with self.lock:
            unknown = set(properties) - PROPERTIES[object_type]
            if unknown:
                raise ValueError(f"{object_type} has no propert(ies) {sorted(unknown)}")
            identifier = object_id or str(40_000_000_000 + next(self._ids))
            stamp = updated_at or _iso(self._clock())
            created = created_at or stamp
            values = dict.fromkeys(self._properties[object_type] - READ_ONLY)
            values.update(
                {k: v for k, v in properties.items() if k in values}
            )  # what the portal lacks is not kept
            values.update({"hs_object_id": identifier, "createdate": created, "hs_lastmodifieddate": stamp})
            self._objects[object_type][identifier] = {
                "id": identifier,
                "properties": values,
                "createdAt": created,
                "updatedAt": stamp,
                "archived": False,
            }
            for to_type, to_id, label in associations:
                self._links.setdefault((object_type, identifier), []).append((to_type, to_id, label))
                base, unlabeled, _ = label.partition("_unlabeled")
                ends = base.split("_to_")
                reverse = f"{ends[1]}_to_{ends[0]}{unlabeled}" if len(ends) == 2 else label
                self._links.setdefault((to_type, to_id), []).append((object_type, identifier, reverse))
            return identifier

    def properties(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._objects[object_type].get(object_id)
            return dict(found["properties"]) if found is not None else None

    def records(self) -> dict[str, Any]:
        """The deals as the demo prints them: no amounts, no personal data."""
        opportunities = []
        for identifier, deal in self._objects["deals"].items():
            props = deal["properties"]
            company_id = next(
                (i for t, i, label in self._links.get(("deals", identifier), []) if t == "companies"), None
            )
            company = self._objects["companies"].get(company_id or "") or {"properties": {}}
            try:
                ids = json.loads(props.get("pshub_project_ids") or "{}")
            except ValueError:
                ids = {}
            opportunities.append(
                {
                    "native_id": identifier,
                    "name": props.get("dealname"),
                    "stage": props.get("dealstage"),
                    "client": company["properties"].get("name"),
                    "billing_model": props.get("pshub_billing_model"),
                    "linked_project": props.get("pshub_project_code"),
                    "linked_ids": ids if isinstance(ids, dict) else {},
                }
            )
        return {"opportunities": opportunities}

    # -- gates ------------------------------------------------------------------------------------
    def _error(self, status: int, category: str, message: str, **extra: Any) -> VendorFault:
        return VendorFault(
            status,
            {
                "status": "error",
                "message": message,
                "correlationId": str(uuid.uuid4()),
                "category": category,
                **extra,
            },
        )

    def _body(self, category: str, message: str, **extra: Any) -> dict[str, Any]:
        return {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        if not request.path.startswith("/crm/"):
            return None
        header = request.header("Authorization") or ""
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        if self._private_token is not None and secrets.compare_digest(token, self._private_token):
            kind = "private"
        elif token in self._access:
            expired_for = self._clock() - self._access[token]
            if expired_for >= 0:
                return FakeResponse(
                    401,
                    self._body(
                        "EXPIRED_AUTHENTICATION",
                        f"The OAuth token used to make this call expired {int(expired_for // 3600)} hour(s) ago.",
                        context={},
                    ),
                )
            kind = "oauth"
        else:
            return FakeResponse(
                401,
                self._body(
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                ),
            )
        if kind == "private" and self.daily_used >= self.daily_limit:
            return FakeResponse(
                429,
                {
                    "status": "error",
                    "message": "You have reached your daily limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": str(uuid.uuid4()),
                    "policyName": "DAILY",
                    "requestId": str(uuid.uuid4()),
                },
                self._limit_headers(kind, remaining=0),
            )
        self.daily_used += 1 if kind == "private" else 0
        self._recent.append(self._clock())
        return None

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        return FakeResponse(
            429,
            {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
                "groupName": f"publicapi:private-app:{self.portal_id}",
            },
            self._limit_headers(self._kind(request), remaining=0),
        )

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(503, self._body("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."))

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(
            404, self._body("OBJECT_NOT_FOUND", f"No route for {request.method} {request.path}")
        )

    def handle(self, request: FakeRequest) -> FakeResponse:
        response = super().handle(request)
        if request.path.startswith("/crm/") and "X-HubSpot-RateLimit-Max" not in response.headers:
            with self.lock:
                response.headers.update(self._limit_headers(self._kind(request)))
        return response

    def _kind(self, request: FakeRequest) -> str:
        header = request.header("Authorization") or ""
        return "private" if self._private_token and header == f"Bearer {self._private_token}" else "oauth"

    def _limit_headers(self, kind: str, remaining: int | None = None) -> dict[str, str]:
        now = self._clock()
        while self._recent and self._recent[0] <= now - 10:
            self._recent.popleft()
        left = max(0, self.ten_secondly_limit - len(self._recent)) if remaining is None else remaining
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(self.ten_secondly_limit),
            "X-HubSpot-RateLimit-Remaining": str(left),
            "X-HubSpot-RateLimit-Secondly": str(self.ten_secondly_limit // 10),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(min(left, self.ten_secondly_limit // 10)),
        }
        if kind == "private":  # OAuth calls carry no daily headers
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily_limit - self.daily_used))
        return headers

    def _require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise self._error(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read more about required "
                "scopes here: https://developers.hubspot.com/scopes.",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )

    # -- OAuth v1 ---------------------------------------------------------------------------------
    @route("POST", r"/oauth/v1/token", "token")
    def _token(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        form = request.form()

        def refuse(status: str, message: str) -> VendorFault:
            return VendorFault(
                400,
                {
                    "status": status,
                    "message": message,
                    "correlationId": str(uuid.uuid4()),
                    "requestId": str(uuid.uuid4()),
                },
            )

        if form.get("grant_type") != "refresh_token":
            raise refuse("BAD_GRANT_TYPE", "missing or invalid grant type")
        if self._client_id is None or form.get("client_id") != self._client_id:
            raise refuse("BAD_CLIENT_ID", "missing or invalid client_id")
        if not secrets.compare_digest(form.get("client_secret") or "", self._client_secret or ""):
            raise refuse("BAD_CLIENT_SECRET", "missing or invalid client_secret")
        if not secrets.compare_digest(form.get("refresh_token") or "", self._refresh_token or ""):
            raise refuse("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        token = f"CJ{secrets.token_urlsafe(64)}"
        self._access[token] = self._clock() + TOKEN_LIFETIME_S
        return FakeResponse(
            200,
            {
                "token_type": "bearer",
                "refresh_token": self._refresh_token,
                "access_token": token,
                "expires_in": TOKEN_LIFETIME_S,
            },
        )

    # -- CRM v3 objects -------------------------------------------------------------------------
    @route("GET", r"/crm/v3/objects/deals/(?P<id>[^/]+)", "get_deal")
    def _get_deal(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._get("deals", request, match.group("id"))

    @route("GET", r"/crm/v3/objects/companies/(?P<id>[^/]+)", "get_company")
    def _get_company(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._get("companies", request, match.group("id"))

    @route("GET", r"/crm/v3/objects/quotes/(?P<id>[^/]+)", "get_quote")
    def _get_quote(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._get("quotes", request, match.group("id"))

    @route("PATCH", r"/crm/v3/objects/deals/(?P<id>[^/]+)", "update_deal")
    def _update_deal(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        self._require("crm.objects.deals.write")
        found = self._find("deals", match.group("id"))
        body = self._json(request)
        changes = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(changes, dict):
            raise self._error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1: properties is required")
        problems = []
        for name, value in changes.items():
            if name not in self._properties["deals"]:
                problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            elif name in READ_ONLY:
                problems.append(
                    (name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
                )
            elif value is not None and not isinstance(value, str | int | float | bool):
                problems.append((name, "INVALID_OPTION", f'"{name}" must be a string'))
            elif isinstance(value, str) and len(value) > TEXT_MAX:
                problems.append((name, "INVALID_LENGTH", f'"{name}" is longer than {TEXT_MAX} characters'))
        if problems:
            detail = [
                {
                    "isValid": False,
                    "message": text,
                    "error": code,
                    "name": name,
                    "localizedErrorMessage": text,
                }
                for name, code, text in problems
            ]
            raise self._error(
                400,
                "VALIDATION_ERROR",
                f"Property values were not valid: {json.dumps(detail, separators=(',', ':'))}",
            )
        stamp = _iso(self._clock())
        found["properties"].update({k: (None if v is None else str(v)) for k, v in changes.items()})
        found["properties"]["hs_lastmodifieddate"] = found["updatedAt"] = stamp
        return FakeResponse(200, self._shape("deals", found, [*changes, *DEFAULTS], ()))

    @route("POST", r"/crm/v3/objects/line_items/batch/read", "batch_read_line_items")
    def _batch_line_items(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._batch_read("line_items", request)

    @route("POST", r"/crm/v3/objects/quotes/batch/read", "batch_read_quotes")
    def _batch_quotes(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._batch_read("quotes", request)

    @route("POST", r"/crm/v3/objects/deals/search", "search_deals")
    def _search_deals(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._search("deals", request)

    @route("POST", r"/crm/v3/objects/companies/search", "search_companies")
    def _search_companies(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        return self._search("companies", request)

    # -- helpers ----------------------------------------------------------------------------------
    def _json(self, request: FakeRequest) -> Any:
        try:
            return request.json()
        except ValueError:
            raise self._error(400, "VALIDATION_ERROR", "Invalid input JSON: the body is not JSON") from None

    def _find(self, object_type: str, object_id: str) -> dict[str, Any]:
        found = self._objects[object_type].get(object_id)
        if found is None or found["archived"]:
            raise self._error(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [object_id]},
            )
        return found

    def _get(self, object_type: str, request: FakeRequest, object_id: str) -> FakeResponse:
        self._require(_READ_SCOPE[object_type])
        found = self._find(object_type, object_id)
        wanted = [p for p in (request.param("properties") or "").split(",") if p]
        associations = [a for a in (request.param("associations") or "").split(",") if a]
        return FakeResponse(200, self._shape(object_type, found, wanted, associations))

    def _shape(
        self, object_type: str, found: dict[str, Any], wanted: Iterable[str], associations: Iterable[str]
    ) -> dict[str, Any]:
        names = [*DEFAULTS, *(p for p in wanted if p in self._properties[object_type] and p not in DEFAULTS)]
        shaped: dict[str, Any] = {
            "id": found["id"],
            "properties": {name: found["properties"].get(name) for name in names},
            "createdAt": found["createdAt"],
            "updatedAt": found["updatedAt"],
            "archived": False,
        }
        linked: dict[str, Any] = {}
        for kind in associations:
            results = [
                {"id": to_id, "type": label}
                for to_type, to_id, label in self._links.get((object_type, found["id"]), [])
                if to_type == kind
            ]
            if results:
                linked[ASSOCIATION_KEYS.get(kind, kind)] = {"results": results}
        if linked:
            shaped["associations"] = linked
        return shaped

    def _batch_read(self, object_type: str, request: FakeRequest) -> FakeResponse:
        self._require(_READ_SCOPE[object_type])
        body = self._json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in inputs
        ):
            raise self._error(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list of {id}")
        if len(inputs) > 100:
            raise self._error(
                400, "VALIDATION_ERROR", "Batch input is limited to 100 inputs; found " + str(len(inputs))
            )
        started = _iso(self._clock())
        wanted = body.get("properties") or []
        results, missing = [], []
        for item in inputs:
            found = self._objects[object_type].get(item["id"])
            if found is None or found["archived"]:
                missing.append(item["id"])
            else:
                results.append(self._shape(object_type, found, wanted, ()))
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": started,
        }
        if not missing:
            return FakeResponse(200, answer)
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {object_type.upper().rstrip('S')} objects, they may be deleted or not "
                "exist. Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return FakeResponse(207, answer)

    def _search(self, object_type: str, request: FakeRequest) -> FakeResponse:
        self._require(_READ_SCOPE[object_type])
        body = self._json(request)
        if not isinstance(body, dict):
            raise self._error(400, "VALIDATION_ERROR", "Invalid input JSON: the body is not an object")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= 200:
            raise self._error(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
        after_text = str(body.get("after") or "0")
        if not after_text.isdigit():
            raise self._error(400, "VALIDATION_ERROR", "after must be a number")
        after = int(after_text)
        if after + limit > self.search_cap:
            raise self._error(
                400,
                "VALIDATION_ERROR",
                f"Search results are limited to {self.search_cap}: paging past them fails",
            )
        groups = body.get("filterGroups") or []
        candidates = [o for o in self._objects[object_type].values() if not o["archived"]]
        if groups:
            candidates = [o for o in candidates if any(self._matches(object_type, o, g) for g in groups)]
        for sort in reversed(body.get("sorts") or []):
            name, descending = (
                (sort.get("propertyName"), sort.get("direction") == "DESCENDING")
                if isinstance(sort, dict)
                else (str(sort).lstrip("-"), str(sort).startswith("-"))
            )
            if name not in self._properties[object_type]:
                raise self._error(
                    400,
                    "VALIDATION_ERROR",
                    f"There was a problem with the request: unknown sort property {name}",
                )
            candidates.sort(key=self._sorter(name), reverse=descending)
        page = candidates[after : after + limit]
        wanted = body.get("properties") or []
        answer: dict[str, Any] = {
            "total": len(candidates),
            "results": [self._shape(object_type, o, wanted, ()) for o in page],
        }
        if after + limit < len(candidates):
            following = str(after + limit)
            answer["paging"] = {"next": {"after": following, "link": f"?after={following}"}}
        return FakeResponse(200, answer)

    @staticmethod
    def _sorter(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
        def key(found: dict[str, Any]) -> tuple[bool, Any]:
            value = found["properties"].get(name)
            if value is None:
                return False, 0
            return True, _millis(value) if name in DATED else value

        return key

    def _matches(self, object_type: str, found: dict[str, Any], group: Any) -> bool:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise self._error(400, "VALIDATION_ERROR", "filterGroups[].filters must be a list")
        for item in filters:
            name, operator, value = item.get("propertyName"), item.get("operator"), item.get("value")
            if name not in self._properties[object_type] or operator not in SEARCH_OPERATORS:
                raise self._error(
                    400, "VALIDATION_ERROR", f"There was a problem with the request: filter {name} {operator}"
                )
            actual = found["properties"].get(name)
            if operator == "HAS_PROPERTY":
                if actual is None:
                    return False
                continue
            if operator == "NOT_HAS_PROPERTY":
                if actual is not None:
                    return False
                continue
            if actual is None:
                return False
            dated = name in DATED
            left: Any = _millis(actual) if dated else actual
            right: Any = _millis(str(value)) if dated else str(value)
            if not COMPARE[operator](left, right):
                return False
        return True

    def _seed(self) -> None:
        """The deal behind the sample webhook, as the portal holds it (see ``pshub_local.platforms.seed``)."""
        won = "2026-11-20T15:03:00.512Z"  # the closed-won webhook's occurredAt, 1795186980512
        company = seed.HUBSPOT_COMPANY_ID
        deal = seed.HUBSPOT_DEAL_ID
        quote = seed.HUBSPOT_QUOTE_ID
        self.add_object(
            "companies",
            {
                "name": "Harbourline Logistics",
                "domain": "harbourline.example",
                "lifecyclestage": "customer",
                "address": "100 Example Avenue",
                "city": "New York",
                "state": "NY",
                "zip": "10001",
                "country": "United States",
                "pshub_legal_name": "Harbourline Logistics Inc.",
                "pshub_segment": "mid-market",
                "pshub_legal_entity": "ACME-US",
                "pshub_tax_id": "98-7654321",
                "pshub_tax_jurisdiction": "US-NY",
            },
            object_id=company,
            updated_at="2026-09-14T10:00:00.000Z",
        )
        self.add_object(
            "deals",
            {
                "dealname": "Harbourline Logistics - Data Platform Assessment",
                "dealstage": "closedwon",
                "pipeline": "default",
                "amount": "12500",
                "deal_currency_code": "USD",
                "closedate": won,
                "hubspot_owner_id": "81234567",
                "pshub_service_line": "consulting",
                "pshub_billing_model": "time_and_materials",
                "pshub_contract_start_date": "2026-12-01",
                "pshub_contract_end_date": "2027-03-31",
                "pshub_payment_terms_days": "30",
            },
            object_id=deal,
            created_at="2026-10-05T14:12:00.000Z",
            associations=[
                ("companies", company, "deal_to_company"),
                ("companies", company, "deal_to_company_unlabeled"),
            ],
            updated_at=won,
        )
        self.add_object(
            "quotes",
            {
                "hs_title": "ACME-US Consulting 2027 (USD)",
                "hs_status": "APPROVED",
                "hs_currency": "USD",
                "hs_quote_amount": "12500.00",
                "hs_expiration_date": "2026-12-31T00:00:00.000Z",
            },
            object_id=quote,
            associations=[("deals", deal, "quote_to_deal")],
            updated_at="2026-11-18T16:20:00.000Z",
        )
        roles = [
            ("Engagement Partner", "425.00"),
            ("Senior Consultant", "260.00"),
            ("Consultant", "185.00"),
            ("Analyst", "125.00"),
        ]
        for position, (role, price) in enumerate(roles):
            self.add_object(
                "line_items",
                {
                    "name": role,
                    "price": price,
                    "quantity": "1",
                    "hs_position_on_quote": str(position),
                    "hs_line_item_currency_code": "USD",
                },
                object_id=str(6_190_311_001 + position),
                associations=[("quotes", quote, "line_item_to_quote")],
                updated_at="2026-11-18T16:20:00.000Z",
            )

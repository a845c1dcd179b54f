"""``HarvestFake``: Harvest API v2 time entries on 127.0.0.1, for what pshub's change feed reads.

Faithful to Harvest's documentation (https://help.getharvest.com/api-v2/) where it speaks:

- every request needs ``Authorization: Bearer <token>``, ``Harvest-Account-Id`` and a
  ``User-Agent`` (400 without one: introduction/overview/general);
- ``GET /v2/time_entries`` filters by ``updated_since`` (ISO 8601), ``from``/``to``
  (``spent_date``, inclusive), ``user_id``, ``project_id``, ``client_id``, ``task_id``,
  ``is_billed`` and ``is_running``, and sorts by ``spent_date``, newest first (ties: newest
  id first, as the documented example lists them); ``per_page`` runs from 1 to 2000 (the
  default), beyond which Harvest answers 422 (introduction/overview/pagination);
- the answer carries ``per_page``, ``total_pages``, ``total_entries``, ``next_page``,
  ``previous_page``, ``page`` and ``links`` (``first``, ``next``, ``previous``, ``last``);
  ``links.next`` is a cursor URL, and on a cursor page ``page``, ``next_page`` and
  ``previous_page`` are null except on the last page, as the pagination page describes;
- 100 requests per 15 seconds per account, then 429 with ``Retry-After`` (seconds).

Unverified, and chosen here: the wording of the error bodies (``{"error",
"error_description"}`` for auth, ``{"message"}`` for validation); a missing or unknown
``Harvest-Account-Id`` answered 401; ``updated_since`` inclusive; the cursor keeps the
query's filters in the next URL (Harvest's documented example has none to keep). Harvest
stamps ``created_at``/``updated_at`` in whole UTC seconds (``2017-06-27T16:47:14Z``).

Controls for tests and demos: ``add_time_entry``, ``update_time_entry`` (bumps
``updated_at``), ``delete_time_entry``, ``clear``, ``freeze``/``advance`` (the fake's clock,
which stamps records and runs the rate window), plus ``FakeApi``'s faults and call log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlencode

from pshub.connections import Connection
from pshub_local.fakes.server import FakeApi, FakeRequest, FakeResponse, VendorFault, route

_PREFIX = "/v2"
MAX_PER_PAGE = 2000
RATE_LIMIT = 100  # requests
RATE_WINDOW_S = 15.0
_FIRST_ID = 636_709_354
_FILTERS = ("user_id", "project_id", "client_id", "task_id", "is_billed", "is_running")
_UNAUTHORIZED = {
    "error": "invalid_token",
    "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons.",
}


def credentials_for_local(connection: Connection) -> dict[str, str]:
    """The connection's ``api`` secret locally: a made-up token and account id (LOCAL ONLY)."""
    digest = hashlib.sha256(f"harvest:{connection.id}".encode()).hexdigest()
    return {"access_token": f"localdemo-{digest[:32]}", "account_id": str(int(digest[32:38], 16))}


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(math.floor(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _copy(entry: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(entry))
    return copied


def _invalid(message: str) -> VendorFault:
    return VendorFault(422, {"message": message})


class HarvestFake(FakeApi):
    platform: ClassVar[str] = "harvest"

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rate_limit: int = RATE_LIMIT,
        rate_window_s: float = RATE_WINDOW_S,
    ) -> None:
        super().__init__()
        self.connection = connection
        given = credentials or credentials_for_local(connection)
        self._token, self._account_id = given["access_token"], given["account_id"]
        self._clock = clock
        self._frozen: float | None = None
        self._rate_limit = rate_limit
        self._rate_window_s = rate_window_s
        self._sent: deque[float] = deque()
        self._next_id = _FIRST_ID
        self.time_entries: dict[int, dict[str, Any]] = {}

    # -- the clock ----------------------------------------------------------------------------------------
    def now(self) -> float:
        return self._frozen if self._frozen is not None else self._clock()

    def freeze(self, at: datetime) -> None:
        """Stop the fake's clock at ``at`` (aware): records are stamped, and the rate window runs, by it."""
        with self.lock:
            self._frozen = at.timestamp()

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._frozen = self.now() + seconds

    # -- records --------------------------------------------------------------------------------------------
    def add_time_entry(
        self,
        *,
        spent_date: str | date = "2026-11-30",
        hours: float | Decimal | str = 1.0,
        user: Mapping[str, Any] | None = None,
        project: Mapping[str, Any] | None = None,
        client: Mapping[str, Any] | None = None,
        task: Mapping[str, Any] | None = None,
        notes: str | None = None,
        billable: bool = True,
        approval_status: str = "unsubmitted",
        is_billed: bool = False,
        is_running: bool = False,
        is_locked: bool = False,
        locked_reason: str | None = None,
        **other: Any,
    ) -> dict[str, Any]:
        """A new time entry as Harvest holds it, stamped now; returns a copy of it."""
        with self.lock:
            self._next_id += 1
            now = _stamp(self.now())
            entry: dict[str, Any] = {
                "id": self._next_id,
                "spent_date": str(spent_date),
                "user": dict(user or {"id": 1782959, "name": "Kim Allen"}),
                "client": dict(client or {"id": 5735774, "name": "ABC Corp"}),
                "project": dict(project or {"id": 14307913, "name": "Marketing Website", "code": "MW"}),
                "task": dict(task or {"id": 8083365, "name": "Graphic Design"}),
                "hours": float(Decimal(str(hours))),
                "hours_without_timer": float(Decimal(str(hours))),
                "rounded_hours": float(Decimal(str(hours))),
                "notes": notes,
                "is_locked": is_locked,
                "locked_reason": locked_reason,
                "approval_status": approval_status,
                "is_closed": approval_status == "approved",
                "is_billed": is_billed,
                "timer_started_at": now if is_running else None,
                "started_time": None,
                "ended_time": None,
                "is_running": is_running,
                "invoice": None,
                "external_reference": None,
                "billable": billable,
                "budgeted": True,
                "billable_rate": 100.0 if billable else None,
                "cost_rate": 50.0,
                "created_at": now,
                "updated_at": now,
                **other,
            }
            self.time_entries[entry["id"]] = entry
            return _copy(entry)

    def update_time_entry(self, entry_id: int, **changes: Any) -> dict[str, Any]:
        """Change an entry as Harvest would (``updated_at`` becomes now); returns a copy of it."""
        with self.lock:
            entry = self.time_entries[entry_id]
            if "hours" in changes:
                changes["hours"] = float(Decimal(str(changes["hours"])))
            if "approval_status" in changes:
                changes.setdefault("is_closed", changes["approval_status"] == "approved")
            entry.update(changes, updated_at=_stamp(self.now()))
            return _copy(entry)

    def delete_time_entry(self, entry_id: int) -> None:
        with self.lock:
            del self.time_entries[entry_id]

    def set_rate_window(self, limit: int, window_s: float = RATE_WINDOW_S) -> None:
        """Harvest's limit, changed: ``limit`` requests in any ``window_s`` seconds."""
        with self.lock:
            self._rate_limit, self._rate_window_s = limit, window_s
            self._sent.clear()

    def clear(self) -> None:
        with self.lock:
            self.time_entries.clear()
            self._sent.clear()

    def records(self) -> dict[str, Any]:
        """Time entries without notes, names or rates, for the demo's printout."""
        with self.lock:
            return {
                "time_entries": [
                    {
                        "id": e["id"],
                        "spent_date": e["spent_date"],
                        "hours": e["hours"],
                        "project_code": e["project"].get("code"),
                        "approval_status": e["approval_status"],
                        "updated_at": e["updated_at"],
                    }
                    for e in self._sorted(list(self.time_entries.values()))
                ]
            }

    # -- FakeApi's vendor specifics -----------------------------------------------------------------------------
    def local_options(self) -> dict[str, str]:
        """Points the connector here: the API root under ``/v2``, as Harvest's."""
        return {"base_url": f"{self.base_url}{_PREFIX}"}

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        if not (request.header("User-Agent") or "").strip():
            return FakeResponse(
                400,
                {
                    "error": "bad_request",
                    "error_description": "A User-Agent header naming your application and a contact is required.",
                },
            )
        token = request.header("Authorization") or ""
        if token != f"Bearer {self._token}" or request.header("Harvest-Account-Id") != self._account_id:
            return FakeResponse(401, _UNAUTHORIZED)
        return None

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        return FakeResponse(
            429,
            {"error": "too_many_requests", "error_description": "Too many requests. Please retry later."},
            {"Retry-After": str(max(1, math.ceil(retry_after_s)))},
        )

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(503, {"error": "service_unavailable", "error_description": "Service Unavailable"})

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"error": "not_found", "error_description": "Not Found"})

    def _throttle(self) -> float | None:
        """Harvest's window: ``rate_limit`` requests in any ``rate_window_s``, on the fake's clock."""
        now = self.now()
        while self._sent and self._sent[0] <= now - self._rate_window_s:
            self._sent.popleft()
        if len(self._sent) >= self._rate_limit:
            return self._sent[0] + self._rate_window_s - now
        self._sent.append(now)
        return None

    # -- time entries --------------------------------------------------------------------------------------------
    @route("GET", _PREFIX + r"/time_entries", "list_time_entries")
    def list_time_entries(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        per_page = self._per_page(request)
        items = self._sorted(self._filtered(request))
        total = len(items)
        total_pages = max(1, math.ceil(total / per_page))
        cursor = request.param("cursor")
        if cursor:
            after = self._cursor_key(cursor)
            start = next((i for i, e in enumerate(items) if self._key(e) > after), total)
        else:
            page = self._integer(request, "page", 1)
            start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        more = start + per_page < total
        last = not more
        if cursor:
            page_number: int | None = total_pages if last else None
        else:
            page_number = start // per_page + 1
        query = {k: v for k, v in request.query if k not in {"page", "cursor", "ref", "per_page"}}
        body = {
            "time_entries": [dict(e) for e in chunk],
            "per_page": per_page,
            "total_pages": total_pages,
            "total_entries": total,
            "next_page": (page_number + 1) if page_number is not None and more else None,
            "previous_page": (page_number - 1) if page_number and page_number > 1 else None,
            "page": page_number,
            "links": {
                "first": self._link(query, per_page, page=1, ref="first"),
                "next": self._link(query, per_page, cursor=self._cursor_of(chunk[-1]), ref="next_cursor")
                if more and chunk
                else None,
                "previous": self._link(query, per_page, page=page_number - 1, ref="previous")
                if page_number and page_number > 1
                else None,
                "last": self._link(query, per_page, page=total_pages, ref="last"),
            },
        }
        return FakeResponse(200, body)

    @route("GET", _PREFIX + r"/time_entries/(\d+)", "retrieve_time_entry")
    def retrieve_time_entry(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        entry = self.time_entries.get(int(match.group(1)))
        if entry is None:
            raise VendorFault(404, {"error": "not_found", "error_description": "Not Found"})
        return FakeResponse(200, dict(entry))

    # -- querying ----------------------------------------------------------------------------------------------
    def _filtered(self, request: FakeRequest) -> list[dict[str, Any]]:
        items = list(self.time_entries.values())
        since = request.param("updated_since")
        if since:
            try:
                bound = datetime.fromisoformat(since)
            except ValueError:
                raise _invalid("updated_since must be an ISO 8601 date and time") from None
            bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
            items = [e for e in items if datetime.fromisoformat(e["updated_at"]) >= bound]
        first, last = self._day(request, "from"), self._day(request, "to")
        if first is not None:
            items = [e for e in items if date.fromisoformat(e["spent_date"]) >= first]
        if last is not None:
            items = [e for e in items if date.fromisoformat(e["spent_date"]) <= last]
        for name in _FILTERS:
            value = request.param(name)
            if value is None:
                continue
            if name.startswith("is_"):
                items = [e for e in items if e[name] is (value.lower() == "true")]
            else:
                field = name.removesuffix("_id")
                items = [e for e in items if str((e.get(field) or {}).get("id")) == value]
        return items

    @staticmethod
    def _day(request: FakeRequest, name: str) -> date | None:
        value = request.param(name)
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _invalid(f"{name} must be a date (YYYY-MM-DD)") from None

    @staticmethod
    def _key(entry: Mapping[str, Any]) -> tuple[str, int]:
        """Descending sort order as an ascending key: later dates, then higher ids, come first."""
        day = date.fromisoformat(entry["spent_date"]).toordinal()
        return (f"{10_000_000 - day:08d}", -int(entry["id"]))

    def _sorted(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=self._key)

    def _cursor_of(self, entry: Mapping[str, Any]) -> str:
        after = {"after": {"spent_date": entry["spent_date"], "id": entry["id"]}}
        return (
            base64.urlsafe_b64encode(json.dumps(after, separators=(",", ":")).encode()).decode().rstrip("=")
        )

    def _cursor_key(self, cursor: str) -> tuple[str, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            after = json.loads(raw)["after"]
            return self._key({"spent_date": after["spent_date"], "id": int(after["id"])})
        except (ValueError, KeyError, TypeError):
            raise _invalid("cursor is invalid") from None

    def _per_page(self, request: FakeRequest) -> int:
        per_page = self._integer(request, "per_page", MAX_PER_PAGE)
        if per_page > MAX_PER_PAGE:
            raise _invalid(f"per_page must be less than or equal to {MAX_PER_PAGE}")
        return per_page

    @staticmethod
    def _integer(request: FakeRequest, name: str, default: int) -> int:
        raw = request.param(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise _invalid(f"{name} must be a positive integer")
        return int(raw)

    def _link(self, query: Mapping[str, str], per_page: int, **extra: Any) -> str:
        params = {**query, **{k: str(v) for k, v in extra.items() if k != "ref"}, "per_page": str(per_page)}
        params["ref"] = str(extra["ref"])
        return f"{self.base_url}{_PREFIX}/time_entries?{urlencode(params)}"

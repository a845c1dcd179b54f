"""Harvest API v2 as the time role's change feed (``pshub.connectors.feed.ChangeFeed``).

Harvest has no webhooks and no delete feed: the poller asks ``changed_since`` for the time
entries updated since its watermark, page by page, and ``present_ids`` for the ids that
still exist in a window of recent work (an id pshub saw that Harvest no longer lists was
deleted).

Configuration
- Credentials (the connection's ``api`` secret, a JSON object): ``access_token``, a Harvest
  Personal Access Token or an OAuth2 access token, sent as ``Authorization: Bearer``; and
  ``account_id``, the Harvest account, sent as ``Harvest-Account-Id`` on every request (it
  may be given as the connection option ``account_id`` instead: it is no secret). A 401 is
  permanent: pshub holds no refresh token for Harvest.
- Options: ``base_url`` (default ``https://api.harvestapp.com/v2``); ``user_agent``, the
  ``User-Agent`` Harvest requires on every request, naming the application and a contact
  (default ``pshub (ops@example.com)``: set the firm's own contact); ``per_page`` (1 to
  2000, default 2000, Harvest's maximum); ``users`` (``<harvest user id>=<e-mail>,...``,
  read by the inbound adapter); and the HTTP kit's own (``rate_per_s``, ``burst``,
  timeouts, ``max_attempts``, ``max_wait_s``).
- Rate: Harvest allows 100 requests per 15 seconds per account and answers 429 with
  ``Retry-After`` beyond it. The default budget, 6 requests a second with a burst of 10,
  can never send more than 100 in any 15 seconds (10 + 15 x 6).

Reading
- ``GET /v2/time_entries?updated_since=...&per_page=...``, the next page from the answer's
  ``links.next`` (Harvest's cursor; ``next_page`` when an answer has no links), the page
  token being that URL. Harvest sorts by ``spent_date`` and cannot sort by ``updated_at``,
  so a page is not in modification order: the watermark may move only to the newest
  ``modified_at`` of a whole query, after its last page.
- ``updated_since`` is sent one second early (Harvest's stamps are whole seconds, and the docs
  do not say whether the bound is inclusive) and records before ``since`` are dropped, so
  the feed is inclusive either way.
- Records are Harvest's JSON as returned (numbers as JSON numbers: ``hours`` keeps the digits
  Harvest wrote, a float's shortest form being the literal it was read from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import PermanentConnectorError
from pshub.connectors.feed import FeedPage, FeedRecord
from pshub.connectors.http import ApiResponse, ApiSettings, ConnectorContext, VendorError, api_client
from pshub.connectors.http.auth import HeaderAuth
from pshub.platforms import fields
from pshub.platforms.harvest import mapping

if TYPE_CHECKING:
    from pshub.connectors.feed import ChangeFeed

BASE_URL = "https://api.harvestapp.com/v2"
DEFAULT_USER_AGENT = "pshub (ops@example.com)"
MAX_PER_PAGE = 2000  # Harvest's maximum and default per_page
DEFAULT_RATE_PER_S = 6.0  # with the burst, at most 100 requests in any 15 s (Harvest's limit)
DEFAULT_BURST = 10
DEFAULT_RETRY_AFTER_S = 15.0  # a 429 without Retry-After: wait out Harvest's whole window
MAX_PAGES = 5000  # present_ids refuses to guess beyond this (10 million entries at 2000 a page)
# Personal data and rates in the bodies the HTTP kit logs at DEBUG.
MASK_FIELDS = (
    "$..notes",
    "$..user.name",
    "$..billable_rate",
    "$..cost_rate",
    "$..hourly_rate",
    "$..budget",
    "$..external_reference",
)


def describe_harvest(response: ApiResponse) -> VendorError:
    """Harvest's errors: ``{"error", "error_description"}`` (auth) or ``{"message"}`` (validation)."""
    document = response.json_or_none()
    if not isinstance(document, dict):
        return VendorError()
    code = document.get("error")
    message = document.get("error_description") or document.get("message")
    return VendorError(
        code=code if isinstance(code, str) and code else None,
        message=message if isinstance(message, str) and message else None,
    )


class HarvestFeed:
    """The change feed of one Harvest account's time entries."""

    def __init__(self, connection: Connection, context: ConnectorContext) -> None:
        self._connection = connection
        options = connection.options
        settings = ApiSettings.of(
            connection.id,
            options,
            default_base_url=BASE_URL,
            default_rate_per_s=DEFAULT_RATE_PER_S,
            default_burst=DEFAULT_BURST,
        )
        self._base_url = settings.base_url
        self._api = api_client(
            connection,
            context,
            HeaderAuth(context.credential(connection, "access_token")),
            settings=settings,
            describe=describe_harvest,
            default_retry_after_s=DEFAULT_RETRY_AFTER_S,
            refresh_on_401=False,
            mask_fields=MASK_FIELDS,
        )
        self._headers = {
            "Harvest-Account-Id": _account_id(connection, context),
            "User-Agent": _user_agent(connection),
        }
        self._per_page = _per_page(connection)

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return self._connection.platform

    # -- ChangeFeed ----------------------------------------------------------------------------------
    def feed_objects(self) -> tuple[str, ...]:
        return (mapping.OBJECT_TYPE,)

    def changed_since(self, object_type: str, since: datetime, page_token: str | None = None) -> FeedPage:
        op = "changed_since"
        self._check_object_type(object_type)
        when = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
        if page_token:
            page = self._get(op, self._next_url(op, page_token))
        else:
            asked = when.replace(microsecond=0) - timedelta(seconds=1)
            params = {"updated_since": asked.strftime("%Y-%m-%dT%H:%M:%SZ"), "per_page": self._per_page}
            page = self._get(op, "/time_entries", params)
        records = [r for r in self._records(op, page.document) if r.modified_at >= when]
        return FeedPage(records=records, next_token=page.next_url)

    def present_ids(self, object_type: str, start: date, end: date) -> set[str]:
        op = "present_ids"
        self._check_object_type(object_type)
        if end < start:
            raise self._error(op, f"the window ends ({end}) before it starts ({start})")
        ids: set[str] = set()
        params = {"from": start.isoformat(), "to": end.isoformat(), "per_page": self._per_page}
        page = self._get(op, "/time_entries", params)
        for _ in range(MAX_PAGES):
            ids.update(record.native_id for record in self._records(op, page.document))
            if page.next_url is None:
                return ids
            page = self._get(op, self._next_url(op, page.next_url))
        # Stopping short would make every unread id look deleted: refuse instead.
        raise self._error(op, f"Harvest listed more than {MAX_PAGES} pages of time entries for one window")

    # -- pages ------------------------------------------------------------------------------------------
    def _get(self, op: str, path: str, params: Mapping[str, Any] | None = None) -> _Page:
        response = self._api.request(op, "GET", path, params=params, headers=self._headers)
        document = response.json_or_none()
        if not isinstance(document, dict) or not isinstance(document.get("time_entries"), list):
            raise self._error(op, "Harvest answered without a time_entries list")
        return _Page(document, _next_url(document, response.url))

    def _records(self, op: str, document: Mapping[str, Any]) -> list[FeedRecord]:
        records = []
        for item in document["time_entries"]:
            try:
                entry = fields.mapping(item, "Harvest time entry")
                day = fields.iso_date(entry.get("spent_date"), "Harvest time entry spent_date")
                records.append(FeedRecord(mapping.native_id(entry), mapping.updated_at(entry), entry, day))
            except fields.FieldProblem as problem:
                raise self._error(op, f"Harvest answered a time entry pshub cannot read: {problem}") from None
        return records

    def _next_url(self, op: str, token: str) -> str:
        # The token is Harvest's own next link; the kit also refuses any other origin.
        if not token.startswith(f"{self._base_url}/time_entries?"):
            raise self._error(op, "the page token is not a Harvest time entries page of this connection")
        return token

    # -- errors ------------------------------------------------------------------------------------------
    def _check_object_type(self, object_type: str) -> None:
        if object_type != mapping.OBJECT_TYPE:
            raise ValueError(f"the Harvest feed serves {mapping.OBJECT_TYPE}, not {object_type!r}")

    def _error(self, op: str, message: str) -> PermanentConnectorError:
        return PermanentConnectorError(
            message, platform=self.platform, connection_id=self.connection_id, operation=op
        )


@dataclass(frozen=True)
class _Page:
    document: dict[str, Any]
    next_url: str | None  # None: the last page of the query


def _next_url(document: Mapping[str, Any], sent: str) -> str | None:
    """Harvest's ``links.next``; for an answer without links, the page after ``next_page``."""
    links = document.get("links")
    if isinstance(links, dict):
        following = links.get("next")
        return following if isinstance(following, str) and following else None
    page = document.get("next_page")
    if not isinstance(page, int) or isinstance(page, bool) or page < 2:
        return None
    parts = urlsplit(sent)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in {"page", "cursor"}]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(page))])))


def _account_id(connection: Connection, context: ConnectorContext) -> str:
    value = context.credentials.get("account_id") or connection.options.get("account_id")
    if not isinstance(value, str) or not value.strip().isdigit():
        raise ConnectionConfigError(
            f"connection {connection.id!r}: no Harvest account_id (a number, in its api secret "
            f"{connection.api_secret_name} or its options)"
        )
    return value.strip()


def _user_agent(connection: Connection) -> str:
    value = (connection.options.get("user_agent") or DEFAULT_USER_AGENT).strip()
    if not value.isprintable() or not value.isascii() or "(" not in value or not value.endswith(")"):
        raise ConnectionConfigError(
            f"connection {connection.id!r} option user_agent: Harvest requires the application's name "
            "and a contact, as 'App name (contact e-mail or URL)'"
        )
    return value


def _per_page(connection: Connection) -> int:
    raw = connection.options.get("per_page", "")
    if not raw:
        return MAX_PER_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise ConnectionConfigError(
            f"connection {connection.id!r} option per_page: {raw!r} is not a whole number from 1 to {MAX_PER_PAGE}"
        )
    return int(raw)


def connect(connection: Connection, context: ConnectorContext) -> ChangeFeed:
    """The manifest's outbound factory for the time role."""
    return HarvestFeed(connection, context)


if TYPE_CHECKING:  # mypy proves the connector implements the feed protocol
    _feed: type[ChangeFeed] = HarvestFeed

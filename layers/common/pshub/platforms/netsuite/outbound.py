"""Oracle NetSuite as pshub's ERP, over SuiteTalk REST web services.

Where it sends: ``https://{account}.suitetalk.api.netsuite.com/services/rest`` (records under
``/record/v1``, SuiteQL at ``/query/v1/suiteql``, tokens at ``/auth/oauth2/v1/token``); the
account id ``1234567_SB1`` is the host ``1234567-sb1``. Nothing else is ever called.

Credentials (the connection's ``api`` secret, a JSON object), one of:

- OAuth 2.0 client credentials (M2M): ``client_id`` (the integration record's), ``certificate_id``
  (from the OAuth 2.0 Client Credentials Setup mapping) and ``private_key`` (PEM of the
  certificate uploaded there). A PS256 client assertion buys a 60-minute token, shared by
  every invocation and fetched again when NetSuite refuses it.
- Token-based authentication (OAuth 1.0a, HMAC-SHA256): ``consumer_key``, ``consumer_secret``,
  ``token_id``, ``token_secret``.

Options: ``account_id`` (required unless ``base_url`` is given; TBA's realm), ``base_url``
(replaces the whole REST root, e.g. a local fake), ``auth`` (``m2m`` | ``tba``; default: by
the credentials present), ``subsidiaries`` / ``classes`` / ``departments`` / ``locations``
(``VALUE=INTERNAL_ID,...``: pshub's legal entities, service lines, departments and regions
as the account's list ids), ``currencies`` (``USD=1,...``: the currencies invoices are drafted
in; unset, an invoice is in its customer's currency), ``time_item_id`` (the service item time
is billed with; needed to post time), ``invoice_item_id`` (the item invoice lines bill;
default ``time_item_id``), ``tax_item_id`` (the item an invoice's tax is a line of; needed
for an invoice with tax), ``max_batch`` (time entries per call, default 100), plus the HTTP
kit's (``connect_timeout_s``, ``read_timeout_s``, ``rate_per_s``, ``burst``, ``daily_quota``,
``max_attempts``, ``max_wait_s``). The custom fields ``mapping`` names must exist in the account.

Idempotency, per object (NetSuite's idempotency key header works only for asynchronous
requests, so none of these rely on it):

- customer: matched first (SuiteQL on pshub's client id, tax id and normalised name keys),
  then updated (``PATCH``) or created by external-id upsert (``PUT .../customer/eid:<client id>``),
  which is safe to resend.
- project (``job``), billing schedule: read back by external id (``GET .../eid:<code>``), then
  created with ``POST`` (never an upsert, which would overwrite other content). A lost answer
  is resolved by the same read before anything is sent again; a duplicate ``entityId``
  (``DUP_ENTITY``) is looked up by code. Same content is the existing record; other content
  is a ``Conflict`` naming the differing fields.
- time (``timeBill``): the entries already posted are read in one SuiteQL query (external id =
  the entry id) and reported ``ALREADY_POSTED``; the others are upserted by external id, so a
  resent request never posts twice.
- invoice (``InvoiceTarget``): read by external id (the invoice key, as a digest when it holds
  ``#``); one sent already (no longer pending approval) is returned as it is, else the draft
  is upserted (``PUT .../invoice/eid:<key>?replace=item``) pending approval and read back.
- credit memo: upserted by external id (the credit's idempotency key) with ``createdFrom`` the
  invoice, so a retry updates the one it made. A draft still pending approval is approved
  first, so the memo has a posted invoice to reverse.

``changed_since`` (for pollers and reconciliation, not part of the ERP role) pages SuiteQL on
``lastmodifieddate``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pshub.canonical.model import ApprovalStatus, Client, Contract, Expense, Money, Project, TimeEntry
from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
    TransientConnectorError,
)
from pshub.connectors.http import ApiClient, ApiResponse, ConnectorContext, VendorError, api_client, oauth2
from pshub.connectors.http.auth import Auth, NetSuiteTba, netsuite_m2m
from pshub.connectors.http.client import describe_generic
from pshub.connectors.http.settings import ApiSettings
from pshub.connectors.results import (
    ClientRecord,
    DraftedInvoice,
    ErpProject,
    InvoiceRequest,
    PostedDocument,
    PostingStatus,
    TimeEntryResult,
    UpsertResult,
)
from pshub.platforms.netsuite import mapping
from pshub.platforms.netsuite.mapping import (
    BILLING_SCHEDULE,
    CREDIT_MEMO,
    CUSTOMER,
    EXPENSE_REPORT,
    INVOICE,
    JOB,
    TIME_BILL,
    Refused,
    Setup,
    external_id,
)
from pshub.sync.identity import compact_id, normalise_name

PLATFORM = "netsuite"
M2M_FIELDS = ("client_id", "certificate_id", "private_key")
TBA_FIELDS = ("consumer_key", "consumer_secret", "token_id", "token_secret")
# Throttle signals NetSuite puts in an error body rather than a 429: the RESTlet concurrency
# refusal (documented), and SOAP's TBA/concurrency codes should a proxy pass them on.
THROTTLE_CODES = frozenset({"SSS_REQUEST_LIMIT_EXCEEDED", "WS_REQUEST_BLOCKED", "CONCURRENCY_LIMIT_EXCEEDED"})
# A second record with the same key (SOAP's codes; REST's wording is unverified).
DUPLICATE_CODES = frozenset({"DUP_ENTITY", "DUP_RCRD"})
PAGE_SIZE = 1000  # SuiteQL's largest page
LOOKUP_TTL_S = 300.0
LOOKUP_CACHE_SIZE = 10_000
DEFAULT_MAX_BATCH = 100
BATCH_LIMIT = 1000  # entries of one call are looked up in one SuiteQL page
ITEM_OPTIONS = ("time_item_id", "invoice_item_id", "tax_item_id")
# Personal or tax data that may be in a NetSuite answer: never in a DEBUG log line.
MASKED_FIELDS = (
    "$..email",
    "$..phone",
    "$..addressBook",
    "$..addressBookAddress",
    "$..defaultAddress",
    "$..vatRegNumber",
    "$..vatregnumber",
    f"$..{mapping.TAX_KEY}",
    "$..memo",
    "$..billAddress",
    "$..billingAddress",
    "$..billingAddress_text",
    "$..shipAddress",
    "$..shippingAddress",
    "$..shippingAddress_text",
)


def describe(response: ApiResponse) -> VendorError:
    """NetSuite's error body: ``{"type", "title", "status", "o:errorDetails": [{"detail",
    "o:errorCode", "o:errorPath"?}]}``, or the token endpoint's ``{"error", "error_description"}``."""
    document = response.json_or_none()
    if isinstance(document, dict):
        details = document.get("o:errorDetails")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            first = details[0]
            code = first.get("o:errorCode")
            code = code if isinstance(code, str) and code else None
            detail = first.get("detail")
            return VendorError(
                code=code,
                message=detail if isinstance(detail, str) and detail else _text(document.get("title")),
                throttled=code in THROTTLE_CODES,
            )
        error = document.get("error")
        if isinstance(error, str) and error:
            return VendorError(code=error, message=_text(document.get("error_description")))
    return describe_generic(response)


@dataclass(frozen=True)
class _Options:
    account_id: str | None
    rest_root: str
    auth: Literal["m2m", "tba"]
    setup: Setup
    time_item_id: str | None
    invoice_item_id: str | None
    tax_item_id: str | None
    max_batch: int


def rest_root(connection: Connection) -> str:
    """The REST root every path hangs under: ``options.base_url`` (``.../record/v1`` or the
    root itself) or the account's SuiteTalk host."""
    options = connection.options
    base = (options.get("base_url") or "").rstrip("/")
    if base:
        return base.removesuffix("/record/v1")
    account = options.get("account_id")
    if not account:
        raise ConnectionConfigError(
            f"connection {connection.id!r}: options.account_id (or base_url) is required for NetSuite"
        )
    host = account.strip().lower().replace("_", "-")
    if not host.replace("-", "").isalnum():
        raise ConnectionConfigError(
            f"connection {connection.id!r}: options.account_id is not a NetSuite account id"
        )
    return f"https://{host}.suitetalk.api.netsuite.com/services/rest"


def _options(connection: Connection, credentials: Mapping[str, str]) -> _Options:
    options = connection.options
    where = f"connection {connection.id!r}"
    forced = options.get("auth")
    if forced not in (None, "", "m2m", "tba"):
        raise ConnectionConfigError(f"{where}: options.auth must be m2m or tba")
    if forced:
        auth: Literal["m2m", "tba"] = "m2m" if forced == "m2m" else "tba"
    elif all(credentials.get(name) for name in M2M_FIELDS):
        auth = "m2m"
    elif all(credentials.get(name) for name in TBA_FIELDS):
        auth = "tba"
    else:
        raise ConnectionConfigError(
            f"{where}: its api secret holds neither OAuth 2.0 M2M credentials ({', '.join(M2M_FIELDS)}) "
            f"nor token-based ones ({', '.join(TBA_FIELDS)}) (set them in {connection.api_secret_name})"
        )
    try:
        setup = Setup.of(options)
    except ValueError as error:
        raise ConnectionConfigError(f"{where}: {error}") from None
    items = {name: _item_option(options, name, where) for name in ITEM_OPTIONS}
    raw_batch = options.get("max_batch") or str(DEFAULT_MAX_BATCH)
    if not raw_batch.isdigit() or not 1 <= int(raw_batch) <= BATCH_LIMIT:
        raise ConnectionConfigError(
            f"{where}: options.max_batch must be a whole number from 1 to {BATCH_LIMIT}"
        )
    return _Options(
        account_id=options.get("account_id") or None,
        rest_root=rest_root(connection),
        auth=auth,
        setup=setup,
        time_item_id=items["time_item_id"],
        invoice_item_id=items["invoice_item_id"] or items["time_item_id"],
        tax_item_id=items["tax_item_id"],
        max_batch=int(raw_batch),
    )


def _item_option(options: Mapping[str, str], name: str, where: str) -> str | None:
    item = options.get(name) or None
    if item is not None and not item.isdigit():
        raise ConnectionConfigError(f"{where}: options.{name} must be a NetSuite internal id")
    return item


def connect(connection: Connection, context: ConnectorContext) -> NetSuiteErp:
    """The NetSuite ERP connector of ``connection`` (the manifest's outbound factory)."""
    options = _options(connection, context.credentials)
    settings = ApiSettings.of(connection.id, {**connection.options, "base_url": options.rest_root})
    auth: Auth
    if options.auth == "m2m":
        grant = netsuite_m2m(
            f"{settings.base_url}/auth/oauth2/v1/token",
            context.credential(connection, "client_id"),
            context.credential(connection, "certificate_id"),
            context.credential(connection, "private_key"),
            clock=context.clock,
        )
        auth = oauth2(connection, context, grant, settings=settings)
    else:
        if not options.account_id:
            raise ConnectionConfigError(
                f"connection {connection.id!r}: token-based authentication needs options.account_id (its realm)"
            )
        auth = NetSuiteTba(
            options.account_id,
            context.credential(connection, "consumer_key"),
            context.credential(connection, "consumer_secret"),
            context.credential(connection, "token_id"),
            context.credential(connection, "token_secret"),
            clock=context.clock,
        )
    api = api_client(
        connection,
        context,
        auth,
        settings=settings,
        describe=describe,
        default_retry_after_s=1.0,
        refresh_on_401=options.auth == "m2m",
        mask_fields=MASKED_FIELDS,
    )
    return NetSuiteErp(connection, api, options)


class NetSuiteErp:
    """The ERP role on one NetSuite account (see the module docstring)."""

    def __init__(self, connection: Connection, api: ApiClient, options: _Options) -> None:
        self._connection = connection
        self._api = api
        self._options = options
        self._setup = options.setup
        # Jobs and employees found, for LOOKUP_TTL_S: a month-end burst posts to the same few
        # projects by the same people in every call. Only what exists is kept; NetSuite itself
        # still refuses a posting to a job made inactive meanwhile (a business refusal).
        self._found: dict[tuple[str, str], tuple[float, Any]] = {}

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def base_url(self) -> str:
        return self._api.settings.base_url

    # -- customers ---------------------------------------------------------------------------
    def upsert_client(self, client: Client) -> UpsertResult:
        op = "upsert_client"
        missing = mapping.missing_client_fields(client)
        if missing:
            raise self._error(
                PermanentConnectorError,
                op,
                f"customer {client.name!r} (client {client.id}) lacks {', '.join(missing)}",
            )
        tax, names = mapping.tax_key(client), mapping.name_keys(client)
        rows = self._customer_candidates(op, client_id=client.id, tax=tax, names=names)
        match = mapping.choose_customer(rows, client_id=client.id, tax=tax, names=names)
        ids = [*mapping.client_ids_of(match), client.id] if match is not None else [client.id]
        what = f"customer {client.name!r} (client {client.id})"
        try:
            body = mapping.customer_body(client, self._setup, client_ids=ids)
        except Refused as refused:
            raise self._error(PermanentConnectorError, op, f"{what}: {refused}") from None
        params = {"replace": "addressBook"} if "addressBook" in body else None  # lines replaced, not added
        if match is not None:
            native_id = str(match["id"])
            with self._reworded(f"{what}: NetSuite refused the update of customer {native_id}"):
                self._api.request(
                    op, "PATCH", f"record/v1/customer/{native_id}", params=params, json=body, repeatable=True
                )
            return UpsertResult(native_id=native_id, created=False)
        key = external_id(client.id)
        with self._reworded(f"{what}: NetSuite refused to create it"):
            response = self._api.request(
                op, "PUT", f"record/v1/customer/eid:{key}", params=params, json=body, repeatable=True
            )
        return UpsertResult(native_id=self._created_id(op, response, CUSTOMER, key), created=True)

    def find_client(
        self, *, client_id: str | None = None, tax_id: str | None = None, name: str | None = None
    ) -> ClientRecord | None:
        op = "find_client"
        tax, key = compact_id(tax_id), normalise_name(name)
        names = [key] if key else []
        rows = self._customer_candidates(op, client_id=client_id, tax=tax, names=names)
        match = mapping.choose_customer(rows, client_id=client_id, tax=tax, names=names)
        if match is None:
            return None
        native_id = str(match["id"])
        record = self._get(op, CUSTOMER, native_id, expand=True)
        if record is None:  # deleted between the query and the read
            return None
        known = mapping.client_ids_of(record)
        canonical = client_id or (known[0] if known else f"{self.connection_id}:client:{native_id}")
        client = mapping.client_from_customer(
            record, self._setup, client_id=canonical, connection_id=self.connection_id
        )
        return ClientRecord(native_id=native_id, client=client)

    def _customer_candidates(
        self, op: str, *, client_id: str | None, tax: str | None, names: Sequence[str]
    ) -> list[dict[str, Any]]:
        query = mapping.customer_candidates_query(client_id=client_id, tax=tax, names=names)
        return self._suiteql(op, query) if query else []

    # -- projects ----------------------------------------------------------------------------
    def create_project(self, project: Project) -> str:
        op = "create_project"
        code = project.code
        missing = mapping.missing_project_fields(project)
        if missing:
            raise self._error(PermanentConnectorError, op, f"project {code} lacks {', '.join(missing)}")
        desired = self._job_body(op, project, customer_id=None)
        key = external_id(code)
        existing = self._get(op, JOB, f"eid:{key}")
        if existing is not None:
            return self._same_project(op, code, existing, desired)
        customer_id = self._customer_of(op, project)
        body = {**desired, "parent": {"id": customer_id}, "externalId": key}
        try:
            response = self._api.request(op, "POST", "record/v1/job", json=body)
        except OutcomeUnknown:
            found = self._get(op, JOB, f"eid:{key}")  # did the lost create reach NetSuite?
            if found is not None:
                return self._same_project(op, code, found, desired)
            response = self._post_again(op, "record/v1/job", body, f"project {code}")
        except PermanentConnectorError as error:
            if not _duplicate(error):
                raise self._reworded_error(error, f"project {code}: NetSuite refused the job") from None
            found = self._get(op, JOB, f"eid:{key}") or self._job_by_code(op, code)
            if found is None:
                raise self._reworded_error(
                    error, f"project {code}: NetSuite reports a duplicate it does not show"
                ) from None
            return self._same_project(op, code, found, desired, duplicate=error)
        return self._created_id(op, response, JOB, key)

    def _job_body(self, op: str, project: Project, *, customer_id: str | None) -> dict[str, Any]:
        try:
            return mapping.job_body(project, self._setup, customer_id=customer_id)
        except Refused as refused:
            raise self._error(PermanentConnectorError, op, f"project {project.code}: {refused}") from None

    def _customer_of(self, op: str, project: Project) -> str:
        customer_id = self._customer_id(op, project.client_id)
        if customer_id is None:
            raise self._error(
                PermanentConnectorError,
                op,
                f"project {project.code}: customer for client {project.client_id} is not in NetSuite "
                "(upsert the client first)",
            )
        return customer_id

    def _customer_id(self, op: str, client_id: str) -> str | None:
        """The internal id of the customer pshub's client ``client_id`` is, if there is one."""
        rows = self._customer_candidates(op, client_id=client_id, tax=None, names=[])
        match = mapping.choose_customer(rows, client_id=client_id, tax=None, names=[])
        return str(match["id"]) if match is not None else None

    def _same_project(
        self,
        op: str,
        code: str,
        record: Mapping[str, Any],
        desired: Mapping[str, Any],
        duplicate: ConnectorError | None = None,
    ) -> str:
        """Idempotent create: the same content is the existing job (brought back if it was
        deactivated by a compensation); other content is a conflict naming the fields."""
        native_id = str(record["id"])
        differing = mapping.differing_fields(
            mapping.job_content(record, self._setup), mapping.job_content(desired, self._setup)
        )
        if differing:
            raise self._error(
                Conflict,
                op,
                f"project code {code} already has job {native_id} with different {', '.join(differing)}",
                cause=duplicate,
                key=code,
                fields=differing,
            )
        if record.get("isInactive"):
            body = {"isInactive": False, mapping.INACTIVE_REASON: ""}
            with self._reworded(f"project {code}: NetSuite refused to reactivate job {native_id}"):
                self._api.request(op, "PATCH", f"record/v1/job/{native_id}", json=body, repeatable=True)
        return native_id

    def _job_by_code(self, op: str, code: str) -> dict[str, Any] | None:
        rows = self._suiteql(op, mapping.jobs_query(codes=[code], project_ids=[]))
        row = next((r for r in rows if r.get("entityid") == code), None)
        return self._get(op, JOB, str(row["id"])) if row else None

    def get_project(self, code: str) -> ErpProject | None:
        op = "get_project"
        record = self._get(op, JOB, f"eid:{external_id(code)}") or self._job_by_code(op, code)
        if record is None:
            return None
        return ErpProject(
            native_id=str(record["id"]),
            customer_native_id=mapping.reference(record, "parent") or "",
            project=mapping.project_from_job(record, self._setup, connection_id=self.connection_id),
            active=not record.get("isInactive"),
            inactive_reason=(record.get(mapping.INACTIVE_REASON) or None)
            if record.get("isInactive")
            else None,
        )

    def deactivate_project(self, native_id: str, reason: str) -> None:
        op = "deactivate_project"
        record = self._job(op, native_id)
        if record.get("isInactive"):
            return  # compensations are retried: the first reason stays
        body = {
            "isInactive": True,
            mapping.INACTIVE_REASON: mapping.clean_text(reason, mapping.TEXT_FIELD_LIMIT) or "",
        }
        with self._reworded(
            f"project {record.get('entityId')}: NetSuite refused to deactivate job {native_id}"
        ):
            self._api.request(op, "PATCH", f"record/v1/job/{native_id}", json=body, repeatable=True)

    # -- billing schedule ----------------------------------------------------------------------
    def amend_project(
        self, native_id: str, code: str, *, budget: Money | None = None, end_date: date | None = None
    ) -> None:
        """A change order: the job's budget and projected end date, one repeatable ``PATCH``."""
        op = "amend_project"
        body: dict[str, Any] = {}
        if budget is not None:
            body[mapping.BUDGET] = f"{budget.amount} {budget.currency}"
        if end_date is not None:
            body["projectedEndDate"] = end_date.isoformat()
        if not body:
            return
        with self._reworded(f"project {code}: NetSuite refused the amendment of job {native_id}"):
            self._api.request(op, "PATCH", f"record/v1/job/{native_id}", json=body, repeatable=True)

    def create_billing_schedule(self, project_native_id: str, contract: Contract) -> str:
        op = "create_billing_schedule"
        job = self._job(op, project_native_id)
        code = str(job.get("entityId") or project_native_id)
        if job.get("isInactive"):
            raise self._error(PermanentConnectorError, op, f"project {code} is inactive")
        missing = mapping.missing_terms(contract)
        if missing:
            raise self._error(
                PermanentConnectorError,
                op,
                f"a {contract.billing_model} schedule for {code} needs {', '.join(missing)}",
            )
        wrong = mapping.foreign_currency(contract)
        if wrong:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{', '.join(wrong)} not in the contract currency {contract.currency}",
            )
        try:
            body = mapping.schedule_body(contract, project_id=project_native_id, code=code)
        except Refused as refused:
            raise self._error(
                PermanentConnectorError, op, f"billing schedule for {code}: {refused}"
            ) from None
        key = body["externalId"]
        existing = self._get(op, BILLING_SCHEDULE, f"eid:{key}", expand=True)
        if existing is not None:
            return self._same_schedule(op, code, existing, body)
        try:
            response = self._api.request(op, "POST", "record/v1/billingSchedule", json=body)
        except OutcomeUnknown:
            found = self._get(op, BILLING_SCHEDULE, f"eid:{key}", expand=True)
            if found is not None:
                return self._same_schedule(op, code, found, body)
            response = self._post_again(op, "record/v1/billingSchedule", body, f"billing schedule for {code}")
        except PermanentConnectorError as error:
            found = self._get(op, BILLING_SCHEDULE, f"eid:{key}", expand=True) if _duplicate(error) else None
            if found is None:
                raise self._reworded_error(
                    error, f"billing schedule for {code}: NetSuite refused it"
                ) from None
            return self._same_schedule(op, code, found, body, duplicate=error)
        return self._created_id(op, response, BILLING_SCHEDULE, key)

    def _same_schedule(
        self,
        op: str,
        code: str,
        record: Mapping[str, Any],
        desired: Mapping[str, Any],
        duplicate: ConnectorError | None = None,
    ) -> str:
        native_id = str(record["id"])
        differing = mapping.schedule_differences(record, desired)
        if differing:
            raise self._error(
                Conflict,
                op,
                f"project code {code} already has billing schedule {native_id} with different {', '.join(differing)}",
                cause=duplicate,
                key=code,
                fields=differing,
            )
        return native_id

    # -- time ----------------------------------------------------------------------------------
    @property
    def max_batch(self) -> int:
        return self._options.max_batch

    def post_time_entries(
        self, entries: Sequence[TimeEntry], rates: dict[str, Money] | None = None
    ) -> list[TimeEntryResult]:
        op = "post_time_entries"
        if len(entries) > self._options.max_batch:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{len(entries)} entries in one call; this connection posts at most {self._options.max_batch}",
            )
        if not entries:
            return []
        keys = [external_id(e.id) for e in entries]
        posted = {
            str(r.get("externalid")): str(r["id"])
            for r in self._suiteql(op, mapping.by_external_ids_query("timebill", keys))
        }
        results: dict[int, TimeEntryResult] = {}
        first_of: dict[str, int] = {}
        pending: list[int] = []
        for index, (entry, key) in enumerate(zip(entries, keys, strict=True)):
            if key in posted:  # before any other check: a replay after the period closed is still a replay
                results[index] = TimeEntryResult(
                    entry_id=entry.id, status=PostingStatus.ALREADY_POSTED, native_id=posted[key]
                )
            elif key in first_of:
                continue  # the same entry twice in one call: settled after the first
            elif entry.status is not ApprovalStatus.APPROVED:
                results[index] = _rejected(entry, f"entry is {entry.status.value}, not approved")
            else:
                pending.append(index)
            first_of.setdefault(key, index)
        if pending:
            self._post_pending(op, entries, keys, pending, results, rates or {})
        ordered = []
        for index, (entry, key) in enumerate(zip(entries, keys, strict=True)):
            result = results.get(index)
            if result is None:  # a repeat within the call
                first = results[first_of[key]]
                accepted = first.status is not PostingStatus.REJECTED
                result = (
                    TimeEntryResult(
                        entry_id=entry.id, status=PostingStatus.ALREADY_POSTED, native_id=first.native_id
                    )
                    if accepted
                    else first.model_copy(update={"entry_id": entry.id})
                )
            ordered.append(result)
        return ordered

    def _post_pending(
        self,
        op: str,
        entries: Sequence[TimeEntry],
        keys: Sequence[str],
        pending: Sequence[int],
        results: dict[int, TimeEntryResult],
        rates: Mapping[str, Money],
    ) -> None:
        item = self._options.time_item_id
        if item is None:
            raise self._error(
                PermanentConnectorError,
                op,
                "posting time needs the service item it is billed with: set options.time_item_id",
            )
        jobs = self._jobs(op, {entries[i].project_id for i in pending})
        employees = self._employees(op, {entries[i].worker_id for i in pending})
        for index in pending:
            entry, key = entries[index], keys[index]
            job = jobs.get(entry.project_id)
            employee = employees.get(entry.worker_id)
            if job is None:
                results[index] = _rejected(entry, f"unknown project code {entry.project_id}")
            elif job.get("isinactive") == "T":
                results[index] = _rejected(entry, f"project {job.get('entityid')} is inactive")
            elif employee is None:
                results[index] = _rejected(
                    entry,
                    f"worker {entry.worker_id} has no NetSuite employee (external id {external_id(entry.worker_id)})",
                )
            else:
                body = mapping.time_bill_body(
                    entry, job_id=str(job["id"]), employee_id=employee, item_id=item, rate=rates.get(entry.id)
                )
                results[index] = self._post_one(op, entry, key, body)

    def _known(self, kind: str, references: set[str]) -> tuple[dict[str, Any], set[str]]:
        now = time.monotonic()
        known = {r: hit[1] for r in references if (hit := self._found.get((kind, r))) and hit[0] > now}
        return known, references - set(known)

    def _remember(self, kind: str, found: Mapping[str, Any]) -> None:
        expires = time.monotonic() + LOOKUP_TTL_S
        if len(self._found) > LOOKUP_CACHE_SIZE:
            self._found.clear()
        for reference, value in found.items():
            self._found[(kind, reference)] = (expires, value)

    def _jobs(self, op: str, references: set[str]) -> dict[str, dict[str, Any]]:
        """Jobs by the project code (or pshub project id) entries name them by."""
        found, wanted = self._known("job", references)
        if not wanted:
            return found
        rows = self._suiteql(op, mapping.jobs_query(codes=wanted, project_ids=wanted))
        for reference in wanted:
            job = next((j for j in rows if j.get("entityid") == reference), None) or next(
                (j for j in rows if j.get(mapping.PROJECT_ID) == reference), None
            )
            if job is not None and job.get("isinactive") != "T":
                found[reference] = job
                self._remember("job", {reference: job})
            elif job is not None:
                found[reference] = job
        return found

    def _employees(self, op: str, workers: set[str]) -> dict[str, str]:
        """Worker reference (external id or e-mail) -> the employee's internal id."""
        found, workers = self._known("employee", workers)
        if not workers:
            return found
        rows = self._suiteql(op, mapping.employees_query(workers))
        by_external = {str(r.get("externalid")): str(r["id"]) for r in rows if r.get("externalid")}
        by_email = {str(r.get("email")).lower(): str(r["id"]) for r in rows if r.get("email")}
        for worker in workers:
            employee = by_external.get(external_id(worker)) or by_email.get(worker.lower())
            if employee is not None:
                found[worker] = employee
                self._remember("employee", {worker: employee})
        return found

    def adjust_time_entry(self, document_id: str, entry: TimeEntry, rate: Money | None) -> None:
        op = "adjust_time_entry"
        if not document_id.isdigit():
            raise self._error(NotFound, op, f"no time bill {document_id!r} in NetSuite", status=404)
        job = self._jobs(op, {entry.project_id}).get(entry.project_id)
        if job is None:
            raise self._error(PermanentConnectorError, op, f"unknown project code {entry.project_id}")
        body = {
            "customer": {"id": str(job["id"])},
            "hours": float(entry.hours),
            "tranDate": entry.work_date.isoformat(),
            "isBillable": entry.billable,
            **({"rate": float(rate.amount)} if rate is not None else {}),
        }
        self._api.request(op, "PATCH", f"record/v1/timeBill/{document_id}", json=body, repeatable=True)

    def reverse_time_entry(self, document_id: str, entry_id: str) -> None:
        self._delete("reverse_time_entry", TIME_BILL, document_id)

    def find_time_entry(self, entry_id: str) -> PostedDocument | None:
        record = self._get("find_time_entry", TIME_BILL, f"eid:{external_id(entry_id)}")
        if record is None or not str(record.get("id", "")).isdigit():
            return None
        worked = record.get("tranDate")
        return PostedDocument(
            document_id=str(record["id"]),
            hours=mapping.parse_hours(record.get("hours")),
            work_date=date.fromisoformat(str(worked)[:10]) if worked else None,
        )

    # -- expenses ----------------------------------------------------------------------------------
    def post_expenses(self, expenses: Sequence[Expense]) -> list[TimeEntryResult]:
        """Each approved expense as its own expense report (external id = the expense id), read
        first by external id so a resent call never posts twice."""
        op = "post_expenses"
        if len(expenses) > self._options.max_batch:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{len(expenses)} expenses in one call; this connection posts at most {self._options.max_batch}",
            )
        if not expenses:
            return []
        keys = [external_id(e.id) for e in expenses]
        posted = {
            str(r.get("externalid")): str(r["id"])
            for r in self._suiteql(op, mapping.by_external_ids_query("expensereport", keys))
        }
        jobs = self._jobs(op, {e.project_id for e in expenses})
        employees = self._employees(op, {e.worker_id for e in expenses})
        results = []
        for expense, key in zip(expenses, keys, strict=True):
            job, employee = jobs.get(expense.project_id), employees.get(expense.worker_id)
            if key in posted:
                results.append(
                    TimeEntryResult(
                        entry_id=expense.id, status=PostingStatus.ALREADY_POSTED, native_id=posted[key]
                    )
                )
            elif job is None:
                results.append(_refused(expense.id, f"unknown project code {expense.project_id}"))
            elif job.get("isinactive") == "T":
                results.append(_refused(expense.id, f"project {job.get('entityid')} is inactive"))
            elif employee is None:
                results.append(_refused(expense.id, f"worker {expense.worker_id} has no NetSuite employee"))
            else:
                body = mapping.expense_report_body(
                    expense, job_id=str(job["id"]), employee_id=employee, category_id=self._category(expense)
                )
                results.append(self._put_expense(op, expense, key, body))
        return results

    def _category(self, expense: Expense) -> str | None:
        pairs = (
            pair.partition("=")
            for pair in (self._connection.options.get("expense_categories") or "").split(",")
        )
        categories = {name.strip().lower(): value.strip() for name, _, value in pairs if value}
        return categories.get(expense.category.lower()) or self._connection.options.get(
            "default_expense_category"
        )

    def _put_expense(self, op: str, expense: Expense, key: str, body: dict[str, Any]) -> TimeEntryResult:
        try:
            response = self._api.request(
                op, "PUT", f"record/v1/expenseReport/eid:{key}", json=body, repeatable=True
            )
        except PermanentConnectorError as error:
            if error.http_status == 401:
                raise
            return _refused(
                expense.id, _refusal_text(error, expense.incurred_on, expense.project_id), error.platform_code
            )
        native_id = self._created_id(op, response, EXPENSE_REPORT, key)
        return TimeEntryResult(entry_id=expense.id, status=PostingStatus.POSTED, native_id=native_id)

    def adjust_expense(self, document_id: str, expense: Expense) -> None:
        op = "adjust_expense"
        if not document_id.isdigit():
            raise self._error(NotFound, op, f"no expense report {document_id!r} in NetSuite", status=404)
        job = self._jobs(op, {expense.project_id}).get(expense.project_id)
        employee = self._employees(op, {expense.worker_id}).get(expense.worker_id)
        if job is None or employee is None:
            raise self._error(
                PermanentConnectorError,
                op,
                f"unknown project {expense.project_id} or worker {expense.worker_id}",
            )
        body = mapping.expense_report_body(
            expense, job_id=str(job["id"]), employee_id=employee, category_id=self._category(expense)
        )
        self._api.request(
            op,
            "PATCH",
            f"record/v1/expenseReport/{document_id}",
            params={"replace": "expense"},
            json=body,
            repeatable=True,
        )

    def reverse_expense(self, document_id: str, expense_id: str) -> None:
        self._delete("reverse_expense", EXPENSE_REPORT, document_id)

    def find_expense(self, expense_id: str) -> PostedDocument | None:
        record = self._get("find_expense", EXPENSE_REPORT, f"eid:{external_id(expense_id)}", expand=True)
        if record is None or not str(record.get("id", "")).isdigit():
            return None
        worked = record.get("tranDate")
        return PostedDocument(
            document_id=str(record["id"]), work_date=date.fromisoformat(str(worked)[:10]) if worked else None
        )

    def _delete(self, op: str, record_type: str, document_id: str) -> None:
        if not document_id.isdigit():
            return  # never an id NetSuite gave: nothing of ours to take out
        try:
            self._api.request(op, "DELETE", f"record/v1/{record_type}/{document_id}", repeatable=True)
        except NotFound:
            return  # gone already: the reversal holds

    def _post_one(self, op: str, entry: TimeEntry, key: str, body: dict[str, Any]) -> TimeEntryResult:
        try:
            response = self._api.request(
                op, "PUT", f"record/v1/timeBill/eid:{key}", json=body, repeatable=True
            )
        except PermanentConnectorError as error:
            if error.http_status == 401:  # the whole call fails the same way
                raise
            return _rejected(
                entry, _refusal_text(error, entry.work_date, entry.project_id), error.platform_code
            )
        native_id = self._created_id(op, response, TIME_BILL, key)
        return TimeEntryResult(entry_id=entry.id, status=PostingStatus.POSTED, native_id=native_id)

    # -- invoices (InvoiceTarget) ------------------------------------------------------------------
    def draft_invoice(self, request: InvoiceRequest) -> DraftedInvoice:
        """The draft invoice for ``request.invoice_key``, pending approval: upserted by external
        id, so a repeat updates the one draft; one already sent is returned as it is."""
        op = "draft_invoice"
        what = f"invoice {request.invoice_key} for project {request.project_code}"
        content = self._invoice_content(op, request, what)
        key = external_id(request.invoice_key)
        existing = self._get(op, INVOICE, f"eid:{key}", expand=True)
        if existing is not None and not mapping.pending_approval(existing):
            return self._drafted(op, existing, request.invoice_key, request.currency)
        customer_id, job_id = self._invoice_parties(op, request, what)
        currency_id = self._invoice_currency(op, request, customer_id, what)
        body = mapping.invoice_body(content, customer_id=customer_id, job_id=job_id, currency_id=currency_id)
        with self._reworded(f"{what}: NetSuite refused it"):
            response = self._api.request(
                op,
                "PUT",
                f"record/v1/invoice/eid:{key}",
                params={"replace": "item"},
                json=body,
                repeatable=True,
            )
        native_id = self._created_id(op, response, INVOICE, key)
        record = self._get(op, INVOICE, native_id, expand=True)
        if record is None:
            raise self._error(
                TransientConnectorError, op, f"NetSuite accepted invoice {native_id} but does not show it yet"
            )
        return self._drafted(op, record, request.invoice_key, request.currency)

    def find_invoice(self, invoice_key: str) -> DraftedInvoice | None:
        op = "find_invoice"
        record = self._get(op, INVOICE, f"eid:{external_id(invoice_key)}", expand=True)
        if record is None or not str(record.get("id", "")).isdigit():
            return None
        return self._drafted(op, record, invoice_key, None)

    def credit_invoice(self, native_id: str, amount: Money, reason: str, idempotency_key: str) -> str:
        """A credit memo created from the invoice, upserted by external id (the idempotency
        key): a retry updates the one it made. A draft still pending approval is approved first."""
        op = "credit_invoice"
        what = f"credit memo for invoice {native_id}"
        if not native_id.isdigit():
            raise self._error(NotFound, op, f"no invoice {native_id!r} in NetSuite", status=404)
        invoice = self._get(op, INVOICE, native_id, expand=True)
        if invoice is None:
            raise self._error(NotFound, op, f"no invoice {native_id} in NetSuite", status=404)
        body = self._credit_memo_body(op, invoice, amount, reason, what)
        if mapping.pending_approval(invoice):
            with self._reworded(f"{what}: NetSuite refused to approve the invoice first"):
                self._api.request(
                    op,
                    "PATCH",
                    f"record/v1/invoice/{native_id}",
                    json={"approvalStatus": {"id": mapping.APPROVED}},
                    repeatable=True,
                )
        key = external_id(idempotency_key)
        with self._reworded(f"{what}: NetSuite refused it"):
            response = self._api.request(
                op,
                "PUT",
                f"record/v1/creditMemo/eid:{key}",
                params={"replace": "item"},
                json=body,
                repeatable=True,
            )
        return self._created_id(op, response, CREDIT_MEMO, key)

    def _invoice_content(self, op: str, request: InvoiceRequest, what: str) -> dict[str, Any]:
        """The invoice's lines and fields, refused before anything is sent."""
        item = self._options.invoice_item_id
        if item is None:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{what}: invoicing needs the item its lines bill: set options.invoice_item_id (or time_item_id)",
            )
        try:
            return mapping.invoice_content(request, item_id=item, tax_item_id=self._options.tax_item_id)
        except Refused as refused:
            raise self._error(PermanentConnectorError, op, f"{what}: {refused}") from None

    def _invoice_parties(self, op: str, request: InvoiceRequest, what: str) -> tuple[str, str]:
        """The customer (found by pshub's client id) and the project's job the invoice bills."""
        customer_id = self._customer_id(op, request.client_id)
        if customer_id is None:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{what}: client {request.client_id} has no NetSuite customer (upsert the client first)",
            )
        job = self._jobs(op, {request.project_code}).get(request.project_code)
        if job is None or job.get("isinactive") == "T":
            state = "is inactive" if job is not None else "is not in NetSuite"
            raise self._error(PermanentConnectorError, op, f"{what}: project {request.project_code} {state}")
        return customer_id, str(job["id"])

    def _credit_memo_body(
        self, op: str, invoice: Mapping[str, Any], amount: Money, reason: str, what: str
    ) -> dict[str, Any]:
        currency = self._currency_code(op, invoice)
        if currency is not None and currency != amount.currency:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{what}: the invoice is in {currency}, the credit in {amount.currency}",
            )
        item = self._options.invoice_item_id
        if item is None:
            raise self._error(
                PermanentConnectorError, op, f"{what}: set options.invoice_item_id (or time_item_id)"
            )
        try:
            return mapping.credit_memo_body(invoice, amount, reason, item_id=item)
        except Refused as refused:
            raise self._error(PermanentConnectorError, op, f"{what}: {refused}") from None

    def _invoice_currency(self, op: str, request: InvoiceRequest, customer_id: str, what: str) -> str | None:
        """The currency id to send (the connection maps currencies), else None once the
        customer's own currency is known to be the invoice's."""
        lookup = self._setup.currencies
        if lookup.ids:
            try:
                return lookup.id_for(request.currency, "currency")
            except Refused as refused:
                raise self._error(PermanentConnectorError, op, f"{what}: {refused}") from None
        customer = self._get(op, CUSTOMER, customer_id)
        billed_in = self._currency_code(op, customer) if customer is not None else None
        if billed_in is not None and billed_in != request.currency:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{what}: customer {customer_id} bills in {billed_in}, the invoice is in {request.currency} "
                "(map the invoice's currency in options.currencies)",
            )
        return None

    def _currency_code(self, op: str, record: Mapping[str, Any]) -> str | None:
        """The ISO code of a record's ``currency`` (a reference shows the currency's name)."""
        ref = mapping.reference(record, "currency")
        if ref is None:
            return None
        if ref in self._setup.currencies.known_ids:
            return self._setup.currencies.value_for(ref)
        known, _ = self._known("currency", {ref})
        if ref in known:
            return str(known[ref])
        rows = self._suiteql(op, mapping.currencies_query([ref]))
        code = next(
            (str(r["symbol"]).upper() for r in rows if str(r.get("id")) == ref and r.get("symbol")), None
        )
        if code is not None:
            self._remember("currency", {ref: code})
        return code

    def _drafted(
        self, op: str, record: Mapping[str, Any], invoice_key: str, currency: str | None
    ) -> DraftedInvoice:
        code = self._currency_code(op, record) or currency
        if code is None:
            raise self._error(
                TransientConnectorError, op, f"NetSuite shows invoice {record.get('id')} without its currency"
            )
        return DraftedInvoice(
            native_id=str(record["id"]),
            invoice_key=invoice_key,
            status=mapping.transaction_status(record),
            total=mapping.money_of(record.get("total"), code),
            line_count=len(mapping.sublist_items(record, "item")),
        )

    # -- change feed (pollers, reconciliation; not part of the ERP role) ----------------------------
    def changed_since(
        self, object_type: str, since: datetime, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Records of ``object_type`` (``customer``/``client``, ``job``/``project``,
        ``timebill``/``time_entry``) modified at or after ``since``, oldest first, one SuiteQL
        page at a time; the token is the next page's offset. Callers keep an overlap and drop
        repeats by ``(id, lastmodified)``: offset paging shifts when records change meanwhile."""
        op = "changed_since"
        table = mapping.CHANGE_TABLES.get(object_type)
        if table is None:
            raise ValueError(
                f"NetSuite has no change feed for {object_type!r} (one of {sorted(mapping.CHANGE_TABLES)})"
            )
        if page_token is not None and not page_token.isdigit():
            raise ValueError(f"{page_token!r} is not a page token this connector handed out")
        offset = int(page_token or 0)
        document = self._suiteql_page(op, mapping.changed_query(table, since), offset)
        items = [{k: v for k, v in item.items() if k != "links"} for item in document.get("items") or []]
        more = bool(document.get("hasMore"))
        return items, str(offset + len(items)) if more and items else None

    # -- HTTP helpers ------------------------------------------------------------------------------
    def _suiteql(self, op: str, query: str) -> list[dict[str, Any]]:
        document = self._suiteql_page(op, query, 0)
        return [item for item in document.get("items") or [] if isinstance(item, dict)]

    def _suiteql_page(self, op: str, query: str, offset: int) -> dict[str, Any]:
        response = self._api.request(
            op,
            "POST",
            "query/v1/suiteql",
            params={"limit": PAGE_SIZE, "offset": offset},
            json={"q": query},
            headers={"Prefer": "transient"},
            repeatable=True,  # a query changes nothing
        )
        document = response.json_or_none()
        return document if isinstance(document, dict) else {}

    def _get(self, op: str, record_type: str, key: str, *, expand: bool = False) -> dict[str, Any] | None:
        params = {"expandSubResources": "true"} if expand else None
        try:
            response = self._api.request(op, "GET", f"record/v1/{record_type}/{key}", params=params)
        except NotFound:
            return None
        document = response.json_or_none()
        return document if isinstance(document, dict) else None

    def _job(self, op: str, native_id: str) -> dict[str, Any]:
        """The job ``native_id``; ``NotFound`` in pshub's words (and NetSuite's, if it was asked)."""
        message = f"no project {native_id!r} in NetSuite"
        if not native_id.isdigit():  # not an internal id: never put into a path
            raise self._error(NotFound, op, message, status=404)
        with self._reworded(message):
            document = self._api.request(op, "GET", f"record/v1/job/{native_id}").json_or_none()
        if not isinstance(document, dict):
            raise self._error(
                TransientConnectorError, op, f"NetSuite answered job {native_id} without a record"
            )
        return document

    def _created_id(self, op: str, response: ApiResponse, record_type: str, key: str) -> str:
        """The new record's internal id: from ``Location``, else read back by external id."""
        native_id = mapping.native_id_from_location(response.header("Location"))
        if native_id is not None:
            return native_id
        record = self._get(op, record_type, f"eid:{key}")
        if record is None or not str(record.get("id", "")).isdigit():
            raise self._error(
                TransientConnectorError, op, f"NetSuite accepted {record_type} {key} but does not show it yet"
            )
        return str(record["id"])

    def _post_again(self, op: str, path: str, body: dict[str, Any], what: str) -> ApiResponse:
        """The read-back found nothing: the lost create never applied, so it is sent once more."""
        try:
            return self._api.request(op, "POST", path, json=body)
        except PermanentConnectorError as error:
            raise self._reworded_error(error, f"{what}: NetSuite refused it") from None

    @contextmanager
    def _reworded(self, message: str) -> Iterator[None]:
        """A plain refusal (not a conflict, not a throttle) re-raised in pshub's words."""
        try:
            yield
        except PermanentConnectorError as error:
            if type(error) not in (PermanentConnectorError, NotFound):
                raise
            raise self._reworded_error(error, message) from None

    def _reworded_error(self, error: PermanentConnectorError, message: str) -> PermanentConnectorError:
        """``error`` in pshub's words naming the record, the platform's words kept."""
        if type(error) not in (PermanentConnectorError, NotFound):
            return error
        reworded = error.reworded(f"{message} (HTTP {error.http_status})" if error.http_status else message)
        assert isinstance(reworded, PermanentConnectorError)
        return reworded

    def _error(
        self,
        cls: type[ConnectorError],
        op: str,
        message: str,
        *,
        cause: ConnectorError | None = None,
        status: int | None = None,
        **own: Any,
    ) -> Any:
        return cls(
            message,
            platform=PLATFORM,
            connection_id=self.connection_id,
            operation=op,
            platform_code=cause.platform_code if cause else None,
            platform_message=cause.platform_message if cause else None,
            http_status=cause.http_status if cause else status,
            **own,
        )


def _duplicate(error: ConnectorError) -> bool:
    """NetSuite refused a create because a record with the same key exists."""
    return error.platform_code in DUPLICATE_CODES or "already exists" in (error.platform_message or "")


def _refused(entry_id: str, reason: str, platform_code: str | None = None) -> TimeEntryResult:
    return TimeEntryResult(
        entry_id=entry_id, status=PostingStatus.REJECTED, reason=reason, platform_code=platform_code
    )


def _rejected(entry: TimeEntry, reason: str, platform_code: str | None = None) -> TimeEntryResult:
    return _refused(entry.id, reason, platform_code)


def _refusal_text(error: ConnectorError, day: date, project: str) -> str:
    """Why NetSuite refused one time entry or expense, in pshub's words."""
    detail = (error.platform_message or "").lower()
    if "period" in detail and "closed" in detail:
        return f"accounting period for {day} is closed"
    if "inactive" in detail:
        return f"project {project} is inactive"
    return f"NetSuite refused it ({error.platform_code or error.http_status}: {error.platform_message})"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

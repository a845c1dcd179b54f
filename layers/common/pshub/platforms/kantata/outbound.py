"""Kantata OX (formerly Mavenlink) as pshub's PSA, over its REST API v1.

Configuration
- Credentials (the connection's ``api`` secret, a JSON object): ``access_token``, an
  OAuth 2.0 bearer token from Kantata's authorization-code flow
  (``https://app.mavenlink.com/oauth/authorize`` / ``/oauth/token``). Kantata's tokens do
  not expire; revoking the app kills them, so a 401 is permanent (no refresh).
- Options: ``base_url`` (default ``https://api.mavenlink.com/api/v1``); ``templates``
  (``service_line=TEMPLATE,...``: a Kantata project template id, or its exact title,
  looked up once with ``GET /project_templates``); ``default_currency`` (ISO 4217, the
  currency of a project without a budget; USD); and the HTTP kit's own
  (``rate_per_s``, ``burst``, timeouts, ``max_attempts``, ``max_wait_s``). Kantata does not
  publish its limits and answers 429 without ``Retry-After``: pshub waits 2 s then.

Idempotency (Kantata has none: no key header, no upsert on a POST)
- Project: read-before-write by pshub's marker. Before creating, the workspace is
  looked up by its external reference (``external_reference_service_name=pshub`` and
  ``external_reference_service_model_refs=<code>``), then by the code as the first word
  of its title (``matching=<code>``, checked exactly), archived ones included. The
  reference is written in the same ``POST /workspaces.json``, so both markers exist
  from the first instant; the title search finds a workspace whose reference is gone
  (or one created before pshub managed it) and adopts it. Same content: the existing
  id (an archived one is unarchived: a compensated project comes back); other content:
  ``Conflict`` naming the fields. A lost answer (``OutcomeUnknown``) is resolved by the
  same read-back; only when nothing is found is the workspace sent again, once.
  Two workers creating the same code in the same second could still both create:
  Kantata enforces no unique key, so the workflow must not run one project twice at once.
- Rate card: replaced on the workspace rate card's effective version, role by role:
  ``PUT /rate_card_roles/{id}`` and ``DELETE`` are repeatable; a ``POST`` whose answer is
  lost is resolved by re-reading the version's roles (a role appears once per version).
- Milestones (a change order's): milestone stories, found by pshub's reference (service model
  ``milestone``, the milestone's id) written inline in the ``POST /stories.json``; a lost answer
  is resolved by the same read-back, and only when nothing is found is the story sent again,
  once. A re-priced or re-dated one is a repeatable ``PUT /stories/{id}`` of what differs.
- References: ``POST /external_references/create_or_update`` is an upsert by subject and
  service name, safe to resend.

The change feed (``ChangeFeed``, for the poller): milestone stories updated since a watermark,
each with pshub's milestone id and its project's code; workspaces too, for reconciliation.
Errors come back as Kantata's envelope ``{"errors": [{"type", "message", "field"?}]}``
(``type`` is ``oauth``, ``system`` or ``validation``); ``describe_kantata`` reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pshub.canonical.currencies import currency as iso_currency
from pshub.canonical.model import Milestone, Money, Project, RateCard
from pshub.connections import Connection, ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
)
from pshub.connectors.feed import FeedPage, FeedRecord
from pshub.connectors.http import ApiResponse, ApiSettings, ConnectorContext, VendorError, api_client
from pshub.connectors.http.auth import HeaderAuth
from pshub.connectors.results import PsaProject
from pshub.platforms.kantata import mapping
from pshub.platforms.kantata.mapping import MILESTONE_MODEL, PROJECT_MODEL, RATE_CARD_MODEL, MappingError

if TYPE_CHECKING:
    from pshub.connectors.psa import PsaConnector

log = logging.getLogger(__name__)
BASE_URL = "https://api.mavenlink.com/api/v1"
DEFAULT_RETRY_AFTER_S = 2.0  # Kantata: "retry after a small delay", no Retry-After header
PAGE_SIZE = 200  # Kantata's per_page maximum
_MAX_PAGES = 500
# Money and personal data in the bodies the HTTP kit logs at DEBUG.
MASK_FIELDS = (
    "$..rate",
    "$..default_rate",
    "$..price",
    "$..price_in_cents",
    "$..budget_remaining",
    "$..budget_used",
    "$..budget_used_in_cents",
    "$..total_expenses_in_cents",
    "$..total_invoiced",
    "$..full_name",
    "$..email_address",
    "$..primary_maven",
    "$..primary_counterpart",
)
_E = TypeVar("_E", bound=ConnectorError)


def describe_kantata(response: ApiResponse) -> VendorError:
    """Kantata's error envelope: the first error's ``type`` as the code, every message joined."""
    document = response.json_or_none()
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return VendorError()
    entries = [e for e in errors if isinstance(e, dict)]
    code = next((e["type"] for e in entries if isinstance(e.get("type"), str) and e["type"]), None)
    messages = []
    for entry in entries:
        text = entry.get("message")
        if isinstance(text, str) and text:
            field = entry.get("field")
            messages.append(f"{field}: {text}" if isinstance(field, str) and field else text)
    return VendorError(code=code, message="; ".join(messages) or None)


@dataclass(frozen=True)
class _Found:
    """A workspace and pshub's reference on it (None: found by its title only)."""

    workspace: dict[str, Any]
    reference: dict[str, Any] | None

    @property
    def id(self) -> str:
        return str(self.workspace["id"])

    @property
    def facts(self) -> dict[str, Any] | None:
        return mapping.read_descriptor(self.reference.get("external_message")) if self.reference else None

    @property
    def code(self) -> str | None:
        ref = self.reference.get("service_model_ref") if self.reference else None
        return ref if isinstance(ref, str) else None


@dataclass(frozen=True)
class _RoleRate:
    rate_card_role_id: str
    role_id: str
    name: str
    rate: int


class KantataPsa:
    """``PsaConnector`` over Kantata OX: workspaces from templates, workspace rate cards."""

    def __init__(self, connection: Connection, context: ConnectorContext) -> None:
        self._connection = connection
        settings = ApiSettings.of(connection.id, connection.options, default_base_url=BASE_URL)
        self._api = api_client(
            connection,
            context,
            HeaderAuth(context.credential(connection, "access_token")),
            settings=settings,
            describe=describe_kantata,
            default_retry_after_s=DEFAULT_RETRY_AFTER_S,
            refresh_on_401=False,
            mask_fields=MASK_FIELDS,
        )
        self._templates = _templates(connection)
        self._default_currency = _default_currency(connection)
        self._template_titles: dict[str, int] | None = None
        self._role_ids: dict[str, str] | None = None

    @property
    def connection_id(self) -> str:
        return self._connection.id

    @property
    def platform(self) -> str:
        return self._connection.platform

    # -- PsaConnector --------------------------------------------------------------------------
    def template_for(self, service_line: str) -> str | None:
        return self._templates.get(service_line)

    def create_project_from_template(self, project: Project, template: str) -> str:
        op = "create_project_from_template"
        code = project.code
        try:
            mapping.check_code(code)
            template_id = self._template_id(op, template)
            currency = project.budget.currency if project.budget else self._default_currency
            body = mapping.workspace_body(project, template_id, template, currency)
            requested = mapping.requested_content(project, template)
        except MappingError as unfit:
            raise self._error(PermanentConnectorError, op, str(unfit)) from None
        found = self._find(op, code)
        if found is not None:
            return self._existing(op, project, template, found, requested)
        for attempt in (1, 2):
            try:
                response = self._api.request(op, "POST", "/workspaces.json", json=body)
            except OutcomeUnknown:
                found = self._find(op, code)
                if found is not None:
                    log.info("lost answer resolved by read-back", extra={"project_code": code})
                    return self._existing(op, project, template, found, requested)
                if attempt == 2:
                    raise
                log.warning("lost answer, no workspace found: sending again", extra={"project_code": code})
                continue
            except PermanentConnectorError as refused:
                raise self._refined(refused, f"Kantata refused the workspace for project {code}") from None
            created = mapping.records(response.json_or_none(), "workspaces")
            if not created:
                raise self._error(
                    PermanentConnectorError, op, f"Kantata answered without the workspace for project {code}"
                )
            return str(created[0]["id"])
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def push_rate_card(self, project_native_id: str, rate_card: RateCard) -> None:
        op = "push_rate_card"
        found = self._workspace(op, project_native_id)
        label = f"project {found.code}" if found.code else f"workspace {found.id}"
        workspace = found.workspace
        bills_in = str(workspace.get("currency") or "")
        self._check_rate_card(op, found, label, bills_in, rate_card)
        try:
            wanted_by_name = mapping.role_rates(rate_card)
            descriptor = mapping.rate_card_descriptor(rate_card)
        except MappingError as unfit:
            raise self._error(PermanentConnectorError, op, f"{label}: {unfit}") from None
        rate_card_id = workspace.get("rate_card_id")
        if not rate_card_id:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{label} has no rate card in Kantata (its template or the account must give it one)",
            )
        card, version_id, card_ref = self._rate_card(op, str(rate_card_id))
        if card.get("currency") != bills_in:
            raise self._error(
                PermanentConnectorError,
                op,
                f"{label}'s rate card {card['id']} is in {card.get('currency')}, the project in {bills_in}",
            )
        role_ids = self._roles(op, set(wanted_by_name), label)
        wanted = {role_ids[name]: cents for name, cents in wanted_by_name.items()}
        current = {r.role_id: r for r in self._version_roles(op, version_id)}
        for role_id, cents in wanted.items():
            have = current.get(role_id)
            if have is None:
                self._add_role(op, version_id, role_id, cents, label)
            elif have.rate != cents:
                self._write(
                    op,
                    "PUT",
                    f"/rate_card_roles/{have.rate_card_role_id}.json",
                    {"rate_card_role": {"rate": cents}},
                    f"the rate of role {have.name} on {label}",
                )
        for role_id, have in current.items():
            if role_id not in wanted:
                self._write(
                    op,
                    "DELETE",
                    f"/rate_card_roles/{have.rate_card_role_id}.json",
                    None,
                    f"the removal of role {have.name} from {label}",
                )
        if (
            card_ref is None
            or card_ref.get("service_model_ref") != rate_card.id
            or card_ref.get("external_message") != descriptor
        ):
            self._reference(
                op, "RateCard", str(card["id"]), RATE_CARD_MODEL, rate_card.id, descriptor, "active"
            )

    def amend_project(
        self, native_id: str, code: str, *, budget: Money | None = None, end_date: date | None = None
    ) -> None:
        """A change order: the workspace's budget (``price``, whole units) and due date. The
        same values again are one repeatable ``PUT``; a budget in another currency is refused."""
        op = "amend_project"
        found = self._workspace(op, native_id)
        label = f"project {code}"
        fields: dict[str, Any] = {}
        if budget is not None:
            if budget.currency != found.workspace.get("currency"):
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"{label}: the amended budget is in {budget.currency}, the workspace in "
                    f"{found.workspace.get('currency')}",
                )
            try:
                fields["price"] = mapping.whole_units(budget)
            except MappingError as unfit:
                raise self._error(PermanentConnectorError, op, f"{label}: {unfit}") from None
        if end_date is not None:
            fields["due_date"] = end_date.isoformat()
        if fields:
            self._write(op, "PUT", f"/workspaces/{found.id}.json", {"workspace": fields}, f"amending {label}")

    def push_milestones(self, native_id: str, code: str, milestones: list[Milestone]) -> dict[str, str]:
        """A change order's milestones as milestone stories on the workspace's plan, each found
        by pshub's reference (the milestone id, written inline on creation): a new one is created,
        a re-priced or re-dated one updated with what differs, an unchanged one left alone."""
        op = "push_milestones"
        found = self._workspace(op, native_id)
        label = f"project {code}"
        currency = str(found.workspace.get("currency") or self._default_currency)
        try:
            wanted = {m.id: mapping.milestone_story(m, currency) for m in milestones}
        except MappingError as unfit:
            raise self._error(PermanentConnectorError, op, f"{label}: {unfit}") from None
        held = self._milestone_stories(op, found.id, list(wanted))
        pushed: dict[str, str] = {}
        for milestone_id, story in wanted.items():
            existing = held.get(milestone_id)
            if existing is None:
                pushed[milestone_id] = self._create_story(op, found.id, milestone_id, story, label)
                continue
            changes = mapping.story_differs(existing, story)
            if changes:
                self._write(
                    op,
                    "PUT",
                    f"/stories/{existing['id']}.json",
                    {"story": changes},
                    f"milestone {milestone_id} of {label}",
                )
            pushed[milestone_id] = str(existing["id"])
        return pushed

    def archive_project(self, native_id: str, reason: str) -> None:
        op = "archive_project"
        found = self._workspace(op, native_id)
        reference = found.reference
        already = bool(found.workspace.get("archived"))
        if not already:
            self._write(
                op,
                "PUT",
                f"/workspaces/{found.id}.json",
                {"workspace": {"archived": True}},
                f"archiving workspace {found.id}",
            )
        if reference is not None and mapping.archive_reason(reference) is None and found.code:
            status = f"archived: {mapping.clean_text(reason)}"[:255]
            message = str(reference.get("external_message") or "")
            self._reference(op, "Workspace", found.id, PROJECT_MODEL, found.code, message, status)

    def get_project(self, code: str) -> PsaProject | None:
        op = "get_project"
        found = self._find(op, code)
        facts = found.facts if found is not None else None
        if found is None or facts is None:
            return None  # not (yet) a pshub project: create_project_from_template adopts it
        workspace = found.workspace
        currency = str(workspace.get("currency") or self._default_currency)
        return PsaProject(
            native_id=found.id,
            project=mapping.project_from(workspace, code, facts, self.connection_id),
            template=str(facts.get("template") or ""),
            currency=currency,
            rate_card=self._pushed_rate_card(op, workspace, currency),
            archived=bool(workspace.get("archived")),
            archive_reason=mapping.archive_reason(found.reference),
        )

    # -- the change feed (``pshub.connectors.feed.ChangeFeed``), for the poller ---------------------------
    def feed_objects(self) -> tuple[str, ...]:
        """What pshub polls Kantata for: milestone stories (their completion is billable)."""
        return (mapping.MILESTONES_FEED,)

    def changed_since(self, object_type: str, since: datetime, page_token: str | None = None) -> FeedPage:
        """Milestone stories (``milestones``) or workspaces (``project``) updated at or after
        ``since``, oldest first, one page (up to 200) per call, archived ones included; the token
        names the next page. A milestone carries pshub's two facts the story lacks: its
        milestone id (pshub's reference on it, None for one made in Kantata) and its project's
        code (the workspace's reference), read with one more request per page."""
        kind = object_type.lower()
        if kind not in {mapping.MILESTONES_FEED, "project", "workspace"}:
            raise ValueError(
                f"Kantata's feed serves milestones and projects (workspaces), not {object_type!r}"
            )
        when = since if since.tzinfo else since.replace(tzinfo=UTC)
        after, page = self._feed_token(page_token, when)
        params: dict[str, Any] = {
            "updated_after": after.isoformat(),
            "order": "updated_at:asc",
            "page": page,
            "per_page": PAGE_SIZE,
            "include": "external_references",
        }
        try:
            records, page_count = self._feed_page(kind, params)
        except MappingError as unfit:
            raise self._error(PermanentConnectorError, "changed_since", str(unfit)) from None
        # Keyset paging: the next page starts after the newest stamp read, so a record updated
        # while the query runs (it moves to the end) cannot shift another past a page boundary.
        # Only a page whose records all share the stamp it started from goes on by number.
        next_token = None
        if page < page_count and records:
            newest = max(r.modified_at for r in records)
            start = newest - timedelta(seconds=1)  # Kantata compares strictly; repeats are absorbed
            next_token = f"{start.isoformat()}#1" if start > after else f"{after.isoformat()}#{page + 1}"
        return FeedPage(records=[r for r in records if r.modified_at >= when], next_token=next_token)

    def _feed_token(self, token: str | None, since: datetime) -> tuple[datetime, int]:
        if token is None:
            return since - timedelta(seconds=1), 1  # Kantata's updated_after is strict
        stamp, _, page = token.partition("#")
        try:
            after = datetime.fromisoformat(stamp)
        except ValueError:
            after = None
        if after is None or after.tzinfo is None or not page.isdigit():
            raise self._error(
                PermanentConnectorError, "changed_since", "the page token is not one this feed gave"
            )
        return after, int(page)

    def _feed_page(self, kind: str, params: dict[str, Any]) -> tuple[list[FeedRecord], int]:
        if kind == mapping.MILESTONES_FEED:
            document = self._api.request(
                "changed_since",
                "GET",
                "/stories.json",
                params={**params, "story_type": "milestone", "archived": "include"},
            ).json()
            records = self._milestone_records(document)
        else:
            document = self._api.request(
                "changed_since", "GET", "/workspaces.json", params={**params, "include_archived": "true"}
            ).json()
            records = [
                mapping.feed_record(
                    {
                        **w,
                        "external_references": mapping.side_loaded(
                            document, "external_references", w.get("external_reference_ids")
                        ),
                    }
                )
                for w in mapping.records(document, "workspaces")
            ]
        return records, _page_count(document)

    def present_ids(self, object_type: str, start: date, end: date) -> set[str]:
        """The milestone stories due in ``start``..``end`` that exist now (archived included)."""
        if object_type.lower() != mapping.MILESTONES_FEED:
            raise ValueError(f"Kantata's feed detects deletes of milestones only, not {object_type!r}")
        params = {
            "story_type": "milestone",
            "due_between": f"{start.isoformat()}:{end.isoformat()}",
            "archived": "include",
            "per_page": PAGE_SIZE,
        }
        return {
            str(story["id"])
            for document in self._pages("present_ids", "/stories.json", params)
            for story in mapping.records(document, "stories")
        }

    def _milestone_records(self, document: dict[str, Any]) -> list[FeedRecord]:
        stories = mapping.records(document, "stories")
        codes = self._codes_of({str(s.get("workspace_id")) for s in stories if s.get("workspace_id")})
        records = []
        for story in stories:
            references = mapping.side_loaded(
                document, "external_references", story.get("external_reference_ids")
            )
            reference = mapping.pshub_reference(references, MILESTONE_MODEL)
            ref = reference.get("service_model_ref") if reference else None
            data = {
                **story,
                "pshub_milestone_id": ref if isinstance(ref, str) else None,
                "pshub_project_code": codes.get(str(story.get("workspace_id"))),
            }
            records.append(mapping.feed_record(data))
        return records

    def _codes_of(self, workspace_ids: set[str]) -> dict[str, str]:
        """Workspace id -> pshub's project code on it, for the workspaces of one page."""
        if not workspace_ids:
            return {}
        params = {
            "only": ",".join(sorted(workspace_ids)),
            "include_archived": "true",
            "include": "external_references",
        }
        return {f.id: f.code for f in self._workspaces("changed_since", params) if f.code}

    # -- finding workspaces ---------------------------------------------------------------------------
    def _find(self, op: str, code: str) -> _Found | None:
        """The workspace of project ``code``: by pshub's reference, else by the code in its title."""
        if "," in code:
            return None  # no such code was ever written (check_code refuses it)
        by_reference = {
            "external_reference_service_name": mapping.SERVICE_NAME,
            "external_reference_service_model": PROJECT_MODEL,
            "external_reference_service_model_refs": code,
            "include_archived": "true",
            "include": "external_references",
            "per_page": PAGE_SIZE,
        }
        candidates = [f for f in self._workspaces(op, by_reference) if f.code == code]
        if not candidates:
            by_title = {
                "matching": code,
                "include_archived": "true",
                "include": "external_references",
                "per_page": PAGE_SIZE,
            }
            candidates = [
                f
                for f in self._workspaces(op, by_title)
                if mapping.title_marks(f.workspace.get("title"), code) and f.code in {None, code}
            ]
        # Kantata keys nothing: if a race ever made two, the oldest is the project.
        return min(candidates, key=lambda f: int(f.id)) if candidates else None

    def _workspace(self, op: str, native_id: str) -> _Found:
        # ``only=`` rather than ``GET /workspaces/{id}``: a show route 404s on default filters.
        params = {"only": native_id, "include_archived": "true", "include": "external_references"}
        found = list(self._workspaces(op, params)) if native_id.isdigit() else []
        if not found:
            raise self._error(NotFound, op, f"no workspace {native_id!r} in Kantata")
        return found[0]

    def _workspaces(self, op: str, params: dict[str, Any]) -> Iterator[_Found]:
        for document in self._pages(op, "/workspaces.json", params):
            for workspace in mapping.records(document, "workspaces"):
                references = mapping.side_loaded(
                    document, "external_references", workspace.get("external_reference_ids")
                )
                yield _Found(workspace, mapping.pshub_reference(references, PROJECT_MODEL))

    def _existing(
        self, op: str, project: Project, template: str, found: _Found, requested: Mapping[str, Any]
    ) -> str:
        held = mapping.held_content(found.workspace, project.code, found.facts)
        differing = mapping.differing_fields(held, requested)
        if differing:
            raise self._error(
                Conflict,
                op,
                f"project code {project.code} already has workspace {found.id} with different "
                f"{', '.join(differing)}",
                key=project.code,
                fields=differing,
            )
        archived = bool(found.workspace.get("archived"))
        if archived:  # a compensated project comes back when the workflow is resumed
            self._write(
                op,
                "PUT",
                f"/workspaces/{found.id}.json",
                {"workspace": {"archived": False}},
                f"unarchiving workspace {found.id}",
            )
        if archived or found.facts is None:
            descriptor = mapping.descriptor_for(project, template)
            self._reference(op, "Workspace", found.id, PROJECT_MODEL, project.code, descriptor, "active")
        return found.id

    # -- templates, roles, rate cards ------------------------------------------------------------------
    def _template_id(self, op: str, template: str) -> int:
        if template.isdigit():
            return int(template)
        for refresh in (False, True):
            titles = self._template_titles if not refresh else None
            if titles is None:
                titles = self._template_titles = {}
                for document in self._pages(op, "/project_templates.json", {"per_page": PAGE_SIZE}):
                    for item in mapping.records(document, "project_templates"):
                        titles.setdefault(str(item.get("title")), int(item["id"]))
            if template in titles:
                return titles[template]
        known = ", ".join(sorted(self._template_titles or {})) or "none"
        raise MappingError(f"template {template!r} is not a project template in Kantata (known: {known})")

    def _roles(self, op: str, names: set[str], label: str) -> dict[str, str]:
        for refresh in (False, True):
            roles = self._role_ids if not refresh else None
            if roles is None:
                roles = self._role_ids = {}
                for document in self._pages(op, "/roles.json", {"per_page": PAGE_SIZE}):
                    for item in mapping.records(document, "roles"):
                        roles.setdefault(str(item.get("name")), str(item["id"]))
            if names <= roles.keys():
                return {name: roles[name] for name in names}
        missing = ", ".join(sorted(names - (self._role_ids or {}).keys()))
        raise self._error(
            PermanentConnectorError, op, f"{label}: roles not defined in Kantata: {missing} (add them first)"
        )

    def _rate_card(self, op: str, rate_card_id: str) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
        """The rate card, its effective version's id and pshub's reference on it."""
        params = {"only": rate_card_id, "include": "effective_rate_card_version,external_references"}
        document = self._api.request(op, "GET", "/rate_cards.json", params=params).json()
        cards = mapping.records(document, "rate_cards")
        if not cards or not cards[0].get("effective_rate_card_version_id"):
            raise self._error(
                PermanentConnectorError, op, f"rate card {rate_card_id} has no effective version in Kantata"
            )
        card = cards[0]
        references = mapping.side_loaded(document, "external_references", card.get("external_reference_ids"))
        return (
            card,
            str(card["effective_rate_card_version_id"]),
            mapping.pshub_reference(references, RATE_CARD_MODEL),
        )

    def _version_roles(self, op: str, version_id: str) -> list[_RoleRate]:
        found: list[_RoleRate] = []
        params = {"rate_card_version_id": version_id, "include": "role", "per_page": PAGE_SIZE}
        for document in self._pages(op, "/rate_card_roles.json", params):
            side = document.get("roles")
            roles: dict[str, Any] = side if isinstance(side, dict) else {}
            for item in mapping.records(document, "rate_card_roles"):
                role_id = str(item.get("role_id"))
                name = str((roles.get(role_id) or {}).get("name") or role_id)
                found.append(_RoleRate(str(item["id"]), role_id, name, int(item.get("rate") or 0)))
        return found

    def _add_role(self, op: str, version_id: str, role_id: str, cents: int, label: str) -> None:
        body = {
            "rate_card_role": {
                "rate_card_version_id": int(version_id),
                "role_id": int(role_id),
                "rate": cents,
            }
        }
        for attempt in (1, 2):
            try:
                self._api.request(op, "POST", "/rate_card_roles.json", json=body)
                return
            except OutcomeUnknown:
                have = next((r for r in self._version_roles(op, version_id) if r.role_id == role_id), None)
                if have is not None:
                    if have.rate != cents:
                        self._write(
                            op,
                            "PUT",
                            f"/rate_card_roles/{have.rate_card_role_id}.json",
                            {"rate_card_role": {"rate": cents}},
                            f"the rate of role {have.name} on {label}",
                        )
                    return
                if attempt == 2:
                    raise
            except PermanentConnectorError as refused:
                raise self._refined(refused, f"Kantata refused a role rate on {label}") from None

    def _pushed_rate_card(self, op: str, workspace: Mapping[str, Any], currency: str) -> RateCard | None:
        rate_card_id = workspace.get("rate_card_id")
        if not rate_card_id:
            return None
        _, version_id, card_ref = self._rate_card(op, str(rate_card_id))
        if card_ref is None:
            return None  # its rates are the template's, not a card pshub pushed
        rates = {r.name: r.rate for r in self._version_roles(op, version_id)}
        return mapping.rate_card_from(card_ref, currency, rates)

    def _check_rate_card(
        self, op: str, found: _Found, label: str, bills_in: str, rate_card: RateCard
    ) -> None:
        repeated = mapping.repeated_roles(rate_card)
        problem = None
        if found.workspace.get("archived"):
            problem = f"{label} is archived"
        elif not rate_card.rates:
            problem = f"rate card {rate_card.id} has no rates"
        elif rate_card.currency != bills_in:
            problem = f"rate card is in {rate_card.currency}; {label} bills in {bills_in}"
        elif repeated:
            problem = f"roles listed twice: {', '.join(repeated)}"
        if problem is not None:
            raise self._error(PermanentConnectorError, op, problem)

    # -- milestones -------------------------------------------------------------------------------------
    def _milestone_stories(self, op: str, workspace_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Milestone id -> the workspace's story carrying pshub's reference to it (archived included)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), PAGE_SIZE):  # Kantata filters up to 200 refs at once
            chunk = ids[start : start + PAGE_SIZE]
            params = {
                "workspace_id": workspace_id,
                "external_reference_service_name": mapping.SERVICE_NAME,
                "external_reference_service_model": MILESTONE_MODEL,
                "external_reference_service_model_refs": ",".join(chunk),
                "archived": "include",
                "include": "external_references",
                "per_page": PAGE_SIZE,
            }
            for document in self._pages(op, "/stories.json", params):
                for story in mapping.records(document, "stories"):
                    references = mapping.side_loaded(
                        document, "external_references", story.get("external_reference_ids")
                    )
                    reference = mapping.pshub_reference(references, MILESTONE_MODEL)
                    ref = reference.get("service_model_ref") if reference else None
                    if ref in chunk and str(story.get("workspace_id")) == workspace_id:
                        found.setdefault(str(ref), story)  # the first: a race never makes two
        return found

    def _create_story(
        self, op: str, workspace_id: str, milestone_id: str, story: dict[str, Any], label: str
    ) -> str:
        body = {
            "story": {
                **story,
                "workspace_id": int(workspace_id),
                "external_reference": {
                    "service_name": mapping.SERVICE_NAME,
                    "service_model": MILESTONE_MODEL,
                    "service_model_ref": milestone_id,
                    "status": "successful",
                },
            }
        }
        for attempt in (1, 2):
            try:
                response = self._api.request(op, "POST", "/stories.json", json=body)
            except OutcomeUnknown:
                again = self._milestone_stories(op, workspace_id, [milestone_id]).get(milestone_id)
                if again is not None:
                    return str(again["id"])
                if attempt == 2:
                    raise
                continue
            except PermanentConnectorError as refused:
                raise self._refined(refused, f"Kantata refused milestone {milestone_id} of {label}") from None
            created = mapping.records(response.json_or_none(), "stories")
            if not created:
                raise self._error(
                    PermanentConnectorError,
                    op,
                    f"Kantata answered without the story for milestone {milestone_id}",
                )
            return str(created[0]["id"])
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # -- writes -----------------------------------------------------------------------------------------
    def _write(self, op: str, method: str, path: str, body: Any, what: str) -> ApiResponse:
        """A repeatable write (PUT, DELETE, create_or_update), refusals worded for ``what``."""
        try:
            return self._api.request(op, method, path, json=body, repeatable=True)
        except (NotFound, Conflict):
            raise
        except PermanentConnectorError as refused:
            raise self._refined(refused, f"Kantata refused {what}") from None

    def _reference(
        self, op: str, subject_type: str, subject_id: str, model: str, ref: str, message: str, status: str
    ) -> None:
        body = mapping.reference_body(subject_type, subject_id, model, ref, message=message, status=status)
        self._write(
            op,
            "POST",
            "/external_references/create_or_update.json",
            body,
            f"pshub's reference on {subject_type} {subject_id}",
        )

    def _pages(self, op: str, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while page <= _MAX_PAGES:
            document = self._api.request(op, "GET", path, params={**params, "page": page}).json_or_none()
            if not isinstance(document, dict):
                return
            yield document
            if page >= _page_count(document):
                return
            page += 1

    # -- errors -----------------------------------------------------------------------------------------
    def _error(self, cls: type[_E], op: str, message: str, **own: Any) -> _E:
        return cls(message, platform=self.platform, connection_id=self.connection_id, operation=op, **own)

    def _refined(self, error: PermanentConnectorError, message: str) -> PermanentConnectorError:
        """The kit's error for a refusal, in pshub's words; the platform's code and message kept."""
        if isinstance(error, Conflict | NotFound):
            return error
        return PermanentConnectorError(
            message,
            platform=error.platform,
            connection_id=error.connection_id,
            operation=error.operation,
            platform_code=error.platform_code,
            platform_message=error.platform_message,
            http_status=error.http_status,
        )


def _page_count(document: Mapping[str, Any]) -> int:
    meta = document.get("meta")
    count = meta.get("page_count") if isinstance(meta, dict) else None
    return count if isinstance(count, int) else 1


def _templates(connection: Connection) -> dict[str, str]:
    templates: dict[str, str] = {}
    raw = connection.options.get("templates", "")
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        service_line, sep, template = (s.strip() for s in pair.partition("="))
        if not sep or not service_line or not template:
            raise ConnectionConfigError(
                f"connection {connection.id!r} option templates: {pair!r} is not service_line=TEMPLATE"
            )
        templates[service_line] = template
    return templates


def _default_currency(connection: Connection) -> str:
    raw = connection.options.get("default_currency", "USD")
    try:
        return iso_currency(raw).code
    except ValueError:
        raise ConnectionConfigError(
            f"connection {connection.id!r} option default_currency: {raw!r} is not an ISO 4217 code"
        ) from None


def connect(connection: Connection, context: ConnectorContext) -> PsaConnector:
    """The manifest's outbound factory for the PSA role."""
    return KantataPsa(connection, context)


if TYPE_CHECKING:  # mypy proves the connector implements the role's interface
    _psa: type[PsaConnector] = KantataPsa

"""``KantataFake``: Kantata OX (Mavenlink) API v1 on 127.0.0.1, for the operations pshub's PSA uses.

Faithful to the Kantata OX specification (https://developer.kantata.com/kantata/specification)
where it speaks: paths under ``/api/v1`` with or without the ``.json`` suffix, bearer
tokens refused with ``{"errors": [{"type": "oauth", "message": "Invalid OAuth 2 Request"}]}``
(as observed live, api-evangelist/mavenlink errors/mavenlink-problem-types.yml), the
side-loaded answer ``{"count", "results": [{"key", "id"}], "<key>": {id: object}, "meta"}``,
errors as ``{"errors": [{"type", "message", "field"?}]}`` with 422 for validation, archived
workspaces hidden unless ``include_archived``, ``only=`` never 404ing, ``per_page`` up to
200, and a plain 429 (no ``Retry-After``: Kantata documents none).

Like Kantata, it enforces no unique key on workspaces (a second POST makes a second
workspace: idempotency is the connector's read-before-write) and takes one external
reference per subject and service name (``create_or_update``). It keeps the business rules
an account configured for pshub has:

- templates: the connection's ``templates`` option names the account's project templates
  (a numeric value is the template's id, anything else its title); a workspace from any
  other ``project_tracker_template_id`` is refused;
- ``project_code_pattern``: pshub's project reference (``service_model`` "project") must match
  it (Kantata has no project code of its own: this stands for the account's integration rule);
- each workspace gets its own rate card in its currency, with an effective version;
  a role appears once per version; rates are integers in subunits; the rate card of an
  archived project takes no change (pshub's rule; Kantata's own behaviour is unverified);
- ``DELETE /rate_card_roles/{id}`` is allowed: Kantata refuses it for a version "in use",
  which the fake, holding no time entries, never is.

Ids are numeric, as Kantata's are (workspaces from 27410001).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from pshub.canonical.currencies import CURRENCIES
from pshub.connections import Connection
from pshub_local.fakes.server import FakeApi, FakeRequest, FakeResponse, VendorFault, route

_PREFIX = r"/api/v1"
_JSON = r"(?:\.json)?"
_ID = r"(\d+)"
DEFAULT_ROLES = (
    "Analyst",
    "Architect",
    "Consultant",
    "Engagement Manager",
    "Engagement Partner",
    "Managing Consultant",
    "Partner",
    "Project Manager",
    "Senior Consultant",
)
ACCOUNT_CURRENCY = "USD"
_STOP_WORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is"),
        *("it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there"),
        *("these", "they", "this", "to", "was", "with"),
    }
)
_ID_STARTS = {
    "workspace": 27410000,
    "external_reference": 5310000,
    "project_template": 800,
    "role": 41000,
    "rate_card": 60000,
    "rate_card_version": 70000,
    "rate_card_role": 80000,
    "story": 91000000,
}
_SUBJECTS = {"Workspace": "workspaces", "RateCard": "rate_cards", "Story": "stories"}
STORY_TYPES = frozenset({"task", "deliverable", "milestone", "issue"})
STORY_STATES = frozenset({
    "not started", "started", "needs info", "completed", "new", "reopened", "in progress", "blocked", "fixed",
    "duplicate", "can't repro", "resolved", "won't fix",
})  # fmt: skip


def credentials_for_local(connection: Connection) -> dict[str, str]:
    """What the local runtime stores as the connection's ``api`` secret: a made-up bearer token."""
    digest = hashlib.sha256(f"kantata:{connection.id}".encode()).hexdigest()[:32]
    return {"access_token": f"localdemo-{digest}"}


def _error(status: int, message: str, *, kind: str = "validation", field: str | None = None) -> VendorFault:
    entry: dict[str, str] = {"type": kind, "message": message}
    if field is not None:
        entry["field"] = field
    return VendorFault(status, {"errors": [entry]})


def _invalid(field: str, message: str) -> VendorFault:
    return _error(422, message, field=field)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"true", "1", "yes"}


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _error(400, f"{name} must be an ISO 8601 datetime", kind="system") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _words(text: str) -> list[str]:
    return [w for w in text.lower().split() if w]


class KantataFake(FakeApi):
    platform: ClassVar[str] = "kantata"

    def __init__(
        self,
        connection: Connection,
        credentials: Mapping[str, str] | None = None,
        *,
        roles: Iterable[str] = DEFAULT_ROLES,
        rate_per_s: float | None = None,
        burst: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(rate_per_s=rate_per_s, burst=burst)
        self.connection = connection
        self._token = (credentials or credentials_for_local(connection))["access_token"]
        self._clock = clock
        self._sequence: dict[str, int] = {}
        pattern = connection.options.get("project_code_pattern")
        self._code_pattern = re.compile(pattern) if pattern else None
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.external_references: dict[str, dict[str, Any]] = {}
        self.project_templates: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, dict[str, Any]] = {}
        self.rate_cards: dict[str, dict[str, Any]] = {}
        self.rate_card_versions: dict[str, dict[str, Any]] = {}
        self.rate_card_roles: dict[str, dict[str, Any]] = {}
        self.stories: dict[str, dict[str, Any]] = {}
        self._template_of: dict[str, str] = {}  # workspace id -> project template id
        self._workspace_of_card: dict[str, str] = {}  # rate card id -> workspace id
        now = self._now()
        for template in dict.fromkeys(self._configured_templates()):
            template_id = template if template.isdigit() else self._new_id("project_template")
            title = f"Template {template}" if template.isdigit() else template
            self.project_templates[template_id] = {
                "id": template_id,
                "title": title,
                "currency": ACCOUNT_CURRENCY,
                "created_at": now,
                "updated_at": now,
            }
        for name in roles:
            role_id = self._new_id("role")
            self.roles[role_id] = {"id": role_id, "name": name, "created_at": now, "updated_at": now}

    # -- FakeApi's vendor specifics -----------------------------------------------------------------
    def local_options(self) -> dict[str, str]:
        """Points the connector at this fake: the API root under ``/api/v1``, as Kantata's."""
        return {"base_url": f"{self.base_url}/api/v1"}

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        if request.header("Authorization") == f"Bearer {self._token}":
            return None
        return FakeResponse(401, {"errors": [{"type": "oauth", "message": "Invalid OAuth 2 Request"}]})

    def throttled(self, request: FakeRequest, retry_after_s: float) -> FakeResponse:
        return FakeResponse(429)  # Kantata: a plain 429, no Retry-After

    def unavailable(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(503, {"errors": [{"type": "system", "message": "Service is unavailable"}]})

    def not_routed(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"errors": [{"type": "system", "message": "Page Not Found"}]})

    def records(self) -> dict[str, Any]:
        """Workspaces with their pshub code, template and rate card roles (no rates, no budgets)."""
        projects = []
        for workspace_id, workspace in self.workspaces.items():
            reference = self._pshub_reference("Workspace", workspace_id)
            status = str(reference.get("external_status") or "") if reference else ""
            template = self.project_templates.get(self._template_of.get(workspace_id, ""))
            projects.append(
                {
                    "native_id": workspace_id,
                    "code": reference.get("service_model_ref") if reference else None,
                    "name": workspace["title"],
                    "template": template["title"] if template else None,
                    "currency": workspace["currency"],
                    "rate_card_roles": self._role_names(workspace),
                    "archived": workspace["archived"],
                    "archive_reason": status.removeprefix("archived:").strip()
                    if status.startswith("archived")
                    else None,
                }
            )
        return {"projects": projects}

    # -- workspaces ------------------------------------------------------------------------------------
    @route("GET", _PREFIX + "/workspaces" + _JSON, "list_workspaces")
    def list_workspaces(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        archived = request.param("archived") or (
            "include" if _flag(request.param("include_archived")) else None
        )
        items = list(self.workspaces.values())
        if archived == "only":
            items = [w for w in items if w["archived"]]
        elif archived != "include":
            items = [w for w in items if not w["archived"]]
        items = self._only(request, items)
        items = [w for w in items if self._references_match(request, "Workspace", w["id"])]
        matching = request.param("matching")
        if matching:
            wanted = [w for w in _words(matching) if w not in _STOP_WORDS]
            items = [
                w for w in items if all(any(t.startswith(q) for t in _words(w["title"])) for q in wanted)
            ]
        after = _when(request.param("updated_after"), "updated_after")
        before = _when(request.param("updated_before"), "updated_before")
        if after is not None:
            items = [w for w in items if datetime.fromisoformat(w["updated_at"]) > after]
        if before is not None:
            items = [w for w in items if datetime.fromisoformat(w["updated_at"]) < before]
        items = self._ordered(request, items, "updated_at:desc")
        return self._page(request, "workspaces", items, self._workspace_view)

    @route("GET", _PREFIX + "/workspaces/" + _ID + _JSON, "get_workspace")
    def get_workspace(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        workspace = self.workspaces.get(match.group(1))
        if workspace is None or (workspace["archived"] and not _flag(request.param("include_archived"))):
            raise self._not_found("Workspace", match.group(1))
        return self._reply(request, "workspaces", [workspace], self._workspace_view)

    @route("POST", _PREFIX + "/workspaces" + _JSON, "create_workspace")
    def create_workspace(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        fields = self._body(request, "workspace")
        title = fields.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("title", "Please give your project a title")
        if len(title) > 255:
            raise _invalid("title", "Title is too long (maximum is 255 characters)")
        if fields.get("creator_role", "maven") not in {"maven", "consultant", "buyer", "client"}:
            raise _invalid("creator_role", "Please select a role for this project")
        template_id = fields.get("project_tracker_template_id")
        if template_id is not None and str(template_id) not in self.project_templates:
            raise _invalid(
                "project_tracker_template_id", f"project_tracker_template_id {template_id} is invalid"
            )
        budgeted = fields.get("budgeted", True) is True
        currency = str(fields.get("currency") or ACCOUNT_CURRENCY).upper() if budgeted else ACCOUNT_CURRENCY
        if currency not in CURRENCIES:
            raise _invalid("currency", f"currency {currency} is invalid")
        price = fields.get("price")
        if budgeted and price is None:
            raise _invalid("price", "price can't be blank")
        if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
            raise _invalid("price", f"price {price} is invalid")
        start, due = self._date(fields, "start_date"), self._date(fields, "due_date")
        if start and due and due < start:
            raise _invalid("due_date", "Due date must be on or after the start date")
        reference = fields.get("external_reference")
        if reference is not None:
            self._check_reference(reference, "external_reference.", subject_type="Workspace")
        workspace_id = self._new_id("workspace")
        now = self._now()
        base_unit = 10 ** CURRENCIES[currency].minor_unit
        workspace: dict[str, Any] = {
            "id": workspace_id,
            "title": title,
            "description": str(fields.get("description") or ""),
            "archived": False,
            "budgeted": budgeted,
            "currency": currency,
            "currency_base_unit": base_unit,
            "currency_symbol": currency,
            "price": f"{Decimal(price or 0):.{CURRENCIES[currency].minor_unit}f}",
            "price_in_cents": (price or 0) * base_unit,
            "start_date": start,
            "due_date": due,
            "account_id": 1001,
            "created_at": now,
            "updated_at": now,
            "external_reference_ids": [],
        }
        workspace["rate_card_id"] = int(self._new_rate_card(workspace_id, currency, title))
        self.workspaces[workspace_id] = workspace
        if template_id is not None:
            self._template_of[workspace_id] = str(template_id)
        if reference is not None:
            self._upsert_reference(
                {**reference, "subject_type": "Workspace", "subject_id": int(workspace_id)}
            )
        return self._reply(request, "workspaces", [workspace], self._workspace_view)

    @route("PUT", _PREFIX + "/workspaces/" + _ID + _JSON, "update_workspace")
    def update_workspace(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        workspace = self.workspaces.get(match.group(1))
        if workspace is None:
            raise self._not_found("Workspace", match.group(1))
        fields = self._body(request, "workspace")
        changes: dict[str, Any] = {}
        if "archived" in fields:
            if not isinstance(fields["archived"], bool):
                raise _invalid("archived", f"archived {fields['archived']} is invalid")
            changes["archived"] = fields["archived"]
        for name in ("title", "description"):
            if name in fields:
                if name == "title" and not str(fields[name] or "").strip():
                    raise _invalid("title", "Please give your project a title")
                changes[name] = str(fields[name])
        for name in ("start_date", "due_date"):
            if name in fields:
                changes[name] = self._date(fields, name)
        if "price" in fields:
            changes["price"] = _price(fields["price"], workspace["currency"])
        if "rate_card_id" in fields:
            card = self.rate_cards.get(str(fields["rate_card_id"]))
            if card is None:
                raise _invalid("rate_card_id", f"rate_card_id {fields['rate_card_id']} is invalid")
            if card["currency"] != workspace["currency"]:
                raise _invalid(
                    "rate_card_id", "The currency of the rate card must match the currency of the project"
                )
            changes["rate_card_id"] = int(card["id"])
        workspace.update(changes, updated_at=self._now())
        return self._reply(request, "workspaces", [workspace], self._workspace_view)

    def _workspace_view(self, workspace: dict[str, Any], includes: set[str]) -> dict[str, Any]:
        view = {k: v for k, v in workspace.items() if v is not None and k != "external_reference_ids"}
        if "external_references" in includes:
            view["external_reference_ids"] = list(workspace["external_reference_ids"])
        return view

    # -- external references -----------------------------------------------------------------------------
    @route(
        "POST",
        _PREFIX + "/external_references/create_or_update" + _JSON,
        "create_or_update_external_reference",
    )
    def create_or_update_external_reference(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        fields = self._body(request, "external_reference")
        self._check_reference(fields, "", subject_type=None)
        subject_type = fields.get("subject_type")
        if subject_type not in _SUBJECTS:
            raise _invalid("subject_type", f"subject_type {subject_type} is invalid")
        table = self._subjects(subject_type)
        if str(fields.get("subject_id")) not in table:
            raise _invalid("subject_id", f"subject_id {fields.get('subject_id')} is invalid")
        reference = self._upsert_reference(fields)
        return self._reply(request, "external_references", [reference], lambda r, _: dict(r))

    def _subjects(self, subject_type: str) -> dict[str, dict[str, Any]]:
        return {"Workspace": self.workspaces, "RateCard": self.rate_cards, "Story": self.stories}[
            subject_type
        ]

    def _check_reference(self, fields: object, prefix: str, subject_type: str | None) -> None:
        if not isinstance(fields, dict):
            raise _invalid(f"{prefix}external_reference", "external_reference is invalid")
        required = ["service_name", "service_model", "service_model_ref"]
        if subject_type is None:
            required = ["subject_type", "subject_id", *required]
        missing = [name for name in required if fields.get(name) in (None, "")]
        if missing:
            raise _invalid(prefix + missing[0], f"{', '.join(missing)} can't be blank")
        kind = subject_type or fields.get("subject_type")
        ref = str(fields["service_model_ref"])
        if (
            kind == "Workspace"
            and fields.get("service_model") == "project"
            and self._code_pattern is not None
            and not self._code_pattern.fullmatch(ref)
        ):
            raise _invalid(prefix + "service_model_ref", f"service_model_ref {ref} is invalid")

    def _upsert_reference(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        subject_type, subject_id = str(fields["subject_type"]), str(fields["subject_id"])
        existing = next(
            (
                r
                for r in self.external_references.values()
                if r["subject_type"] == subject_type
                and str(r["subject_id"]) == subject_id
                and r["service_name"] == fields["service_name"]
            ),
            None,
        )
        now = self._now()
        kept = (
            "service_model",
            "service_model_ref",
            "status",
            "external_link",
            "external_status",
            "external_message",
            "locked",
        )
        values = {k: fields[k] for k in kept if k in fields}
        if existing is None:
            reference_id = self._new_id("external_reference")
            existing = {
                "id": reference_id,
                "subject_type": subject_type,
                "subject_id": int(subject_id),
                "subject_ref": {"key": _SUBJECTS[subject_type], "id": subject_id},
                "service_name": fields["service_name"],
                "created_at": now,
            }
            self.external_references[reference_id] = existing
            subject = self._subjects(subject_type)[subject_id]
            subject.setdefault("external_reference_ids", []).append(reference_id)
        existing.update(values, updated_at=now, last_synced_at=now)
        if subject_type == "Workspace":
            self.workspaces[subject_id]["updated_at"] = now
        return existing

    def _references_match(self, request: FakeRequest, subject_type: str, subject_id: str) -> bool:
        wanted = {
            "service_name": request.param("external_reference_service_name"),
            "service_model": request.param("external_reference_service_model"),
            "service_model_ref": request.param("external_reference_service_model_ref"),
        }
        refs = request.param("external_reference_service_model_refs")
        if not any(wanted.values()) and refs is None:
            return True
        allowed = {r.strip() for r in refs.split(",")} if refs is not None else None
        for reference in self.external_references.values():
            if reference["subject_type"] != subject_type or str(reference["subject_id"]) != subject_id:
                continue
            if all(v is None or reference.get(k) == v for k, v in wanted.items()) and (
                allowed is None or reference.get("service_model_ref") in allowed
            ):
                return True
        return False

    def _pshub_reference(self, subject_type: str, subject_id: str) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in self.external_references.values()
                if r["subject_type"] == subject_type
                and str(r["subject_id"]) == subject_id
                and r["service_name"] == "pshub"
            ),
            None,
        )

    # -- stories (a workspace's plan: tasks, deliverables, milestones, issues) ------------------------------
    @route("GET", _PREFIX + "/stories" + _JSON, "list_stories")
    def list_stories(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        archived = request.param("archived") or "exclude"
        items = [
            s for s in self.stories.values() if archived == "include" or s["archived"] == (archived == "only")
        ]
        workspace = request.param("workspace_id")
        if workspace is not None:
            items = [s for s in items if s["workspace_id"] == workspace]
        kind = request.param("story_type")
        if kind is not None:
            items = [s for s in items if s["story_type"] == kind]
        items = self._only(request, items)
        items = [s for s in items if self._references_match(request, "Story", s["id"])]
        after = _when(request.param("updated_after"), "updated_after")
        if after is not None:
            items = [s for s in items if datetime.fromisoformat(s["updated_at"]) > after]
        due = request.param("due_between")
        if due is not None:
            first, _, last = due.partition(":")
            items = [s for s in items if s.get("due_date") and first <= s["due_date"] <= last]
        items = self._ordered(request, sorted(items, key=lambda s: int(s["id"])), "created_at:asc")
        return self._page(request, "stories", items, self._story_view)

    @route("POST", _PREFIX + "/stories" + _JSON, "create_story")
    def create_story(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        fields = self._body(request, "story")
        workspace = self.workspaces.get(str(fields.get("workspace_id")))
        if workspace is None:
            raise _invalid("workspace_id", "Workspace can't be blank")
        if workspace["archived"]:
            raise _invalid("workspace_id", "This project is archived: tasks cannot be added")
        reference = fields.get("external_reference")
        if reference is not None:
            self._check_reference(reference, "external_reference.", subject_type="Story")
        story_id = self._new_id("story")
        now = self._now()
        story: dict[str, Any] = {
            "id": story_id,
            "workspace_id": str(workspace["id"]),
            "story_type": "task",
            "state": "not started",
            "archived": False,
            "fixed_fee": False,
            "created_at": now,
            "updated_at": now,
            "external_reference_ids": [],
        }
        story.update(self._story_fields(fields, creating=True))
        self.stories[story_id] = story
        if reference is not None:
            self._upsert_reference({**reference, "subject_type": "Story", "subject_id": int(story_id)})
        return self._reply(request, "stories", [story], self._story_view)

    @route("PUT", _PREFIX + "/stories/" + _ID + _JSON, "update_story")
    def update_story(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        story = self.stories.get(match.group(1))
        if story is None:
            raise self._not_found("Story", match.group(1))
        story.update(self._story_fields(self._body(request, "story"), creating=False), updated_at=self._now())
        return self._reply(request, "stories", [story], self._story_view)

    def _story_fields(self, fields: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if creating or "title" in fields:
            changes["title"] = _story_title(fields.get("title"))
        for name, allowed in (("state", STORY_STATES), ("story_type", STORY_TYPES)):
            if name in fields:
                if fields[name] not in allowed:
                    raise _invalid(name, f"{name} {fields[name]} is invalid")
                changes[name] = fields[name]
        for name in ("start_date", "due_date"):
            if name in fields:
                changes[name] = self._date(fields, name)
        for name in ("fixed_fee", "archived", "billable"):
            if name in fields:
                if not isinstance(fields[name], bool):
                    raise _invalid(name, f"{name} {fields[name]} is invalid")
                changes[name] = fields[name]
        if "budget_estimate_in_cents" in fields:
            cents = fields["budget_estimate_in_cents"]
            if not isinstance(cents, int) or isinstance(cents, bool) or not 0 <= cents <= 2**31 - 1:
                raise _invalid("budget_estimate_in_cents", f"budget_estimate_in_cents {cents} is invalid")
            changes["budget_estimate_in_cents"] = cents
        start, due = changes.get("start_date"), changes.get("due_date")
        if start and due and due < start:
            raise _invalid("due_date", "Due date must be on or after the start date")
        return changes

    def _story_view(self, story: dict[str, Any], includes: set[str]) -> dict[str, Any]:
        view = {k: v for k, v in story.items() if v is not None and k != "external_reference_ids"}
        if "external_references" in includes:
            view["external_reference_ids"] = list(story["external_reference_ids"])
        return view

    def set_story(self, story_id: str, **changes: Any) -> None:
        """Someone changes a story in Kantata (a project manager marks a milestone completed)."""
        with self.lock:
            story = self.stories[story_id]
            story.update(self._story_fields(changes, creating=False), updated_at=self._now())

    def milestones(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's milestone stories, oldest first (for tests and the demo)."""
        return [
            dict(s)
            for s in sorted(self.stories.values(), key=lambda s: int(s["id"]))
            if s["workspace_id"] == workspace_id and s["story_type"] == "milestone"
        ]

    # -- templates and roles -------------------------------------------------------------------------------
    @route("GET", _PREFIX + "/project_templates" + _JSON, "list_project_templates")
    def list_project_templates(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        items = self._only(request, list(self.project_templates.values()))
        title = request.param("by_title") or request.param("matching")
        if title:
            items = [t for t in items if title.lower() in t["title"].lower()]
        items = self._ordered(request, items, "updated_at:desc")
        return self._page(request, "project_templates", items, lambda t, _: dict(t))

    @route("GET", _PREFIX + "/roles" + _JSON, "list_roles")
    def list_roles(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        items = self._only(request, list(self.roles.values()))
        matching = request.param("matching")
        if matching:
            items = [r for r in items if matching.lower() in r["name"].lower()]
        items.sort(
            key=lambda r: str(r["name"]).lower(), reverse=request.param("order") == "alphabetical:desc"
        )
        return self._page(request, "roles", items, lambda r, _: dict(r))

    # -- rate cards --------------------------------------------------------------------------------------------
    @route("GET", _PREFIX + "/rate_cards" + _JSON, "list_rate_cards")
    def list_rate_cards(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        items = self._only(request, list(self.rate_cards.values()))
        currencies = request.param("currencies")
        if currencies:
            items = [c for c in items if c["currency"] in currencies.split(",")]
        items = [c for c in items if self._references_match(request, "RateCard", c["id"])]
        items = self._ordered(request, items, "created_at:desc")
        return self._page(request, "rate_cards", items, self._rate_card_view)

    def _rate_card_view(self, card: dict[str, Any], includes: set[str]) -> dict[str, Any]:
        view = {k: v for k, v in card.items() if k != "external_reference_ids"}
        if "external_references" in includes:
            view["external_reference_ids"] = list(card.get("external_reference_ids", []))
        return view

    @route("GET", _PREFIX + "/rate_card_roles" + _JSON, "list_rate_card_roles")
    def list_rate_card_roles(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        items = self._only(request, list(self.rate_card_roles.values()))
        version = request.param("rate_card_version_id")
        if version is not None:
            items = [r for r in items if r["rate_card_version_id"] == version]
        items = self._ordered(request, items, "created_at:asc")
        return self._page(request, "rate_card_roles", items, self._rate_card_role_view)

    @route("POST", _PREFIX + "/rate_card_roles" + _JSON, "create_rate_card_role")
    def create_rate_card_role(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        fields = self._body(request, "rate_card_role")
        missing = [n for n in ("rate_card_version_id", "role_id", "rate") if fields.get(n) is None]
        if missing:
            raise _invalid(missing[0], f"{', '.join(missing)} can't be blank")
        version_id, role_id = str(fields["rate_card_version_id"]), str(fields["role_id"])
        version = self.rate_card_versions.get(version_id)
        if version is None:
            raise _invalid("rate_card_version_id", f"rate_card_version_id {version_id} is invalid")
        if role_id not in self.roles:
            raise _invalid("role_id", f"role_id {role_id} is invalid")
        self._check_rate(fields["rate"])
        self._check_not_archived(version["rate_card_id"])
        if any(
            r["rate_card_version_id"] == version_id and r["role_id"] == role_id
            for r in self.rate_card_roles.values()
        ):
            raise _invalid("role_id", "role_id has already been taken")
        role_rate_id = self._new_id("rate_card_role")
        now = self._now()
        role_rate = {
            "id": role_rate_id,
            "rate": fields["rate"],
            "role_id": role_id,
            "rate_card_version_id": version_id,
            "created_at": now,
            "updated_at": now,
        }
        self.rate_card_roles[role_rate_id] = role_rate
        version["rate_card_role_ids"].append(role_rate_id)
        return self._reply(request, "rate_card_roles", [role_rate], self._rate_card_role_view)

    @route("PUT", _PREFIX + "/rate_card_roles/" + _ID + _JSON, "update_rate_card_role")
    def update_rate_card_role(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        role_rate = self._role_rate(match.group(1))
        fields = self._body(request, "rate_card_role")
        if "rate" in fields:
            self._check_rate(fields["rate"])
            self._check_not_archived(
                self.rate_card_versions[role_rate["rate_card_version_id"]]["rate_card_id"]
            )
            role_rate.update(rate=fields["rate"], updated_at=self._now())
        return self._reply(request, "rate_card_roles", [role_rate], self._rate_card_role_view)

    @route("DELETE", _PREFIX + "/rate_card_roles/" + _ID + _JSON, "delete_rate_card_role")
    def delete_rate_card_role(self, request: FakeRequest, match: re.Match[str]) -> FakeResponse:
        role_rate = self._role_rate(match.group(1))
        version = self.rate_card_versions[role_rate["rate_card_version_id"]]
        self._check_not_archived(version["rate_card_id"])
        del self.rate_card_roles[role_rate["id"]]
        version["rate_card_role_ids"].remove(role_rate["id"])
        return FakeResponse(204)

    def _rate_card_role_view(self, role_rate: dict[str, Any], includes: set[str]) -> dict[str, Any]:
        view = {k: v for k, v in role_rate.items() if k not in {"role_id", "rate_card_version_id"}}
        # As the spec says: the ids are in the answer only when their association is included.
        if "role" in includes:
            view["role_id"] = role_rate["role_id"]
        if "rate_card_version" in includes:
            view["rate_card_version_id"] = role_rate["rate_card_version_id"]
        return view

    def _role_rate(self, role_rate_id: str) -> dict[str, Any]:
        role_rate = self.rate_card_roles.get(role_rate_id)
        if role_rate is None:
            raise self._not_found("RateCardRole", role_rate_id)
        return role_rate

    def _check_rate(self, rate: object) -> None:
        if not isinstance(rate, int) or isinstance(rate, bool) or not 0 <= rate <= 2**31 - 1:
            raise _invalid("rate", f"rate {rate} is invalid")

    def _check_not_archived(self, rate_card_id: str) -> None:
        workspace = self.workspaces.get(self._workspace_of_card.get(rate_card_id, ""))
        if workspace is not None and workspace["archived"]:
            raise _invalid("rate_card_id", "This project is archived: its rate card cannot be changed")

    def _new_rate_card(self, workspace_id: str, currency: str, title: str) -> str:
        card_id, version_id = self._new_id("rate_card"), self._new_id("rate_card_version")
        now = self._now()
        self.rate_card_versions[version_id] = {
            "id": version_id,
            "rate_card_id": card_id,
            "rate_card_role_ids": [],
            "default_rate": 0,
            "created_at": now,
            "updated_at": now,
        }
        self.rate_cards[card_id] = {
            "id": card_id,
            "currency": currency,
            "rate_card_set_title": f"{title[:200]} rates",
            "effective_rate_card_version_id": version_id,
            "removable": False,
            "uses": 1,
            "created_at": now,
            "updated_at": now,
            "external_reference_ids": [],
        }
        self._workspace_of_card[card_id] = workspace_id
        return card_id

    def _role_names(self, workspace: Mapping[str, Any]) -> list[str]:
        card = self.rate_cards.get(str(workspace.get("rate_card_id")))
        if card is None:
            return []
        version = self.rate_card_versions[card["effective_rate_card_version_id"]]
        return sorted(
            self.roles[self.rate_card_roles[i]["role_id"]]["name"] for i in version["rate_card_role_ids"]
        )

    # -- answers ---------------------------------------------------------------------------------------------
    def _reply(
        self,
        request: FakeRequest,
        key: str,
        items: list[dict[str, Any]],
        view: Callable[[dict[str, Any], set[str]], dict[str, Any]],
        *,
        page: int = 1,
        page_count: int = 1,
        total: int | None = None,
        per_page: int = 20,
    ) -> FakeResponse:
        includes = {i.strip() for i in (request.param("include") or "").split(",") if i.strip()}
        body: dict[str, Any] = {
            "count": len(items) if total is None else total,
            "results": [{"key": key, "id": str(item["id"])} for item in items],
            key: {str(item["id"]): view(item, includes) for item in items},
            "meta": {
                "count": len(items) if total is None else total,
                "page_count": page_count,
                "page_number": page,
                "page_size": per_page,
            },
        }
        body.update(self._side_loads(key, items, includes))
        return FakeResponse(200, body)

    def _side_loads(self, key: str, items: list[dict[str, Any]], includes: set[str]) -> dict[str, Any]:
        side: dict[str, Any] = {}
        if "external_references" in includes and key in {"workspaces", "rate_cards", "stories"}:
            ids = [i for item in items for i in item.get("external_reference_ids", [])]
            side["external_references"] = {i: dict(self.external_references[i]) for i in ids}
        if key == "rate_cards" and "effective_rate_card_version" in includes:
            versions = [self.rate_card_versions[c["effective_rate_card_version_id"]] for c in items]
            side["rate_card_versions"] = {
                v["id"]: {k: val for k, val in v.items() if k not in {"rate_card_role_ids", "rate_card_id"}}
                for v in versions
            }
        if key == "rate_card_roles" and "role" in includes:
            side["roles"] = {r["role_id"]: dict(self.roles[r["role_id"]]) for r in items}
        return side

    def _page(
        self,
        request: FakeRequest,
        key: str,
        items: list[dict[str, Any]],
        view: Callable[[dict[str, Any], set[str]], dict[str, Any]],
    ) -> FakeResponse:
        try:
            page = max(1, int(request.param("page") or 1))
            per_page = min(200, max(1, int(request.param("per_page") or 20)))
        except ValueError:
            raise _error(400, "page and per_page must be integers", kind="system") from None
        page_count = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        return self._reply(
            request, key, chunk, view, page=page, page_count=page_count, total=len(items), per_page=per_page
        )

    def _only(self, request: FakeRequest, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        only = request.param("only")
        if only is None:
            return items
        wanted = {i.strip() for i in only.split(",")}
        return [item for item in items if str(item["id"]) in wanted]  # never a 404, as documented

    def _ordered(
        self, request: FakeRequest, items: list[dict[str, Any]], default: str
    ) -> list[dict[str, Any]]:
        order = request.param("order") or default
        field, _, direction = order.partition(":")
        if field not in {"updated_at", "created_at", "title"} or direction not in {"asc", "desc"}:
            raise _error(400, f"order {order} is not a valid sort", kind="system")
        return sorted(items, key=lambda i: (str(i.get(field, "")), int(i["id"])), reverse=direction == "desc")

    def _body(self, request: FakeRequest, key: str) -> dict[str, Any]:
        try:
            document = request.json()
        except ValueError:
            raise _error(400, "The request body is not valid JSON", kind="system") from None
        fields = document.get(key) if isinstance(document, dict) else None
        if not isinstance(fields, dict):
            raise _error(400, f"Expected a {key} object", kind="system")
        return fields

    def _date(self, fields: Mapping[str, Any], name: str) -> str | None:
        value = fields.get(name)
        if value is None:
            return None
        try:
            return datetime.strptime(str(value), "%Y-%m-%d").date().isoformat()
        except ValueError:
            raise _invalid(name, f"{name} {value} is invalid") from None

    def _not_found(self, model: str, record_id: str) -> VendorFault:
        return _error(404, f"Couldn't find {model} with 'id'={record_id}", kind="system")

    def _configured_templates(self) -> list[str]:
        raw = self.connection.options.get("templates", "")
        pairs = (p.partition("=") for p in raw.split(",") if p.strip())
        return [template.strip() for _, _, template in pairs if template.strip()]

    def _new_id(self, kind: str) -> str:
        self._sequence[kind] = self._sequence.get(kind, 0) + 1
        return str(_ID_STARTS[kind] + self._sequence[kind])

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="microseconds")


def _story_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise _invalid("title", "Title can't be blank")
    if len(title) > 255:
        raise _invalid("title", "Title is too long (maximum is 255 characters)")
    return title


def _price(price: object, currency: str) -> str:
    """A workspace's ``price`` as Kantata takes it (a whole number of base units), as it shows it."""
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise _invalid("price", f"price {price} is invalid")
    return f"{Decimal(price):.{CURRENCIES[currency].minor_unit}f}"

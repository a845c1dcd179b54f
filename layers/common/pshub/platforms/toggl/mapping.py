"""A Toggl Track time entry (API v9, as webhooks carry it) read with its documented types, and
mapped to the attributes of a canonical ``TimeEntry``.

Pure functions, no I/O, no look-ups: what cannot be read off the entry comes from the
connection's options (see ``TimeEntryOptions``). Messages name fields and options, never
their values: descriptions, tags and e-mail addresses are personal data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pshub.platforms import fields

DEFAULT_TIMEZONE = "UTC"
DEFAULT_APPROVED_TAG = "approved"
# A project code is the first word of the project's name: "PRJ-ACME-0001 ERP rollout".
DEFAULT_PROJECT_CODE_PATTERN = r"^[A-Z][A-Z0-9]*-[A-Z0-9-]+"
_HOUR = Decimal(3600)
_CENTS = Decimal("0.01")
_MAX_HOURS = Decimal(24)  # a TimeEntry is hours on one day
# Far beyond any entry (Toggl caps one at 999 hours); bounds the arithmetic on hostile input.
_MAX_DURATION_S = 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_ID = 2**64 - 1


class OptionProblem(ValueError):
    """A connection option is malformed: the message names the option, never its value."""


@dataclass(frozen=True)
class TimeEntryOptions:
    """How a connection's Toggl entries map (``connection.options``; every one optional).

    - ``timezone``: IANA name of the zone whose calendar day an entry is booked to (Toggl's
      ``start`` is a UTC instant); default ``UTC``.
    - ``project_code_pattern``: a regular expression a project name's first word must match
      in full to be taken as the project code; default ``^[A-Z][A-Z0-9]*-[A-Z0-9-]+``.
    - ``role_tags``: comma-separated tag names that name roles (``Senior Consultant,Consultant``).
    - ``users``: ``<Toggl user id>=<e-mail>,...``; a user not listed is known by the user id.
    - ``projects``: ``<Toggl project id>=<project code>,...``: Toggl's webhooks name a project
      by its id only, so this is how an entry finds its project's code (a project not listed
      is known by its Toggl id, which the identity store may bind to a project).
    - ``approved_tag``: the tag that marks an entry approved; default ``approved``; empty: none.
    - ``workspace_id``: the Toggl workspace the connection is to; an entry of another is refused.
    """

    zone: tzinfo
    project_code: re.Pattern[str]
    role_tags: Mapping[str, str]  # casefolded tag -> the role as configured
    users: Mapping[str, str]  # Toggl user id -> e-mail, lower-cased
    projects: Mapping[str, str]  # Toggl project id -> project code
    approved_tag: str | None  # casefolded
    workspace_id: str | None

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> TimeEntryOptions:
        zone_name = options.get("timezone") or DEFAULT_TIMEZONE
        try:
            zone: tzinfo = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise OptionProblem("option timezone is not an IANA time zone name (Europe/Berlin)") from None
        try:
            pattern = re.compile(options.get("project_code_pattern") or DEFAULT_PROJECT_CODE_PATTERN)
        except re.error:
            raise OptionProblem("option project_code_pattern is not a regular expression") from None
        roles = {role.casefold(): role for role in _items(options.get("role_tags"))}
        users: dict[str, str] = {}
        for index, item in enumerate(_items(options.get("users"))):
            user_id, equals, email = (part.strip() for part in item.partition("="))
            if not (equals and user_id.isascii() and user_id.isdigit() and "@" in email):
                raise OptionProblem(f"option users, entry {index + 1}, is not <Toggl user id>=<e-mail>")
            users[str(int(user_id))] = email.lower()
        projects: dict[str, str] = {}
        for index, item in enumerate(_items(options.get("projects"))):
            project_id, equals, code = (part.strip() for part in item.partition("="))
            if not (equals and project_id.isascii() and project_id.isdigit() and code):
                raise OptionProblem(f"option projects, entry {index + 1}, is not <Toggl project id>=<code>")
            projects[str(int(project_id))] = code
        approved = options.get("approved_tag", DEFAULT_APPROVED_TAG).strip()
        return cls(
            zone=zone,
            project_code=pattern,
            role_tags=roles,
            users=users,
            projects=projects,
            approved_tag=approved.casefold() or None,
            workspace_id=(options.get("workspace_id") or "").strip() or None,
        )


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


@dataclass(frozen=True)
class TogglTimeEntry:
    """The fields of a Toggl time entry pshub reads, in the types pshub uses."""

    id: str
    workspace_id: str | None
    project_id: str | None
    project_name: str | None  # the API's ``meta`` field; webhooks have not been seen to carry it
    user_id: str
    billable: bool
    start: datetime
    stop: datetime | None
    duration: int  # seconds; negative while the timer runs
    description: str | None
    tags: tuple[str, ...]
    at: datetime  # when the entry was last modified
    server_deleted_at: datetime | None

    @property
    def running(self) -> bool:
        """A timer still running: not yet time worked (its duration is minus its start)."""
        return self.duration < 0


def read_entry(entry: dict[str, Any], where: str) -> TogglTimeEntry:
    """The time entry ``entry`` (a webhook's ``payload``); ``fields.FieldProblem`` naming what is wrong."""
    return TogglTimeEntry(
        id=identifier(entry.get("id"), f"{where} id"),
        workspace_id=_optional_id(entry.get("workspace_id"), f"{where} workspace_id"),
        project_id=_optional_id(entry.get("project_id"), f"{where} project_id"),
        project_name=fields.optional_text(entry.get("project_name"), f"{where} project_name"),
        user_id=identifier(entry.get("user_id"), f"{where} user_id"),
        billable=_boolean(entry.get("billable", False), f"{where} billable"),
        start=fields.iso_datetime(entry.get("start"), f"{where} start"),
        stop=_optional_instant(entry.get("stop"), f"{where} stop"),
        duration=fields.integer(
            entry.get("duration"), f"{where} duration", -_MAX_DURATION_S * 10, _MAX_DURATION_S
        ),
        description=fields.optional_text(entry.get("description"), f"{where} description"),
        tags=_tags(entry.get("tags"), f"{where} tags"),
        at=fields.iso_datetime(entry.get("at"), f"{where} at"),
        server_deleted_at=_optional_instant(entry.get("server_deleted_at"), f"{where} server_deleted_at"),
    )


def hours(duration_s: int) -> Decimal:
    """Seconds as hours, rounded half-up to the hundredth: 4500 s -> 1.25, 2718 s -> 0.76."""
    return (Decimal(duration_s) / _HOUR).quantize(_CENTS, rounding=ROUND_HALF_UP)


def epoch_ms(instant: datetime) -> int:
    """An aware instant in whole Unix milliseconds, exactly (no float on the way)."""
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def time_entry_attributes(entry: TogglTimeEntry, options: TimeEntryOptions, where: str) -> dict[str, Any]:
    """A stopped entry as ``TimeEntry`` attributes, named and valued as the model dumps them.

    ``fields.MappingProblem`` when it cannot be one: hours that round to nothing or exceed a day.
    """
    worked = hours(entry.duration)
    if worked <= 0:
        raise fields.MappingProblem(
            f"{where} lasted {entry.duration} s, which rounds to 0.00 h: a TimeEntry has hours above 0"
        )
    if worked > _MAX_HOURS:
        raise fields.MappingProblem(f"{where} lasted more than 24 h: a TimeEntry is the hours of one day")
    attributes: dict[str, Any] = {
        "project_id": _project(entry, options, where),
        "worker_id": options.users.get(entry.user_id, entry.user_id),
        "work_date": entry.start.astimezone(options.zone).date().isoformat(),
        "hours": str(worked),
        "billable": entry.billable,
        "status": "approved" if _approved(entry, options) else "submitted",
    }
    role = _role(entry, options, where)
    if role is not None:
        attributes["role"] = role
    if entry.description is not None:
        attributes["notes"] = entry.description
    return attributes


def _project(entry: TogglTimeEntry, options: TimeEntryOptions, where: str) -> str:
    if entry.project_name:
        code = entry.project_name.split(maxsplit=1)[0] if entry.project_name.strip() else ""
        if code and options.project_code.fullmatch(code):
            return code
    if entry.project_id is None:
        raise fields.MappingProblem(f"{where} has no project: time is booked to a project")
    return options.projects.get(entry.project_id, entry.project_id)


def _role(entry: TogglTimeEntry, options: TimeEntryOptions, where: str) -> str | None:
    roles = {options.role_tags[tag.casefold()] for tag in entry.tags if tag.casefold() in options.role_tags}
    if len(roles) > 1:
        raise fields.MappingProblem(f"{where} carries {len(roles)} role tags (option role_tags): one at most")
    return roles.pop() if roles else None


def _approved(entry: TogglTimeEntry, options: TimeEntryOptions) -> bool:
    return options.approved_tag is not None and any(
        tag.casefold() == options.approved_tag for tag in entry.tags
    )


def identifier(value: object, field: str) -> str:
    """A Toggl id (an integer, or the same digits as text) as text."""
    # Toggl's ids are 64-bit integers; the webhook's metadata repeats some of them as text.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    return str(fields.integer(value, field, 0, _MAX_ID))


def _optional_id(value: object, field: str) -> str | None:
    return None if value is None else identifier(value, field)


def _optional_instant(value: object, field: str) -> datetime | None:
    return None if value is None else fields.iso_datetime(value, field)


def _boolean(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise fields.FieldProblem(f"{field} is {fields.kind_of(value)}, expected a boolean")


def _tags(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise fields.FieldProblem(f"{field} is {fields.kind_of(value)}, expected an array of tag names")
    for index, tag in enumerate(value):
        if not isinstance(tag, str):
            raise fields.FieldProblem(f"{field}[{index}] is {fields.kind_of(tag)}, expected a tag name")
    return tuple(value)

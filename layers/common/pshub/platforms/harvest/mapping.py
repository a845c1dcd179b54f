"""A Harvest time entry as the attributes of a canonical ``TimeEntry`` (docs/time-and-expense.md).

Pure: reads the record Harvest's ``GET /v2/time_entries`` returned and the connection's
options, looks nothing up. Each problem is a ``fields.MappingProblem`` naming the field,
never its value (notes and names are personal data).

| attribute | from the Harvest time entry |
|---|---|
| ``project_id`` | ``project.code`` when it is not blank, else ``project.id`` |
| ``worker_id`` | the e-mail the connection's ``users`` option gives for ``user.id`` (lower-cased), else ``user.id`` |
| ``work_date`` | ``spent_date`` |
| ``hours`` | ``hours`` exactly as Harvest sent it, trailing zeros dropped (never ``rounded_hours``, which is Harvest's invoicing rounding) |
| ``role`` | ``task.name`` |
| ``billable`` | ``billable`` |
| ``status`` | ``approval_status``: ``approved`` -> approved, ``submitted`` -> submitted, ``unsubmitted`` -> draft |
| ``notes`` | ``notes`` (absent when null) |

Decisions where Harvest says less than the contract asks:

- ``unsubmitted`` is ``draft``, not ``submitted``: the canonical model has a draft state and
  an unsubmitted entry is exactly that (its owner can still change it); calling it submitted
  would tell the approval side something Harvest never said. A rejected timesheet goes back
  to ``unsubmitted`` in Harvest, so ``rejected`` is not expected; it is mapped if it appears.
  Any other value is refused, so that a new state is added here rather than guessed.
- Responses without ``approval_status`` (Harvest documents ``is_closed`` as its deprecated
  predecessor): ``is_closed`` true is approved, false is submitted (the model's default for
  "not stated": Harvest no longer tells unsubmitted from submitted there).
- ``is_locked`` does not make an entry approved: Harvest also locks invoiced entries and
  closed periods. A locked entry takes the status its approval state gives; an approved
  and locked one is approved.
- ``approved_at`` is absent: Harvest records no approval time. ``updated_at`` moves on every
  later change (invoicing, a note), so using it would restate the approval each time.
- A running timer (``is_running``) and an entry of zero hours carry no hours to post yet:
  they map to nothing; the entry is read again when it is stopped (which updates it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pshub.connections import ConnectionConfigError
from pshub.platforms import fields
from pshub.platforms.fields import MappingProblem

OBJECT_TYPE = "time_entries"  # the feed's object type, as Harvest's list endpoint names it
VERSION_SCHEME = "harvest.updated_at"
STATUSES = {
    "approved": "approved",
    "submitted": "submitted",
    "unsubmitted": "draft",
    "rejected": "rejected",
}
# The contract's attributes, in the order the model declares them.
ATTRIBUTES = ("project_id", "worker_id", "work_date", "hours", "billable", "role", "status", "notes")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EMAIL = re.compile(r"^[^@\s,=]+@[^@\s,=]+\.[^@\s,=]+$")


@dataclass(frozen=True)
class Snapshot:
    """A time entry's version and, if it has hours to post, its canonical attributes."""

    native_id: str
    updated_at: datetime
    attributes: dict[str, Any] | None  # None: a running timer or zero hours (nothing to post)


def users_option(raw: str | None, where: str = "connection") -> dict[str, str]:
    """The ``users`` option, ``<harvest user id>=<e-mail>,...``, as user id -> lower-cased e-mail."""
    users: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in (raw or "").split(","))):
        user_id, sep, email = (s.strip() for s in pair.partition("="))
        if not sep or not user_id.isdigit() or not _EMAIL.match(email):
            raise ConnectionConfigError(
                f"{where} option users: an entry is not <harvest user id>=<e-mail address>"
            )
        users[user_id] = email.lower()
    return users


def exact_hours(value: object, field: str = "Harvest time entry hours") -> Decimal:
    """Harvest's decimal hours, exactly: the JSON number's own digits, trailing zeros dropped."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise MappingProblem(f"{field} is {fields.kind_of(value)}, expected a number")
    # A float is the shortest repr of the JSON literal it was read from: that literal's digits.
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise MappingProblem(f"{field} is not a finite number")
    try:
        normal = number.normalize()
        exponent = normal.as_tuple().exponent
        # normalize() writes 100 as 1E+2: back to plain digits.
        return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal
    except InvalidOperation:
        raise MappingProblem(f"{field} is out of range") from None


def updated_at(entry: Mapping[str, Any]) -> datetime:
    return fields.iso_datetime(entry.get("updated_at"), "Harvest time entry updated_at")


def native_id(entry: Mapping[str, Any]) -> str:
    return fields.identifier(entry.get("id"), "Harvest time entry id")


def status(entry: Mapping[str, Any]) -> str:
    approval = entry.get("approval_status")
    if approval is None:
        closed = entry.get("is_closed")
        if not isinstance(closed, bool):
            raise MappingProblem(
                f"Harvest time entry has neither approval_status nor is_closed (is_closed is {fields.kind_of(closed)})"
            )
        return "approved" if closed else "submitted"
    if not isinstance(approval, str) or approval not in STATUSES:
        found = "a state pshub does not map" if isinstance(approval, str) else fields.kind_of(approval)
        raise MappingProblem(
            f"Harvest time entry approval_status is {found} (pshub maps {', '.join(sorted(STATUSES))}): "
            "add it to STATUSES, then redrive"
        )
    return STATUSES[approval]


def snapshot(entry: Mapping[str, Any], users: Mapping[str, str]) -> Snapshot:
    """The entry's version and canonical attributes; ``MappingProblem`` if it is not Harvest's shape."""
    entry = fields.mapping(entry, "Harvest time entry")
    entry_id = native_id(entry)
    modified = updated_at(entry)
    hours = exact_hours(entry.get("hours"))
    running = entry.get("is_running", False)
    if not isinstance(running, bool):
        raise MappingProblem(
            f"Harvest time entry is_running is {fields.kind_of(running)}, expected a boolean"
        )
    if running or hours == 0:
        return Snapshot(entry_id, modified, None)
    project = fields.mapping(entry.get("project"), "Harvest time entry project")
    code = fields.optional_text(project.get("code"), "Harvest time entry project.code")
    user = fields.mapping(entry.get("user"), "Harvest time entry user")
    user_id = fields.identifier(user.get("id"), "Harvest time entry user.id")
    task = fields.mapping(entry.get("task") or {}, "Harvest time entry task")
    billable = entry.get("billable")
    if not isinstance(billable, bool):
        raise MappingProblem(f"Harvest time entry billable is {fields.kind_of(billable)}, expected a boolean")
    attributes: dict[str, Any] = {
        "project_id": code.strip()
        if code and code.strip()
        else fields.identifier(project.get("id"), "Harvest time entry project.id"),
        "worker_id": users.get(user_id, user_id),
        "work_date": fields.iso_date(entry.get("spent_date"), "Harvest time entry spent_date"),
        "hours": hours,
        "billable": billable,
        "role": fields.optional_text(task.get("name"), "Harvest time entry task.name") or None,
        "status": status(entry),
        "notes": fields.optional_text(entry.get("notes"), "Harvest time entry notes") or None,
    }
    return Snapshot(entry_id, modified, _as_model_dumps(attributes))


def _as_model_dumps(attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes validated by ``TimeEntry`` and valued as it dumps them (JSON)."""
    from pshub.canonical.model import TimeEntry

    present = {k: v for k, v in attributes.items() if v is not None}
    record = TimeEntry.model_validate({"id": "harvest-mapping", **present})
    dumped: dict[str, Any] = record.model_dump(mode="json", include=set(present))
    return {name: dumped[name] for name in ATTRIBUTES if name in dumped}


def version_major(moment: datetime) -> int:
    """A Harvest timestamp (whole seconds, UTC) as milliseconds since the epoch, exactly."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)

"""Canonical projects and rate cards to Kantata OX (Mavenlink) API v1 JSON and back. Pure: no I/O.

What Kantata holds of a pshub project, and where (field names from the Kantata OX
specification, https://developer.kantata.com/kantata/specification, "Workspaces",
"External References", "Rate Card Role"):

- The project is a **workspace**. ``title`` carries the project code as its first word
  (``"PRJ-HARB-0001 - Data Platform Assessment"``): the marker a search by title finds
  even when the external reference is missing. ``currency`` and ``price`` (the
  budget, in whole base units of the currency: dollars for USD) are set at creation;
  ``start_date``/``due_date`` are the project dates; ``project_tracker_template_id``
  names the template applied (Kantata does not return it afterwards).
- pshub's key is an **external reference** on the workspace (``service_name`` "pshub",
  ``service_model`` "project", ``service_model_ref`` = the project code), created inline
  with the workspace. Its ``external_message`` holds a compact JSON *descriptor* of what
  Kantata has no field for (canonical id, client, legal entity, service line,
  dimensions, template), so the project can be read back whole and a second send of
  the same code compared field by field. ``external_status`` says ``active`` or
  ``archived: <reason>``.
- A rate is a **rate card role** on the workspace rate card's effective version:
  ``role_id`` and ``rate`` in the subunits of the currency per hour (cents for USD).
  The rate card's own identity (pshub id, name, dates) is a second external reference,
  on the ``RateCard``.

Limits: a workspace title is cut to ``TITLE_LIMIT`` characters (the name is shortened,
never the code; 255 is Rails' default string column and unverified for Kantata), and
integers are int32 (the spec's format), so a budget or rate beyond it is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pshub.canonical.currencies import currency as iso_currency
from pshub.canonical.model import (
    FinancialDimensions,
    Milestone,
    Money,
    Project,
    ProjectStatus,
    Rate,
    RateCard,
)
from pshub.connectors.feed import FeedRecord
from pshub.platforms import fields

SERVICE_NAME = "pshub"
PROJECT_MODEL = "project"
RATE_CARD_MODEL = "rate_card"
MILESTONE_MODEL = "milestone"
MILESTONES_FEED = "milestones"  # the feed's object type
COMPLETED = "completed"  # a story's state once delivered
TITLE_LIMIT = 255
DESCRIPTOR_LIMIT = 1000  # longest external_message pshub writes (Kantata's own limit is unverified)
INT32_MAX = 2**31 - 1
_SEPARATOR = " - "
_ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")
# Canonical fields pshub compares when the same project code is sent twice.
CONTENT_FIELDS = (
    "budget",
    "client_id",
    "contract_id",
    "dimensions",
    "end_date",
    "legal_entity",
    "name",
    "service_line",
    "start_date",
    "template",
)
# Of those, the ones a workspace itself holds (the rest live in the descriptor).
HELD_BY_WORKSPACE = frozenset({"budget", "end_date", "name", "start_date"})


class MappingError(ValueError):
    """A canonical value Kantata cannot hold as it is (an amount beyond int32, a code it cannot key)."""


# -- money ---------------------------------------------------------------------------------
def subunits(money: Money) -> int:
    """``money`` in the currency's subunits (Kantata's ``*_in_cents`` and rates): 185.00 USD -> 18500."""
    value = int(money.amount.scaleb(iso_currency(money.currency).minor_unit))
    if abs(value) > INT32_MAX:
        raise MappingError(f"{money.currency} amount is beyond what Kantata holds (int32 subunits)")
    return value


def from_subunits(value: int, currency_code: str) -> Money:
    return Money(
        amount=Decimal(value).scaleb(-iso_currency(currency_code).minor_unit), currency=currency_code
    )


def whole_units(money: Money) -> int:
    """A budget as Kantata's ``price`` takes it: whole base units, half a unit rounded up."""
    value = int(money.amount.to_integral_value(rounding=ROUND_HALF_UP))
    if abs(value) > INT32_MAX:
        raise MappingError(f"{money.currency} budget is beyond what Kantata holds (int32 base units)")
    return value


def budget_as_held(project: Project) -> Money | None:
    """The budget as Kantata will hold it (whole units), so a read-back compares equal."""
    if project.budget is None:
        return None
    return Money(amount=Decimal(whole_units(project.budget)), currency=project.budget.currency)


# -- titles ----------------------------------------------------------------------------------
def clean_text(value: str) -> str:
    """One line: runs of whitespace (tabs, newlines, non-breaking spaces) become one space."""
    return _WHITESPACE.sub(" ", value).strip()


def title_for(code: str, name: str) -> str:
    """``"<code> - <name>"`` within ``TITLE_LIMIT``; a long name is shortened with an ellipsis."""
    name = clean_text(name)
    prefix = f"{code}{_SEPARATOR}" if name else code
    if len(prefix) > TITLE_LIMIT:
        raise MappingError(f"project code {code!r} is longer than a Kantata title")
    room = TITLE_LIMIT - len(prefix)
    if len(name) > room:
        name = name[: room - 1].rstrip() + _ELLIPSIS
    return prefix + name


def name_from_title(title: str, code: str) -> str:
    """The project name in a workspace title (the whole title if someone removed the code)."""
    if title == code:
        return ""
    return title.removeprefix(f"{code}{_SEPARATOR}")


def title_marks(title: str | None, code: str) -> bool:
    """Whether a workspace title carries ``code`` as pshub writes it (exact, case-sensitive)."""
    return isinstance(title, str) and (title == code or title.startswith(f"{code}{_SEPARATOR}"))


def check_code(code: str) -> None:
    """A code pshub can key in Kantata: no comma (the refs filter is a comma-separated list)."""
    if not code or "," in code or code != code.strip():
        raise MappingError(f"project code {code!r} cannot be used as a Kantata external reference")


# -- the descriptor ------------------------------------------------------------------------------
def descriptor_for(project: Project, template: str) -> str:
    """The pshub facts Kantata has no field for, as compact JSON (no money, no personal data)."""
    facts: dict[str, Any] = {
        "v": 1,
        "id": project.id,
        "client_id": project.client_id,
        "legal_entity": project.legal_entity,
        "service_line": project.service_line,
        "template": template,
        "dimensions": project.dimensions.model_dump(mode="json", exclude_none=True),
    }
    if project.contract_id is not None:
        facts["contract_id"] = project.contract_id
    text = json.dumps(facts, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if len(text) > DESCRIPTOR_LIMIT:
        raise MappingError(f"project {project.code}: its identifiers are too long for a Kantata reference")
    return text


def read_descriptor(message: object) -> dict[str, Any] | None:
    """The descriptor in an external reference's ``external_message``; None if it holds none."""
    if not isinstance(message, str) or not message.startswith("{"):
        return None
    try:
        facts = json.loads(message)
    except ValueError:
        return None
    return facts if isinstance(facts, dict) and facts.get("v") == 1 else None


# -- requests ------------------------------------------------------------------------------------
def project_reference(project: Project, template: str, status: str = "active") -> dict[str, Any]:
    return {
        "service_name": SERVICE_NAME,
        "service_model": PROJECT_MODEL,
        "service_model_ref": project.code,
        "status": "successful",
        "external_status": status,
        "external_message": descriptor_for(project, template),
    }


def workspace_body(project: Project, template_id: int, template: str, currency_code: str) -> dict[str, Any]:
    """``POST /workspaces.json``: the workspace from a template, with pshub's reference inline."""
    check_code(project.code)
    budget = project.budget
    workspace: dict[str, Any] = {
        "title": title_for(project.code, project.name),
        "description": (
            f"Delivery project {project.code} ({project.service_line}, {project.legal_entity}), "
            f"provisioned by pshub from template {template}."
        ),
        "creator_role": "consultant",  # the provider team (the spec's enum; "maven" is its legacy name)
        "project_tracker_template_id": template_id,
        # Kantata applies the currency only to a budgeted project; a project without a budget
        # is budgeted at 0 so it still bills in the currency pshub decided.
        "budgeted": True,
        "currency": currency_code,
        "price": whole_units(budget) if budget is not None else 0,
        "external_reference": project_reference(project, template),
    }
    if project.start_date is not None:
        workspace["start_date"] = project.start_date.isoformat()
        workspace["project_template_start_date"] = project.start_date.isoformat()
    if project.end_date is not None:
        workspace["due_date"] = project.end_date.isoformat()
    return {"workspace": workspace}


def reference_body(
    subject_type: str, subject_id: str, model: str, ref: str, *, message: str, status: str
) -> dict[str, Any]:
    """``POST /external_references/create_or_update``: one reference per subject and service name."""
    return {
        "external_reference": {
            "subject_type": subject_type,
            "subject_id": int(subject_id),
            "service_name": SERVICE_NAME,
            "service_model": model,
            "service_model_ref": ref,
            "status": "successful",
            "external_status": status,
            "external_message": message,
        }
    }


def milestone_story(milestone: Milestone, currency_code: str) -> dict[str, Any]:
    """A contract milestone as a Kantata story (``story_type: milestone``) on the workspace's plan:
    its title, due date and fixed fee (``budget_estimate_in_cents``, in the workspace currency),
    and pshub's reference (the milestone's canonical id) written inline with it."""
    if milestone.amount.currency != currency_code:
        raise MappingError(
            f"milestone {milestone.id} is priced in {milestone.amount.currency}, the workspace in {currency_code}"
        )
    title = clean_text(milestone.name)
    if not title:
        raise MappingError(f"milestone {milestone.id} has no name")
    if len(milestone.id) > DESCRIPTOR_LIMIT or "," in milestone.id:
        raise MappingError(
            f"milestone id {milestone.id[:40]!r} cannot be a Kantata reference (too long or a comma)"
        )
    cents = subunits(milestone.amount)
    if not 0 <= cents <= INT32_MAX:
        raise MappingError(
            f"milestone {milestone.id}: {milestone.amount.amount} is beyond what Kantata holds"
        )
    story: dict[str, Any] = {
        "title": title[:TITLE_LIMIT],
        "story_type": "milestone",
        "fixed_fee": True,
        "budget_estimate_in_cents": cents,
    }
    if milestone.due_date is not None:
        story["due_date"] = milestone.due_date.isoformat()
    return story


def feed_record(record: dict[str, Any]) -> FeedRecord:
    """A story or workspace as the poller carries it: its id and Kantata's ``updated_at``."""
    try:
        modified = fields.iso_datetime(str(record.get("updated_at") or ""), "updated_at")
    except fields.FieldProblem as problem:
        raise MappingError(f"Kantata record {record.get('id')!r}: {problem}") from None
    return FeedRecord(native_id=str(record.get("id")), modified_at=modified, data=record)


def story_differs(held: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` a held story does not have (what a ``PUT`` must send)."""
    return {k: v for k, v in wanted.items() if held.get(k) != v}


def rate_card_descriptor(rate_card: RateCard) -> str:
    facts: dict[str, Any] = {
        "v": 1,
        "name": clean_text(rate_card.name),
        "effective_from": rate_card.effective_from.isoformat(),
    }
    if rate_card.effective_to is not None:
        facts["effective_to"] = rate_card.effective_to.isoformat()
    text = json.dumps(facts, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if len(text) > DESCRIPTOR_LIMIT:
        raise MappingError(f"rate card {rate_card.id}: its name is too long for a Kantata reference")
    return text


def role_rates(rate_card: RateCard) -> dict[str, int]:
    """Role name -> rate in subunits per hour, for a card already checked to list each role once."""
    return {clean_text(rate.role): subunits(rate.hourly_rate) for rate in rate_card.rates}


def repeated_roles(rate_card: RateCard) -> list[str]:
    names = [clean_text(rate.role) for rate in rate_card.rates]
    return sorted({name for name in names if names.count(name) > 1})


# -- responses -----------------------------------------------------------------------------------
def records(document: object, key: str) -> list[dict[str, Any]]:
    """The objects a side-loaded answer lists in ``results`` under ``key``, in order, each with its id."""
    if not isinstance(document, dict):
        return []
    table = document.get(key)
    found: list[dict[str, Any]] = []
    for result in document.get("results") or []:
        if not isinstance(result, dict) or result.get("key") != key:
            continue
        item = table.get(str(result.get("id"))) if isinstance(table, dict) else None
        if isinstance(item, dict):
            found.append({**item, "id": str(item.get("id", result.get("id")))})
    return found


def side_loaded(document: object, key: str, ids: object) -> list[dict[str, Any]]:
    """Associated objects by id (``external_reference_ids`` -> ``external_references``)."""
    if not isinstance(document, dict) or not isinstance(ids, list):
        return []
    table = document.get(key)
    if not isinstance(table, dict):
        return []
    return [{**table[str(i)], "id": str(i)} for i in ids if isinstance(table.get(str(i)), dict)]


def pshub_reference(references: list[dict[str, Any]], model: str) -> dict[str, Any] | None:
    for reference in references:
        if reference.get("service_name") == SERVICE_NAME and reference.get("service_model") == model:
            return reference
    return None


def _date(value: object) -> date | None:
    return date.fromisoformat(value[:10]) if isinstance(value, str) and value else None


def held_budget(workspace: Mapping[str, Any]) -> Money | None:
    cents = workspace.get("price_in_cents")
    code = workspace.get("currency")
    if not isinstance(cents, int) or not cents or not isinstance(code, str):
        return None
    return from_subunits(cents, code)


def requested_content(project: Project, template: str) -> dict[str, Any]:
    """What pshub asks for, in the form a read-back gives (title cut, budget in whole units)."""
    budget = budget_as_held(project)
    return {
        "budget": budget.model_dump(mode="json") if budget else None,
        "client_id": project.client_id,
        "contract_id": project.contract_id,
        "dimensions": project.dimensions.model_dump(mode="json", exclude_none=True),
        "end_date": project.end_date.isoformat() if project.end_date else None,
        "legal_entity": project.legal_entity,
        "name": name_from_title(title_for(project.code, project.name), project.code),
        "service_line": project.service_line,
        "start_date": project.start_date.isoformat() if project.start_date else None,
        "template": template,
    }


def held_content(workspace: Mapping[str, Any], code: str, facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """What Kantata holds of project ``code``: the workspace's fields and the descriptor's."""
    budget = held_budget(workspace)
    start, due = _date(workspace.get("start_date")), _date(workspace.get("due_date"))
    content: dict[str, Any] = {
        "budget": budget.model_dump(mode="json") if budget else None,
        "end_date": due.isoformat() if due else None,
        "name": name_from_title(str(workspace.get("title") or ""), code),
        "start_date": start.isoformat() if start else None,
    }
    if facts is not None:
        content |= {
            "client_id": facts.get("client_id"),
            "contract_id": facts.get("contract_id"),
            "dimensions": facts.get("dimensions"),
            "legal_entity": facts.get("legal_entity"),
            "service_line": facts.get("service_line"),
            "template": facts.get("template"),
        }
    return content


def differing_fields(held: Mapping[str, Any], requested: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields that differ, over those Kantata holds (a workspace without pshub's descriptor
    is compared on its own fields only)."""
    return tuple(sorted(k for k in held if k in requested and held[k] != requested[k]))


def project_from(
    workspace: Mapping[str, Any], code: str, facts: Mapping[str, Any], connection_id: str
) -> Project:
    """The canonical project a workspace and pshub's descriptor describe."""
    dimensions = facts.get("dimensions") or {
        "legal_entity": facts.get("legal_entity"),
        "service_line": facts.get("service_line"),
    }
    return Project(
        id=str(facts.get("id") or f"{connection_id}:project:{workspace.get('id')}"),
        external_ids={connection_id: str(workspace.get("id"))},
        code=code,
        name=name_from_title(str(workspace.get("title") or ""), code),
        client_id=str(facts.get("client_id") or ""),
        contract_id=facts.get("contract_id"),
        legal_entity=str(facts.get("legal_entity") or ""),
        service_line=str(facts.get("service_line") or ""),
        status=ProjectStatus.CLOSED if workspace.get("archived") else ProjectStatus.ACTIVE,
        budget=held_budget(workspace),
        start_date=_date(workspace.get("start_date")),
        end_date=_date(workspace.get("due_date")),
        dimensions=FinancialDimensions.model_validate(dimensions),
    )


def archive_reason(reference: Mapping[str, Any] | None) -> str | None:
    status = reference.get("external_status") if reference else None
    if isinstance(status, str) and status.startswith("archived"):
        return status.removeprefix("archived").removeprefix(":").strip() or None
    return None


def rate_card_from(
    rate_card_ref: Mapping[str, Any],
    currency_code: str,
    rates: Mapping[str, int],
) -> RateCard | None:
    """The canonical rate card pshub pushed: its reference's identity and the roles' rates."""
    facts = read_descriptor(rate_card_ref.get("external_message"))
    if facts is None or not rates:
        return None
    return RateCard(
        id=str(rate_card_ref.get("service_model_ref")),
        name=str(facts.get("name") or ""),
        currency=currency_code,
        effective_from=date.fromisoformat(str(facts["effective_from"])),
        effective_to=_date(facts.get("effective_to")),
        rates=[
            Rate(role=role, hourly_rate=from_subunits(cents, currency_code))
            for role, cents in sorted(rates.items())
        ],
    )

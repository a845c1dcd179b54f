"""A Concur expense report, as Expense Report v4 returns it, as canonical expense records.

Pure: it reads the report the connector returned (``outbound.ConcurExpenseReports.read_report``:
the report header with ``expenses``, each the expense's detail with its ``allocations`` and,
when the project field is named by its label, its ``formFields``; list item values of the
project field carry the ``listItem`` they name) and the notification that caused the read.

The report's approval state as read decides (the notification may be older than the read):

- ``approvalStatusId`` in the connection's approved statuses (``A_APPR`` unless the option
  ``approved_statuses`` says more, e.g. ``A_APPR,A_ACCO``): one ``approved`` record per expense;
- ``A_RESU`` (sent back to the employee, or recalled): one ``rejected`` record per expense,
  whether or not the report had been approved before (a rejection of an entry that was never
  approved posts nothing);
- any other state (not submitted, pending approval, external validation...): nothing yet.

An expense the approver rejected inside the report (``isExpenseRejected``) is ``rejected``; a
personal expense (``isPersonalExpense``: the employee pays it) is not the firm's cost and is
left out.

Attributes follow ``docs/time-and-expense.md``:

- ``project_id``: the project custom field's value on the expense's allocations (the expense's
  own custom data when no allocation carries it): the list item's ``shortCode`` (its own code;
  ``code`` is the long code of a connected list, its ancestors' codes joined), else the text
  value. The field is the connection option ``project_field``: a custom field id (``custom9``,
  ``orgUnit2``) or the label on the expense form (``Project``, the default), matched without
  regard to case. An expense without it is mapped without ``project_id`` (the posting side
  raises the business exception for it); one split across allocations of different projects
  is refused: pshub posts an expense to one project.
- ``worker_id``: the report owner's e-mail from the ``users`` option (``<user id>=<e-mail>``),
  else the owner's ``userId`` (Expense v4 gives no e-mail address).
- ``incurred_on``: ``transactionDate``; ``category``: ``expenseType.name`` lower-cased.
- ``amount``: ``approvedAmount`` in the report currency, exact (a value with more decimals than
  the currency has is refused, not rounded).
- ``billable``: ``isExpenseBillable`` when Concur gives it; ``receipt_ref``: ``receiptImageId``,
  else ``ereceiptImageId``.
- ``approved_at``: the notification's ``lastModifiedDate`` when the notification is the
  report's move into an approved status; absent otherwise (Expense v4 has no approval date).

Versions:

| platform | scheme | major | minor | tiebreak |
|---|---|---|---|---|
| SAP Concur | ``concur.lastModifiedDate`` | the later of the expense's ``lastModifiedDate`` and the notification's ``lastModifiedDate``, Unix ms | 0 | the expense id |

A workflow step changes the report, not its expenses: an expense's own ``lastModifiedDate`` (often
null) would give an approval and a later send-back the same version, so the notification's
stamp is part of it. A late notification maps the state read at that moment under its own,
older, version: entity sync keeps the newer one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from pshub.canonical.model import Money
from pshub.platforms import fields

DEFAULT_PROJECT_FIELD = "Project"
DEFAULT_APPROVED_STATUSES = frozenset({"A_APPR"})
SENT_BACK = "A_RESU"  # sent back by an approver or processor, or recalled by the employee
# Concur's custom data ids: custom1..custom40 and orgUnit1..orgUnit6.
_FIELD_ID = re.compile(r"(?i)(custom|orgunit)\d{1,2}")
# A list item id as Concur writes it in custom data (32 hex digits).
_LIST_ITEM_ID = re.compile(r"[0-9A-Fa-f]{32}")
_DATETIME = TypeAdapter(AwareDatetime)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReportProblem(fields.FieldProblem):
    """The report cannot be mapped as Concur returned it (a reason, never a value)."""


@dataclass(frozen=True)
class ExpenseRecord:
    """One expense of the report as canonical attributes, with its place in Concur's order."""

    expense_id: str
    native_id: str  # "<report id>/<expense id>"
    attributes: dict[str, Any]
    version_ms: int


def approved_statuses(options: Mapping[str, str] | None) -> frozenset[str]:
    raw = (options or {}).get("approved_statuses", "")
    given = frozenset(s.strip().upper() for s in raw.split(",") if s.strip())
    return given or DEFAULT_APPROVED_STATUSES


def users(options: Mapping[str, str] | None) -> dict[str, str]:
    """``users``: ``<Concur user id>=<e-mail>,...`` (Expense v4 names the owner by id only), so
    the ERP finds the employee by e-mail; a user not listed is known by the user id."""
    found: dict[str, str] = {}
    for item in ((options or {}).get("users") or "").split(","):
        user_id, equals, email = (part.strip() for part in item.partition("="))
        if equals and user_id and "@" in email:
            found[user_id.lower()] = email.lower()
    return found


def project_field(options: Mapping[str, str] | None) -> str:
    return ((options or {}).get("project_field") or DEFAULT_PROJECT_FIELD).strip()


def names_field_by_label(field: str) -> bool:
    """True when ``project_field`` is a form label (resolved with the expense form), not an id."""
    return _FIELD_ID.fullmatch(field) is None


def project_field_ids(expense: Mapping[str, Any], field: str) -> set[str]:
    """The custom data ids (lower-case) that hold the project on ``expense``."""
    if not names_field_by_label(field):
        return {field.lower()}
    label = field.casefold()
    ids = set()
    for form_field in expense.get("formFields") or ():
        if isinstance(form_field, dict) and str(form_field.get("fieldName") or "").casefold() == label:
            field_id = form_field.get("fieldId")
            if isinstance(field_id, str) and field_id:
                ids.add(field_id.lower())
    return ids


def project_entries(expense: Mapping[str, Any], ids: set[str]) -> list[dict[str, Any]]:
    """The custom data entries holding the project: the allocations' first, else the expense's."""
    found = [
        entry
        for allocation in expense.get("allocations") or ()
        if isinstance(allocation, dict)
        for entry in _custom_data(allocation)
        if str(entry.get("id") or "").lower() in ids
    ]
    return found or [entry for entry in _custom_data(expense) if str(entry.get("id") or "").lower() in ids]


def is_list_item(entry: Mapping[str, Any]) -> bool:
    """Whether a custom data entry's value is a list item id (to be read with List v4)."""
    value = entry.get("value")
    if not isinstance(value, str) or not value:
        return False
    return bool(entry.get("listItemUrl")) or (
        "listItemUrl" not in entry and bool(_LIST_ITEM_ID.fullmatch(value))
    )


def report_records(
    report: Mapping[str, Any],
    notification: Mapping[str, Any],
    *,
    options: Mapping[str, str] | None = None,
) -> list[ExpenseRecord]:
    """The report's expenses as canonical records (see the module docstring); ``ReportProblem``
    when the report cannot be read as Concur documents it."""
    facts = fields.mapping(notification.get("facts"), "Concur notification facts")
    report_id = fields.identifier(report.get("reportId"), "Concur report reportId")
    notified = fields.identifier(facts.get("reportId"), "Concur notification facts.reportId")
    if report_id != notified:
        raise ReportProblem(f"Concur answered report {report_id} for a notification about report {notified}")
    approved = approved_statuses(options)
    state = fields.text(report.get("approvalStatusId"), f"Concur report {report_id} approvalStatusId")
    if state in approved:
        status = "approved"
    elif state == SENT_BACK:
        status = "rejected"
    else:
        return []
    worker = fields.identifier(report.get("userId"), f"Concur report {report_id} userId")
    worker = users(options).get(worker.lower(), worker)
    stamp = facts.get("lastModifiedDate") or notification.get("timeStamp")
    notified_ms = _millis(fields.iso_datetime(stamp, "Concur notification facts.lastModifiedDate"))
    approved_at = _approved_at(facts, approved, status)
    field = project_field(options)
    expenses = report.get("expenses")
    if not isinstance(expenses, list):
        raise ReportProblem(f"Concur report {report_id} has {fields.kind_of(expenses)} for its expenses")
    records = []
    for index, item in enumerate(expenses):
        expense = fields.mapping(item, f"Concur report {report_id} expense [{index}]")
        if expense.get("isPersonalExpense") is True:
            continue
        records.append(_record(report_id, worker, status, approved_at, notified_ms, field, expense))
    return records


def _record(
    report_id: str,
    worker: str,
    status: str,
    approved_at: str | None,
    notified_ms: int,
    field: str,
    expense: dict[str, Any],
) -> ExpenseRecord:
    expense_id = fields.identifier(expense.get("expenseId"), f"Concur report {report_id} expenseId")
    where = f"Concur expense {report_id}/{expense_id}"
    expense_type = fields.mapping(expense.get("expenseType"), f"{where} expenseType")
    own_status = "rejected" if expense.get("isExpenseRejected") is True else status
    attributes: dict[str, Any] = {
        "worker_id": worker,
        "incurred_on": fields.iso_date(
            expense.get("transactionDate"), f"{where} transactionDate"
        ).isoformat(),
        "category": fields.text(expense_type.get("name"), f"{where} expenseType.name").lower(),
        "status": own_status,
    }
    amount = expense.get("approvedAmount")
    if amount is not None or own_status == "approved":
        attributes["amount"] = _money(amount, f"{where} approvedAmount")
    project = _project(expense, field, where)
    if project is not None:
        attributes["project_id"] = project
    billable = expense.get("isExpenseBillable")
    if isinstance(billable, bool):
        attributes["billable"] = billable
    if own_status == "approved" and approved_at is not None:
        attributes["approved_at"] = approved_at
    receipt = expense.get("receiptImageId") or expense.get("ereceiptImageId")
    if receipt is not None:
        attributes["receipt_ref"] = fields.identifier(receipt, f"{where} receiptImageId")
    modified = expense.get("lastModifiedDate")
    version_ms = notified_ms
    if modified is not None:
        version_ms = max(version_ms, _millis(_concur_datetime(modified, f"{where} lastModifiedDate")))
    return ExpenseRecord(expense_id, f"{report_id}/{expense_id}", attributes, version_ms)


def _project(expense: Mapping[str, Any], field: str, where: str) -> str | None:
    codes: dict[str, None] = {}
    for entry in project_entries(expense, project_field_ids(expense, field)):
        code = _entry_code(entry, where)
        if code:
            codes[code] = None
    if len(codes) > 1:
        raise ReportProblem(
            f"{where} is allocated to {len(codes)} projects ({', '.join(codes)}): pshub posts an "
            "expense to one project; split it into one expense per project in Concur"
        )
    return next(iter(codes), None)


def _entry_code(entry: Mapping[str, Any], where: str) -> str | None:
    item = entry.get("listItem")
    if isinstance(item, dict):
        code = item.get("shortCode") or item.get("code")
        return fields.optional_text(code, f"{where} project list item code") or None
    if is_list_item(entry):
        raise ReportProblem(f"{where}: the project field holds a list item the connector did not read")
    return fields.optional_text(entry.get("value"), f"{where} project field value") or None


def _money(value: object, field: str) -> dict[str, str]:
    amount = fields.mapping(value, field)
    number = amount.get("value")
    if isinstance(number, bool) or not isinstance(number, int | Decimal):
        # The connector reads numbers as Decimal: a float here would already have lost digits.
        raise ReportProblem(f"{field}.value is {fields.kind_of(number)}, expected an exact number")
    currency = fields.text(amount.get("currencyCode"), f"{field}.currencyCode")
    try:
        money = Money(amount=Decimal(number), currency=currency)
    except ValidationError as invalid:
        reasons = "; ".join(str(error.get("msg", "")) for error in invalid.errors())
        raise ReportProblem(f"{field} is not an amount in {currency}: {reasons}") from None
    dumped: dict[str, str] = money.model_dump(mode="json")
    return dumped


def _approved_at(facts: Mapping[str, Any], approved: Iterable[str], status: str) -> str | None:
    """The approval moment, when this notification is the report's move into an approved state."""
    current, previous = facts.get("currentApprovalStatus"), facts.get("previousApprovalStatus")
    approved = frozenset(approved)
    if status != "approved" or current not in approved or previous in approved:
        return None
    moment = fields.iso_datetime(facts.get("lastModifiedDate"), "Concur notification facts.lastModifiedDate")
    text: str = _DATETIME.dump_python(moment.astimezone(UTC), mode="json")
    return text


def _concur_datetime(value: object, field: str) -> datetime:
    """Concur writes ``YYYY-MM-DDTHH:mm:ssZ`` (UTC); an offset-less stamp is UTC too, as documented."""
    stamp = fields.text(value, field)
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise fields.FieldProblem(f"{field} is not an ISO 8601 date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _custom_data(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    data = record.get("customData")
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []

"""Workday inbound: workers, as the customer's outbound integration relays them.

Workday pushes only through integrations the customer builds: a Workday Studio or EIB/Core
Connector: Worker integration launched by a business process event (hire, job change,
termination, leave) or on a schedule with "changes since last run"
(``docs/relays/workday-outbound.md``). It posts one message per changed worker, signed as
Standard Webhooks. Field names are the Core Connector: Worker / Get_Workers element names.

| record type | fields | canonical |
|---|---|---|
| ``worker`` | ``Preferred_Name`` (else ``Legal_Name``), ``Email_Address`` (work), ``Worker_Status`` (``Active``, ``On Leave``, ``Terminated``), ``Hire_Date``, ``Termination_Date``, ``Business_Title``, ``Company_ID`` | ``WorkerChanged`` (snapshot) |

``id`` is the ``Employee_ID`` or ``Contingent_Worker_ID``; ``modified_at`` is the effective
moment of the business process that changed the worker. The contract carries no compensation
and no personal data beyond a name and a work email: pshub needs neither pay nor a home
address, and a relay that sends them sends them to be refused (unknown fields are ignored, never
stored in the canonical event). Workers are not deleted in Workday (a rescinded hire is a
termination), so a delete is refused.
"""

from __future__ import annotations

from typing import Any

from pshub.platforms import fields
from pshub.platforms.relay import RelayAdapter, RelayChange, RelayRecord, entity_changed, records_table

STATUSES = {
    "active": "active",
    "on leave": "on_leave",
    "leave of absence": "on_leave",
    "terminated": "terminated",
}


def _date(change: RelayChange, name: str) -> Any:
    value = change.fields.get(name)
    return None if value in (None, "") else fields.iso_date(value, change.field(name))


def _worker(change: RelayChange) -> list[tuple[str, Any]]:
    from pshub.canonical.model import Worker

    values = change.fields
    name = next(
        (
            text.strip()
            for key in ("Preferred_Name", "Legal_Name")
            if (text := fields.optional_text(values.get(key), change.field(key))) and text.strip()
        ),
        None,
    )
    if name is None:
        raise fields.MappingProblem(f"{change.where} has neither fields.Preferred_Name nor fields.Legal_Name")
    status_text = fields.optional_text(values.get("Worker_Status"), change.field("Worker_Status"))
    status = None
    if status_text:
        status = STATUSES.get(" ".join(status_text.lower().split()))
        if status is None:
            raise fields.MappingProblem(
                f"{change.field('Worker_Status')} is not one of Active, On Leave, Terminated"
            )
    attributes = {
        "name": name,
        "email": fields.optional_text(values.get("Email_Address"), change.field("Email_Address")) or None,
        "employment_status": status,
        "hire_date": _date(change, "Hire_Date"),
        "termination_date": _date(change, "Termination_Date"),
        "role": fields.optional_text(values.get("Business_Title"), change.field("Business_Title")) or None,
        "home_entity": fields.optional_text(values.get("Company_ID"), change.field("Company_ID")) or None,
    }
    return [entity_changed(Worker, change, attributes)]


class WorkdayRelayAdapter(RelayAdapter):
    platform = "workday"
    title = "Workday"
    records = records_table(RelayRecord("worker", _worker))

"""The project directory: what time and cost need to know about a project to post it.

Time and expense sources name a project by its code (or by their own id, bound to the
project through the identity store); the ERP needs its own project id, and the amount
needs the rate in force on the day worked. The provisioning workflow writes one entry per
activated project; a repricing (a change order) adds a rate card version. Items live in the
identity table, next to the cross-references:

- ``PROJECTDIR#<code>``, ``ENTRY``: ``doc`` (JSON: project id, legal entity, currency, the
  ERP connection and its project id, status, every rate card version) and ``rev``, the
  item's revision; every write is conditional on the revision it read.
- ``PROJECTDIR-ID#<project id>``, ``CODE``: the code, for a lookup by canonical id.
- ``PROJECTDIR-LE#<legal entity>``, ``<code>``: the entity's projects, for its billing run.

Rates are effective-dated: ``rate_in_force`` picks, among the cards in force on the day
(``effective_from`` <= day <= ``effective_to``), the highest version's rate for the role. A
superseded card still prices the days it covered: an entry dated before a repricing keeps
the old rate, however late it is approved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pshub.canonical.model import (
    Contract,
    ContractAmendment,
    Milestone,
    MilestoneStatus,
    Money,
    Rate,
    RateCard,
    RateCardStatus,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_ATTEMPTS = 5


@dataclass
class DirectoryEntry:
    code: str
    project_id: str
    legal_entity: str
    currency: str
    erp_connection: str
    erp_project_id: str
    status: str = "active"
    rate_cards: list[RateCard] = field(default_factory=list)
    # What billing needs (written at activation): the contract as activated, the client, and
    # where its invoices are drafted ("erp" or "billing_platform", and that connection).
    contract: Contract | None = None
    client_id: str | None = None
    invoicing_route: str | None = None
    invoicing_connection: str | None = None
    # Where an amendment goes: the deal in the CRM (its contract's status), the PSA project.
    crm_connection: str | None = None
    opportunity_native_id: str | None = None
    psa_connection: str | None = None
    psa_project_id: str | None = None
    rev: int = 0

    def to_doc(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "project_id": self.project_id,
            "legal_entity": self.legal_entity,
            "currency": self.currency,
            "erp_connection": self.erp_connection,
            "erp_project_id": self.erp_project_id,
            "status": self.status,
            "rate_cards": [card.model_dump(mode="json") for card in self.rate_cards],
            "contract": self.contract.model_dump(mode="json") if self.contract else None,
            "client_id": self.client_id,
            "invoicing_route": self.invoicing_route,
            "invoicing_connection": self.invoicing_connection,
            "crm_connection": self.crm_connection,
            "opportunity_native_id": self.opportunity_native_id,
            "psa_connection": self.psa_connection,
            "psa_project_id": self.psa_project_id,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], rev: int) -> DirectoryEntry:
        return cls(
            code=doc["code"],
            project_id=doc["project_id"],
            legal_entity=doc["legal_entity"],
            currency=doc["currency"],
            erp_connection=doc["erp_connection"],
            erp_project_id=doc["erp_project_id"],
            status=doc.get("status", "active"),
            rate_cards=[RateCard.model_validate(card) for card in doc.get("rate_cards", [])],
            contract=Contract.model_validate(doc["contract"]) if doc.get("contract") else None,
            client_id=doc.get("client_id"),
            invoicing_route=doc.get("invoicing_route"),
            invoicing_connection=doc.get("invoicing_connection"),
            crm_connection=doc.get("crm_connection"),
            opportunity_native_id=doc.get("opportunity_native_id"),
            psa_connection=doc.get("psa_connection"),
            psa_project_id=doc.get("psa_project_id"),
            rev=rev,
        )


def rate_in_force(cards: list[RateCard], role: str | None, day: date) -> tuple[RateCard, Rate] | None:
    """The card and rate that price ``role``'s work on ``day``; None if no card in force has it."""
    if role is None:
        return None
    wanted = role.casefold().strip()
    in_force = [
        card
        for card in cards
        if card.status is not RateCardStatus.DRAFT
        and card.effective_from <= day
        and (card.effective_to is None or day <= card.effective_to)
    ]
    for card in sorted(in_force, key=lambda c: (c.version or 0, c.effective_from), reverse=True):
        for rate in card.rates:
            if rate.role.casefold().strip() == wanted:
                return card, rate
    return None


class ProjectDirectory:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def get(self, code: str) -> DirectoryEntry | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"PROJECTDIR#{code}"}, "sk": {"S": "ENTRY"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return DirectoryEntry.from_doc(json.loads(item["doc"]["S"]), int(item["rev"]["N"]))

    def codes_of(self, legal_entity: str) -> list[str]:
        """The codes of every project registered for ``legal_entity``, in order."""
        codes: list[str] = []
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"PROJECTDIR-LE#{legal_entity}"}},
        ):
            codes += [item["sk"]["S"] for item in page["Items"]]
        return codes

    def code_of(self, project_id: str) -> str | None:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": f"PROJECTDIR-ID#{project_id}"}, "sk": {"S": "CODE"}}
        ).get("Item")
        return item["code"]["S"] if item else None

    def register(self, entry: DirectoryEntry) -> DirectoryEntry:
        """Write the project's entry (provisioning: once activated); a rerun merges rate cards."""
        for _ in range(_ATTEMPTS):
            current = self.get(entry.code)
            merged = entry
            if current is not None:
                merged = DirectoryEntry(
                    **{**entry.__dict__, "rate_cards": _merged(current.rate_cards, entry.rate_cards)}
                )
                merged.rev = current.rev
            if self._save(merged):
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        "pk": {"S": f"PROJECTDIR-ID#{entry.project_id}"},
                        "sk": {"S": "CODE"},
                        "code": {"S": entry.code},
                    },
                )
                self._db.put_item(  # the legal entity's list of projects (billing's scheduled run)
                    TableName=self._table,
                    Item={"pk": {"S": f"PROJECTDIR-LE#{entry.legal_entity}"}, "sk": {"S": entry.code}},
                )
                return merged
        raise RuntimeError(f"project {entry.code}: directory entry changed {_ATTEMPTS} times while writing")

    def add_rate_card(self, code: str, card: RateCard) -> DirectoryEntry:
        """Add a rate card version (a repricing); the same card again changes nothing."""
        for _ in range(_ATTEMPTS):
            current = self.get(code)
            if current is None:
                raise LookupError(f"no project {code} in the project directory")
            current.rate_cards = _merged(current.rate_cards, [card])
            if self._save(current):
                return current
        raise RuntimeError(f"project {code}: directory entry changed {_ATTEMPTS} times while writing")

    def complete_milestone(
        self, code: str, milestone_id: str, completed_on: date, accepted_on: date | None = None
    ) -> DirectoryEntry:
        """Record a milestone of the project's contract completed (and accepted): from then it can
        be billed. The same completion again changes nothing; an unknown milestone is refused."""
        for _ in range(_ATTEMPTS):
            current = self.get(code)
            if current is None:
                raise LookupError(f"no project {code} in the project directory")
            contract = current.contract
            known = [m.id for m in contract.milestones] if contract else []
            if contract is None or milestone_id not in known:
                raise LookupError(f"project {code}: its contract has no milestone {milestone_id}")
            milestones = [
                m.model_copy(
                    update={
                        "status": MilestoneStatus.COMPLETED,
                        "completed_on": m.completed_on or completed_on,
                        "accepted_on": m.accepted_on or accepted_on,
                    }
                )
                if m.id == milestone_id
                else m
                for m in contract.milestones
            ]
            if milestones == contract.milestones:
                return current
            current.contract = contract.model_copy(update={"milestones": milestones})
            if self._save(current):
                return current
        raise RuntimeError(f"project {code}: directory entry changed {_ATTEMPTS} times while writing")

    def amend(
        self,
        code: str,
        amendment: ContractAmendment,
        *,
        budget: Money | None = None,
        end_date: date | None = None,
        rate_card: RateCard | None = None,
        milestones: list[Milestone] | None = None,
    ) -> DirectoryEntry:
        """Record an amendment on the project's contract: its new rate card version (time from
        its effective date is priced by it, time before keeps the old rate), milestones added or
        re-priced (a completed one keeps its completion), the new budget and end date. Once per
        amendment number: a second recording of the same amendment changes nothing."""
        for _ in range(_ATTEMPTS):
            current = self.get(code)
            if current is None or current.contract is None:
                raise LookupError(f"no contract for project {code} in the project directory")
            contract = current.contract
            if any(a.number == amendment.number for a in contract.amendments):
                return current
            by_id = {m.id: m for m in contract.milestones}
            for milestone in milestones or []:
                kept = by_id.get(milestone.id)
                by_id[milestone.id] = (
                    milestone.model_copy(
                        update={"completed_on": kept.completed_on, "accepted_on": kept.accepted_on}
                    )
                    if kept is not None and kept.completed_on is not None
                    else milestone
                )
            update: dict[str, Any] = {
                "amendments": [*contract.amendments, amendment],
                "milestones": list(by_id.values()),
            }
            if budget is not None:
                update["total_value"] = budget
            if end_date is not None:
                update["end_date"] = end_date
            current.contract = contract.model_copy(update=update)
            if rate_card is not None:
                current.rate_cards = _merged(current.rate_cards, [rate_card])
            if self._save(current):
                return current
        raise RuntimeError(f"project {code}: directory entry changed {_ATTEMPTS} times while writing")

    def set_status(self, code: str, status: str) -> None:
        for _ in range(_ATTEMPTS):
            current = self.get(code)
            if current is None:
                raise LookupError(f"no project {code} in the project directory")
            current.status = status
            if self._save(current):
                return

    def _save(self, entry: DirectoryEntry) -> bool:
        condition = "attribute_not_exists(pk)" if entry.rev == 0 else "rev = :rev"
        values = {":rev": {"N": str(entry.rev)}} if entry.rev else None
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"PROJECTDIR#{entry.code}"},
                    "sk": {"S": "ENTRY"},
                    "doc": {"S": json.dumps(entry.to_doc(), separators=(",", ":"))},
                    "rev": {"N": str(entry.rev + 1)},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),  # type: ignore[arg-type]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        entry.rev += 1
        return True


def _merged(current: list[RateCard], new: list[RateCard]) -> list[RateCard]:
    by_key = {(card.id, card.version): card for card in current}
    for card in new:
        by_key[(card.id, card.version)] = card
    return sorted(by_key.values(), key=lambda c: (c.effective_from, c.version or 0))

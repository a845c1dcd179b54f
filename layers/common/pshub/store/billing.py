"""The billing ledger: which invoice bills what, so nothing is billed twice.

The ``billing`` table (``pk``, ``sk``) holds three kinds of item, every write conditional:

- ``INVOICE#<invoice key>``, ``INVOICE``: one per invoice. The key is (contract, period,
  cycle): ``C-1#2026-11#period`` for a period's time, expenses, retainer and usage,
  ``C-1#2026-11#M-2`` for a milestone's fee. A run claims the key before it bills anything:
  a second run, concurrent or later, finds it claimed (and by whom, until when) or drafted
  (and as which document), and bills nothing. A credit note reopens a key's cycle under a
  revision (``...#period#r2``), never by editing the invoice sent.
- ``SOURCE#<source id>``, ``BILLED``: one per time entry, expense, milestone or usage record
  billed, naming its invoice key and version. Written with the condition that the source
  is unbilled or billed by this same invoice, so two invoices can never both carry it;
  ``billed`` reads them for the next draft (``PeriodInputs.already_billed``).
- ``DOC#<connection>#<document id>``, ``INVOICE``: the platform's document -> the invoice
  key, for ``InvoicePaid`` from the platform.
- ``CONTRACT#<contract id>``, ``<invoice key>``: the contract's invoices with their state,
  subtotal (before tax) and the retainer hours they rolled out, written in the same
  transaction as the invoice (and ``CYCLE#<period>`` for a month whose fee the platform's
  subscription billed): what the budget cap and the next retainer cycle read.

Invoice states: ``claimed`` (a run owns the key until its lease ends), ``sending`` (the
draft went to the platform with the invoice's idempotency key; a retry after an unknown
outcome reads the platform back by that key, or sends again under the same key, never a
new one), ``drafted`` (the platform holds document ``document_id``), ``paid``,
``credited`` (a credit note took it back: its sources are billable again).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HISTORY_KEPT = 20
TRANSACTION_ITEMS = 100  # DynamoDB's most actions in one TransactWriteItems
LEASE_S = 300  # how long a run owns a claimed key before another run may take it over


def invoice_key(contract_id: str, period: str, cycle: str = "period", revision: int = 1) -> str:
    """(contract, period, cycle) as the invoice's key; a revision after a credit note."""
    for part in (contract_id, period, cycle):
        if not part or "#" in part:
            raise ValueError(f"an invoice key part must be non-empty and without '#': {part!r}")
    base = f"{contract_id}#{period}#{cycle}"
    return base if revision == 1 else f"{base}#r{revision}"


def idempotency_key(key: str) -> str:
    """The platform's idempotency key for the invoice: the same for every retry of this key."""
    return "pshub-invoice-" + hashlib.sha256(key.encode()).hexdigest()[:40]


class StaleInvoice(Exception):
    """Another run changed the invoice record since it was read."""


@dataclass
class InvoiceRecord:
    key: str
    state: str = "new"
    project_code: str | None = None
    connection: str | None = None  # the ERP or billing platform connection drafting it
    currency: str | None = None
    total: str | None = None  # Decimal as text, the currency's minor units
    lines: list[dict[str, Any]] = field(default_factory=list)  # description, amount, sources
    tax: dict[str, str] | None = None
    client_id: str | None = None
    period: str | None = None
    purchase_order: str | None = None
    contract_id: str | None = None
    subtotal: str | None = None  # before tax, Decimal as text
    rolled_out_hours: str | None = None  # retainer hours this cycle carries to the next
    owner: str | None = None  # the run holding the claim
    lease_until: float = 0.0
    document_id: str | None = None
    credit_notes: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    rev: int = 0

    @property
    def sources(self) -> list[str]:
        return [source for line in self.lines for source in line.get("sources", ())]

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.key)

    def to_doc(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "project_code": self.project_code,
            "connection": self.connection,
            "currency": self.currency,
            "total": self.total,
            "lines": self.lines,
            "tax": self.tax,
            "client_id": self.client_id,
            "period": self.period,
            "purchase_order": self.purchase_order,
            "contract_id": self.contract_id,
            "subtotal": self.subtotal,
            "rolled_out_hours": self.rolled_out_hours,
            "owner": self.owner,
            "lease_until": self.lease_until,
            "document_id": self.document_id,
            "credit_notes": self.credit_notes,
            "history": self.history[-HISTORY_KEPT:],
        }


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an invoice key: ``won`` (this run bills it) or the record as
    another run left it (claimed and live, sending, drafted, paid, credited)."""

    won: bool
    record: InvoiceRecord


class BillingLedger:
    def __init__(self, dynamodb: DynamoDBClient, table: str, clock: Any = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def now(self) -> float:
        return float(self._clock())

    # -- invoices --------------------------------------------------------------------------
    def invoice(self, key: str) -> InvoiceRecord:
        item = self._db.get_item(
            TableName=self._table, Key=_key(f"INVOICE#{key}", "INVOICE"), ConsistentRead=True
        ).get("Item")
        if item is None:
            return InvoiceRecord(key)
        return InvoiceRecord(key=key, rev=int(item["rev"]["N"]), **json.loads(item["doc"]["S"]))

    def claim(self, record: InvoiceRecord, owner: str, lease_s: float = LEASE_S) -> Claim:
        """Take ``record.key`` for ``owner`` if nobody holds it, or if a run holding it let its
        lease run out before sending anything; otherwise the record as it stands."""
        current = self.invoice(record.key)
        now = self._clock()
        free = (
            current.rev == 0
            or current.state == "released"
            or (current.state == "claimed" and (current.owner == owner or current.lease_until <= now))
        )
        if not free:
            return Claim(False, current)
        record.state, record.owner, record.lease_until = "claimed", owner, now + lease_s
        record.rev = current.rev
        try:
            self.save(record, {"claimed_by": owner})
        except StaleInvoice:
            return Claim(False, self.invoice(record.key))
        return Claim(True, record)

    def save(self, record: InvoiceRecord, note: dict[str, Any] | None = None) -> None:
        """Write ``record`` if nobody wrote it since it was read (``StaleInvoice`` otherwise)."""
        if note is not None:
            record.history.append({"at": int(self._clock()), "state": record.state, **note})
        item = {
            **_key(f"INVOICE#{record.key}", "INVOICE"),
            "doc": {"S": json.dumps(record.to_doc(), separators=(",", ":"), default=str)},
            "rev": {"N": str(record.rev + 1)},
        }
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if record.rev == 0
            else {
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": {":rev": {"N": str(record.rev)}},
            }
        )
        writes: list[dict[str, Any]] = [{"Put": {"TableName": self._table, "Item": item, **condition}}]
        if record.contract_id:
            summary = {
                "state": record.state,
                "period": record.period,
                "subtotal": record.subtotal,
                "currency": record.currency,
                "rolled_out_hours": record.rolled_out_hours,
            }
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_key(f"CONTRACT#{record.contract_id}", record.key),
                            "doc": {"S": json.dumps(summary, separators=(",", ":"))},
                        },
                    }
                }
            )
        if record.document_id and record.connection:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_key(f"DOC#{record.connection}#{record.document_id}", "INVOICE"),
                            "invoice_key": {"S": record.key},
                        },
                    }
                }
            )
        try:
            self._db.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]
        except ClientError as error:
            if _cancelled_by_condition(error):
                raise StaleInvoice(record.key) from None
            raise
        record.rev += 1

    def by_document(self, connection: str, document_id: str) -> InvoiceRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=_key(f"DOC#{connection}#{document_id}", "INVOICE"), ConsistentRead=True
        ).get("Item")
        return None if item is None else self.invoice(item["invoice_key"]["S"])

    def note_cycle(self, contract_id: str, period: str, rolled_out_hours: str) -> None:
        """A retainer month pshub drafted nothing for (the platform's subscription billed the fee):
        the hours it rolls into the next month, which no invoice records. Repeatable."""
        doc = {"state": "plan", "period": period, "rolled_out_hours": rolled_out_hours}
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(f"CONTRACT#{contract_id}", f"CYCLE#{period}"),
                "doc": {"S": json.dumps(doc, separators=(",", ":"))},
            },
        )

    def of_contract(self, contract_id: str) -> dict[str, dict[str, Any]]:
        """The contract's invoices: key -> state, period, subtotal, currency, rolled-out hours."""
        found: dict[str, dict[str, Any]] = {}
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CONTRACT#{contract_id}"}},
            ConsistentRead=True,
        ):
            found.update({item["sk"]["S"]: json.loads(item["doc"]["S"]) for item in page["Items"]})
        return found

    # -- sources ---------------------------------------------------------------------------
    def billed(self, source_ids: list[str]) -> dict[str, str]:
        """Of ``source_ids``, those billed: source id -> the invoice key billing it."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(source_ids))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [_key(f"SOURCE#{s}", "BILLED") for s in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table, []):
                    found[item["pk"]["S"].removeprefix("SOURCE#")] = item["invoice_key"]["S"]
                request = dict(response.get("UnprocessedKeys") or {})
        return found

    def mark_billed(self, key: str, sources: list[str]) -> dict[str, str]:
        """Mark every source billed by invoice ``key``, all or nothing per transaction of 100.
        Returns the sources another invoice already bills (source -> its key), having
        withdrawn this invoice's marks: the draft must be made again without them."""
        marked: list[str] = []
        for start in range(0, len(sources), TRANSACTION_ITEMS):
            chunk = sources[start : start + TRANSACTION_ITEMS]
            try:
                self._db.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": {**_key(f"SOURCE#{s}", "BILLED"), "invoice_key": {"S": key}},
                                "ConditionExpression": "attribute_not_exists(pk) OR invoice_key = :key",
                                "ExpressionAttributeValues": {":key": {"S": key}},
                            }
                        }
                        for s in chunk
                    ]
                )
            except ClientError as error:
                if not _cancelled_by_condition(error):
                    raise
                taken = {s: k for s, k in self.billed(chunk).items() if k != key}
                self.unmark(key, marked)
                return taken
            marked += chunk
        return {}

    def unmark(self, key: str, sources: list[str]) -> None:
        """Withdraw invoice ``key``'s marks (a credit note, an abandoned draft): billable again."""
        for source in sources:
            try:
                self._db.delete_item(
                    TableName=self._table,
                    Key=_key(f"SOURCE#{source}", "BILLED"),
                    ConditionExpression="invoice_key = :key",
                    ExpressionAttributeValues={":key": {"S": key}},
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _cancelled_by_condition(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    if reasons:
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
    return "ConditionalCheckFailed" in str(error)

"""One billing run for one project and period: assess, claim, mark, draft, settle. Bills once.

``bill`` is the billing workflow's drafting step (and ``pshub billing run``'s). It reads what
the ledger already bills, assesses the period (``readiness.assess``), and when nothing holds
it back:

1. claims the invoice key (contract, period, cycle) in the billing ledger: a second run,
   concurrent or later, finds the claim or the drafted invoice and bills nothing;
2. marks every source the draft bills (time entries, expenses, milestones, usage records, the
   retainer cycle) as billed by this key, conditionally: a source another invoice took
   meanwhile sends the run back to assess without it;
3. records ``sending`` and drafts the invoice on the platform under the key's idempotency key;
4. records the platform's document (``drafted``): ``InvoiceReady``.

A call whose answer was lost leaves ``sending``: the next run (a retry, the schedule, an
operator) reads the platform back by the invoice key and settles what it finds, or sends the
recorded draft again under the same idempotency key: never a second invoice. A platform's
refusal withdraws the marks (the sources are billable again) and says why.

A sent invoice is corrected by a credit note (``credit``): its sources become billable again,
and the next run drafts the cycle's next revision (``...#r2``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pshub.canonical.model import Money
from pshub.connectors.errors import ConnectorError, PermanentConnectorError
from pshub.connectors.results import DraftedInvoice, InvoiceLine, InvoiceRequest
from pshub.kpis import INVOICE_CYCLE
from pshub.store.billing import BillingLedger, InvoiceRecord, idempotency_key, invoice_key
from pshub.workflows.billing.readiness import Draft, Hold, PeriodInputs, assess

MAX_ROUNDS = 3  # assessments when sources are taken by another invoice meanwhile
MAX_SUPPLEMENTS = 20  # supplementary invoices of one period (late time) before a person looks


@runtime_checkable
class InvoiceTarget(Protocol):
    """Where invoices are drafted: a billing platform's or an ERP's connector."""

    @property
    def connection_id(self) -> str: ...

    def draft_invoice(self, request: InvoiceRequest) -> DraftedInvoice:
        """Create the draft invoice with its lines; idempotent on ``request.idempotency_key``."""
        ...

    def find_invoice(self, invoice_key: str) -> DraftedInvoice | None:
        """The invoice drafted for ``invoice_key``, if the platform holds one."""
        ...

    def credit_invoice(self, native_id: str, amount: Money, reason: str, idempotency_key: str) -> str:
        """A credit note against the invoice (finalised first if it is a draft); its id."""
        ...


@dataclass(frozen=True)
class BillingOutcome:
    """What one run did. ``status``: drafted | already_invoiced | in_progress | held | nothing_to_bill
    | unknown_outcome | refused."""

    status: str
    invoice_key: str | None
    draft: Draft | None = None
    invoice: InvoiceRecord | None = None
    holds: tuple[Hold, ...] = ()
    reason: str | None = None


def source_id(source: str) -> str:
    """The billed thing of a line's source: ``te_1@3`` bills entry ``te_1`` (whatever its version)."""
    return source.split("@", 1)[0]


def bill(
    inputs: PeriodInputs,
    *,
    client_id: str,
    ledger: BillingLedger,
    target: InvoiceTarget,
    owner: str,
    cycle: str = "period",
) -> BillingOutcome:
    """Draft the invoice for ``inputs`` (one project and period) unless it exists, is held or
    another run holds it. ``owner``: this run's id (a workflow execution, a CLI run).

    Time, expenses or a milestone that reach a period after its invoice was drafted (approved
    late, posted late) are not lost and do not touch the drafted invoice: they go on the period's
    next supplementary invoice (cycle ``<cycle>-late-<n>``, keyed like any other, so a second or
    concurrent run bills them once)."""
    contract_id = inputs.terms.contract_id
    outcome = _bill_cycle(inputs, _current_key(ledger, contract_id, inputs.period, cycle), client_id=client_id,
                          ledger=ledger, target=target, owner=owner)  # fmt: skip
    if outcome.status != "already_invoiced":
        return outcome
    for number in range(1, MAX_SUPPLEMENTS + 1):
        key = _current_key(ledger, contract_id, inputs.period, f"{cycle}-late-{number}")
        supplement = _bill_cycle(inputs, key, client_id=client_id, ledger=ledger, target=target, owner=owner)
        if supplement.status == "nothing_to_bill":
            return outcome  # nothing arrived late: the period stands invoiced
        if supplement.status != "already_invoiced":
            return supplement
    return BillingOutcome(
        "refused",
        outcome.invoice_key,
        reason=f"more than {MAX_SUPPLEMENTS} supplementary invoices in one period",
    )


def _bill_cycle(
    inputs: PeriodInputs,
    key: str,
    *,
    client_id: str,
    ledger: BillingLedger,
    target: InvoiceTarget,
    owner: str,
) -> BillingOutcome:
    contract_id = inputs.terms.contract_id
    for _ in range(MAX_ROUNDS):
        existing = ledger.invoice(key)
        if existing.state not in ("new", "released") and not (
            existing.state == "claimed" and existing.owner == owner
        ):
            return _existing(ledger, target, existing, owner)
        draft = assess(_with_billed(inputs, ledger))
        if draft.held:
            return BillingOutcome("held", key, draft=draft, holds=draft.holds)
        if not draft.lines:
            return BillingOutcome("nothing_to_bill", key, draft=draft)
        record = InvoiceRecord(
            key,
            project_code=inputs.project_code,
            connection=target.connection_id,
            currency=draft.currency,
            total=str(draft.total.amount),
            lines=[_line_doc(line) for line in _request_lines(draft)],
            tax=_money_doc(draft.tax),
            client_id=client_id,
            period=inputs.period,
            purchase_order=inputs.terms.purchase_order,
            contract_id=contract_id,
            subtotal=str(draft.subtotal.amount),
            rolled_out_hours=str(draft.rolled_out_hours) if draft.rolled_out_hours else None,
        )
        claim = ledger.claim(record, owner)
        if not claim.won:
            return _existing(ledger, target, claim.record, owner)
        taken = ledger.mark_billed(key, list(dict.fromkeys(source_id(s) for s in record.sources)))
        if taken:  # another invoice billed some of them meanwhile: assess again without them
            record.state = "released"
            ledger.save(record, {"released": sorted(taken)[:20]})
            continue
        record.state = "sending"
        ledger.save(record, {"idempotency_key": record.idempotency_key})
        return _send(ledger, target, record, draft)
    return BillingOutcome("in_progress", key, reason="sources kept being billed by another invoice")


def credit(ledger: BillingLedger, target: InvoiceTarget, key: str, reason: str, owner: str) -> BillingOutcome:
    """Credit the whole invoice ``key``: a credit note on the platform, the sources billable
    again, and the cycle's next revision drafted by the next run."""
    record = ledger.invoice(key)
    if record.state not in ("drafted", "paid") or record.document_id is None:
        return BillingOutcome("refused", key, invoice=record, reason=f"invoice {key} is {record.state}")
    total = Money(amount=record.total or "0", currency=record.currency or "USD")
    note = target.credit_invoice(
        record.document_id, total, reason, idempotency_key(f"{key}#credit#{len(record.credit_notes) + 1}")
    )
    record.credit_notes.append({"id": note, "amount": str(total.amount), "reason": reason, "by": owner})
    record.state = "credited"
    ledger.save(record, {"credit_note": note})
    ledger.unmark(key, list(dict.fromkeys(source_id(s) for s in record.sources)))
    return BillingOutcome("credited", key, invoice=record)


def mark_paid(ledger: BillingLedger, connection: str, document_id: str) -> InvoiceRecord | None:
    """``InvoicePaid`` from the platform: the invoice (and so its lines) paid; None if pshub did
    not draft that document."""
    record = ledger.by_document(connection, document_id)
    if record is None or record.state == "paid":
        return record
    record.state = "paid"
    ledger.save(record, {"paid": document_id})
    drafted = next((entry["at"] for entry in record.history if entry.get("state") == "drafted"), None)
    if drafted is not None:  # drafted to paid: the invoice cycle
        INVOICE_CYCLE.emit(max(0, record.history[-1]["at"] - drafted))
    return record


# -- steps ----------------------------------------------------------------------------------------
def _existing(
    ledger: BillingLedger, target: InvoiceTarget, record: InvoiceRecord, owner: str
) -> BillingOutcome:
    """The key is taken: resume a draft whose answer was lost (this run's, or one whose lease ran
    out), else say who has it."""
    if record.state == "sending" and (record.owner == owner or record.lease_until <= ledger.now()):
        return _resume(ledger, target, record)
    live = record.state in ("claimed", "sending")
    return BillingOutcome("in_progress" if live else "already_invoiced", record.key, invoice=record)


def _send(
    ledger: BillingLedger, target: InvoiceTarget, record: InvoiceRecord, draft: Draft | None
) -> BillingOutcome:
    try:
        drafted = target.draft_invoice(_request(record))
    except PermanentConnectorError as error:
        ledger.unmark(record.key, list(dict.fromkeys(source_id(s) for s in record.sources)))
        record.state = "released"
        ledger.save(record, {"refused": str(error)[:300]})
        return BillingOutcome("refused", record.key, draft=draft, invoice=record, reason=str(error))
    except ConnectorError as error:  # no answer, or none to rely on: it may exist; the retry reads back
        return BillingOutcome("unknown_outcome", record.key, draft=draft, invoice=record, reason=str(error))
    return _settle(ledger, record, drafted, draft)


def _resume(ledger: BillingLedger, target: InvoiceTarget, record: InvoiceRecord) -> BillingOutcome:
    """A draft that went out without an answer: read back by key, else send it again as recorded."""
    try:
        found = target.find_invoice(record.key)
    except ConnectorError as error:
        return BillingOutcome("unknown_outcome", record.key, invoice=record, reason=str(error))
    if found is not None:
        return _settle(ledger, record, found, None)
    return _send(ledger, target, record, None)


def _settle(
    ledger: BillingLedger, record: InvoiceRecord, drafted: DraftedInvoice, draft: Draft | None
) -> BillingOutcome:
    record.document_id = drafted.native_id
    record.state = "drafted"
    ledger.save(record, {"document_id": drafted.native_id})
    return BillingOutcome("drafted", record.key, draft=draft, invoice=record)


def _current_key(ledger: BillingLedger, contract_id: str, period: str, cycle: str) -> str:
    """The cycle's key, past the revisions a credit note took back."""
    revision = 1
    while ledger.invoice(key := invoice_key(contract_id, period, cycle, revision)).state == "credited":
        revision += 1
    return key


def _with_billed(inputs: PeriodInputs, ledger: BillingLedger) -> PeriodInputs:
    candidates = [
        *(t.entry_id for t in inputs.time),
        *(e.entry_id for e in inputs.expenses),
        *(m.milestone_id for m in inputs.milestones),
        *(u.usage_id for u in inputs.usage),
        f"retainer:{inputs.terms.contract_id}:{inputs.period}",
    ]
    billed = ledger.billed(candidates)
    return dataclasses.replace(inputs, already_billed=inputs.already_billed | frozenset(billed))


def _request_lines(draft: Draft) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            sources=line.sources,
        )
        for line in draft.lines
    ]


def _request(record: InvoiceRecord) -> InvoiceRequest:
    period = record.key.split("#")[1]
    return InvoiceRequest(
        invoice_key=record.key,
        idempotency_key=record.idempotency_key,
        client_id=record.client_id or "",
        project_code=record.project_code or "",
        period=record.period or period,
        currency=record.currency or "",
        lines=tuple(InvoiceLine.model_validate(line) for line in record.lines),
        tax=Money.model_validate(record.tax) if record.tax else None,
        purchase_order=record.purchase_order,
    )


def _line_doc(line: InvoiceLine) -> dict[str, object]:
    return line.model_dump(mode="json")


def _money_doc(money: Money) -> dict[str, str] | None:
    return None if money.amount == 0 else {"amount": str(money.amount), "currency": money.currency}

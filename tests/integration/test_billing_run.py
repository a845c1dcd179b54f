"""A billing run end to end: the billing ledger on moto, Stripe's fake over HTTP on 127.0.0.1.

Every expectation is what Stripe must hold afterwards, written out here in Stripe's integer
amounts (cents): how many invoices, their lines and totals, the credit notes; and what the
ledger says each time entry is billed by.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D
from typing import Any

import boto3
import pytest

from pshub.business_exceptions import OwnerTeam
from pshub.canonical.model import BillingModel, ContractStatus, Money, Rate, RateCard
from pshub.connectors.results import DraftedInvoice, InvoiceRequest
from pshub.platforms.stripe.outbound import StripeBilling
from pshub.store.billing import LEASE_S, BillingLedger, InvoiceRecord, StaleInvoice
from pshub.workflows.billing.readiness import BillingTerms, EntityProfile, PeriodInputs, PostedTime, Rounding
from pshub.workflows.billing.run import bill, credit, mark_paid
from pshub_local.platforms.stripe.fake import StripeFake
from tests.integration.aws import REGION, aws_stores
from tests.unit.connectors.builders import client
from tests.unit.platforms.stripe.support import Clock, Harness, stripe_connection

pytestmark = pytest.mark.xdist_group("moto")

KEY = "contract_1#2026-11#period"
NY = EntityProfile("acme-us", Rounding.HALF_UP, {"US-NY": D("0.08875")})
CARDS = (
    RateCard(
        id="ratecard_1", name="Acme v1", version=1, currency="USD", effective_from=date(2026, 11, 1),
        rates=[Rate(role="Senior Consultant", hourly_rate=Money(amount=D("250.00"), currency="USD"))],
    ),
    RateCard(
        id="ratecard_2", name="Acme v2", version=2, currency="USD", effective_from=date(2026, 11, 16),
        rates=[Rate(role="Senior Consultant", hourly_rate=Money(amount=D("275.00"), currency="USD"))],
    ),
)  # fmt: skip


@dataclass
class Billing:
    ledger: BillingLedger
    harness: Harness
    stripe: StripeBilling
    client_id: str
    resources: Any = None  # the deployed tables, by topology key

    def run(self, inputs: PeriodInputs, owner: str = "run-1") -> Any:
        return bill(inputs, client_id=self.client_id, ledger=self.ledger, target=self.stripe, owner=owner)

    def invoices(self) -> list[dict[str, Any]]:
        return list(self.harness.fake.records()["invoices"])


@pytest.fixture
def billing() -> Iterator[Billing]:
    clock = Clock()
    fake = StripeFake(stripe_connection(rate_limit_per_s="100000", rate_limit_burst="100000"), clock=clock)
    fake.start()
    try:
        with aws_stores() as stores:
            harness = Harness(fake, clock)
            stripe = harness.connector()
            customer = client()
            stripe.upsert_customer(customer)
            ledger = BillingLedger(
                boto3.client("dynamodb", region_name=REGION),
                stores.resources.get("table", "billing").name,
                clock,
            )
            yield Billing(ledger, harness, stripe, customer.id, stores.resources)
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()


def november(*entries: PostedTime, **changes: Any) -> PeriodInputs:
    terms = BillingTerms(
        contract_id="contract_1",
        billing_model=BillingModel.TIME_AND_MATERIALS,
        currency="USD",
        status=ContractStatus.ACTIVE,
        rate_cards=CARDS,
    )
    values: dict[str, Any] = {
        "project_code": "PRJ-HARBLOGI-0001", "period": "2026-11", "terms": terms, "profile": NY,
        "tax_jurisdiction": "US-NY", "time": entries,
    }  # fmt: skip
    return PeriodInputs(**{**values, **changes})


def senior(entry: str, day: str, hours: str, version: int = 1) -> PostedTime:
    return PostedTime(entry, version, date.fromisoformat(day), "Senior Consultant", D(hours))


TWO = (senior("te_1", "2026-11-10", "8"), senior("te_2", "2026-11-20", "6.5"))


def test_a_run_drafts_one_invoice_whose_lines_trace_to_their_entries(billing: Billing) -> None:
    outcome = billing.run(november(*TWO))
    assert outcome.status == "drafted" and outcome.invoice_key == KEY
    [invoice] = billing.invoices()
    # 8 h x 250.00 = 2,000.00 (before the 16 Nov rate change); 6.5 h x 275.00 = 1,787.50 (after);
    # tax 3,787.50 x 8.875 % = 336.140625 -> 336.14; total 4,123.64
    assert [line["amount"] for line in invoice["lines"]] == [200000, 178750, 33614]
    assert (invoice["total"], invoice["status"], invoice["invoice_key"]) == (412364, "draft", KEY)
    record = billing.ledger.invoice(KEY)
    assert (record.state, record.document_id) == ("drafted", invoice["native_id"])
    assert billing.ledger.billed(["te_1", "te_2", "te_3"]) == {"te_1": KEY, "te_2": KEY}
    assert [line["sources"] for line in record.lines] == [["te_1@1"], ["te_2@1"]]


def test_running_twice_bills_once(billing: Billing) -> None:
    billing.run(november(*TWO))
    again = billing.run(november(*TWO), owner="run-2")
    assert (
        again.status == "already_invoiced" and again.invoice.document_id == billing.invoices()[0]["native_id"]
    )
    assert len(billing.invoices()) == 1


def test_time_posted_after_the_periods_invoice_goes_on_a_supplementary_invoice_once(billing: Billing) -> None:
    billing.run(november(*TWO))
    # An entry of 28 Nov approved late, after November was invoiced: not lost, not added to the
    # drafted invoice; its own invoice. 3 h x 275.00 = 825.00; tax 73.21875 -> 73.22; 898.22.
    late = (*TWO, senior("te_3", "2026-11-28", "3"))
    outcome = billing.run(november(*late), owner="run-2")
    assert (outcome.status, outcome.invoice_key) == ("drafted", "contract_1#2026-11#period-late-1")
    assert billing.ledger.billed(["te_3"]) == {"te_3": "contract_1#2026-11#period-late-1"}
    supplement = [i for i in billing.invoices() if i["invoice_key"] == "contract_1#2026-11#period-late-1"]
    assert [line["amount"] for line in supplement[0]["lines"]] == [82500, 7322]
    # The November invoice is untouched; running again, or concurrently, bills nothing more.
    assert billing.ledger.invoice(KEY).total == "4123.64"
    again = [billing.run(november(*late), owner=f"run-{n}").status for n in (3, 4)]
    assert again == ["already_invoiced", "already_invoiced"] and len(billing.invoices()) == 2
    # A second late entry is the second supplementary invoice.
    later = (*late, senior("te_4", "2026-11-29", "1"))
    assert billing.run(november(*later), owner="run-5").invoice_key == "contract_1#2026-11#period-late-2"
    assert len(billing.invoices()) == 3


def test_a_run_that_starts_while_another_is_drafting_bills_nothing(billing: Billing) -> None:
    # Given run A drafting the invoice, and run B starting while A's call to Stripe is out
    seen: list[str] = []

    class Interleaved:
        connection_id = billing.stripe.connection_id

        def draft_invoice(self, request: InvoiceRequest) -> DraftedInvoice:
            seen.append(billing.run(november(*TWO), owner="run-B").status)
            return billing.stripe.draft_invoice(request)

        def find_invoice(self, invoice_key: str) -> DraftedInvoice | None:
            return billing.stripe.find_invoice(invoice_key)

        def credit_invoice(self, native_id: str, amount: Money, reason: str, idempotency_key: str) -> str:
            raise AssertionError("not here")

    outcome = bill(
        november(*TWO), client_id=billing.client_id, ledger=billing.ledger, target=Interleaved(), owner="A"
    )
    # Then B found the key taken and sent nothing; A drafted the one invoice
    assert seen == ["in_progress"] and outcome.status == "drafted"
    assert len(billing.invoices()) == 1 and len(billing.harness.fake.calls("create_invoice")) == 1


def test_two_runs_that_both_found_the_key_free_claim_it_once(billing: Billing) -> None:
    # Given run A and run B both read the invoice key as free; B claims and drafts first
    seen: list[str] = []
    ledger = billing.ledger

    class Racing(BillingLedger):
        def claim(self, record: Any, owner: str, lease_s: float = LEASE_S) -> Any:
            if owner == "A" and not seen:
                seen.append(
                    bill(
                        november(*TWO),
                        client_id=billing.client_id,
                        ledger=ledger,
                        target=billing.stripe,
                        owner="B",
                    ).status
                )
            return super().claim(record, owner, lease_s)

    racing = Racing(ledger._db, ledger._table, ledger._clock)
    outcome = bill(
        november(*TWO), client_id=billing.client_id, ledger=racing, target=billing.stripe, owner="A"
    )
    # Then A's claim loses to B's: A sends nothing to Stripe
    assert seen == ["drafted"] and outcome.status == "already_invoiced"
    assert len(billing.harness.fake.calls("create_invoice")) == 1 and len(billing.invoices()) == 1


def test_concurrent_runs_draft_one_invoice(billing: Billing) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def run(owner: str) -> None:
        status = billing.run(november(*TWO), owner=owner).status
        with lock:
            results.append(status)

    threads = [threading.Thread(target=run, args=(f"run-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("drafted") == 1 and len(results) == 4
    [invoice] = billing.invoices()
    assert invoice["total"] == 412364


def test_a_retry_after_an_unknown_outcome_bills_once(billing: Billing) -> None:
    # Given Stripe applies the invoice's creation but every answer is lost (4 tries)
    billing.harness.fake.drop_answer("create_invoice", times=4)
    billing.harness.fake.set_search_lag(120)  # and Invoice Search does not show it yet
    first = billing.run(november(*TWO))
    assert first.status == "unknown_outcome" and billing.ledger.invoice(KEY).state == "sending"
    # When the run is retried (the workflow's retry: the same run)
    retried = billing.run(november(*TWO))
    # Then it sent the recorded draft again under the same idempotency key: Stripe replayed its
    # answer, and there is one invoice with its three lines
    assert retried.status == "drafted"
    [invoice] = billing.invoices()
    assert [line["amount"] for line in invoice["lines"]] == [200000, 178750, 33614]
    assert billing.ledger.invoice(KEY).document_id == invoice["native_id"]


def test_another_run_takes_over_a_lost_draft_only_after_its_lease_and_reads_stripe_back(
    billing: Billing,
) -> None:
    billing.harness.fake.drop_answer("create_invoice", times=4)
    assert billing.run(november(*TWO)).status == "unknown_outcome"
    assert billing.run(november(*TWO), owner="run-2").status == "in_progress"  # run-1 may still be on it
    billing.harness.clock.now += LEASE_S + 1
    taken_over = billing.run(november(*TWO), owner="run-2")
    assert taken_over.status == "drafted"
    [invoice] = billing.invoices()  # found by Invoice Search on its key: not created again
    assert billing.ledger.invoice(KEY).document_id == invoice["native_id"]
    assert len(billing.harness.fake.calls("create_invoice")) == 4


def test_hours_on_one_invoice_are_never_on_another(billing: Billing) -> None:
    billing.run(november(*TWO))
    # te_2 re-dated into December by mistake, beside a new December entry
    december = november(
        senior("te_2", "2026-12-01", "6.5"), senior("te_9", "2026-12-02", "4"), period="2026-12"
    )
    outcome = billing.run(december)
    assert outcome.status == "drafted"
    latest = [i for i in billing.invoices() if i["invoice_key"] == "contract_1#2026-12#period"]
    # 4 h x 275.00 = 1,100.00; tax 97.625 -> 97.63 (half up)
    assert [line["amount"] for line in latest[0]["lines"]] == [110000, 9763]
    assert billing.ledger.billed(["te_2", "te_9"]) == {"te_2": KEY, "te_9": "contract_1#2026-12#period"}


def test_a_credit_note_corrects_a_sent_invoice_and_the_next_revision_bills_the_corrected_hours(
    billing: Billing,
) -> None:
    billing.run(november(*TWO))
    billing.stripe.finalize_invoice(billing.ledger.invoice(KEY).document_id or "")
    # te_2 was 6 h, not 6.5 h: finance credits the invoice
    credited = credit(billing.ledger, billing.stripe, KEY, "te_2 was 6 h, not 6.5 h", owner="finance")
    assert credited.status == "credited"
    notes = billing.harness.fake.records()["credit_notes"]
    assert [(n["amount"], n["reason"]) for n in notes] == [(412364, "order_change")]
    assert billing.ledger.billed(["te_1", "te_2"]) == {}  # billable again
    # The next run drafts revision 2 with the corrected entry (version 2)
    corrected = billing.run(november(senior("te_1", "2026-11-10", "8"), senior("te_2", "2026-11-20", "6", 2)))
    assert corrected.status == "drafted" and corrected.invoice_key == f"{KEY}#r2"
    first, second = billing.invoices()
    assert (first["status"], first["credited"]) == ("open", 412364)  # the sent invoice is not edited
    # 8 x 250.00 = 2,000.00; 6 x 275.00 = 1,650.00; tax 3,650.00 x 8.875 % = 323.9375 -> 323.94
    assert [line["amount"] for line in second["lines"]] == [200000, 165000, 32394]
    assert second["total"] == 397394


def test_invoice_paid_marks_the_invoice_and_its_lines_paid(billing: Billing) -> None:
    billing.run(november(*TWO))
    native = billing.ledger.invoice(KEY).document_id or ""
    billing.stripe.finalize_invoice(native)
    billing.harness.fake.pay_invoice(native)
    paid = mark_paid(billing.ledger, billing.stripe.connection_id, native)
    assert paid is not None and paid.state == "paid" and paid.sources == ["te_1@1", "te_2@1"]
    assert mark_paid(billing.ledger, billing.stripe.connection_id, "in_unknown") is None


def test_stripes_invoice_paid_event_marks_the_invoice_paid_once(billing: Billing) -> None:
    from datetime import UTC, datetime

    from pshub.canonical.envelope import InvoicePaymentV1, make_event
    from pshub.store.exceptions_store import ExceptionStore
    from pshub.store.projects import ProjectDirectory
    from pshub.workflows.billing.events import BillingEvents

    billing.run(november(*TWO))
    native = billing.ledger.invoice(KEY).document_id or ""
    billing.stripe.finalize_invoice(native)
    billing.harness.fake.pay_invoice(native)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    started: list[str] = []
    events = BillingEvents(
        directory=ProjectDirectory(dynamodb, "unused"),
        ledger=billing.ledger,
        exceptions=ExceptionStore(dynamodb, "unused"),
        start_run=lambda name, state: started.append(name) or True,
    )
    usd = Money(amount=D("3973.94"), currency="USD")
    paid = make_event(
        "InvoicePaid",
        InvoicePaymentV1(
            invoice_id=native, status="paid", amount_due=usd, amount_paid=usd,
            amount_remaining=Money(amount=D("0.00"), currency="USD"),
        ),
        connection=billing.stripe.connection_id, source_platform="stripe", source_native_id=native,
        source_event_id="evt_1", occurred_at=datetime.now(UTC), correlation_id="evt_1", legal_entity="acme-us",
    ).model_dump(mode="json")  # fmt: skip
    assert events.handle(paid) == {"invoice": KEY, "state": "paid"}
    assert events.handle(paid) == {"invoice": KEY, "state": "paid"}  # delivered again: the same
    record = billing.ledger.invoice(KEY)
    assert record.state == "paid" and [h for h in record.history if "paid" in h] != []
    # A payment for an invoice finance raised by hand is not pshub's: nothing changes.
    other = {**paid, "payload": {**paid["payload"], "invoice_id": "in_by_hand"}}
    assert events.handle(other) == {"invoice": None, "document_id": "in_by_hand"}
    assert started == []


def test_a_held_run_claims_nothing_and_drafts_nothing(billing: Billing) -> None:
    outcome = billing.run(november(*TWO, open_exceptions=("exc_1",), unapproved=2))
    assert outcome.status == "held"
    assert {(h.reason, h.owner) for h in outcome.holds} == {
        ("open_exceptions", OwnerTeam.FINANCE_OPS),
        ("unapproved", OwnerTeam.PMO),
    }
    assert billing.invoices() == [] and billing.ledger.invoice(KEY).state == "new"
    assert billing.ledger.billed(["te_1", "te_2"]) == {}


def test_a_refusal_says_why_and_leaves_the_hours_billable(billing: Billing) -> None:
    outcome = bill(
        november(*TWO),
        client_id="client_unknown",
        ledger=billing.ledger,
        target=billing.stripe,
        owner="run-1",
    )
    assert outcome.status == "refused" and "client_unknown has no Stripe customer" in (outcome.reason or "")
    assert billing.ledger.billed(["te_1", "te_2"]) == {} and billing.invoices() == []
    # Once the client is known in Stripe, the same period bills
    billing.stripe.upsert_customer(client().model_copy(update={"id": "client_unknown"}))
    again = bill(
        november(*TWO),
        client_id="client_unknown",
        ledger=billing.ledger,
        target=billing.stripe,
        owner="run-2",
    )
    assert again.status == "drafted" and len(billing.invoices()) == 1


def test_the_ledger_refuses_a_claim_written_from_a_stale_read(billing: Billing) -> None:
    first, second = (
        InvoiceRecord(KEY, state="claimed", owner="A"),
        InvoiceRecord(KEY, state="claimed", owner="B"),
    )
    billing.ledger.save(first)
    with pytest.raises(StaleInvoice):
        billing.ledger.save(second)  # both read "no invoice": only the first write stands
    assert billing.ledger.invoice(KEY).owner == "A"


def test_a_source_is_marked_by_one_invoice_only_and_a_loser_withdraws_all_its_marks(billing: Billing) -> None:
    other = "contract_1#2026-12#period"
    sources = [f"te_{n}" for n in range(150)]  # two transactions of at most 100
    assert billing.ledger.mark_billed(KEY, ["te_149"]) == {}
    # The other invoice's first 100 are written, then te_149 (in its second hundred) is taken
    assert billing.ledger.mark_billed(other, sources) == {"te_149": KEY}
    assert billing.ledger.billed(sources) == {"te_149": KEY}  # none of the other's marks is left
    assert billing.ledger.mark_billed(KEY, ["te_149"]) == {}  # the same invoice again: no conflict


def test_a_zuora_run_drafts_once_and_a_credit_memo_makes_way_for_the_next_revision() -> None:
    """The same workflow with Zuora as the billing platform (its fake over HTTP): amounts in
    major units, one invoice however often it runs, a credit memo, then ``#r2``."""
    from decimal import Decimal

    from pshub.workflows.billing.run import credit as credit_run
    from pshub_local.platforms.zuora.fake import ZuoraFake
    from tests.unit.connectors.builders import contract, project
    from tests.unit.platforms.zuora.support import Clock as ZClock
    from tests.unit.platforms.zuora.support import Harness as ZHarness
    from tests.unit.platforms.zuora.support import zuora_connection

    clock = ZClock()
    fake = ZuoraFake(zuora_connection(rate_limit_per_s="100000", rate_limit_burst="100000"), clock=clock)
    fake.start()
    try:
        with aws_stores() as stores:
            harness = ZHarness(fake, clock)
            zuora = harness.connector()
            # Provisioning made the client's account (the billing role); T&M needs no subscription.
            account = zuora.upsert_customer(client()).native_id
            assert zuora.create_billing_plan(project(), contract()) == account
            ledger = BillingLedger(
                boto3.client("dynamodb", region_name=REGION), stores.resources.get("table", "billing").name
            )
            first = bill(november(*TWO), client_id="client_1", ledger=ledger, target=zuora, owner="run-1")
            again = bill(november(*TWO), client_id="client_1", ledger=ledger, target=zuora, owner="run-2")
            assert (first.status, again.status) == ("drafted", "already_invoiced")
            [invoice] = fake.records()["invoices"]
            assert [i["accountId"] for i in fake.invoices.values()] == [account]  # on the client's account
            # 8 x 250.00 + 6.5 x 275.00 = 3,787.50; tax 8.875 % = 336.140625 -> 336.14; 4,123.64
            assert Decimal(invoice["total"]) == Decimal("4123.64")
            assert [Decimal(line["amount"]) for line in invoice["lines"]] == [
                Decimal("2000.00"), Decimal("1787.50"), Decimal("336.14")
            ]  # fmt: skip
            credited = credit_run(ledger, zuora, KEY, "hours corrected", "finance")
            assert credited.status == "credited" and len(fake.records()["credit_memos"]) == 1
            revised = bill(
                november(senior("te_1", "2026-11-10", "8", 2), TWO[1]),
                client_id="client_1", ledger=ledger, target=zuora, owner="run-3",
            )  # fmt: skip
            assert revised.status == "drafted" and revised.invoice_key == f"{KEY}#r2"
            assert len(fake.records()["invoices"]) == 2
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()


# -- the workflow's step over what the ledgers hold --------------------------------------------
def retainer_steps(billing: Billing, cap: str = "25000.00", route: str = "erp") -> Any:
    """A retainer project (10,000.00 a month for 40 h, unused hours rolled up to 20, overage at
    225.00, a 25,000.00 cap) and the billing step over its ledgers. ``route``: ``erp``, pshub
    drafts every invoice, fee included (Stripe's fake stands in for the drafting platform);
    ``billing_platform``, the platform's subscription bills the fee and pshub the overage."""
    from pshub.canonical.model import Contract, ContractBillingTerms
    from pshub.store.exceptions_store import ExceptionStore
    from pshub.store.postings import PostingLedger
    from pshub.store.projects import DirectoryEntry, ProjectDirectory
    from pshub.workflows.billing.config import load_billing_config
    from pshub.workflows.billing.steps import BillingSteps

    dynamodb = boto3.client("dynamodb", region_name=REGION)

    def table(key: str) -> str:
        return str(billing.resources.get("table", key).name)

    terms = ContractBillingTerms(
        retainer_hours=D("40"), overage_rate=Money(amount=D("225.00"), currency="USD"), unused_hours="roll",
        rollover_cap_hours=D("20"), budget_cap=Money(amount=D(cap), currency="USD"),
    )  # fmt: skip
    contract = Contract(
        id="contract_r", client_id=billing.client_id, billing_model=BillingModel.RETAINER, currency="USD",
        status=ContractStatus.ACTIVE, tax_jurisdiction="US-TX",
        retainer_per_month=Money(amount=D("10000.00"), currency="USD"), billing_terms=terms,
    )  # fmt: skip
    directory = ProjectDirectory(dynamodb, table("identity"))
    entry = DirectoryEntry(
        code="PRJ-RETAIN-0001", project_id="project_r", legal_entity="ACME-US", currency="USD",
        erp_connection="netsuite-acme", erp_project_id="1", contract=contract, client_id=billing.client_id,
        invoicing_route=route, invoicing_connection=billing.stripe.connection_id,
    )  # fmt: skip
    directory.register(entry)
    config = load_billing_config(
        '{"version": 1, "legal_entities": {"ACME-US": {"rounding": "half_up", "tax_rates": {"US-TX": "0"},'
        ' "fx_rates": {"2026-11": {"EUR/USD": "1.0842"}}}}}'
    )
    postings = PostingLedger(dynamodb, table("postings"))
    steps = BillingSteps(
        directory=directory, postings=postings, ledger=billing.ledger,
        exceptions=ExceptionStore(dynamodb, table("business_exceptions")), config=config,
        target_for=lambda _connection: billing.stripe,
    )  # fmt: skip
    return steps, postings


def worked(postings: Any, entry: str, day: str, hours: str) -> None:
    from pshub.store.postings import PostingRecord

    line = {"work_date": day, "hours": hours, "role": "Senior Consultant", "billable": True}
    postings.save_posting(
        PostingRecord(
            entry, kind="time", version=1, state="posted", line=line, project_code="PRJ-RETAIN-0001"
        )
    )


def test_a_retainer_rolls_its_unused_hours_into_next_month_and_holds_at_its_budget_cap(
    billing: Billing,
) -> None:
    steps, postings = retainer_steps(billing)
    worked(postings, "te_oct", "2026-10-20", "30")
    october = steps.run("bill_project", {"project_code": "PRJ-RETAIN-0001", "period": "2026-10"})
    # 30 h of 40: the fee alone, 10 h roll into November
    assert (october["status"], october["total"]) == ("drafted", "10000.00")
    worked(postings, "te_nov", "2026-11-18", "48")
    november = steps.run("bill_project", {"project_code": "PRJ-RETAIN-0001", "period": "2026-11"})
    # 48 h against 40 + 10 rolled in: no overage (without the roll-over, 8 h x 225.00 = 1,800.00)
    assert (november["status"], november["total"]) == ("drafted", "10000.00")
    december = steps.run("bill_project", {"project_code": "PRJ-RETAIN-0001", "period": "2026-12"})
    # 20,000.00 billed to date + 10,000.00 > the 25,000.00 cap: held for the PMO
    assert (december["status"], december["holds"]) == ("held", ["budget_cap"])
    assert [i["total"] for i in billing.invoices()] == [1000000, 1000000]  # Stripe's cents


def test_an_expense_in_another_currency_is_converted_at_the_periods_configured_rate(billing: Billing) -> None:
    from pshub.store.postings import PostingRecord

    steps, postings = retainer_steps(billing)
    line = {"work_date": "2026-11-05", "amount": {"amount": "100.00", "currency": "EUR"}, "billable": True,
            "category": "travel"}  # fmt: skip
    postings.save_posting(
        PostingRecord(
            "ex_1", kind="expense", version=1, state="posted", line=line, project_code="PRJ-RETAIN-0001"
        )
    )
    november = steps.run("bill_project", {"project_code": "PRJ-RETAIN-0001", "period": "2026-11"})
    # the fee 10,000.00 + EUR 100.00 x 1.0842 (finance's November rate) = 108.42
    assert (november["status"], november["total"]) == ("drafted", "10108.42")
    # December has no configured rate: an EUR expense then holds the invoice for finance ops
    later = {**line, "work_date": "2026-12-03"}
    postings.save_posting(
        PostingRecord(
            "ex_2", kind="expense", version=1, state="posted", line=later, project_code="PRJ-RETAIN-0001"
        )
    )
    december = steps.run("bill_project", {"project_code": "PRJ-RETAIN-0001", "period": "2026-12"})
    assert (december["status"], december["holds"]) == ("held", ["no_fx_rate"])


def test_where_the_platforms_subscription_bills_the_fee_pshub_bills_only_the_overage(
    billing: Billing,
) -> None:
    steps, postings = retainer_steps(billing, route="billing_platform")
    worked(postings, "te_oct", "2026-10-20", "30")
    october = steps.run("bill_project", {"project_code": "PRJ-RETAIN-0001", "period": "2026-10"})
    assert october["status"] == "nothing_to_bill"  # Stripe's subscription invoiced the 10,000.00
    worked(postings, "te_nov", "2026-11-18", "58")
    november = steps.run("bill_project", {"project_code": "PRJ-RETAIN-0001", "period": "2026-11"})
    # 58 h against 40 + the 10 October rolled in: 8 h x 225.00 = 1,800.00, and no second fee
    assert (november["status"], november["total"]) == ("drafted", "1800.00")
    [invoice] = billing.invoices()
    assert invoice["total"] == 180000

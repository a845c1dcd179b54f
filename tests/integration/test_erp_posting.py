"""Posting approved time and expenses to NetSuite (its fake, over HTTP) through the ledger on moto.

Every expectation is what the ERP must hold afterwards, written out here: how many time bills,
with which hours and rate, and which business exception (owner, hours and amount at risk).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from pshub.business_exceptions import Category, OwnerTeam, Status
from pshub.canonical.envelope import PostingLineV1, TimeApprovalV1, make_event
from pshub.canonical.model import Money
from pshub.store.postings import PostingLedger
from pshub.workflows.time_expense.posting import ErpPoster, Work, parse_work
from tests.integration.aws import REGION, Stores, aws_stores
from tests.unit.connectors.builders import client, project
from tests.unit.platforms.netsuite.support import Rig, rig

pytestmark = pytest.mark.xdist_group("moto")

CONSULTANT = Money(amount=Decimal("150.00"), currency="USD")


@dataclass
class Posting:
    stores: Stores
    netsuite: Rig
    ledger: PostingLedger
    poster: ErpPoster
    requeued: list[tuple[str, float, int, int]] = field(default_factory=list)
    dead: list[tuple[str, str, str]] = field(default_factory=list)

    def deliver(self, *works: Work) -> Any:
        return self.poster.post(list(works))

    def time_bills(self) -> list[dict[str, Any]]:
        return self.netsuite.fake.records()["time_entries"]

    def redeliver_requeued(self) -> Any:
        pending, self.requeued[:] = list(self.requeued), []
        return self.deliver(
            *(
                parse_work(f"m-{n}", body, {"pshub-attempt": str(a), "pshub-throttled": str(t)})
                for n, (body, _delay, a, t) in enumerate(pending)
            )
        )


@pytest.fixture
def posting() -> Iterator[Posting]:
    with aws_stores() as stores, rig(employees=("worker_1",)) as netsuite:
        netsuite.erp.upsert_client(client())
        netsuite.erp.create_project(project())
        ledger = PostingLedger(
            boto3.client("dynamodb", region_name=REGION), stores.resources.get("table", "postings").name
        )
        holder: dict[str, Posting] = {}
        poster = ErpPoster(
            connection_id="netsuite-acme",
            connector=lambda: netsuite.erp,  # type: ignore[arg-type,return-value]
            ledger=ledger,
            exceptions=stores.exceptions,
            requeue=lambda *args: holder["p"].requeued.append(args),
            dead_letter=lambda *args: holder["p"].dead.append(args),
            jitter=lambda: 0.5,
        )
        holder["p"] = Posting(stores, netsuite, ledger, poster)
        yield holder["p"]


def approval(
    step: str = "Approved",
    *,
    version: int = 1,
    entry: str = "te_1",
    hours: str | None = "7.5",
    day: date = date(2026, 12, 7),
    rate: Money | None = CONSULTANT,
    worker: str = "worker_1",
    kind: str = "time",
    amount: Money | None = None,
    message: str | None = None,
) -> Work:
    line = None
    if step != "Rejected":
        line = PostingLineV1(
            hours=Decimal(hours) if hours is not None and kind == "time" else None,
            work_date=day,
            role="Consultant" if kind == "time" else None,
            rate=rate if kind == "time" else None,
            amount=(
                amount
                if kind == "expense"
                else Money(
                    amount=(Decimal(hours or 0) * rate.amount).quantize(Decimal("0.01")), currency="USD"
                )
                if rate
                else None
            ),
            category="hotel" if kind == "expense" else None,
        )
    payload = TimeApprovalV1(
        kind=kind,  # type: ignore[arg-type]
        entry_id=entry,
        version=version,
        source_connection="toggl-acme",
        source_native_id=entry.removeprefix("te_"),
        project_id="project_PRJ-HARB-0001",
        project_code="PRJ-HARB-0001",
        worker=worker,
        erp_connection="netsuite-acme",
        erp_project_id="5211",
        currency="USD",
        line=line,
    )
    name = "TimeEntry" if kind == "time" else "Expense"
    event = make_event(
        f"{name}{step}",
        payload,
        connection="toggl-acme",
        source_platform="toggl",
        source_native_id=payload.source_native_id,
        source_event_id=f"{entry}@v{version}",
        occurred_at=datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
        correlation_id="corr-1",
        legal_entity="ACME-US",
    )
    return parse_work(message or f"msg-{entry}-{version}", event.model_dump_json(), {})


def test_an_approved_entry_posts_once_however_often_it_is_delivered(posting: Posting) -> None:
    first = posting.deliver(approval())
    again = posting.deliver(approval(), approval(message="redelivered"))
    assert (first.posted, again.posted, again.duplicates) == (1, 0, 2)
    [bill] = posting.time_bills()
    assert (bill["entry_id"], bill["work_date"], bill["hours"]) == ("te_1", "2026-12-07", "7.5")
    assert posting.netsuite.fake.record("timeBill", bill["native_id"])["rate"] == 150.0
    assert len(posting.netsuite.fake.calls("upsert_time_bill")) == 1
    record = posting.ledger.posting("te_1")
    assert (record.state, record.version, record.document_id) == ("posted", 1, bill["native_id"])
    assert record.line is not None and record.line["amount"] == {"amount": "1125.00", "currency": "USD"}


def test_an_adjustment_corrects_the_posted_entry_and_a_rejection_reverses_it(posting: Posting) -> None:
    posting.deliver(approval())
    outcome = posting.deliver(approval("Adjusted", version=2, hours="6.0"))
    assert outcome.adjusted == 1
    [bill] = posting.time_bills()
    assert bill["hours"] == "6.0"  # corrected in place: one bill, the net hours
    assert len(posting.netsuite.fake.calls("upsert_time_bill")) == 1
    assert posting.ledger.posting("te_1").amount == {"amount": "900.00", "currency": "USD"}
    outcome = posting.deliver(approval("Rejected", version=3))
    assert outcome.reversed == 1
    assert posting.time_bills() == []  # the ERP holds nothing for the entry: 0 hours, 0.00
    record = posting.ledger.posting("te_1")
    assert (record.state, record.version, record.line) == ("reversed", 3, None)
    # A late redelivery of the first approval posts nothing again.
    assert posting.deliver(approval()).duplicates == 1
    assert posting.time_bills() == []


def test_billing_reads_what_the_erp_holds_for_a_project_and_period(posting: Posting) -> None:
    posting.deliver(
        approval(entry="te_1", day=date(2026, 12, 7)),
        approval(entry="te_2", day=date(2026, 12, 8)),
        approval(entry="te_3", day=date(2026, 11, 30)),
    )
    posting.deliver(approval("Adjusted", entry="te_2", version=2, hours="6.0", day=date(2026, 12, 8)))
    posting.deliver(approval("Rejected", entry="te_1", version=2))
    # December: te_2 at its corrected 6.0 h (te_1 was reversed); November: te_3
    december = posting.ledger.posted_in("PRJ-HARB-0001", "2026-12")
    assert [(r.entry_id, r.version, r.hours) for r in december] == [("te_2", 2, "6.0")]
    assert [r.entry_id for r in posting.ledger.posted_in("PRJ-HARB-0001", "2026-11")] == ["te_3"]
    assert posting.ledger.posted_in("PRJ-OTHER-0001", "2026-12") == []


def test_versions_out_of_order_end_in_the_newest(posting: Posting) -> None:
    posting.deliver(approval("Adjusted", version=2, hours="6.0"))
    posting.deliver(approval())
    [bill] = posting.time_bills()
    assert bill["hours"] == "6.0"
    # Both in one batch, newest first or last: the newest wins, the older is a duplicate.
    outcome = posting.deliver(approval("Adjusted", version=4, hours="5.0", entry="te_2"),
                              approval(entry="te_2"))  # fmt: skip
    assert (outcome.posted, outcome.duplicates) == (1, 1)
    hours = {b["entry_id"]: b["hours"] for b in posting.time_bills()}
    assert hours == {"te_1": "6.0", "te_2": "5.0"}


def test_a_timeout_with_unknown_outcome_is_resolved_by_reading_the_erp_back(posting: Posting) -> None:
    # NetSuite applies the upsert but the answer never arrives, on every try of the call.
    posting.netsuite.fake.drop_answer("upsert_time_bill", times=10)
    outcome = posting.deliver(approval())
    assert outcome.posted == 0 and len(posting.requeued) == 1
    assert posting.ledger.posting("te_1").state == "sending"
    [bill] = posting.time_bills()  # the ERP has it, pshub does not know yet
    puts = len(posting.netsuite.fake.calls("upsert_time_bill"))
    outcome = posting.redeliver_requeued()
    assert outcome.read_back == 1 and outcome.posted == 0
    assert len(posting.netsuite.fake.calls("upsert_time_bill")) == puts  # nothing sent blind
    assert [b["native_id"] for b in posting.time_bills()] == [bill["native_id"]]
    record = posting.ledger.posting("te_1")
    assert (record.state, record.document_id) == ("posted", bill["native_id"])


def test_throttling_slows_down_and_never_counts_towards_the_dlq(posting: Posting) -> None:
    fake = posting.netsuite.fake
    for _ in range(12):  # far more throttles than any retry budget
        fake.inject("suiteql", 429, {"title": "Too Many Requests"}, {"Retry-After": "7"}, times=10)
        posting.deliver(approval()) if not posting.requeued else posting.redeliver_requeued()
        assert posting.dead == [] and len(posting.requeued) == 1
        _body, delay, attempts, throttles = posting.requeued[0]
        assert delay == 7 and attempts == 0
    assert throttles == 12
    fake._faults.clear()  # the 429s left over
    fake.inject("suiteql", 503, times=10)  # 503 is a throttle signal too
    posting.redeliver_requeued()
    assert [c.status for c in fake.calls("suiteql")][-4:] == [503] * 4
    assert posting.requeued[0][2] == 0 and posting.dead == []
    # Four tries held 0.5, 1, 2 and 4 s: the work comes back when the connection's hold ends
    assert posting.requeued[0][1] == 4.0
    fake._faults.clear()  # the ERP recovers
    outcome = posting.redeliver_requeued()
    assert outcome.posted == 1 and len(posting.time_bills()) == 1 and posting.dead == []


def test_other_transient_faults_are_counted_and_dead_lettered_with_the_reason(posting: Posting) -> None:
    posting.netsuite.fake.inject("suiteql", 500, {"title": "Internal Server Error"}, times=1000)
    posting.deliver(approval())
    for attempt in range(1, 8):
        assert posting.requeued[0][2] == attempt
        posting.redeliver_requeued()
    assert posting.requeued == []
    [(body, error_class, reason)] = posting.dead
    assert error_class == "TransientConnectorError" and reason.startswith("gave up after 8 attempts")
    assert '"entry_id":"te_1"' in body
    assert posting.time_bills() == []


def test_a_closed_period_is_an_exception_for_finance_ops_with_hours_and_amount(posting: Posting) -> None:
    outcome = posting.deliver(approval(day=date(2026, 9, 15)))
    assert outcome.refused == 1 and posting.time_bills() == [] and posting.dead == []
    [exception] = posting.stores.exceptions.list()
    assert exception.category is Category.POSTING_REJECTED
    assert exception.owner_team is OwnerTeam.FINANCE_OPS
    assert (exception.hours_at_risk, exception.amount_at_risk) == ("7.5", "1125.00 USD")
    assert exception.business_keys["project"] == "PRJ-HARB-0001"
    assert "2026-09-15 is closed" in exception.title
    assert posting.ledger.posting("te_1").state == "rejected"
    # Finance reopens the period; the retry posts the same version once.
    posting.netsuite.fake._closed_through = None
    retry = exception.context["retry"]
    assert retry["stage"] == "posting" and retry["erp_connection"] == "netsuite-acme"
    from pshub.canonical.envelope import CanonicalEvent

    event = CanonicalEvent.model_validate(retry["event"])
    assert posting.deliver(parse_work("retry", event.model_dump_json(), {})).posted == 1
    assert posting.deliver(parse_work("retry-2", event.model_dump_json(), {})).duplicates == 1
    [bill] = posting.time_bills()
    assert bill["work_date"] == "2026-09-15"


def test_unknown_worker_and_inactive_project_are_exceptions_with_their_owners(posting: Posting) -> None:
    posting.deliver(approval(worker="nobody@example.com", entry="te_9"))
    native = posting.netsuite.erp.get_project("PRJ-HARB-0001")
    assert native is not None
    posting.netsuite.erp.deactivate_project(native.native_id, "closed by PMO")
    posting.deliver(approval(entry="te_10", hours="2"))
    found = {e.business_keys["entry_id"]: e for e in posting.stores.exceptions.list()}
    assert found["te_9"].owner_team is OwnerTeam.FINANCE_OPS and "nobody@example.com" in found["te_9"].title
    assert found["te_10"].owner_team is OwnerTeam.PMO and "inactive" in found["te_10"].title
    assert (found["te_10"].hours_at_risk, found["te_10"].amount_at_risk) == ("2", "300.00 USD")
    assert all(e.status is Status.OPEN for e in found.values())
    assert posting.time_bills() == []


def test_a_month_end_batch_posts_in_calls_as_large_as_the_erp_takes(posting: Posting) -> None:
    works = [approval(entry=f"te_{n}", hours="1.25") for n in range(250)]
    outcome = posting.deliver(*works)
    assert outcome.posted == 250
    bills = posting.time_bills()
    assert len(bills) == 250 and len({b["entry_id"] for b in bills}) == 250
    assert sum(Decimal(b["hours"]) for b in bills) == Decimal("312.50")
    # 100 per call (the connection's max_batch): 3 lookups of posted bills, one per call.
    posted_lookups = [
        e
        for e in posting.netsuite.fake.exchanges
        if e.request.path.endswith("suiteql") and b"FROM timebill" in e.request.body
    ]
    assert len(posted_lookups) == 3
    assert posting.deliver(*works).duplicates == 250


def test_an_invocation_near_its_timeout_sends_no_more_and_requeues_the_rest_uncounted(
    posting: Posting,
) -> None:
    # Given 250 entries (three calls of at most 100) and an invocation with 60 s, then 10 s left
    works = [approval(entry=f"te_{n}", hours="1.25") for n in range(250)]
    left = iter([60.0, 10.0, 10.0])
    outcome = posting.poster.post(works, remaining_s=lambda: next(left))
    # Then the first call's 100 are posted, and the other 150 wait on the queue, no delay, uncounted
    assert (outcome.posted, outcome.requeued) == (100, 150)
    assert len(posting.time_bills()) == 100
    assert {(delay, attempts, throttles) for _b, delay, attempts, throttles in posting.requeued} == {
        (0.0, 0, 0)
    }
    # And their delivery posts each of them once: 250 bills, 312.50 hours
    assert posting.redeliver_requeued().posted == 150
    bills = posting.time_bills()
    assert len({b["entry_id"] for b in bills}) == len(bills) == 250
    assert sum(Decimal(b["hours"]) for b in bills) == Decimal("312.50")


def test_an_expense_posts_once_and_a_rejection_reverses_it(posting: Posting) -> None:
    hotel = Money(amount=Decimal("189.40"), currency="USD")
    posting.deliver(approval(kind="expense", entry="ex_1", amount=hotel, hours=None))
    posting.deliver(approval(kind="expense", entry="ex_1", amount=hotel, hours=None))
    [report] = posting.netsuite.fake.records()["expense_reports"]
    assert report["entry_id"] == "ex_1" and report["lines"] == 1
    line = posting.netsuite.fake.record("expenseReport", report["native_id"])["expense"]["items"][0]
    assert line["amount"] == 189.40
    posting.deliver(approval("Rejected", kind="expense", entry="ex_1", version=2))
    assert posting.netsuite.fake.records()["expense_reports"] == []

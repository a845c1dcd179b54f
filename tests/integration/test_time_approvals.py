"""From synced time entries to posting instructions: versions, the rate in force, the exceptions.

The entries go through entity sync (moto) exactly as the normaliser sends them, so the record
the approvals step reads is the one sync keeps. Expected rates and amounts are worked out here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from pshub.business_exceptions import OwnerTeam, Status
from pshub.canonical.envelope import (
    CanonicalEvent,
    EntityChangedV1,
    EntityDeletedV1,
    SourceVersion,
    make_event,
)
from pshub.canonical.model import Money, Rate, RateCard, RateCardStatus
from pshub.store.postings import PostingLedger
from pshub.store.projects import DirectoryEntry, ProjectDirectory, rate_in_force
from pshub.workflows.time_expense.approvals import TimeApprovals, line_amount
from tests.integration.aws import REGION, Stores, aws_stores

pytestmark = pytest.mark.xdist_group("moto")

CODE = "PRJ-HARBLOGI-0001"
T0 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def card(version: int, start: date, end: date | None, senior: str, status: RateCardStatus) -> RateCard:
    return RateCard(
        id="rc_harbour",
        name=f"Harbourline v{version}",
        version=version,
        status=status,
        currency="USD",
        effective_from=start,
        effective_to=end,
        rates=[
            Rate(role="Senior Consultant", hourly_rate=usd(senior)),
            Rate(role="Analyst", hourly_rate=usd("125.00")),
        ],
    )


# Repriced from 1 January 2027 by a change order: 260.00 -> 275.00 for a Senior Consultant.
V1 = card(1, date(2026, 12, 1), date(2026, 12, 31), "260.00", RateCardStatus.SUPERSEDED)
V2 = card(2, date(2027, 1, 1), None, "275.00", RateCardStatus.ACTIVE)


@dataclass
class Rig:
    stores: Stores
    approvals: TimeApprovals
    ledger: PostingLedger
    directory: ProjectDirectory
    published: list[CanonicalEvent] = field(default_factory=list)
    sequence: int = 0

    def change(
        self, native_id: str = "3712004512", deleted: bool = False, **attributes: Any
    ) -> CanonicalEvent | None:
        """Sync one Toggl-like snapshot of the entry and run the approvals step on what sync published."""
        self.sequence += 1
        values = {
            "project_id": CODE,
            "worker_id": "alex.rivera@acme-consulting.example.com",
            "work_date": "2026-12-30",
            "hours": "7.5",
            "role": "Senior Consultant",
            "billable": True,
            "status": "approved",
        } | attributes
        event = make_event(
            "TimeEntryDeleted" if deleted else "TimeEntryChanged",
            EntityDeletedV1(native_id=native_id)
            if deleted
            else EntityChangedV1(native_id=native_id, change="snapshot", attributes=values),
            connection="toggl-acme",
            source_platform="toggl",
            source_native_id=native_id,
            source_event_id=f"evt-{self.sequence}",
            occurred_at=T0 + timedelta(minutes=self.sequence),
            correlation_id=f"corr-{self.sequence}",
            legal_entity="ACME-US",
            source_version=SourceVersion(scheme="toggl.at", major=self.sequence * 1000),
        )
        sync = self.stores.entity_sync()
        decision = sync.apply(event, "time")
        if decision.publish is None:
            return None
        sync.complete(event, decision)
        return self.approvals.handle(decision.publish)


@pytest.fixture
def rig() -> Iterator[Rig]:
    with aws_stores() as stores:
        client = boto3.client("dynamodb", region_name=REGION)
        ledger = PostingLedger(client, stores.resources.get("table", "postings").name)
        directory = ProjectDirectory(client, stores.resources.get("table", "identity").name)
        directory.register(
            DirectoryEntry(
                code=CODE,
                project_id="project_harbour",
                legal_entity="ACME-US",
                currency="USD",
                erp_connection="netsuite-acme",
                erp_project_id="5211",
                rate_cards=[V1],
            )
        )
        published: list[CanonicalEvent] = []
        approvals = TimeApprovals(
            identity=stores.identity,
            directory=directory,
            ledger=ledger,
            exceptions=stores.exceptions,
            publish=published.extend,
        )
        yield Rig(stores, approvals, ledger, directory, published)


def test_first_approval_carries_the_erp_project_and_the_rate_in_force(rig: Rig) -> None:
    assert rig.change(status="submitted") is None  # not approved: nothing to post
    announced = rig.change()
    assert announced is not None and announced.event_type == "TimeEntryApproved"
    payload = announced.payload
    assert (payload["version"], payload["erp_connection"], payload["erp_project_id"]) == (
        1,
        "netsuite-acme",
        "5211",
    )
    assert payload["project_code"] == CODE and payload["worker"] == "alex.rivera@acme-consulting.example.com"
    # 7.5 h x 260.00 = 1,950.00
    assert payload["line"]["rate"] == {"amount": "260.00", "currency": "USD"}
    assert payload["line"]["amount"] == {"amount": "1950.00", "currency": "USD"}
    assert payload["line"]["rate_card_version"] == 1
    assert rig.published == [announced]
    # The same snapshot again announces nothing new.
    assert rig.change() is None


def test_an_entry_keeps_the_rate_of_its_own_date_across_a_repricing(rig: Rig) -> None:
    rig.directory.add_rate_card(CODE, V2)
    before = rig.change(native_id="te-dec31", work_date="2026-12-31", hours="8")
    after = rig.change(native_id="te-jan01", work_date="2027-01-01", hours="8")
    assert before is not None and after is not None
    # 8 h x 260.00 = 2,080.00 on the last day of v1; 8 h x 275.00 = 2,200.00 on the first of v2
    assert before.payload["line"]["amount"] == {"amount": "2080.00", "currency": "USD"}
    assert after.payload["line"]["amount"] == {"amount": "2200.00", "currency": "USD"}
    assert (before.payload["line"]["rate_card_version"], after.payload["line"]["rate_card_version"]) == (1, 2)


def test_an_edit_after_approval_is_an_adjustment_and_an_unapproval_a_rejection(rig: Rig) -> None:
    rig.change()
    adjusted = rig.change(hours="6.25")
    assert adjusted is not None and adjusted.event_type == "TimeEntryAdjusted"
    # 6.25 h x 260.00 = 1,625.00; the previous line is the one the ERP holds
    assert adjusted.payload["version"] == 2
    assert adjusted.payload["line"]["amount"]["amount"] == "1625.00"
    assert adjusted.payload["previous"]["amount"]["amount"] == "1950.00"
    moved = rig.change(hours="6.25", work_date="2026-12-29")
    assert moved is not None and moved.event_type == "TimeEntryAdjusted" and moved.payload["version"] == 3
    rejected = rig.change(hours="6.25", work_date="2026-12-29", status="rejected")
    assert rejected is not None and rejected.event_type == "TimeEntryRejected"
    assert rejected.payload["version"] == 4 and "line" not in rejected.payload
    assert rejected.payload["previous"]["hours"] == "6.25"
    again = rig.change(hours="6.25", work_date="2026-12-29")
    assert again is not None and again.event_type == "TimeEntryApproved" and again.payload["version"] == 5
    deleted = rig.change(deleted=True)
    assert (
        deleted is not None and deleted.event_type == "TimeEntryRejected" and deleted.payload["version"] == 6
    )
    assert len({e.event_id for e in rig.published}) == 6


def test_an_older_delivery_arriving_late_announces_nothing(rig: Rig) -> None:
    rig.change(hours="6")
    rig.sequence -= 5  # an older version of the entry arrives after the newer one
    assert rig.change(hours="9") is None
    assert [e.payload["line"]["hours"] for e in rig.published] == ["6"]


def test_unknown_project_and_missing_rate_are_exceptions_with_the_hours_at_risk(rig: Rig) -> None:
    assert rig.change(native_id="te-x", project_id="PRJ-NOPE-0001", hours="3.5") is None
    assert rig.change(native_id="te-y", role="Chief Wizard", hours="2") is None
    found = {e.business_keys["source"]: e for e in rig.stores.exceptions.list()}
    unknown, unpriced = found["toggl-acme/te-x"], found["toggl-acme/te-y"]
    assert unknown.owner_team is OwnerTeam.PMO and unknown.hours_at_risk == "3.5"
    assert "project PRJ-NOPE-0001 is unknown" in unknown.title
    assert unpriced.owner_team is OwnerTeam.PMO and unpriced.hours_at_risk == "2"
    assert "no rate for role Chief Wizard on 2026-12-30" in unpriced.title
    assert rig.published == []


def test_time_booked_before_its_project_existed_posts_when_it_is_activated(rig: Rig) -> None:
    assert rig.change(native_id="te-early", project_id="PRJ-LATE-0001") is None
    [waiting] = rig.stores.exceptions.list()
    rig.directory.register(
        DirectoryEntry(
            code="PRJ-LATE-0001",
            project_id="project_late",
            legal_entity="ACME-US",
            currency="USD",
            erp_connection="netsuite-acme",
            erp_project_id="5299",
            rate_cards=[V1],
        )
    )
    activated = make_event(
        "ProjectActivated",
        __import__("pshub.canonical.envelope", fromlist=["ProjectActivatedV1"]).ProjectActivatedV1(
            project_id="project_late",
            project_code="PRJ-LATE-0001",
            opportunity_id="opp",
            client_id="client",
            legal_entity="ACME-US",
            service_line="consulting",
            billing_model="time_and_materials",
            billing_route="erp",
            system_ids={"netsuite-acme": "5299"},
        ),
        connection="hubspot-acme",
        source_platform="hubspot",
        source_native_id="deal",
        source_event_id="deal-activated",
        occurred_at=T0,
        correlation_id="corr-activate",
        legal_entity="ACME-US",
    )
    assert rig.approvals.handle(activated) is None
    [announced] = rig.published
    assert (
        announced.payload["erp_project_id"] == "5299" and announced.payload["project_code"] == "PRJ-LATE-0001"
    )
    assert rig.stores.exceptions.get(waiting.id).status is Status.RESOLVED  # type: ignore[union-attr]
    assert rig.ledger.waiting_for("PRJ-LATE-0001") == []


def test_a_crash_between_the_record_and_the_bus_republishes_the_same_event(rig: Rig) -> None:
    calls: list[int] = []

    def failing(events: list[CanonicalEvent]) -> None:
        calls.append(len(events))
        raise ConnectionError("bus unreachable")

    rig.approvals._publish = failing  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        rig.change()
    record = rig.ledger.approval(rig.stores.identity.lookup("TimeEntry", "toggl-acme", "3712004512") or "")
    assert record.version == 1 and record.published is False
    rig.approvals._publish = rig.published.extend  # type: ignore[method-assign]
    event = CanonicalEvent.model_validate(record.event)
    assert rig.approvals.handle(event.model_copy(update={"event_type": "TimeEntryChanged"})) is not None
    [announced] = rig.published
    assert announced.event_id == event.event_id and rig.ledger.approval(record.entry_id).published


def test_rate_in_force_ignores_drafts_and_picks_the_newest_version_on_overlap() -> None:
    draft = card(3, date(2026, 12, 1), None, "999.00", RateCardStatus.DRAFT)
    overlap = card(2, date(2026, 12, 15), None, "270.00", RateCardStatus.ACTIVE)
    cards = [V1, draft, overlap]
    assert rate_in_force(cards, "senior consultant", date(2026, 12, 14))[1].hourly_rate == usd("260.00")  # type: ignore[index]
    assert rate_in_force(cards, "Senior Consultant", date(2026, 12, 15))[1].hourly_rate == usd("270.00")  # type: ignore[index]
    assert rate_in_force(cards, "Senior Consultant", date(2026, 11, 30)) is None
    assert rate_in_force(cards, None, date(2026, 12, 15)) is None


def test_line_amounts_round_half_up_to_the_currencys_minor_unit() -> None:
    # 0.333 h is not allowed by sources (hundredths), but 1.25 h x 133.33 = 166.6625 -> 166.66;
    # 2.5 h x 100.01 = 250.025 -> 250.03 (half up); JPY has no minor unit: 1.5 h x 12,345 = 18,517.5 -> 18,518
    assert line_amount(Decimal("1.25"), usd("133.33")) == usd("166.66")
    assert line_amount(Decimal("2.5"), usd("100.01")) == usd("250.03")
    assert line_amount(Decimal("1.5"), Money(amount=Decimal("12345"), currency="JPY")).amount == Decimal(
        "18518"
    )

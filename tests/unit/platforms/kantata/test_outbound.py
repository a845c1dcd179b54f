"""The Kantata PSA connector against the Kantata fake, over real HTTP on 127.0.0.1.

Expected behaviour comes from the PSA role's contract (``pshub.connectors.psa``), the
Kantata OX specification (paths, bodies, side-loaded answers, the errors envelope, a
plain 429, tokens that never expire) and pshub's rules (one project per code, templates
by service line, a rate card replaced whole in the project currency)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pshub.canonical.model import Milestone, Money
from pshub.connections import ConnectionConfigError
from pshub.connectors.errors import (
    Conflict,
    NotFound,
    OutcomeUnknown,
    PermanentConnectorError,
    RateLimited,
)
from pshub.platforms import platform
from pshub.platforms.kantata import outbound
from pshub_local.platforms.kantata.fake import credentials_for_local
from tests.unit.connectors.builders import project, rate_card, usd
from tests.unit.platforms.kantata.support import Harness

CODE = "PRJ-HARB-0001"
UNAVAILABLE = {"errors": [{"type": "system", "message": "Service is unavailable"}]}
# What the fake (as Kantata) answers when the role is already on the version: here, added
# by someone else between the connector's read and its write.
TAKEN = {"errors": [{"type": "validation", "message": "role_id has already been taken", "field": "role_id"}]}


def projects(harness: Harness) -> list[dict[str, object]]:
    records: list[dict[str, object]] = harness.fake.records()["projects"]
    return records


def writes(harness: Harness) -> list[str]:
    return [c.operation for c in harness.fake.calls() if c.method != "GET"]


# -- configuration ----------------------------------------------------------------------------------
def test_the_manifest_names_the_outbound_factory_and_templates_come_from_configuration(
    harness: Harness,
) -> None:
    assert platform("kantata").outbound == {"psa": "pshub.platforms.kantata.outbound:connect"}
    psa = harness.connector()
    assert psa.template_for("consulting") == "TPL-CONSULT"
    assert psa.template_for("advisory") is None
    assert harness.fake.calls() == []  # configuration, not an API call


def test_missing_credentials_and_bad_options_are_configuration_errors(harness: Harness) -> None:
    with pytest.raises(ConnectionConfigError, match="'access_token'"):
        harness.connector(credentials={})
    with pytest.raises(ConnectionConfigError, match="templates"):
        harness.connector(templates="consulting")
    with pytest.raises(ConnectionConfigError, match="default_currency"):
        harness.connector(default_currency="EURO")
    with pytest.raises(ConnectionConfigError, match="must be https"):
        harness.connector(base_url="http://api.mavenlink.com/api/v1")


# -- creating projects ------------------------------------------------------------------------------
def test_a_project_is_created_from_its_template_with_pshubs_reference(harness: Harness) -> None:
    # Given a connector on the Kantata account, When the project is created from its template
    native_id = harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    # Then Kantata holds exactly one workspace: numeric id, the code, the template, USD
    assert native_id.isdigit()
    [record] = projects(harness)
    assert record["native_id"] == native_id and record["code"] == CODE
    assert record["template"] == "TPL-CONSULT" and record["currency"] == "USD"
    assert record["name"] == f"{CODE} - Data Platform Assessment" and record["archived"] is False
    # ... made by reading back first (reference, then title), then one POST
    assert harness.operations() == [
        "list_project_templates",
        "list_workspaces",
        "list_workspaces",
        "create_workspace",
    ]


def test_the_same_project_twice_is_the_same_workspace(harness: Harness) -> None:
    psa = harness.connector()
    first = psa.create_project_from_template(project(), "TPL-CONSULT")
    assert psa.create_project_from_template(project(id="project_replayed"), "TPL-CONSULT") == first
    assert len(projects(harness)) == 1
    assert writes(harness) == ["create_workspace"]


def test_the_same_code_with_other_content_is_a_conflict_naming_the_fields(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    with pytest.raises(Conflict) as caught:
        psa.create_project_from_template(project(name="Another scope", budget=usd("9000")), "TPL-CONSULT")
    assert caught.value.key == CODE and caught.value.fields == ("budget", "name")
    assert f"project code {CODE} already has workspace {native_id} with different budget, name" in str(
        caught.value
    )
    with pytest.raises(Conflict) as template_changed:
        psa.create_project_from_template(project(), "TPL-MSP")
    assert template_changed.value.fields == ("template",)
    assert len(projects(harness)) == 1


def test_an_unknown_template_is_refused_before_anything_is_written(harness: Harness) -> None:
    with pytest.raises(PermanentConnectorError, match=r"'TPL-NOPE'.*known: TPL-CONSULT, TPL-MSP"):
        harness.connector().create_project_from_template(project(), "TPL-NOPE")
    assert writes(harness) == []


def test_kantatas_validation_refusals_keep_its_words_and_name_the_project(harness: Harness) -> None:
    psa = harness.connector()
    # a template id the account does not have
    with pytest.raises(PermanentConnectorError) as unknown_id:
        psa.create_project_from_template(project(), "999")
    error = unknown_id.value
    assert type(error) is PermanentConnectorError and error.http_status == 422
    assert error.platform_code == "validation"
    assert error.platform_message == "project_tracker_template_id: project_tracker_template_id 999 is invalid"
    assert error.message == f"Kantata refused the workspace for project {CODE}"
    # a code outside the account's project code format
    with pytest.raises(PermanentConnectorError) as bad_code:
        psa.create_project_from_template(project("harb-1"), "TPL-CONSULT")
    assert bad_code.value.platform_code == "validation" and "harb-1" in str(bad_code.value)
    assert projects(harness) == []


def test_a_project_without_budget_bills_in_the_default_currency(harness: Harness) -> None:
    psa = harness.connector(default_currency="EUR")
    native_id = psa.create_project_from_template(project(budget=None), "TPL-CONSULT")
    record = psa.get_project(CODE)
    assert record is not None and record.native_id == native_id
    assert record.currency == "EUR" and record.project.budget is None


def test_get_project_reads_the_project_back_whole(harness: Harness) -> None:
    psa = harness.connector()
    sent = project(start_date=date(2027, 1, 4), end_date=date(2027, 6, 30), contract_id="contract_9")
    native_id = psa.create_project_from_template(sent, "TPL-CONSULT")
    record = psa.get_project(CODE)
    assert record is not None
    assert (record.native_id, record.template, record.currency) == (native_id, "TPL-CONSULT", "USD")
    assert record.project.external_ids == {"kantata-acme": native_id}
    exclude = {"status", "external_ids"}
    assert record.project.model_dump(exclude=exclude) == sent.model_dump(exclude=exclude)
    assert record.rate_card is None and record.archived is False
    assert psa.get_project("PRJ-NONE-0000") is None


def test_a_workspace_carrying_the_code_in_its_title_is_adopted_not_duplicated(harness: Harness) -> None:
    # Given a workspace made without pshub's reference (by hand, or before the reference existed)
    token = credentials_for_local(harness.connection)["access_token"]
    made = httpx.post(
        f"{harness.base_url}/workspaces.json",
        json={
            "workspace": {"title": f"{CODE} - Data Platform Assessment", "currency": "USD", "price": 12500}
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    existing = next(iter(made.json()["workspaces"]))
    psa = harness.connector()
    # When pshub creates the project, Then it adopts that workspace and writes its reference
    assert psa.create_project_from_template(project(), "TPL-CONSULT") == existing
    assert len(projects(harness)) == 1
    assert "create_or_update_external_reference" in writes(harness)
    record = psa.get_project(CODE)
    assert record is not None and record.template == "TPL-CONSULT"


# -- unknown outcomes ---------------------------------------------------------------------------------
def test_a_lost_answer_is_resolved_by_reading_back(harness: Harness) -> None:
    harness.fake.drop_answer("create_workspace")  # created, then the connection closed
    native_id = harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    [record] = projects(harness)
    assert record["native_id"] == native_id
    assert writes(harness) == ["create_workspace"]  # never sent twice


def test_an_ambiguous_failure_with_nothing_created_is_sent_again_once(harness: Harness) -> None:
    harness.fake.inject("create_workspace", 500, {"errors": [{"type": "system", "message": "boom"}]})
    native_id = harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    assert [r["native_id"] for r in projects(harness)] == [native_id]
    assert [c.status for c in harness.fake.calls("create_workspace")] == [500, 200]


def test_two_unknown_outcomes_in_a_row_are_reported_not_guessed(harness: Harness) -> None:
    harness.fake.inject("create_workspace", 502, times=2)
    with pytest.raises(OutcomeUnknown):
        harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    assert projects(harness) == []


# -- throttling and outages --------------------------------------------------------------------------
def test_a_plain_429_waits_the_default_two_seconds(harness: Harness) -> None:
    harness.fake.inject("list_workspaces", 429)
    harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    assert harness.sleeps.waits == pytest.approx([2.0], abs=0.05) and outbound.DEFAULT_RETRY_AFTER_S == 2.0
    assert len(projects(harness)) == 1


def test_a_429_with_retry_after_waits_that_long(harness: Harness) -> None:
    harness.fake.inject("list_workspaces", 429, headers={"Retry-After": "7"})
    harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    assert harness.sleeps.waits == pytest.approx([7.0], abs=0.05)


def test_a_wait_longer_than_allowed_is_handed_back(harness: Harness) -> None:
    harness.fake.inject("list_workspaces", 429, headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as caught:
        harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    assert caught.value.retry_after_s == 120 and harness.sleeps.waits == []


def test_a_503_is_retried_then_succeeds(harness: Harness) -> None:
    harness.fake.inject("create_workspace", 503, UNAVAILABLE)
    harness.connector().create_project_from_template(project(), "TPL-CONSULT")
    assert [c.status for c in harness.fake.calls("create_workspace")] == [503, 200]
    assert len(projects(harness)) == 1
    assert len(harness.sleeps.waits) == 1 and 0 <= harness.sleeps.waits[0] <= 4


# -- auth and hosts -----------------------------------------------------------------------------------
def test_a_revoked_token_is_a_permanent_error_and_is_not_refreshed(harness: Harness) -> None:
    psa = harness.connector(credentials={"access_token": "localdemo-revoked"})
    with pytest.raises(PermanentConnectorError) as caught:
        psa.get_project(CODE)
    assert caught.value.http_status == 401
    assert (caught.value.platform_code, caught.value.platform_message) == ("oauth", "Invalid OAuth 2 Request")
    assert len(harness.fake.calls()) == 1  # Kantata tokens do not expire: nothing to refresh


def test_requests_go_only_to_the_configured_host(harness: Harness) -> None:
    psa = harness.connector()
    psa.create_project_from_template(project(), "TPL-CONSULT")
    assert all(e.request.url.startswith(harness.base_url + "/") for e in harness.fake.exchanges)
    with pytest.raises(PermanentConnectorError, match="not under the configured base URL"):
        psa._api.url("https://api.mavenlink.example/api/v1/workspaces.json")


def test_logs_hold_no_token_rates_or_budgets(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    token = credentials_for_local(harness.connection)["access_token"]
    psa = harness.connector()
    with caplog.at_level(logging.DEBUG, logger="pshub.connectors.http"):
        native_id = psa.create_project_from_template(project(budget=usd("12345")), "TPL-CONSULT")
        psa.push_rate_card(native_id, rate_card(Consultant="187.50"))
        psa.get_project(CODE)
    logged = [str(vars(record)) for record in caplog.records]
    assert len(logged) >= 10
    assert not [line for line in logged if token in line]
    assert not [line for line in logged if "18750" in line or "12345" in line]


# -- rate cards -----------------------------------------------------------------------------------------
def test_a_rate_card_is_pushed_then_replaced_whole(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.push_rate_card(native_id, rate_card(Consultant="185.00", Analyst="125.00"))
    assert projects(harness)[0]["rate_card_roles"] == ["Analyst", "Consultant"]
    psa.push_rate_card(native_id, rate_card(Partner="425.00", Consultant="190.00"))
    assert projects(harness)[0]["rate_card_roles"] == ["Consultant", "Partner"]
    record = psa.get_project(CODE)
    assert record is not None and record.rate_card is not None
    assert {r.role: r.hourly_rate for r in record.rate_card.rates} == {
        "Consultant": usd("190.00"),
        "Partner": usd("425.00"),
    }
    assert (record.rate_card.id, record.rate_card.effective_from) == ("rc_1", date(2026, 12, 1))
    assert sorted(set(writes(harness)) - {"create_workspace"}) == [
        "create_or_update_external_reference",
        "create_rate_card_role",
        "delete_rate_card_role",
        "update_rate_card_role",
    ]


def test_pushing_the_same_rate_card_again_writes_nothing(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.push_rate_card(native_id, rate_card())
    before = len(writes(harness))
    psa.push_rate_card(native_id, rate_card())
    assert len(writes(harness)) == before


@pytest.mark.parametrize(
    ("card", "problem"),
    [
        (rate_card("GBP"), f"rate card is in GBP; project {CODE} bills in USD"),
        (rate_card().model_copy(update={"rates": []}), "rate card rc_1 has no rates"),
        (
            rate_card().model_copy(update={"rates": [*rate_card().rates, *rate_card().rates[:1]]}),
            "roles listed twice: Consultant",
        ),
        (rate_card(Wizard="99.00"), f"project {CODE}: roles not defined in Kantata: Wizard"),
    ],
)
def test_rate_cards_kantata_would_not_hold_are_refused_before_writing(
    harness: Harness, card: object, problem: str
) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    with pytest.raises(PermanentConnectorError) as caught:
        psa.push_rate_card(native_id, card)  # type: ignore[arg-type]
    assert problem in str(caught.value)
    assert writes(harness) == ["create_workspace"]


def test_an_archived_project_takes_no_rate_card(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.archive_project(native_id, "provisioning abandoned")
    with pytest.raises(PermanentConnectorError, match=f"project {CODE} is archived"):
        psa.push_rate_card(native_id, rate_card())
    with pytest.raises(NotFound, match="no workspace '1' in Kantata"):
        psa.push_rate_card("1", rate_card())


def test_a_lost_answer_to_a_role_rate_is_resolved_by_reading_the_version(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    harness.fake.drop_answer("create_rate_card_role")
    psa.push_rate_card(native_id, rate_card(Consultant="185.00"))
    assert projects(harness)[0]["rate_card_roles"] == ["Consultant"]
    assert len(harness.fake.calls("create_rate_card_role")) == 1


def test_a_refused_role_rate_keeps_kantatas_words_and_names_the_project(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    harness.fake.inject("create_rate_card_role", 422, TAKEN)
    with pytest.raises(PermanentConnectorError) as caught:
        psa.push_rate_card(native_id, rate_card(Consultant="185.00"))
    error = caught.value
    assert error.message == f"Kantata refused a role rate on project {CODE}"
    assert (error.platform_code, error.platform_message, error.http_status) == (
        "validation",
        "role_id: role_id has already been taken",
        422,
    )


# -- archiving ------------------------------------------------------------------------------------------
def test_archiving_twice_is_a_no_op_and_keeps_the_first_reason(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.archive_project(native_id, "provisioning abandoned by a person")
    calls = len(harness.fake.calls())
    psa.archive_project(native_id, "again")
    assert [c.operation for c in harness.fake.calls()[calls:]] == ["list_workspaces"]
    [record] = projects(harness)
    assert record["archived"] is True and record["archive_reason"] == "provisioning abandoned by a person"
    got = psa.get_project(CODE)
    assert got is not None and got.archived and got.archive_reason == "provisioning abandoned by a person"


def test_archiving_a_workspace_that_is_not_there_is_not_found(harness: Harness) -> None:
    psa = harness.connector()
    with pytest.raises(NotFound, match="no workspace '27419999' in Kantata"):
        psa.archive_project("27419999", "cleanup")
    with pytest.raises(NotFound):
        psa.archive_project("not-a-number", "cleanup")
    assert len(harness.fake.calls()) == 1  # a non-numeric id is never a Kantata workspace
    # and Kantata's own 404 keeps its words
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    gone = {"errors": [{"type": "system", "message": f"Couldn't find Workspace with 'id'={native_id}"}]}
    harness.fake.inject("update_workspace", 404, gone)
    with pytest.raises(NotFound) as caught:
        psa.archive_project(native_id, "cleanup")
    assert caught.value.platform_message == f"Couldn't find Workspace with 'id'={native_id}"


def test_a_compensated_project_comes_back_when_created_again(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.archive_project(native_id, "provisioning abandoned")
    assert psa.create_project_from_template(project(), "TPL-CONSULT") == native_id
    [record] = projects(harness)
    assert record["archived"] is False and record["archive_reason"] is None


# -- polling ------------------------------------------------------------------------------------------------
def read_all(psa: Any, object_type: str, since: datetime) -> list[list[str]]:
    """Every page of one query, as the poller reads it: record ids per page."""
    pages, token = [], None
    for _ in range(20):
        page = psa.changed_since(object_type, since, token)
        pages.append([r.native_id for r in page.records])
        token = page.next_token
        if token is None:
            return pages
    raise AssertionError("the feed never ended")


def test_changed_since_pages_through_updated_workspaces_oldest_first(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    psa = harness.connector()
    start = datetime.now(UTC) - timedelta(seconds=1)
    first = psa.create_project_from_template(project(), "TPL-CONSULT")
    second = psa.create_project_from_template(project("PRJ-HARB-0002"), "TPL-CONSULT")
    page = psa.changed_since("project", start)
    assert [r.native_id for r in page.records] == [first, second] and page.next_token is None
    assert page.records[0].data["external_references"][0]["service_model_ref"] == CODE
    assert page.records[0].modified_at <= page.records[1].modified_at
    psa.archive_project(first, "closed")  # archived ones are still reported, now last
    monkeypatch.setattr(outbound, "PAGE_SIZE", 1)
    seen = [i for ids in read_all(psa, "project", start) for i in ids]
    assert list(dict.fromkeys(seen)) == [second, first]  # each at least once, oldest change first
    assert psa.changed_since("workspace", datetime.now(UTC) + timedelta(hours=1)).records == []
    with pytest.raises(ValueError, match="not 'time_entry'"):
        psa.changed_since("time_entry", start)


def test_the_milestone_feed_carries_pshubs_milestone_id_and_the_project_code(harness: Harness) -> None:
    psa = harness.connector()
    start = datetime.now(UTC) - timedelta(seconds=1)
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    pushed = psa.push_milestones(native_id, CODE, [PHASE_2])
    assert psa.feed_objects() == ("milestones",)
    [record] = psa.changed_since("milestones", start).records
    assert record.native_id == pushed["ms-harb-phase-2"]
    assert (record.data["pshub_milestone_id"], record.data["pshub_project_code"]) == ("ms-harb-phase-2", CODE)
    assert record.data["state"] == "not started"


def test_a_milestone_updated_while_the_feed_is_read_is_not_skipped(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offset paging would skip one: the updated story moves to the end and the rest move up.
    psa = harness.connector()
    start = datetime.now(UTC) - timedelta(seconds=1)
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    pushed = psa.push_milestones(
        native_id, CODE, [milestone(f"ms-{n}", f"Milestone {n}", "1000.00") for n in range(1, 5)]
    )
    monkeypatch.setattr(outbound, "PAGE_SIZE", 2)
    first = psa.changed_since("milestones", start)
    harness.fake.set_story(pushed["ms-1"], state="completed")  # while the query runs
    seen = [r.native_id for r in first.records]
    token = first.next_token
    while token is not None:
        page = psa.changed_since("milestones", start, token)
        seen += [r.native_id for r in page.records]
        token = page.next_token
    assert set(seen) == set(pushed.values())


# -- one provisioning ---------------------------------------------------------------------------------------
def test_requests_per_provisioning_of_one_project(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.push_rate_card(native_id, rate_card(Consultant="185.00", Analyst="125.00"))
    assert harness.operations() == [
        "list_project_templates",  # template title -> id (once per connector)
        "list_workspaces",  # by pshub's external reference
        "list_workspaces",  # by the code in the title
        "create_workspace",
        "list_workspaces",  # the workspace: currency, archived, rate card
        "list_rate_cards",  # its effective version
        "list_roles",  # role names -> ids (once per connector)
        "list_rate_card_roles",
        "create_rate_card_role",
        "create_rate_card_role",
        "create_or_update_external_reference",  # the rate card's identity
    ]
    assert len(projects(harness)) == 1


# -- a change order's milestones --------------------------------------------------------------------
def milestone(
    identifier: str, name: str, amount: str, due: date | None = None, currency: str = "USD"
) -> Milestone:
    return Milestone(
        id=identifier, name=name, amount=Money(amount=Decimal(amount), currency=currency), due_date=due
    )


PHASE_2 = milestone(
    "ms-harb-phase-2", "Phase 2 sign-off:\tmigration waves 3-5", "12000.00", date(2027, 3, 31)
)


def test_milestones_land_on_the_plan_once_as_fixed_fee_milestone_stories(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    pushed = psa.push_milestones(native_id, CODE, [PHASE_2])
    again = psa.push_milestones(native_id, CODE, [PHASE_2])  # a retried step writes nothing
    assert pushed == again and set(pushed) == {"ms-harb-phase-2"}
    [story] = harness.fake.milestones(native_id)
    assert story["id"] == pushed["ms-harb-phase-2"]
    # 12,000.00 USD is 1,200,000 cents; the title on one line, as Kantata shows it
    assert (story["title"], story["due_date"], story["budget_estimate_in_cents"], story["fixed_fee"]) == (
        "Phase 2 sign-off: migration waves 3-5", "2027-03-31", 1_200_000, True
    )  # fmt: skip
    assert writes(harness).count("create_story") == 1 and "update_story" not in writes(harness)


def test_a_milestone_re_dated_and_re_priced_is_updated_in_place(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    psa.push_milestones(native_id, CODE, [PHASE_2])
    moved = PHASE_2.model_copy(update={"due_date": date(2027, 4, 30), "amount": usd("12500.50")})
    psa.push_milestones(native_id, CODE, [moved])
    [story] = harness.fake.milestones(native_id)
    assert (story["due_date"], story["budget_estimate_in_cents"]) == ("2027-04-30", 1_250_050)
    [update] = [e for e in harness.fake.exchanges if e.operation == "update_story"]
    assert set(update.request.json()["story"]) == {
        "due_date",
        "budget_estimate_in_cents",
    }  # only what differs


def test_a_lost_answer_to_a_new_milestone_is_resolved_by_reading_back(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    harness.fake.drop_answer("create_story")
    pushed = psa.push_milestones(native_id, CODE, [PHASE_2])
    assert [s["id"] for s in harness.fake.milestones(native_id)] == [pushed["ms-harb-phase-2"]]


def test_a_milestone_in_another_currency_is_refused_before_anything_is_written(harness: Harness) -> None:
    psa = harness.connector()
    native_id = psa.create_project_from_template(project(), "TPL-CONSULT")
    with pytest.raises(PermanentConnectorError, match=f"{CODE}: milestone ms-eur is priced in EUR"):
        psa.push_milestones(native_id, CODE, [milestone("ms-eur", "Go-live", "9000.00", currency="EUR")])
    assert harness.fake.milestones(native_id) == [] and "create_story" not in writes(harness)
